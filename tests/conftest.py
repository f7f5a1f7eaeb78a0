"""Fixtures shared by every test layer.

The simulated demo database is built once per test run, through the real command
line (``python -m precompute demo``), at a size that keeps the suite fast.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from laionet_app import chart_output
from precompute.cli import main as precompute_main

# Small enough to build in seconds, large enough that >= 100 classes get matched.
TEST_CAPTIONS = 8_000
TEST_PARTS = 2


@pytest.fixture(autouse=True)
def keep_main_module():
    """Put back ``sys.modules["__main__"]`` after each test.

    ``streamlit.testing.v1.AppTest`` leaves the script it ran (``app.py``, a page) there.
    A process pool started later with the ``spawn`` method (the build's workers) then
    re-runs that script in each worker; the worker dies at start-up while the parent,
    writing the worker's start-up data into a pipe it still holds open, waits forever:
    the suite hung in ``test_failed_build_leaves_the_database_untouched`` after an
    AppTest test.
    """
    main = sys.modules.get("__main__")
    yield
    if main is not None:
        sys.modules["__main__"] = main


@pytest.fixture(autouse=True)
def validate_whole_chart_specs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every chart a test draws is validated whole against the Vega-Lite schema, as
    ``st.altair_chart`` does; the app skips that pass (``laionet_app.chart_output``)."""
    monkeypatch.setattr(chart_output, "VALIDATE_WHOLE_SPECS", True)


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("demo")


@pytest.fixture(scope="session")
def demo_corpus(demo_db: Path, demo_dir: Path) -> Path:
    """The simulated corpus the demo database was built from."""
    return demo_dir / "corpus"


@pytest.fixture(scope="session")
def demo_db(demo_dir: Path) -> Path:
    """A demo database built by ``python -m precompute demo`` (simulated data)."""
    db = demo_dir / "demo.duckdb"
    status = precompute_main(
        [
            "demo",
            "--corpus",
            str(demo_dir / "corpus"),
            "--db",
            str(db),
            "--captions",
            str(TEST_CAPTIONS),
            "--parts",
            str(TEST_PARTS),
        ]
    )
    assert status == 0 and db.is_file()
    return db
