"""Names in Markdown-rendered places: escaped so that they read literally and link nowhere."""

from __future__ import annotations

import re
import string

from hypothesis import given
from hypothesis import strategies as st

from laionet_app.text import MAX_NAME_CHARS, WORD_JOINER, break_autolinks, escape_markdown


def _unescape(escaped: str) -> str:
    """What CommonMark shows for text whose punctuation is all backslash-escaped."""
    return re.sub(r"\\(.)", r"\1", escaped)


def test_a_code_span_break_out_is_escaped_character_by_character() -> None:
    name = "x`![p](http://evil.invalid/p.png)`<img src=x>"
    escaped = escape_markdown(name)
    assert escaped.startswith(r"x\`\!\[p\]\(http\:")
    assert _unescape(escaped) == break_autolinks(name)


def test_autolink_starts_carry_a_word_joiner() -> None:
    assert break_autolinks("see http://a.b, WWW.c.d and me@e.f") == (
        f"see http:{WORD_JOINER}//a.b, WWW{WORD_JOINER}.c.d and me@{WORD_JOINER}e.f"
    )
    assert break_autolinks("plain name: no link") == "plain name: no link"


def test_whitespace_is_one_space_and_long_names_are_cut() -> None:
    assert escape_markdown("a\n\n# b\t c") == r"a \# b c"
    cut = _unescape(escape_markdown("n" * 10_000))
    assert len(cut) == MAX_NAME_CHARS and cut.endswith("…")


@given(st.text(max_size=80))
def test_every_punctuation_character_is_escaped(name: str) -> None:
    escaped = escape_markdown(name)
    bare = re.sub(r"\\.", "", escaped)  # drop every escaped pair
    assert not set(bare) & set(string.punctuation)
    assert _unescape(escaped) == break_autolinks(" ".join(name.split())[:MAX_NAME_CHARS]) or (
        len(" ".join(name.split())) > MAX_NAME_CHARS
    )
