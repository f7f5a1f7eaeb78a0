"""The layers of docs/ARCHITECTURE.md, checked on the source of every module.

Imports go one way: ``pages/`` and ``laionet_app/`` -> ``laionet_core/`` <- ``precompute/``.
Inside those layers: no SQL and no numpy math in a page file, no private name imported
from another module, the simulator reached only through its doors (the ``demo`` and
``add-predictions --simulate`` commands), modules under 400 lines, functions under 60.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# laionet_core's pure-math modules: numpy, pandas, scipy and each other only.
PURE_MATH = ("selection", "metrics", "stats", "matching", "ranking", "accuracy", "comparison")
HEAVY = ("torch", "open_clip", "sentence_transformers", "duckdb", "faiss", "streamlit")
PROJECT_PACKAGES = ("laionet_core", "laionet_app", "precompute", "pages")
# The only modules outside precompute/simulate/ that may import it: the commands that
# exist to run the simulator.
SIMULATOR_DOORS = ("precompute/cli/demo.py", "precompute/cli/add_predictions.py")
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
# A string literal that reads as SQL: a statement keyword followed by its clause.
SQL_PATTERN = re.compile(
    r"\b(SELECT\b[\s\S]*\bFROM|INSERT\s+INTO|DELETE\s+FROM|UPDATE\s+\w+\s+SET|CREATE\s+TABLE)\b"
)


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"))


def _imported_modules(path: Path) -> set[str]:
    """Full dotted names of every module a file imports (at any depth of the file)."""
    names = set()
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _imports(path: Path) -> set[str]:
    """Top-level package names a module imports."""
    return {name.split(".")[0] for name in _imported_modules(path)}


def _modules(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


def _all_modules() -> list[Path]:
    return [p for folder in PROJECT_PACKAGES for p in _modules(folder)] + [ROOT / "app.py"]


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


@pytest.mark.parametrize("path", _modules("laionet_core"), ids=_rel)
def test_core_imports_neither_the_app_nor_the_pipeline(path: Path) -> None:
    imported = _imports(path)
    assert not imported & {"streamlit", "pages", "laionet_app", "precompute", "torch"}, imported
    assert "open_clip" not in imported


@pytest.mark.parametrize("name", PURE_MATH)
def test_pure_math_imports_no_heavy_library(name: str) -> None:
    imported = _imports(ROOT / "laionet_core" / f"{name}.py")
    assert not imported & set(HEAVY), imported


@pytest.mark.parametrize("path", _modules("precompute"), ids=_rel)
def test_pipeline_never_imports_the_app(path: Path) -> None:
    assert not _imports(path) & {"streamlit", "pages", "laionet_app"}


@pytest.mark.parametrize("path", _modules("pages") + _modules("laionet_app"), ids=_rel)
def test_app_reads_through_the_core_not_the_pipeline(path: Path) -> None:
    assert not _imports(path) & {"precompute", "torch", "open_clip", "faiss"}


@pytest.mark.parametrize("path", _modules("pages"), ids=_rel)
def test_pages_hold_no_sql_and_no_numpy(path: Path) -> None:
    assert not _imports(path) & {"numpy", "duckdb", "scipy"}, "math belongs in laionet_core"
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            assert not SQL_PATTERN.search(node.value.upper()), f"SQL in a page: {node.value!r}"


def test_pages_folder_holds_only_pages() -> None:
    """Streamlit serves every file under pages/; helpers live in laionet_app/."""
    helpers = [p.name for p in (ROOT / "pages").glob("*.py") if p.name.startswith("_")]
    assert helpers == []


@pytest.mark.parametrize("path", _all_modules(), ids=_rel)
def test_no_private_name_is_imported_across_modules(path: Path) -> None:
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] not in PROJECT_PACKAGES:
                continue
            private = [a.name for a in node.names if a.name.startswith("_")]
            assert not private, f"{_rel(path)} imports {private} from {node.module}"


@pytest.mark.parametrize(
    "path",
    [p for p in _all_modules() if not _rel(p).startswith("precompute/simulate/")],
    ids=_rel,
)
def test_the_real_path_never_imports_the_simulator(path: Path) -> None:
    if _rel(path) in SIMULATOR_DOORS:
        return
    simulator = {m for m in _imported_modules(path) if m.startswith("precompute.simulate")}
    assert not simulator, f"{_rel(path)} imports the simulator: {sorted(simulator)}"


def test_simulator_doors_exist() -> None:
    """The exception list names real files that do import the simulator."""
    for door in SIMULATOR_DOORS:
        assert any(m.startswith("precompute.simulate") for m in _imported_modules(ROOT / door))


@pytest.mark.parametrize("path", _all_modules(), ids=_rel)
def test_modules_are_short(path: Path) -> None:
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_MODULE_LINES, f"{_rel(path)}: {lines} lines"


@pytest.mark.parametrize("path", _all_modules(), ids=_rel)
def test_functions_are_short(path: Path) -> None:
    long = [
        f"{node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for node in ast.walk(_tree(path))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert not long, f"{_rel(path)}: {', '.join(long)}"
