"""The served app picks up databases swapped in at ``LAIONET_DB`` (issue 11).

A real ``streamlit run`` serves database A; B (A with LAIONet's histogram counts
doubled, so its Dataset size doubles) is renamed over the same path, as ``build`` does.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.concurrent_sessions import drive_sessions, stage_two_swaps
from tests.e2e.serving import (
    CHROMIUM_ARGS,
    ServedApp,
    dataset_sizes,
    double_laionet,
    find_chromium,
    keep_as_is,
    open_files,
    serve_app,
    stage_variant,
    wait_until_closed,
)

pytestmark = pytest.mark.e2e

SESSIONS = 10
PRESSES = 2  # per session: 20 updates, the swaps after 6 and 13


def _chromium() -> str:
    found = find_chromium()
    if not found:
        pytest.fail("no Chromium found: apt-get install chromium (make test does this)")
    return found


@pytest.fixture(scope="module")
def variants(demo_db: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Database A (the demo) and B (LAIONet doubled), kept aside to copy from."""
    folder = tmp_path_factory.mktemp("variants")
    b = folder / "b.duckdb"
    stage_variant(demo_db, b, double_laionet)
    return {"a": demo_db, "b": b}


@pytest.fixture
def served(variants: dict[str, Path], tmp_path: Path) -> Iterator[tuple[ServedApp, Path]]:
    live = tmp_path / "live" / "laionet.duckdb"
    live.parent.mkdir()
    shutil.copyfile(variants["a"], live)
    with serve_app(live, tmp_path / "streamlit.log") as app:
        yield app, live


def test_a_reload_shows_the_database_swapped_in(
    served: tuple[ServedApp, Path], variants: dict[str, Path]
) -> None:
    from playwright.sync_api import expect, sync_playwright

    app, live = served
    size_a = dataset_sizes(variants["a"], [0.82])[0.82]
    size_b = dataset_sizes(variants["b"], [0.82])[0.82]
    assert size_b == 2 * size_a > 0
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=_chromium(), headless=True, args=CHROMIUM_ARGS
        )
        page = browser.new_page()
        size = page.locator('[data-testid="stMetric"]', has_text="Dataset size").locator(
            '[data-testid="stMetricValue"]'
        )
        page.goto(f"{app.url}/threshold_explorer", wait_until="domcontentloaded")
        expect(size).to_have_text(f"{size_a:,}", timeout=60_000)

        # The server holds A (so the check below can fail); the watcher may close it as
        # soon as it is replaced, since no rerun holds it between two of the page's.
        assert str(live) in open_files(app.process.pid, live.parent)
        staged = live.with_suffix(".staged")
        shutil.copyfile(variants["b"], staged)
        staged.replace(live)
        page.reload(wait_until="domcontentloaded")
        expect(size).to_have_text(f"{size_b:,}", timeout=60_000)
        browser.close()
    assert wait_until_closed(app.process.pid, live.parent) == [], "the old database is open"
    # Another swap with no session left: no rerun opens the new file, yet B is closed.
    assert str(live) in open_files(app.process.pid, live.parent)  # B, shown above
    stage_variant(variants["a"], staged, keep_as_is)
    staged.replace(live)
    assert wait_until_closed(app.process.pid, live.parent) == [], "B is open on an idle server"
    assert "Traceback" not in app.log_text()


def test_ten_sessions_move_sliders_across_two_swaps(
    served: tuple[ServedApp, Path], variants: dict[str, Path]
) -> None:
    app, live = served
    plan = stage_two_swaps(variants["a"], variants["b"], live, sessions=SESSIONS, presses=PRESSES)
    report = drive_sessions(
        app.url, _chromium(), sessions=SESSIONS, presses=PRESSES, sizes=plan.sizes, swaps=plan.swaps
    )
    print(f"\nconcurrent sessions: {report.summary()}")
    assert report.failed_requests == []
    assert report.exceptions == []
    assert report.updates == SESSIONS * PRESSES and report.swaps == 2
    assert "Traceback" not in app.log_text()
    still_open = wait_until_closed(app.process.pid, live.parent)
    assert still_open == [], f"replaced databases still open: {still_open}"
