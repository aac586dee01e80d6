"""No input crashes the validator: arbitrary text, bytes and numbers in every column and
header of every kind of file end VALID or REJECTED with reasons, and every physical line is
accounted for."""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from containers.engine.contract import SCHEMAS
from shoppulse.embedded import embedded_aws
from tests.containers.validation_support import validated

FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# The edges of what the stores can hold: DynamoDB numbers (38 digits, 1E-130 .. 9.9E+125),
# int64 (Parquet, Arrow), decimal128 (38 digits), and what Python's Decimal cannot.
EDGES = [
    "9" * 38,
    "9.9999999999999999999999999999999999999E+125",
    "1E-130",
    "-1E-130",
    "1E+126",
    "1e999999",
    "1e99999999999999999999",
    "-1e999999",
    "1e-999999",
    str(2**63 - 1),
    str(2**63),
    str(-(2**63)),
    "99999999999999999999999999999999999999.5",
    "0.0000005",
    "NaN",
    "Infinity",
    "-0",
    "+0",
    "١٢٣",
    "１２３",
    "12\u00a0",
    "1_000",
    "0x10",
    "0001-01-01",
    "1899-12-31T23:59:59Z",
    "9999-12-31T23:59:59Z",
    "+275760-09-13",
    "2025-03-01T10:00:00+99:99",
    "2025-03-01 10:00:00 UTC",
    "2025-13-01",
    '"',
    '""',
    "\r",
    "\x00",
    "\ufeff",
]
value = st.one_of(
    st.sampled_from(EDGES),
    st.text(max_size=12),
    st.integers().map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.decimals(allow_nan=True, allow_infinity=True).map(str),
    st.datetimes().map(lambda d: d.isoformat()),
)
header_cell = st.one_of(
    st.sampled_from([n for s in SCHEMAS.values() for n in s.names]).flatmap(
        lambda n: st.sampled_from([n, n.upper(), f" {n} ", f"\ufeff{n}", n.title()])
    ),
    st.text(max_size=8),
)


@st.composite
def csv_file(draw: Any) -> bytes:
    """A header (mostly one kind's columns, mangled) and rows of arbitrary values, written
    either as proper CSV or naively joined with commas (so quotes and line breaks break it)."""
    schema = draw(st.sampled_from(list(SCHEMAS.values())))
    names = list(draw(st.permutations(schema.names)))
    names = names[: draw(st.integers(len(schema.required), len(names)))]
    header = [draw(st.sampled_from([n, n.upper(), f" {n} "])) for n in names] + draw(st.lists(header_cell, max_size=2))
    rows = draw(st.lists(st.lists(value, min_size=len(header) - 1, max_size=len(header) + 1), max_size=6))
    out = io.StringIO()
    if draw(st.booleans()):
        csv.writer(out, lineterminator=draw(st.sampled_from(["\n", "\r\n", "\r"]))).writerows([header, *rows])
    else:
        out.write("\n".join(",".join(r) for r in [header, *rows]))
    data = out.getvalue().encode("utf-8", "surrogatepass")
    return gzip.compress(data) if draw(st.booleans()) and draw(st.booleans()) else data


@pytest.fixture(scope="module")
def aws() -> Iterator[Any]:
    with embedded_aws() as clients:
        yield clients


def assert_accounted(summary: dict[str, Any]) -> None:
    """VALID, or REJECTED with a reason; a file read to its end accounts for every line."""
    assert summary["status"] in ("VALID", "REJECTED"), summary
    if summary["status"] == "REJECTED":
        assert summary["reason"] and summary["detail"], summary
    if summary["status"] == "VALID" or summary["reason"] == "too_many_invalid_rows":
        lines = summary["header_lines"] + summary["rows"] + summary["blank_lines"] + summary["continuation_lines"]
        assert summary["lines"] == lines, summary
    if summary["status"] == "VALID":
        assert summary["rows"] == summary["valid_rows"] + summary["rejected_rows"], summary
    assert sum(summary["reasons"].values()) >= summary["rejected_rows"], summary


@FUZZ
@given(body=csv_file())
def test_any_csv_of_any_kind_ends_valid_or_rejected_with_every_line_accounted(aws: Any, body: bytes) -> None:
    assert_accounted(validated(aws, body))


@FUZZ
@given(
    header=st.sampled_from([",".join(s.names) for s in SCHEMAS.values()]),
    body=st.binary(max_size=200),
    compress=st.booleans(),
)
def test_arbitrary_bytes_after_a_header_end_valid_or_rejected(
    aws: Any, header: str, body: bytes, compress: bool
) -> None:
    data = header.encode() + b"\n" + body
    assert_accounted(validated(aws, gzip.compress(data) if compress else data))


@FUZZ
@given(body=st.binary(max_size=64))
def test_arbitrary_bytes_alone_end_valid_or_rejected(aws: Any, body: bytes) -> None:
    assert_accounted(validated(aws, body))
