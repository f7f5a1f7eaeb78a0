"""The types a sample-id column may have, checked before any id is turned into a key.

LAION parts store ``SAMPLE_ID`` as integers, floats (LAION-400M) or strings. Any other
type (a list, bytes, a struct, a boolean) would be rendered to a string that looks like
an id and is none, so it stops the run with a message naming the file and column.
"""

from __future__ import annotations

import pyarrow as pa


def is_sample_id_type(arrow_type: pa.DataType) -> bool:
    """True for the column types a sample id may have: integer, float, string or null."""
    return (
        pa.types.is_integer(arrow_type)
        or pa.types.is_floating(arrow_type)
        or pa.types.is_string(arrow_type)
        or pa.types.is_large_string(arrow_type)
        or pa.types.is_null(arrow_type)
        or (pa.types.is_dictionary(arrow_type) and is_sample_id_type(arrow_type.value_type))
    )


def require_sample_id_type(arrow_type: pa.DataType, *, where: str) -> None:
    """Raise unless a sample-id column of ``arrow_type`` can be read as ids.

    Args:
        arrow_type: The column's Arrow type.
        where: The file and column, for the message.

    Raises:
        ValueError: The type is not integer, float or string (file, column, type named).
    """
    if not is_sample_id_type(arrow_type):
        raise ValueError(
            f"{where}: sample ids of type {arrow_type}; expected integers, floats or strings"
        )
