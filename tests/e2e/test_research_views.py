"""Browser checks of the research views: deep links on a cold server, the selection
carried between pages, the selection lab, the 2-D grid, caption search, and that no
request leaves the machine."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest

from laionet_core import queries
from laionet_core.selection import SelectionParams
from tests.e2e.serving import CHROMIUM_ARGS, find_chromium, serve_app

pytestmark = pytest.mark.e2e

# One link per page, each with query parameters, and a header the page must show.
DEEP_LINKS = {
    "home": ("", "What makes ImageNet look unlike LAION?"),
    "threshold_explorer": ("threshold=0.75&drop_nsfw=false", "Threshold explorer"),
    "class_browser": ("wnid=n01440764&threshold=0.6&n_bands=3", "Class browser"),
    "selection_lab": ("threshold=0.78", "Selection lab"),
    "compare_datasets": ("dataset_b=imagenetv2-a&threshold=0.8", "Compare datasets"),
    "model_accuracy": ("threshold=0.8", "Model accuracy"),
    "diagnose_imagenet": ("", "Diagnose ImageNet"),
}
WAIT_MS = 90_000
LOCAL_HOSTS = {"127.0.0.1", "localhost"}


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    chromium = find_chromium()
    if not chromium:
        pytest.fail("no Chromium found: apt-get install chromium (make test does this)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=chromium, headless=True, args=CHROMIUM_ARGS
        )
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def app_url(demo_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serve_app(demo_db, tmp_path_factory.mktemp("streamlit") / "streamlit.log") as app:
        yield app.url


def _metric(page: object, label: str) -> str:
    metric = page.locator('[data-testid="stMetric"]', has_text=label)
    return metric.locator('[data-testid="stMetricValue"]').inner_text()


def _open(browser: object, url: str) -> tuple[object, object, set[str]]:
    """A fresh browser context (a new visitor) on ``url``, recording every request's host."""
    context = browser.new_context()
    page = context.new_page()
    hosts: set[str] = set()
    page.on("request", lambda request: hosts.add(urlparse(request.url).hostname or ""))
    page.goto(url, wait_until="domcontentloaded")
    return context, page, hosts


def _settled(page: object) -> None:
    """Wait until the app has stopped running its script."""
    from playwright.sync_api import expect

    expect(page.get_by_text("Simulated data.")).to_be_visible(timeout=WAIT_MS)
    expect(page.get_by_test_id("stStatusWidget")).to_have_count(0, timeout=WAIT_MS)


@pytest.mark.parametrize("page_name", list(DEEP_LINKS))
def test_deep_link_on_a_cold_server(
    page_name: str, demo_db: Path, browser: object, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    query, header = DEEP_LINKS[page_name]
    path = f"/{page_name}" if page_name != "home" else "/"
    with serve_app(demo_db, tmp_path / "streamlit.log") as app:
        context, page, hosts = _open(browser, f"{app.url}{path}?{query}")
        _settled(page)
        expect(page.get_by_role("heading", name=header)).to_be_visible(timeout=WAIT_MS)
        expect(page.get_by_text("Page not found")).to_have_count(0)
        nav = page.get_by_test_id("stSidebarNav").get_by_role("link").all_inner_texts()
        assert len(nav) == 7 and not any("_" in item or item == "app" for item in nav), nav
        for pair in filter(None, query.split("&")):  # the view kept what the link said
            assert pair in page.url, (pair, page.url)
        context.close()
    assert hosts <= LOCAL_HOSTS, hosts


def test_threshold_follows_the_user_between_pages(
    app_url: str, browser: object, demo_db: Path
) -> None:
    from playwright.sync_api import expect

    context, page, hosts = _open(browser, f"{app_url}/threshold_explorer?threshold=0.84")
    _settled(page)
    n = queries.count_selected(queries.connect(demo_db), "laionet", SelectionParams(0.84))[0]
    assert _metric(page, "Dataset size") == f"{n:,}"
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Compare datasets").click()
    expect(page.get_by_role("heading", name="Compare datasets")).to_be_visible(timeout=WAIT_MS)
    _settled(page)
    thumb = page.get_by_test_id("stSliderThumbValue").first
    expect(thumb).to_have_text("0.840", timeout=WAIT_MS)
    expect(page).to_have_url(re.compile(r"threshold=0\.84\b"), timeout=WAIT_MS)
    context.close()
    assert hosts <= LOCAL_HOSTS, hosts


def test_selection_lab_compares_at_matched_size(
    app_url: str, browser: object, demo_db: Path
) -> None:
    from playwright.sync_api import expect

    # Image-to-synset similarity: the test database's selection keeps about two samples per
    # class, too few for an intra-class interval (the page then says no class compares).
    context, page, hosts = _open(browser, f"{app_url}/selection_lab?lab_metric=image_similarity")
    _settled(page)
    n = queries.count_selected(queries.connect(demo_db), "laionet", SelectionParams())[0]
    table = page.get_by_test_id("stDataFrame").first
    expect(table).to_be_visible(timeout=WAIT_MS)
    expect(page.get_by_text("Per class: one mechanism against another")).to_be_visible()
    expect(page.get_by_text("Classes compared")).to_be_visible()
    assert n > 0
    context.close()
    assert hosts <= LOCAL_HOSTS, hosts


def test_grid_click_and_caption_search(app_url: str, browser: object) -> None:
    from playwright.sync_api import expect

    link = f"{app_url}/class_browser?wnid=n02125311&caption_query=puma"
    context, page, hosts = _open(browser, link)
    _settled(page)
    results = page.get_by_test_id("stDataFrame").last
    expect(results).to_be_visible(timeout=WAIT_MS)
    expect(page.get_by_text("captions shown (at most 50")).to_be_visible()
    grid = page.get_by_test_id("stVegaLiteChart").first
    grid.scroll_into_view_if_needed()
    box = grid.bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.45, box["y"] + box["height"] * 0.45)
    expect(page.get_by_text("Cell: caption similarity")).to_be_visible(timeout=WAIT_MS)
    context.close()
    assert hosts <= LOCAL_HOSTS, hosts
