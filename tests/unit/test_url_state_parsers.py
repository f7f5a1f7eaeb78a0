"""URL values of the shared controls: what a link may say, and how values are written."""

from __future__ import annotations

import pytest

from laionet_app.url_state import (
    parse_bool,
    parse_number,
    parse_option,
    serialize_bool,
    serialize_number,
)


def test_numbers_within_bounds_only() -> None:
    parse = parse_number(0.0, 1.0)
    assert parse("0.84") == pytest.approx(0.84)
    for bad in ("1.5", "-0.1", "nan", "inf", "abc", ""):
        with pytest.raises(ValueError):
            parse(bad)
    assert parse_number(1, 10, integer=True)("3") == 3
    with pytest.raises(ValueError):
        parse_number(1, 10, integer=True)("2.5")


def test_flags_and_options() -> None:
    assert parse_bool("TRUE") is True and parse_bool("false") is False
    with pytest.raises(ValueError):
        parse_bool("yes")
    assert parse_option(["a", "b"])("b") == "b"
    with pytest.raises(ValueError):
        parse_option(["a", "b"])("c")


@pytest.mark.parametrize("value", [0.84, 0.8400000000000001, 0.005, 1.0, 0.0])
def test_numbers_round_trip_in_short_form(value: float) -> None:
    text = serialize_number(value)
    assert len(text) <= 8
    assert parse_number(0.0, 1.0)(text) == pytest.approx(value, abs=1e-6)
    assert serialize_number(3) == "3"
    assert serialize_bool(True) == "true" and parse_bool(serialize_bool(False)) is False
