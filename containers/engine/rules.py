"""Row validation: text in, typed rows and rejected rows (each with its reasons) out.

Pure DataFrame-in/DataFrame-out. Every rule has a name; a rejected row keeps all the rules
it broke, so a person fixing the data sees everything at once.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal, localcontext

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from containers.engine.contract import LIFECYCLE, STATUSES, FileKind, Role, Schema
from containers.engine.csv_source import MalformedRow

VERSION = "_version_ts"  # micros: when this version of the row was last true (latest wins)
SOURCE = "_source"  # products: the key of their file (orders product files landing the same second)
ROW = "_row"  # 1-based position in its file: the last tie-break for products
FUTURE_TOLERANCE = timedelta(days=1)
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
# ASCII digits only: `\d` also matches Arabic-Indic or full-width digits, which no id is.
MAX_DIGITS = 18  # below 10^18: within int64 (Parquet, Arrow) and DynamoDB's 38 digits
INTEGER = rf"\+?[0-9]{{1,{MAX_DIGITS}}}"
NUMBER = r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
# Amounts are kept as int64 micro-units; at most ten million per value, so that even a
# day of 900,000 such items sums exactly in int64 (2^63 micros is 9.2e12 units). DynamoDB
# holds 38 digits and magnitudes 1E-130 .. 9.9E+125, so any such sum is stored exactly
# (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/HowItWorks.NamingRulesDataTypes.html#HowItWorks.DataTypes.Number).
MAX_AMOUNT = Decimal(10_000_000)
MICRO = Decimal("0.000001")
MAX_MICROS = int(MAX_AMOUNT.scaleb(6))
PLAIN_DIGITS = 20  # a text this short without exponent scales exactly in Decimal's default 28 digits
TRAILING_UTC = r"\s*UTC$"
OFFSET = r":\d{2}(?:\.\d+)?[+-]\d{2}(?::?\d{2})?$"  # a time with an offset (or a trailing Z): an instant

# Reasons, each named once (documented in docs/data-contract.md, "Row rules").
MISSING = "missing_value"
NOT_INTEGER = "not_a_non_negative_integer"
BAD_STATUS = "unknown_status"
BAD_TIMESTAMP = "invalid_timestamp"
FUTURE = "timestamp_in_future"
TOO_EARLY = "timestamp_before_minimum"
BEFORE_CREATED = "before_created_at"
DELIVERED_BEFORE_SHIPPED = "delivered_before_shipped"
BAD_COUNT = "count_below_one"
NOT_NUMBER = "not_a_number"
NEGATIVE = "negative_amount"
TOO_LARGE = "amount_out_of_range"


@dataclass
class Validated:
    valid: pd.DataFrame  # typed rows of the schema, plus VERSION and ROW
    rejected: pd.DataFrame  # row_number, line, reason, and the row's contract columns as written


@dataclass(frozen=True)
class TimeBounds:
    """The instants a timestamp may hold: from `earliest` to `tolerance` after validation."""

    earliest: datetime = EARLIEST
    tolerance: timedelta = FUTURE_TOLERANCE

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> TimeBounds:
        """`MIN_TIMESTAMP` (ISO-8601, naive = UTC) and `MAX_FUTURE_HOURS` (a number)."""
        env = os.environ if environ is None else environ
        earliest = datetime.fromisoformat(env.get("MIN_TIMESTAMP", EARLIEST.isoformat()))
        earliest = earliest if earliest.tzinfo else earliest.replace(tzinfo=UTC)
        hours = float(env.get("MAX_FUTURE_HOURS", FUTURE_TOLERANCE.total_seconds() / 3600))
        return cls(earliest, timedelta(hours=hours))


def _to_micros(text: str) -> int | None:
    """Exact micro-units of a decimal text, or None beyond ±MAX_AMOUNT (checked on the
    exponent first: `1e999999` must not build a million-digit integer)."""
    if len(text) <= PLAIN_DIGITS and "e" not in text and "E" not in text:  # the usual price: exact in 28 digits
        micros = int(Decimal(text).scaleb(6).to_integral_value(rounding=ROUND_HALF_EVEN))
        return micros if abs(micros) <= MAX_MICROS else None
    mantissa, _, exponent = text.lower().partition("e")
    if len(exponent.lstrip("+-").lstrip("0")) > 9:  # beyond what a Decimal can hold: 0 or far too large
        return 0 if exponent.startswith("-") or Decimal(mantissa).is_zero() else None
    number = Decimal(text)
    if number.is_zero() or number.adjusted() < -7:  # below half a micro: rounds to zero
        return 0
    if number.adjusted() > MAX_AMOUNT.adjusted() or abs(number) > MAX_AMOUNT:
        return None
    with localcontext(prec=40):  # at most 8 + 6 digits survive the quantize: exact
        return int(number.quantize(MICRO, rounding=ROUND_HALF_EVEN).scaleb(6))


def to_micros(moment: datetime) -> int:
    return int(pd.Timestamp(moment).as_unit("us").asm8.view("int64"))


def _micros(ts: pd.Series) -> pd.Series:
    values = ts.array.as_unit("us").asi8.copy()
    return pd.Series(pd.arrays.IntegerArray(values, ts.isna().to_numpy()), index=ts.index)


def _nullable_int(values: pa.Array, index: pd.Index) -> pd.Series:
    """An Arrow int64 array as an Int64 Series (pandas' own conversion goes value by value)."""
    values = values.cast(pa.int64())
    mask = values.is_null().to_numpy(zero_copy_only=False)
    data = values.fill_null(0).to_numpy(zero_copy_only=False).copy()
    return pd.Series(pd.arrays.IntegerArray(data, mask), index=index)


def _arrow_text(value: pd.Series) -> pa.Array:
    """A text column as one Arrow array (pandas may hold it in several chunks, or none)."""
    array = pa.array(value, type=pa.string(), from_pandas=True)
    return array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array


NO_TEXT = pa.scalar(None, pa.string())
# What Python's str.isspace() (and so `re`'s `\s`, in TRAILING_UTC) calls whitespace.
WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680"
    + "".join(map(chr, range(0x2000, 0x200B)))
    + "\u2028\u2029\u202f\u205f\u3000"
)
# NUMBER texts below 10^8 with at most six decimals: exact through a float64 (`_money_micros`)
PLAIN_MONEY = r"[+-]?(?:[0-9]{1,8}(?:\.[0-9]{0,6})?|\.[0-9]{1,6})"


def _arrow_iso8601(text: pa.Array) -> pa.Array | None:
    """UTC micros of ISO-8601 text by Arrow's parser, or None if it declines any value."""
    zulu = pc.ends_with(text, "Z")  # null where text is
    try:
        if pc.all(zulu).as_py():  # the offset regex is only needed when some time lacks the Z
            return pc.cast(text, pa.timestamp("us", tz="UTC")).cast(pa.int64())
        zoned = pc.or_(zulu, pc.match_substring_regex(text, OFFSET))
        if pc.all(zoned).as_py():  # one kind of timestamp (or nulls), one cast
            return pc.cast(text, pa.timestamp("us", tz="UTC")).cast(pa.int64())
        if not pc.any(zoned).as_py():
            return pc.cast(text, pa.timestamp("us")).cast(pa.int64())
        aware = pc.cast(pc.if_else(zoned, text, NO_TEXT), pa.timestamp("us", tz="UTC"))
        naive = pc.cast(pc.if_else(zoned, NO_TEXT, text), pa.timestamp("us"))
        return pc.coalesce(aware.cast(pa.int64()), naive.cast(pa.int64()))
    except pa.ArrowInvalid:
        return None


def _iso8601(text: pa.Array) -> pa.Array:
    """UTC micros of ISO-8601 text (no offset means UTC), null where it is not a timestamp.

    Arrow's parser is several times faster than pandas' but accepts a strict subset of its
    forms (and gives the same instants), so a column with anything Arrow declines is parsed
    by pandas whole: the outcome never depends on which parser ran.
    """
    micros = _arrow_iso8601(text)
    if micros is None:
        value = pd.Series(text.to_pandas(), dtype="str")
        micros = pa.array(_micros(pd.to_datetime(value, format="ISO8601", utc=True, errors="coerce")))
    return micros


def _iso8601_micros(value: pd.Series) -> pd.Series:
    """`_iso8601` of a text Series, as an Int64 Series."""
    return _nullable_int(_iso8601(_arrow_text(value)), value.index)


def _fullmatch(text: pa.Array, pattern: str) -> pa.Array:
    """Whether each text matches all of `pattern` (False where null), as `Series.str.fullmatch` on Arrow."""
    return pc.fill_null(pc.match_substring_regex(text, f"^(?:{pattern})$"), False)


def _bools(mask: pa.Array) -> np.ndarray:
    flags: np.ndarray = pc.fill_null(mask, False).to_numpy(zero_copy_only=False)
    return flags


def _money_micros(number: pa.Array, plain: pa.Array) -> pa.Array:
    """Exact micros of NUMBER texts, null beyond ±MAX_AMOUNT. `plain` ones (PLAIN_MONEY) go
    through float64: their micros are below 2^53 and the parse is correctly rounded, so
    rounding the product gives the exact integer. Each distinct other text is read as a
    decimal and rounded half-even."""
    try:
        scaled = pc.multiply(pc.cast(pc.if_else(plain, number, NO_TEXT), pa.float64()), 1e6)
        fast = pc.cast(pc.round(scaled, round_mode="half_to_even"), pa.int64())
        fast = pc.if_else(pc.greater(pc.abs(fast), MAX_MICROS), pa.scalar(None, pa.int64()), fast)
    except pa.ArrowInvalid:  # a form the float parser declines: every text takes the decimal path
        plain = pa.array(np.zeros(len(number), dtype=bool))
        fast = pa.nulls(len(number), pa.int64())
    rest = pc.if_else(plain, NO_TEXT, number)
    if not pc.any(pc.is_valid(rest)).as_py():
        return fast
    encoded = pc.dictionary_encode(rest)
    careful = pa.array([_to_micros(text) for text in encoded.dictionary.to_pylist()], type=pa.int64())
    return pc.if_else(plain, fast, careful.take(encoded.indices))


def _without_utc_suffix(value: pa.Array) -> pa.Array:
    """BigQuery's " UTC" removed: `re.sub(TRAILING_UTC, "", text)` of each text, by trimming."""
    suffixed = pc.fill_null(pc.ends_with(value, "UTC"), False)
    if not pc.any(suffixed).as_py():
        return value
    bare = pc.utf8_rtrim(pc.utf8_slice_codeunits(value, 0, -3), characters=WHITESPACE)
    return pc.if_else(suffixed, bare, value)


class _Checker:
    """Collects (row mask, reason) pairs while converting columns, all in Arrow."""

    def __init__(self, text: pd.DataFrame) -> None:
        self.text = text
        self.rows = len(text)
        self.problems: list[tuple[np.ndarray, str]] = []

    def flag(self, mask: pa.Array, reason: str, column: str) -> None:
        if pc.any(mask).as_py():  # nulls are not problems; most masks find none, so stay in Arrow
            self.problems.append((_bools(mask), f"{reason}:{column}"))

    def present(self, name: str, required: bool) -> pa.Array:
        value = pc.utf8_trim_whitespace(_arrow_text(self.text[name]))
        empty = pc.equal(value, "")
        if not pc.any(empty).as_py():
            return value
        if required:
            self.flag(empty, MISSING, name)
        return pc.if_else(empty, NO_TEXT, value)

    def integer(self, name: str, required: bool, minimum: int = 0) -> pa.Array:
        value = self.present(name, required)
        # INTEGER without a regex: one optional "+", then 1 to MAX_DIGITS ASCII digits
        signed = pc.fill_null(pc.starts_with(value, "+"), False)
        digits = pc.if_else(signed, pc.utf8_slice_codeunits(value, 1), value)
        ok = pc.and_(pc.ascii_is_decimal(digits), pc.less_equal(pc.binary_length(digits), MAX_DIGITS))
        ok = pc.fill_null(ok, False)
        self.flag(pc.and_not(pc.is_valid(value), ok), NOT_INTEGER, name)
        out = pc.cast(pc.if_else(ok, digits, NO_TEXT), pa.int64())
        if minimum > 0:
            self.flag(pc.less(out, minimum), BAD_COUNT, name)
        return out

    def status(self, name: str, required: bool) -> pa.Array:
        value = pc.utf8_lower(self.present(name, required))
        self.flag(pc.and_not(pc.is_valid(value), pc.is_in(value, pa.array(STATUSES))), BAD_STATUS, name)
        return value

    def timestamp(self, name: str, required: bool, now: datetime, bounds: TimeBounds) -> pa.Array:
        value = self.present(name, required)
        value = _without_utc_suffix(value)
        micros = _iso8601(value)
        self.flag(pc.and_(pc.is_valid(value), pc.is_null(micros)), BAD_TIMESTAMP, name)
        self.flag(pc.greater(micros, to_micros(now + bounds.tolerance)), FUTURE, name)
        self.flag(pc.less(micros, to_micros(bounds.earliest)), TOO_EARLY, name)
        return micros

    def money(self, name: str, required: bool) -> pa.Array:
        value = self.present(name, required)
        plain = _fullmatch(value, PLAIN_MONEY)  # the usual price, a subset of NUMBER
        everything = pc.all(pc.or_(plain, pc.is_null(value))).as_py()
        numeric = plain if everything else pc.or_(plain, _fullmatch(value, NUMBER))
        out = _money_micros(pc.if_else(numeric, value, NO_TEXT), plain)
        self.flag(pc.and_not(pc.is_valid(value), numeric), NOT_NUMBER, name)
        self.flag(pc.and_(numeric, pc.is_null(out)), TOO_LARGE, name)
        self.flag(pc.less(out, 0), NEGATIVE, name)
        return out

    def bad(self) -> np.ndarray:
        bad = np.zeros(self.rows, dtype=bool)
        for found, _ in self.problems:
            bad |= found
        return bad

    def reasons(self, rows: np.ndarray) -> pa.Array:
        """Every rule each of these rows broke, `;`-separated in the order they were checked."""
        names = [pc.if_else(pa.array(found[rows]), name, NO_TEXT) for found, name in self.problems]
        return pc.binary_join_element_wise(*names, ";", null_handling="skip")


def _check_order_of_events(check: _Checker, typed: dict[str, pa.Array]) -> None:
    created = typed["created_at"]
    for later in ("shipped_at", "delivered_at", "returned_at"):
        check.flag(pc.less(typed[later], created), BEFORE_CREATED, later)
    check.flag(pc.less(typed["delivered_at"], typed["shipped_at"]), DELIVERED_BEFORE_SHIPPED, "delivered_at")


def _series(values: pa.Array, index: pd.Index) -> pd.Series:
    """A typed Arrow column as the pandas Series the engine takes: Int64, or str text."""
    if pa.types.is_integer(values.type):
        return _nullable_int(values, index)
    return pd.Series(values.to_pandas(), dtype="str").set_axis(index)


@dataclass(frozen=True)
class Origin:
    """Where a file came from: products, which carry no timestamps, are versioned by it."""

    key: str
    landed_at: datetime


def validate(
    text: pd.DataFrame, schema: Schema, origin: Origin, now: datetime | None = None, bounds: TimeBounds | None = None
) -> Validated:
    """Type and check one batch of text rows (`row_number`, `line`, the schema's columns).

    Products carry no timestamps, so their version is the moment their file landed (files
    landing within the same second are ordered by key), then their position in the file.
    """
    now = now or datetime.now(UTC)
    bounds = bounds or TimeBounds()
    check = _Checker(text)
    typed: dict[str, pa.Array] = {}
    for column in schema.columns:
        name, required = column.name, column.required
        if column.role is Role.ID:
            typed[name] = check.integer(name, required)
        elif column.role is Role.COUNT:
            typed[name] = check.integer(name, required, minimum=1)
        elif column.role is Role.STATUS:
            typed[name] = check.status(name, required)
        elif column.role is Role.TIMESTAMP:
            typed[name] = check.timestamp(name, required, now, bounds)
        elif column.role is Role.MONEY:
            typed[name] = check.money(name, required)
        else:
            typed[name] = check.present(name, required)
    if schema.kind is not FileKind.PRODUCTS:
        _check_order_of_events(check, typed)
        typed[VERSION] = pc.max_element_wise(*(typed[n] for n in LIFECYCLE))
    bad = check.bad()
    keep = pa.array(~bad)
    index = pd.RangeIndex(len(bad) - int(bad.sum()))
    columns = {name: _series(values.filter(keep), index) for name, values in typed.items()}
    valid = pd.DataFrame(columns, index=index, copy=False)
    if schema.kind is FileKind.PRODUCTS:
        valid[VERSION] = pd.array([to_micros(origin.landed_at)] * len(valid), dtype="Int64")
        valid[SOURCE] = origin.key
    valid[ROW] = text["row_number"].to_numpy(dtype="int64")[~bad]
    rows = np.flatnonzero(bad)
    rejected = text.iloc[rows].reset_index(drop=True)
    reason = check.reasons(rows) if len(rows) else pa.array([], pa.string())
    rejected.insert(2, "reason", _series(reason, rejected.index))
    return Validated(valid, rejected)


def malformed_frame(rows: list[MalformedRow], schema: Schema) -> pd.DataFrame:
    """Records the CSV reader could not split into the header's fields, kept verbatim."""
    frame = pd.DataFrame(
        {
            "row_number": pd.array([r.row_number for r in rows], dtype="int64"),
            "line": pd.array([r.line for r in rows], dtype="int64"),
            "reason": [r.reason for r in rows],
        }
    )
    for name in schema.names:
        frame[name] = ""
    frame["raw"] = [r.text for r in rows]
    return frame
