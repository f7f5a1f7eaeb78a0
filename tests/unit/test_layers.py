"""The layers of docs/ARCHITECTURE.md, checked on the import statements of every module."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# laionet_core's pure-math modules: numpy, pandas, scipy and each other only.
PURE_MATH = ("selection", "metrics", "stats", "matching", "ranking", "accuracy", "comparison")
HEAVY = ("torch", "open_clip", "sentence_transformers", "duckdb", "faiss", "streamlit")


def _imports(path: Path) -> set[str]:
    """Top-level package names a module imports (at any depth of the file)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def _modules(folder: str) -> list[Path]:
    return sorted((ROOT / folder).glob("*.py"))


@pytest.mark.parametrize("path", _modules("laionet_core"), ids=lambda p: p.name)
def test_core_imports_neither_the_app_nor_the_pipeline(path: Path) -> None:
    imported = _imports(path)
    assert not imported & {"streamlit", "pages", "precompute", "torch", "open_clip"}, imported


@pytest.mark.parametrize("name", PURE_MATH)
def test_pure_math_imports_no_heavy_library(name: str) -> None:
    imported = _imports(ROOT / "laionet_core" / f"{name}.py")
    assert not imported & set(HEAVY), imported


@pytest.mark.parametrize("path", _modules("precompute"), ids=lambda p: p.name)
def test_pipeline_never_imports_the_app(path: Path) -> None:
    assert not _imports(path) & {"streamlit", "pages"}


@pytest.mark.parametrize("path", _modules("pages"), ids=lambda p: p.name)
def test_pages_read_through_the_core_not_the_pipeline(path: Path) -> None:
    assert not _imports(path) & {"precompute", "torch", "open_clip", "faiss"}
