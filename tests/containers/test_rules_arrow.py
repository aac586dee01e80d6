"""The row rules' Arrow shortcuts give what their exact (Python) definitions give: money through
float64 equals the decimal reading, TRAILING_UTC removed by trimming equals `re.sub`,
WHITESPACE is Python's whitespace, and the byte-level shortcuts for the usual columns give what
the full rules give."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from containers.engine import rules
from containers.engine.contract import ORDER_ITEMS, STATUSES
from containers.engine.rules import (
    NUMBER,
    PLAIN_MONEY,
    TRAILING_UTC,
    WHITESPACE,
    Origin,
    _fullmatch,
    _money_micros,
    _to_micros,
    _without_utc_suffix,
    validate,
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


# Column values near what each shortcut decides on: the usual forms, and the ones that must make it
# decline (signs, white space, more than MAX_DIGITS digits, times without `Z` or that Arrow rejects,
# prices beyond PLAIN_MONEY, statuses not as written).
ID_TEXT = st.one_of(st.text(alphabet="0123456789", max_size=20), st.sampled_from(["+7", " 7", "7 ", "٣", "-1"]))
TIME_TEXT = st.sampled_from(
    [
        "2025-03-01T10:00:00Z",
        "2025-03-02T11:30:00Z",
        "",
        "2025-02-30T00:00:00Z",
        "1999-12-31T23:59:59Z",
        "2031-01-01T00:00:00Z",
        "2025-03-01T10:00:00.5Z",
        "2025-03-01 10:00:00Z",
        "9Z",
        "2025-03-01T10:00:00+02:00",
        " 2025-03-01T10:00:00Z",
        "2025-03-01T10:00:00Z ",
        "2025-03-01 10:00:00",
        "2025-03-01 10:00:00 UTC",
    ]
)
MONEY_EDGES = [
    "1.123456",
    "1.1234567",
    ".123456",
    ".1234567",
    "12345678.5",
    "123456789",
    "1.",
    ".",
    "1.5.",
    "10000000.1",
]
MONEY_TEXT = st.one_of(
    st.text(alphabet="0123456789.", max_size=16), st.sampled_from([*MONEY_EDGES, "-1", " 1.5", "1e3", "1/2", "+2"])
)
STATUS_TEXT = st.sampled_from([*STATUSES, "Shipped", " complete", "", "lost"])
ITEM_COLUMNS = {
    "id": ID_TEXT,
    "order_id": ID_TEXT,
    "user_id": ID_TEXT,
    "product_id": ID_TEXT,
    "status": STATUS_TEXT,
    "created_at": TIME_TEXT,
    "shipped_at": TIME_TEXT,
    "delivered_at": TIME_TEXT,
    "returned_at": TIME_TEXT,
    "sale_price": MONEY_TEXT,
}
SHORTCUTS = ("_plain_digit_lengths", "_zulu_empties", "_unsigned_plain_money")


@st.composite
def item_batches(draw: st.DrawFn) -> pa.Table:
    """A batch whose columns are each either all of their usual form (the shortcut applies) or mixed."""
    size = draw(st.integers(1, 12))
    columns: dict[str, list[str]] = {}
    for name, values in ITEM_COLUMNS.items():
        usual = draw(st.booleans())
        first = draw(values)
        columns[name] = [first] * size if usual else draw(st.lists(values, min_size=size, max_size=size))
    numbers = list(range(1, size + 1))
    return pa.table({"row_number": numbers, "line": [n + 1 for n in numbers], **columns})


@SMALL
@given(item_batches())
def test_the_shortcuts_give_what_the_full_rules_give(batch: pa.Table) -> None:
    origin, now = Origin("k", datetime(2025, 3, 10, tzinfo=UTC)), datetime(2025, 3, 10, tzinfo=UTC)
    fast = validate(batch, ORDER_ITEMS, origin, now)
    with pytest.MonkeyPatch.context() as patch:
        for name in SHORTCUTS:
            patch.setattr(rules, name, lambda _text: None)
        patch.setattr(rules, "_statuses_as_written", lambda _text: False)
        full = validate(batch, ORDER_ITEMS, origin, now)
    assert fast.valid.equals(full.valid, check_metadata=True)
    pd.testing.assert_frame_equal(fast.rejected, full.rejected)


def test_the_usual_columns_take_the_shortcuts() -> None:
    """The bench files' forms are the ones the shortcuts take (else they would only cost)."""
    text = pa.array(["12", "", "7"])
    assert rules._plain_digit_lengths(text).tolist() == [2, 0, 1]
    assert rules._zulu_empties(pa.array(["2025-03-01T10:00:00Z", ""])).tolist() == [False, True]
    empty, plain = rules._unsigned_plain_money(pa.array(["184.02", "", "123456789"]))
    assert (empty.tolist(), plain.tolist()) == ([False, True, False], [True, False, False])
    assert rules._statuses_as_written(pa.array(["shipped", "complete"]))
