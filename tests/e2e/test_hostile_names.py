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


def _poison(con: duckdb.DuckDBPyConnection) -> None:
    rename_dataset(con, "imagenetv2-c", DATASET)
    rename_dataset(con, "imagenet-captions", CAPTIONED)
    con.execute("DELETE FROM caption_diagnostics WHERE dataset = ?", [CAPTIONED])
    con.execute("UPDATE predictions SET model = ?", [MODEL])
    con.execute("UPDATE classes SET name = ? WHERE wnid = ?", [CLASS, COUGAR])


@pytest.fixture(scope="module")
def app(demo_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedApp]:
    folder = tmp_path_factory.mktemp("hostile")
    db = folder / "hostile.duckdb"
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
    assert page.locator('img[src*="evil"], a[href*="evil"], [src*="evil"]').count() == 0
    assert page.locator('[data-testid="stException"]').count() == 0
    assert OUTSIDE == []


def _shown(page, text: str) -> None:
    from playwright.sync_api import expect

    expect(page.get_by_text(text, exact=False).first).to_be_visible(timeout=TIMEOUT_MS)


def test_dataset_names_are_text(app: ServedApp, page) -> None:
    page.goto(f"{app.url}/compare", wait_until="domcontentloaded")
    page.locator('[data-testid="stSelectbox"]', has_text="Dataset A").click(timeout=TIMEOUT_MS)
    page.get_by_role("option", name=DATASET).click()
    _shown(page, f"{DATASET} is not selected by a similarity threshold")
    _shown(page, f"{DATASET} significantly lower")  # a metric label
    _assert_nothing_injected(page)
    page.goto(f"{app.url}/diagnose", wait_until="domcontentloaded")
    _shown(page, f"{CAPTIONED} has no caption diagnostics stored")
    _assert_nothing_injected(page)


def test_model_class_and_file_names_are_text(app: ServedApp, page) -> None:
    page.goto(f"{app.url}/accuracy", wait_until="domcontentloaded")
    _shown(page, f"{MODEL} is a SIMULATED model")
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(
        {"name": FILE, "mimeType": "text/csv", "buffer": b"sample_id,pred_1\nx,y\n"}
    )
    _shown(page, f"Could not use the upload: '{FILE}'")
    _assert_nothing_injected(page)
    page.goto(f"{app.url}/classes", wait_until="domcontentloaded")
    _shown(page, f"{CLASS} ({COUGAR})")
    _assert_nothing_injected(page)
    assert "Traceback" not in app.log_text()
