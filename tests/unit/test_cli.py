"""The command line as a whole: every command registered, and a light start."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from precompute.cli import COMMAND_MODULES, build_parser

ROOT = Path(__file__).resolve().parents[2]


def test_every_command_module_registers_a_command() -> None:
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices  # argparse keeps them here
    assert len(commands) == len(COMMAND_MODULES)
    for name in ("demo", "build", "match", "export", "add-reference", "text-match", "metrics"):
        assert name in commands


def test_building_the_parser_imports_neither_torch_nor_streamlit() -> None:
    # torch costs ~600 MiB and a second per process; only commands that encode load it.
    code = (
        "import sys; from precompute.cli import build_parser; build_parser(); "
        "print(sorted(m for m in ('torch', 'open_clip', 'streamlit') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"
