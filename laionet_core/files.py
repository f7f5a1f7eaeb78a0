"""Files written whole or not at all: a temporary sibling renamed into place.

Every output of the pipeline (shards, manifests, matches, OCR text, dictionaries) is
written this way, so a killed or failed write leaves the old file (or none) and no
partial one under the final name.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

# Temporary files are ".<name>.tmp-<pid>" in the same folder as their final name.
TEMP_MARKER = ".tmp-"


@contextmanager
def open_atomically(path: str | Path) -> Iterator[BinaryIO]:
    """Write ``path`` through a temporary sibling renamed into place when the block ends.

    The folder is created if missing. If the block raises, the temporary file is removed
    and ``path`` is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}{TEMP_MARKER}{os.getpid()}")
    try:
        with tmp.open("wb") as handle:
            yield handle
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
