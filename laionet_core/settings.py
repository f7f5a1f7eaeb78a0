"""Where things live by default: one definition shared by the CLI and the app."""

from __future__ import annotations

import os
from pathlib import Path

# The app reads its database from this environment variable.
DB_ENV_VAR = "LAIONET_DB"
# `python -m precompute demo` writes the simulated corpus and its database here.
DEFAULT_DEMO_DIR = Path("data") / "demo"
DEFAULT_CORPUS_DIR = DEFAULT_DEMO_DIR / "corpus"
DEFAULT_DB_PATH = DEFAULT_DEMO_DIR / "laionet_demo.duckdb"
# The dataset name of the text-selected (LAIONet) selection in a database.
LAIONET_DATASET = "laionet"


def resolve_db_path() -> Path:
    """The database the app opens: ``$LAIONET_DB`` or the demo database."""
    return Path(os.environ.get(DB_ENV_VAR) or DEFAULT_DB_PATH)
