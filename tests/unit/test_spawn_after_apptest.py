"""A spawn process pool works after AppTest ran a script (the suite once hung there)."""

from __future__ import annotations

import multiprocessing
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from streamlit.testing.v1 import AppTest

SCRIPT = "import streamlit as st\nst.write('hello')\n"


def _square(x: int) -> int:
    return x * x


def test_apptest_replaces_main_and_the_fixture_puts_it_back(tmp_path: Path) -> None:
    script = tmp_path / "script.py"
    script.write_text(SCRIPT)
    before = sys.modules["__main__"]
    AppTest.from_file(str(script), default_timeout=30).run()
    # What AppTest leaves behind (Streamlit's behaviour, which made spawned workers die).
    assert getattr(sys.modules["__main__"], "__file__", None) == str(script)
    sys.modules["__main__"] = before  # what conftest's keep_main_module does after a test
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        assert pool.submit(_square, 7).result(timeout=120) == 49
