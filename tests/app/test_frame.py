"""A page run outside app.py (a cold server's legacy first run) reruns once, framed."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from laionet_app.frame import REFRAMED_KEY

TIMEOUT = 120
PAGE = str(Path(__file__).resolve().parents[2] / "pages" / "diagnose_imagenet.py")
APP = str(Path(__file__).resolve().parents[2] / "app.py")


def test_a_bare_page_run_reruns_once_and_never_loops(
    demo_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAIONET_DB", str(demo_db))
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()  # the page alone: bare
    assert not at.exception, at.exception
    assert at.session_state[REFRAMED_KEY] is True  # it asked to be framed, once
    assert at.header[0].value == "Diagnose ImageNet"  # and, still bare, it rendered


def test_a_framed_run_does_not_rerun(demo_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAIONET_DB", str(demo_db))
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    assert not at.exception, at.exception
    assert REFRAMED_KEY not in at.session_state
