"""Hostile names in every place the app shows a name, checked in a real browser.

A copy of the demo database gets a dataset, a captioned dataset, a model and a class
whose names carry a backtick break-out, a Markdown image, an HTML image and a Streamlit
colour directive pointing at ``evil.invalid``; an upload gets such a file name. Each
page must show the names literally, create no image or link to that host, and make no
request outside the app.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from laionet_app.text import break_autolinks
from tests.e2e.serving import (
    CHROMIUM_ARGS,
    ServedApp,
    find_chromium,
    rename_dataset,
    serve_app,
    stage_variant,
)

pytestmark = pytest.mark.e2e

COUGAR = "n02125311"  # the Class browser's default class
TIMEOUT_MS = 50_000
OUTSIDE: list[str] = []  # requests of the current page that left the app, and page errors


def hostile(tag: str, host: str = "http://evil.invalid/") -> str:
    """A name that breaks out of a code span into a Markdown image, HTML and a directive."""
    return f"{tag}`![{tag}]({host}{tag}.png)`<img src={host}{tag}-html.png>:red[{tag}]$x$"


DATASET = hostile("dataset")
CAPTIONED = hostile("captions")
MODEL = "simulated-" + hostile("model")
CLASS = hostile("class")
FILE = hostile("file", host="http:evil.invalid") + ".csv"  # no slash in a file name
DB_FILE = hostile("db", host="http:evil.invalid") + ".duckdb"


def _poison(con: duckdb.DuckDBPyConnection) -> None:
    rename_dataset(con, "imagenetv2-c", DATASET)
    rename_dataset(con, "imagenet-captions", CAPTIONED)
    con.execute("DELETE FROM caption_diagnostics WHERE dataset = ?", [CAPTIONED])
    con.execute("UPDATE predictions SET model = ?", [MODEL])
    con.execute("UPDATE classes SET name = ? WHERE wnid = ?", [CLASS, COUGAR])


@pytest.fixture(scope="module")
def app(demo_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedApp]:
    folder = tmp_path_factory.mktemp("hostile")
    db = folder / DB_FILE
    stage_variant(demo_db, db, _poison)
    with serve_app(db, folder / "streamlit.log") as served:
        yield served


@pytest.fixture
def page(app: ServedApp) -> Iterator:
    from playwright.sync_api import sync_playwright

    chromium = find_chromium()
    if not chromium:
        pytest.fail("no Chromium found: apt-get install chromium (make test does this)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium, headless=True, args=CHROMIUM_ARGS
        )
        page = browser.new_page()
        OUTSIDE.clear()
        inside = (app.url, "data:", "blob:")
        page.on("request", lambda r: None if r.url.startswith(inside) else OUTSIDE.append(r.url))
        page.on("pageerror", lambda e: OUTSIDE.append(f"page error {e}"))
        yield page
        browser.close()


def _assert_nothing_injected(page) -> None:
    injected = page.locator('[src*="evil"], [href*="evil"], [srcset*="evil"]')
    assert injected.count() == 0, [
        injected.nth(i).evaluate("e => e.outerHTML") for i in range(injected.count())
    ]
    assert page.locator('[data-testid="stException"]').count() == 0
    assert OUTSIDE == []


def _shown(page, text: str) -> None:
    """``text`` is on the page as written (autolink starts carry an invisible joiner)."""
    from playwright.sync_api import expect

    shown = page.get_by_text(break_autolinks(text), exact=False).first
    expect(shown).to_be_visible(timeout=TIMEOUT_MS)


def _open(page, app: ServedApp, title: str) -> None:
    """Open a page through the sidebar (a first request for a page's own URL runs the
    main page with a "Page not found" dialog before st.navigation knows it)."""
    from playwright.sync_api import expect

    if not page.url.startswith(app.url):
        page.goto(app.url, wait_until="domcontentloaded")
        # The frame's own sidebar (its titles), not the one Streamlit lists from pages/
        # (file names) before app.py has run.
        expect(page.get_by_text("Simulated data.")).to_be_visible(timeout=TIMEOUT_MS)
    page.get_by_role("link", name=title, exact=True).click(timeout=TIMEOUT_MS)


def test_dataset_names_are_text(app: ServedApp, page) -> None:
    from playwright.sync_api import expect

    _open(page, app, "Compare datasets")
    _shown(page, f"Database: {app.db}")  # the banner's caption names the database file
    expect(page.get_by_text("Spearman correlation in laionet")).to_be_visible(timeout=TIMEOUT_MS)
    page.locator('[data-testid="stSelectbox"]', has_text="Dataset A").click(timeout=TIMEOUT_MS)
    page.get_by_role("option", name=DATASET).click()
    _shown(page, f"{DATASET} is not selected by a similarity threshold")
    _shown(page, f"{DATASET} significantly lower")  # a metric label
    _assert_nothing_injected(page)
    _open(page, app, "Diagnose ImageNet")
    _shown(page, f"{CAPTIONED} has no caption diagnostics stored")
    _assert_nothing_injected(page)


def test_model_class_and_file_names_are_text(app: ServedApp, page) -> None:
    from playwright.sync_api import expect

    _open(page, app, "Model accuracy")
    _shown(page, f"{MODEL} is a SIMULATED model")
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(
        {"name": FILE, "mimeType": "text/csv", "buffer": b"sample_id,pred_1\nx,y\n"}
    )
    _shown(page, f"Could not use the upload: '{FILE[:40]}")  # the name is cut at 60 characters
    _assert_nothing_injected(page)
    _open(page, app, "Class browser")
    chosen = page.get_by_role("combobox", name="Class")
    expect(chosen).to_have_value(f"{CLASS} ({COUGAR})", timeout=TIMEOUT_MS)
    _assert_nothing_injected(page)
    assert "Traceback" not in app.log_text()
