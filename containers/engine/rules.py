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
INTEGER = r"\+?[0-9]{1,18}"  # below 10^18: within int64 (Parquet, Arrow) and DynamoDB's 38 digits
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


def _iso8601_micros(value: pd.Series) -> pd.Series:
    """UTC micros of ISO-8601 text (no offset means UTC), null where it is not a timestamp.

    Arrow's parser is several times faster than pandas' but accepts a strict subset of its
    forms (and gives the same instants), so a column with anything Arrow declines is parsed
    by pandas whole: the outcome never depends on which parser ran.
    """
    text = _arrow_text(value)
    zoned = pc.or_(pc.ends_with(text, "Z"), pc.match_substring_regex(text, OFFSET))  # null where text is
    nothing = pa.scalar(None, pa.string())
    try:
        if pc.all(zoned).as_py():  # the usual column: one kind of timestamp (or nulls), one cast
            micros = pc.cast(text, pa.timestamp("us", tz="UTC")).cast(pa.int64())
        elif not pc.any(zoned).as_py():
            micros = pc.cast(text, pa.timestamp("us")).cast(pa.int64())
        else:
            aware = pc.cast(pc.if_else(zoned, text, nothing), pa.timestamp("us", tz="UTC"))
            naive = pc.cast(pc.if_else(zoned, nothing, text), pa.timestamp("us"))
            micros = pc.coalesce(aware.cast(pa.int64()), naive.cast(pa.int64()))
    except pa.ArrowInvalid:
        return _micros(pd.to_datetime(value, format="ISO8601", utc=True, errors="coerce"))
    return _nullable_int(micros, value.index)


class _Checker:
    """Collects (row mask, reason) pairs while converting columns."""

    def __init__(self, text: pd.DataFrame) -> None:
        self.text = text
        self.problems: list[tuple[pd.Series, str]] = []

    def flag(self, mask: pd.Series, reason: str, column: str) -> None:
        if mask.any():
            self.problems.append((mask, f"{reason}:{column}"))

    def present(self, name: str, required: bool) -> pd.Series:
        value = self.text[name].str.strip()
        empty = value == ""
        if required:
            self.flag(empty, MISSING, name)
        return value.where(~empty)

    def integer(self, name: str, required: bool, minimum: int = 0) -> pd.Series:
        value = self.present(name, required)
        ok = value.str.fullmatch(INTEGER).fillna(False).astype(bool)
        self.flag(value.notna() & ~ok, NOT_INTEGER, name)
        digits = _arrow_text(value.where(ok).str.lstrip("+"))
        out = _nullable_int(pc.cast(digits, pa.int64()), value.index)
        if minimum > 0:
            self.flag(out.notna() & (out < minimum), BAD_COUNT, name)
        return out

    def status(self, name: str, required: bool) -> pd.Series:
        value = self.present(name, required).str.lower()
        self.flag(value.notna() & ~value.isin(STATUSES), BAD_STATUS, name)
        return value

    def timestamp(self, name: str, required: bool, now: datetime, bounds: TimeBounds) -> pd.Series:
        value = self.present(name, required)
        suffixed = value.str.endswith("UTC").fillna(False).astype(bool)
        if suffixed.any():  # BigQuery's " UTC": the rare case, so the regex runs on it alone
            value = value.mask(suffixed, value[suffixed].str.replace(TRAILING_UTC, "", regex=True))
        micros = _iso8601_micros(value)
        self.flag(value.notna() & micros.isna(), BAD_TIMESTAMP, name)
        self.flag(micros > to_micros(now + bounds.tolerance), FUTURE, name)
        self.flag(micros < to_micros(bounds.earliest), TOO_EARLY, name)
        return micros

    def money(self, name: str, required: bool) -> pd.Series:
        """Exact: each distinct text is read as a decimal and rounded half-even to micros."""
        value = self.present(name, required)
        numeric = value.str.fullmatch(NUMBER).fillna(False).astype(bool)
        number = value.where(numeric)
        encoded = pc.dictionary_encode(_arrow_text(number))
        micros = pa.array([_to_micros(text) for text in encoded.dictionary.to_pylist()], type=pa.int64())
        out = _nullable_int(micros.take(encoded.indices), value.index)
        self.flag(value.notna() & ~numeric, NOT_NUMBER, name)
        self.flag(numeric & out.isna(), TOO_LARGE, name)
        self.flag(out < 0, NEGATIVE, name)
        return out

    def reasons(self) -> pd.Series:
        reason = pd.Series("", index=self.text.index, dtype="str")
        for found, name in self.problems:
            mask = found.fillna(False).astype(bool)
            reason = reason.mask(mask, reason + ";" + name)
        return reason.str.lstrip(";")


def _check_order_of_events(check: _Checker, typed: pd.DataFrame) -> None:
    created = typed["created_at"]
    for later in ("shipped_at", "delivered_at", "returned_at"):
        check.flag(typed[later] < created, BEFORE_CREATED, later)
    check.flag(typed["delivered_at"] < typed["shipped_at"], DELIVERED_BEFORE_SHIPPED, "delivered_at")


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
    typed = pd.DataFrame(index=text.index)
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
        typed[VERSION] = typed[list(LIFECYCLE)].max(axis=1).astype("Int64")
    else:
        typed[VERSION] = pd.array([to_micros(origin.landed_at)] * len(typed), dtype="Int64")
        typed[SOURCE] = origin.key
    typed[ROW] = text["row_number"].astype("int64")
    reason = check.reasons()
    bad = reason != ""
    rejected = text.loc[bad].copy()
    rejected.insert(2, "reason", reason[bad])
    return Validated(typed.loc[~bad].reset_index(drop=True), rejected.reset_index(drop=True))


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
