"""The row rules' Arrow shortcuts give what their exact (Python) definitions give: money through
float64 equals the decimal reading, TRAILING_UTC removed by trimming equals `re.sub`, and
WHITESPACE is Python's whitespace."""

from __future__ import annotations

import re

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from containers.engine.rules import (
    NUMBER,
    PLAIN_MONEY,
    TRAILING_UTC,
    WHITESPACE,
    _fullmatch,
    _money_micros,
    _to_micros,
    _without_utc_suffix,
)

SMALL = settings(max_examples=60, deadline=None)
DIGITS = st.text(alphabet="0123456789", max_size=9)
PLAIN = st.builds(
    lambda sign, whole, point, fraction: sign + whole + point + fraction,
    st.sampled_from(["", "+", "-"]),
    DIGITS,
    st.sampled_from(["", "."]),
    DIGITS,
).filter(lambda text: any(c.isdigit() for c in text))
NEAR_LIMITS = ["10000000", "10000000.000001", "-10000000", "99999999.999999", "0.0000005", "9999999.9999995", "-0.0"]


@SMALL
@given(st.lists(st.one_of(PLAIN, st.sampled_from(NEAR_LIMITS)), max_size=20))
def test_money_micros_equal_the_decimal_reading(texts: list[str]) -> None:
    number = pa.array(texts, pa.string())
    plain = _fullmatch(number, PLAIN_MONEY)
    assert all(re.fullmatch(NUMBER, t) for t in texts)
    assert _money_micros(number, plain).to_pylist() == [_to_micros(t) for t in texts]


def test_whitespace_is_what_python_strips() -> None:
    assert "".join(c for c in map(chr, range(0x110000)) if c.isspace()) == WHITESPACE


@SMALL
@given(st.lists(st.text(alphabet=WHITESPACE + "0:-TUCZ\u00e9", max_size=8), max_size=10))
def test_trailing_utc_is_removed_as_re_would(texts: list[str]) -> None:
    texts += [f"2025-03-01 10:00:00{t}UTC" for t in texts]
    assert _without_utc_suffix(pa.array(texts, pa.string())).to_pylist() == [re.sub(TRAILING_UTC, "", t) for t in texts]
