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
# Dataset names a database uses by default; the CLI, the demo and the app share them.
# The text-selected (LAIONet) selection.
LAIONET_DATASET = "laionet"
# ImageNet's validation set: the reference of every comparison unless the user picks another.
IMAGENET_DATASET = "imagenet-val"
# ImageNetV2's three versions, named a/b/c by mean selection frequency as in Section 4.1.
IMAGENETV2_DATASETS = ("imagenetv2-a", "imagenetv2-b", "imagenetv2-c")
# ImageNet-Captions' texts (Section 4.2), the queries of the text match.
IMAGENET_CAPTIONS_DATASET = "imagenet-captions"
# The text-matched dataset of Section 4.3.
TEXT_MATCHED_DATASET = "text-matched"


def resolve_db_path() -> Path:
    """The database the app opens: ``$LAIONET_DB`` or the demo database."""
    return Path(os.environ.get(DB_ENV_VAR) or DEFAULT_DB_PATH)
