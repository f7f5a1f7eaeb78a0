"""Every page opens on a database that lacks one of the datasets it looks for first."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest
from streamlit.testing.v1 import AppTest

TIMEOUT = 120
APP = str(Path(__file__).resolve().parents[2] / "app.py")
PAGES = (
    "pages/home.py",
    "pages/threshold_explorer.py",
    "pages/selection_lab.py",
    "pages/class_browser.py",
    "pages/compare_datasets.py",
    "pages/model_accuracy.py",
    "pages/diagnose_imagenet.py",
)


def _copy_without(demo_db: Path, folder: Path, dataset: str) -> Path:
    """A copy of the demo database with every row of ``dataset`` (and its selections
    ``dataset@T``) deleted from every table that has a ``dataset`` column."""
    path = folder / f"without-{dataset}.duckdb"
    shutil.copyfile(demo_db, path)
    con = duckdb.connect(str(path))
    try:
        tables = con.execute(
            "SELECT table_name FROM information_schema.columns WHERE column_name = 'dataset'"
        ).fetchall()
        for (table,) in tables:
            con.execute(
                f"DELETE FROM {table} WHERE dataset = ? OR starts_with(dataset, ?)",
                [dataset, f"{dataset}@"],
            )
    finally:
        con.close()
    return path


@pytest.fixture(scope="module", params=["laionet", "imagenet-val"])
def pruned_db(
    request: pytest.FixtureRequest, demo_db: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, Path]:
    dataset = request.param
    return dataset, _copy_without(demo_db, tmp_path_factory.mktemp("pruned"), dataset)


@pytest.mark.parametrize("page", PAGES)
def test_page_opens_without_the_dataset(
    page: str, pruned_db: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    missing, path = pruned_db
    monkeypatch.setenv("LAIONET_DB", str(path))
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    at.switch_page(page).run()
    assert not at.exception, at.exception
    if page == "pages/model_accuracy.py":
        said = " ".join(box.value for box in at.info)
        assert f"no `{missing}`" in said
