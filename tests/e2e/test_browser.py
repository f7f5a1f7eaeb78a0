"""A real ``streamlit run`` driven by headless Chromium through Playwright.

Uses the system Chromium (Debian's ``chromium`` package; ``make test`` installs it when
missing); never ``playwright install``. The test fails, never skips, without a browser.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from laionet_core import queries
from laionet_core.selection import THRESHOLD_STEP, SelectionParams
from tests.e2e.serving import CHROMIUM_ARGS, find_chromium, serve_app

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]


def _chromium() -> str:
    found = find_chromium()
    if not found:
        pytest.fail("no Chromium found: apt-get install chromium (make test does this)")
    return found


@pytest.fixture(scope="module")
def app_url(demo_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("streamlit") / "streamlit.log"
    with serve_app(demo_db, log) as served:
        yield served.url


def _metric(page, label: str) -> str:
    metric = page.locator('[data-testid="stMetric"]', has_text=label)
    return metric.locator('[data-testid="stMetricValue"]').inner_text()


def test_slider_moves_numbers_and_export_downloads(
    app_url: str, demo_db: Path, tmp_path: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    con = queries.connect(demo_db)
    start = SelectionParams()
    presses = 6
    moved = SelectionParams(threshold=start.threshold + presses * THRESHOLD_STEP)
    expected_start = queries.count_selected(con, "laionet", start)[0]
    expected_moved = queries.count_selected(con, "laionet", moved)[0]
    assert expected_moved < expected_start  # the move must be visible

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=_chromium(), headless=True, args=CHROMIUM_ARGS
        )
        page = browser.new_page(accept_downloads=True)
        page.goto(f"{app_url}/threshold_explorer", wait_until="domcontentloaded")
        expect(page.get_by_text("Simulated data.")).to_be_visible(timeout=60_000)
        expect(page.locator('[data-testid="stMetric"]', has_text="Dataset size")).to_be_visible(
            timeout=60_000
        )
        assert _metric(page, "Dataset size") == f"{expected_start:,}"

        slider = page.get_by_role("slider").first
        slider.focus()
        for _ in range(presses):
            page.keyboard.press("ArrowRight")
        expect(
            page.locator('[data-testid="stMetric"]', has_text="Dataset size").locator(
                '[data-testid="stMetricValue"]'
            )
        ).to_have_text(f"{expected_moved:,}", timeout=60_000)

        button = page.get_by_role("button", name=f"Download {expected_moved:,} rows (parquet)")
        expect(button).to_be_visible(timeout=60_000)
        with page.expect_download(timeout=60_000) as download_info:
            button.click()
        target = tmp_path / download_info.value.suggested_filename
        download_info.value.save_as(target)
        page.screenshot(path=str(tmp_path / "explorer.png"), full_page=True)
        browser.close()

    assert target.name == f"laionet_threshold_{moved.threshold:.3f}.parquet"
    table = pd.read_parquet(target)
    assert len(table) == expected_moved
    assert (table["text_similarity"] > moved.threshold).all()
