"""Untrusted names (datasets, models, classes, files) in Markdown-rendered places.

Streamlit renders captions, messages, headers and widget labels as Markdown. A name
put into a code span breaks out of it with a backtick, and ``![x](http://...)`` makes
the browser fetch a URL. ``escape_markdown`` is the one way a name enters such text:
every ASCII punctuation character is backslash-escaped (CommonMark's escapes, which
also cover Streamlit's ``:color[...]`` directives and ``$`` maths) and whitespace runs,
newlines included, become one space. Where no Markdown is needed, use ``st.text``.
"""

from __future__ import annotations

import re
import string

# Longest name shown; longer ones end in an ellipsis (a page is not a file dump).
MAX_NAME_CHARS = 200
_PUNCTUATION = re.compile("([" + re.escape(string.punctuation) + "])")
_WHITESPACE = re.compile(r"\s+")


def escape_markdown(value: object, *, limit: int = MAX_NAME_CHARS) -> str:
    """``value`` as text that Markdown shows literally, on one line.

    Args:
        value: Any name; ``str()`` of it is used.
        limit: Longest result in characters before escaping; longer text is cut and
            ends in an ellipsis.

    Returns:
        The escaped text.
    """
    text = _WHITESPACE.sub(" ", str(value)).strip()
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return _PUNCTUATION.sub(r"\\\1", text)
