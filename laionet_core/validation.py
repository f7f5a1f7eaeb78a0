"""Checks at the edges that raise errors naming the bad file, column or value."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

# float16 embeddings carry ~3 significant digits, so their norms drift by ~1e-3.
UNIT_NORM_TOLERANCE = 1e-2


def require_columns(frame: pd.DataFrame, columns: Iterable[str], *, where: str) -> None:
    """Raise ValueError naming the missing columns of ``frame``.

    Args:
        frame: The table to check.
        columns: Names that must be present.
        where: What the table is (a file name or a description) for the message.
    """
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        found = ", ".join(map(str, frame.columns))
        raise ValueError(f"{where}: missing column(s) {', '.join(missing)}; found {found}")


def require_embedding_matrix(
    array: np.ndarray,
    *,
    name: str,
    rows: int | None = None,
    dim: int | None = None,
) -> np.ndarray:
    """Check an embedding matrix's shape and values.

    Args:
        array: The matrix.
        name: The file or argument it came from, for messages.
        rows: Expected number of rows, when known.
        dim: Expected embedding dimension, when known.

    Returns:
        ``array`` unchanged.

    Raises:
        ValueError: Not 2-D, wrong row count or dimension, not a float dtype, or
            containing NaN or infinity (the first bad row is named).
    """
    if array.ndim != 2:
        raise ValueError(f"{name}: expected a 2-D (rows, dim) array, got shape {array.shape}")
    if not np.issubdtype(array.dtype, np.floating):
        raise ValueError(f"{name}: expected float16 or float32 values, got {array.dtype}")
    if rows is not None and array.shape[0] != rows:
        raise ValueError(f"{name}: has {array.shape[0]} rows but its metadata has {rows}")
    if dim is not None and array.shape[1] != dim:
        raise ValueError(f"{name}: dimension {array.shape[1]}, expected {dim}")
    finite = np.isfinite(array).all(axis=1)
    if not finite.all():
        bad = int(np.flatnonzero(~finite)[0])
        raise ValueError(f"{name}: row {bad} holds NaN or infinite values")
    return array


def check_embeddings(embeddings: object, *, name: str = "embeddings") -> np.ndarray:
    """An (N, D) float embedding matrix as an array, checked for shape and dtype only.

    Cheaper than ``require_embedding_matrix`` (no scan for NaN), for the pure-math
    functions that take any float precision.

    Args:
        embeddings: Array-like (N, D) of float16, float32 or float64.
        name: The argument it came from, for messages.

    Returns:
        ``np.asarray(embeddings)``, no copy when already an array.

    Raises:
        ValueError: Not 2-D.
        TypeError: Not a float dtype.
    """
    arr = np.asarray(embeddings)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 2-D (N, D), got shape {arr.shape}")
    if arr.dtype.kind != "f":
        raise TypeError(f"{name} must be float16/32/64, got {arr.dtype}")
    return arr


def require_unit_rows(array: np.ndarray, *, name: str) -> np.ndarray:
    """Check that every row is L2-normalised (within float16 precision).

    Returns:
        ``array`` as float32.

    Raises:
        ValueError: A row's norm is off by more than ``UNIT_NORM_TOLERANCE``.
    """
    array = require_embedding_matrix(np.asarray(array), name=name)
    values = np.asarray(array, dtype=np.float32)
    norms = np.linalg.norm(values, axis=1)
    off = np.abs(norms - 1.0) > UNIT_NORM_TOLERANCE
    if off.any():
        bad = int(np.flatnonzero(off)[0])
        raise ValueError(
            f"{name}: row {bad} has norm {norms[bad]:.4f}; embeddings must be L2-normalised"
        )
    return values


def check_confidence(confidence: object) -> float:
    """A confidence level as a float in (0, 1).

    Raises:
        ValueError: ``confidence`` is not a number strictly between 0 and 1.
    """
    if isinstance(confidence, bool) or not isinstance(confidence, int | float):
        raise ValueError(f"confidence must be a number in (0, 1), got {confidence!r}")
    if not 0.0 < float(confidence) < 1.0:
        raise ValueError(f"confidence must be a number in (0, 1), got {confidence!r}")
    return float(confidence)


def check_length(arr: np.ndarray, n: int, *, name: str, other: str = "labels") -> None:
    """Check that ``arr`` has ``n`` rows, the length of its partner ``other``.

    Raises:
        ValueError: The row counts differ; the message names both arrays.
    """
    if arr.shape[0] != n:
        raise ValueError(f"{name} has {arr.shape[0]} rows but {other} has {n}; they must match")
