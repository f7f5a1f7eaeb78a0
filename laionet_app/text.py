"""Untrusted names (datasets, models, classes, files) in Markdown-rendered places.

Streamlit renders captions, messages, headers and widget labels as Markdown with
GitHub's extensions. A name put into a code span breaks out of it with a backtick,
``![x](http://...)`` makes the browser fetch a URL, and a bare ``http://...``,
``www.x`` or ``a@b.c`` becomes a link even when escaped (the autolinks are found in
the parsed text). ``escape_markdown`` is the one way a name enters such text:

- whitespace runs, newlines included, become one space, and long names are cut;
- an invisible WORD JOINER (U+2060) follows each ``:`` before ``/``, each ``@`` and each
  ``www`` before ``.``, so no autolink starts there;
- every ASCII punctuation character is backslash-escaped (CommonMark's escapes, which
  also cover Streamlit's ``:color[...]`` directives and ``$`` maths).

Where no Markdown is needed, use ``st.text``.
"""

from __future__ import annotations

import re
import string

# Longest name shown; longer ones end in an ellipsis (a page is not a file dump).
MAX_NAME_CHARS = 200
# Invisible and zero-width: keeps the name's look while breaking autolink patterns.
WORD_JOINER = "\u2060"
_AUTOLINK_START = re.compile(r":(?=/)|@|www(?=\.)", re.IGNORECASE)
_PUNCTUATION = re.compile("([" + re.escape(string.punctuation) + "])")
_WHITESPACE = re.compile(r"\s+")


def break_autolinks(text: str) -> str:
    """``text`` with a WORD JOINER after each place a URL, ``www.`` or e-mail link starts."""
    return _AUTOLINK_START.sub(lambda m: m.group(0) + WORD_JOINER, text)


def escape_markdown(value: object, *, limit: int = MAX_NAME_CHARS) -> str:
    """``value`` as text that Markdown shows literally, on one line, with no link.

    Args:
        value: Any name; ``str()`` of it is used.
        limit: Longest result in characters before escaping; longer text is cut and
            ends in an ellipsis.

    Returns:
        The escaped text; rendered, it reads as ``break_autolinks`` of the (cut) name.
    """
    text = _WHITESPACE.sub(" ", str(value)).strip()
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return _PUNCTUATION.sub(r"\\\1", break_autolinks(text))
