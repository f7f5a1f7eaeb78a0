"""Error messages fit to show a user: one line, bounded in length.

A message that quotes a file's content (column names, values) could otherwise run to
megabytes; a traceback or a newline in a value would break the one-line rule.
"""

from __future__ import annotations

import re

# Longest message shown to a user; the rest is cut (with a note of how much).
MAX_MESSAGE_CHARS = 400
# Longest quoted value (a column name, a wnid) inside a message.
MAX_VALUE_CHARS = 60
# Most items of a list quoted in a message.
MAX_LISTED = 8
_WHITESPACE = re.compile(r"\s+")


def bound_message(text: str, *, limit: int = MAX_MESSAGE_CHARS) -> str:
    """``text`` on one line and at most ``limit`` characters.

    Returns:
        Whitespace runs (newlines included) made one space; a longer text is cut and
        ends in ``… (N more characters)``.
    """
    line = _WHITESPACE.sub(" ", text).strip()
    if len(line) <= limit:
        return line
    note = f"… ({len(line) - limit} more characters)"
    return line[: max(limit - len(note), 0)] + note


def quote_value(value: object, *, limit: int = MAX_VALUE_CHARS) -> str:
    """``repr(value)``, cut to ``limit`` characters."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def quote_list(values: list[object], *, limit: int = MAX_LISTED) -> str:
    """The first ``limit`` values quoted, then how many more there are."""
    shown = ", ".join(quote_value(v) for v in values[:limit])
    more = len(values) - limit
    return f"[{shown}{f', … {more} more' if more > 0 else ''}]"
