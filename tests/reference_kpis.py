"""An independent reference for the batch KPIs, written straight from issue 2's definitions.

It shares no code with the engine (`containers/`) nor with `chalicelib.kpis`: plain Python,
`csv`, `decimal`, `fractions`. Slow and obviously correct, it is the oracle the property-based
test, the end-to-end tests and the DuckDB benchmark query are checked against.

Two layers:

* `compute_components(files)` / `compute_kpis(files)`: the KPIs over the union of all valid rows
  of the given `LandedFile`s (rows as dicts of text, exactly as they would be in a CSV file).
* `parse_csv(name, data)` / `kpis_from_csv(paths)`: read raw CSV files with the data contract
  (header detection, BOM, CRLF, quoting) and the row validation rules, so a test can compute the
  expected KPIs straight from files such as `sample_files/`.

Latest wins, and the two tie rules (the engine implements them the same way)
------------------------------------------------------------------------------
Per key (orders: `order_id`; items: `id`; products: `id`) exactly one version of a row counts:

* Orders and items: the version whose *lifecycle timestamp* is newest wins. The lifecycle
  timestamp is the max of the non-null `created_at`, `shipped_at`, `delivered_at`,
  `returned_at`, compared as instants at microsecond precision (offsets applied, naive = UTC).
* Tie rule (a): equal lifecycle timestamps with different content: the version whose
  `row_sort_key(kind, row)` is greatest wins. `row_sort_key` is the tuple of the row's
  *normalised text*, one string per contract column in contract header order (extra columns
  excluded), compared as Python compares tuples of `str` (code point by code point, which is
  also UTF-8 byte order). Normalised text per column:
    - integer columns (ids, user_id, product_id, num_of_item): base-10, no sign, no leading
      zeros (`str(int(value))`), e.g. `" +007"` -> `"7"`;
    - status: lower case, e.g. `"Shipped"` -> `"shipped"`;
    - timestamps: the UTC instant as `YYYY-MM-DDTHH:MM:SS.ffffffZ` (always 6 fraction digits);
    - money (sale_price, cost, retail_price): integer micro-units in base 10, e.g. `"12.5"` ->
      `"12500000"` (so `"9000000"` > `"12500000"`: the comparison is textual, not numeric);
    - other text (sku, category, name, brand, department): the value stripped of surrounding
      white space;
    - null (empty field): `""`.
  Identical normalised rows are the same version: which copy is kept does not matter.
* Tie rule (b): products carry no timestamps. The product row from the file that landed last
  wins (`LandedFile.landing_order`); within one file, the last row of the file.

KPIs (issue 2, "KPI definitions")
---------------------------------
order_date is the UTC date of the winning order version's `created_at`; an item belongs to the
order named by its winning version's `order_id` (its own `created_at` does not matter) and to the
category of its winning product. Items whose order or product is missing are *held*: they
count for nothing until the reference arrives. Orders count even without items.

Validation rules implemented by `validate_row` (the engine's, see docs): ids required and
non-negative integers (orders: order_id, user_id; items: id, order_id, product_id, user_id when
present; products: id); status required and one of `STATUSES` (any case); created_at required;
timestamps ISO-8601 (`T` or space, optional fraction, optional `Z`, `+HH:MM`, `+HHMM` or a
trailing ` UTC`; naive = UTC); no timestamp more than `FUTURE_TOLERANCE` after `now`;
shipped/delivered/returned not before created; delivered not before shipped; num_of_item an
integer >= 1 when present; sale_price required, sale_price/cost/retail_price finite numbers >= 0;
product category non-empty. A row with the wrong number of fields is invalid. A file whose
header matches no kind, or with more than `REJECT_THRESHOLD` invalid rows, is rejected whole.
"""

from __future__ import annotations

import csv
import io
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

ORDERS = "orders"
ITEMS = "order_items"
PRODUCTS = "products"

HEADERS: dict[str, tuple[str, ...]] = {
    ORDERS: ("order_id", "user_id", "status", "created_at", "returned_at", "shipped_at", "delivered_at", "num_of_item"),
    ITEMS: (
        "id",
        "order_id",
        "user_id",
        "product_id",
        "status",
        "created_at",
        "shipped_at",
        "delivered_at",
        "returned_at",
        "sale_price",
    ),
    PRODUCTS: ("id", "sku", "cost", "category", "name", "brand", "retail_price", "department"),
}
KEYS = {ORDERS: "order_id", ITEMS: "id", PRODUCTS: "id"}

INTEGER_COLUMNS = {"order_id", "user_id", "id", "product_id", "num_of_item"}
REQUIRED = {
    ORDERS: {"order_id", "user_id", "status", "created_at"},
    ITEMS: {"id", "order_id", "product_id", "status", "created_at", "sale_price"},
    PRODUCTS: {"id", "category"},
}
TIMESTAMP_COLUMNS = ("created_at", "shipped_at", "delivered_at", "returned_at")
MONEY_COLUMNS = {"sale_price", "cost", "retail_price"}
STATUSES = frozenset({"pending", "processing", "shipped", "complete", "delivered", "cancelled", "returned"})
REJECT_THRESHOLD = 0.05
FUTURE_TOLERANCE = timedelta(days=1)

_INTEGER = re.compile(r"\+?\d{1,18}")
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_TIMESTAMP = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?"
    r"(?:(Z)|([+-])(\d{2}):?(\d{2})| UTC)?"
)
_MICRO = Decimal("0.000001")


class InvalidRow(ValueError):
    """A row breaking a validation rule; `reason` names the rule."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# --------------------------------------------------------------------------- parsing values


def parse_timestamp(text: str) -> datetime:
    """An aware UTC datetime (microseconds; extra fraction digits are truncated)."""
    m = _TIMESTAMP.fullmatch(text)
    if not m:
        raise ValueError(text)
    year, month, day, hour, minute = (int(g) for g in m.group(1, 2, 3, 4, 5))
    second = int(m.group(6) or 0)
    micro = int((m.group(7) or "").ljust(6, "0")[:6])
    value = datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC)
    if m.group(9):
        offset = timedelta(hours=int(m.group(10)), minutes=int(m.group(11)))
        value -= offset if m.group(9) == "+" else -offset
    return value


def parse_number(text: str) -> Decimal:
    if not _NUMBER.fullmatch(text):
        raise ValueError(text)
    return Decimal(text)


def to_micros(value: Decimal) -> int:
    """Integer micro-units, rounded half-even at the 6th decimal."""
    return int(value.quantize(_MICRO, rounding=ROUND_HALF_EVEN) * 1_000_000)


def format_timestamp(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# --------------------------------------------------------------------------- rows

Row = dict[str, Any]  # contract column -> int | str | datetime | None


def validate_row(kind: str, raw: Mapping[str, Any], now: datetime | None = None) -> Row:
    """The typed row (contract columns only), or InvalidRow with the first broken rule."""
    now = now or datetime.now(UTC)
    row: Row = {}
    for name in HEADERS[kind]:
        value = raw.get(name)
        text = "" if value is None else str(value).strip()
        if not text:
            if name in REQUIRED[kind]:
                raise InvalidRow(f"missing:{name}")
            row[name] = None
            continue
        if name in INTEGER_COLUMNS:
            if not _INTEGER.fullmatch(text):
                raise InvalidRow(f"not_integer:{name}")
            row[name] = int(text)
            if name == "num_of_item" and row[name] < 1:
                raise InvalidRow("num_of_item_below_1")
        elif name == "status":
            if text.lower() not in STATUSES:
                raise InvalidRow("bad_status")
            row[name] = text.lower()
        elif name in TIMESTAMP_COLUMNS:
            try:
                row[name] = parse_timestamp(text)
            except ValueError:
                raise InvalidRow(f"bad_timestamp:{name}") from None
            if row[name] > now + FUTURE_TOLERANCE:
                raise InvalidRow(f"future:{name}")
        elif name in MONEY_COLUMNS:
            try:
                number = parse_number(text)
            except ValueError:
                raise InvalidRow(f"not_number:{name}") from None
            if number < 0:
                raise InvalidRow(f"negative:{name}")
            row[name] = to_micros(number)
        else:
            row[name] = text
    if kind != PRODUCTS:
        created = row["created_at"]
        for later in ("shipped_at", "delivered_at", "returned_at"):
            if row[later] is not None and row[later] < created:
                raise InvalidRow(f"before_created:{later}")
        if row["shipped_at"] and row["delivered_at"] and row["delivered_at"] < row["shipped_at"]:
            raise InvalidRow("delivered_before_shipped")
    return row


def row_sort_key(kind: str, row: Row) -> tuple[str, ...]:
    """Tie rule (a): the normalised text of a typed row, in contract header order."""
    out = []
    for name in HEADERS[kind]:
        value = row[name]
        if value is None:
            out.append("")
        elif isinstance(value, datetime):
            out.append(format_timestamp(value))
        else:  # ints (ids, counts, micro-units) and already-normalised text
            out.append(str(value))
    return tuple(out)


def lifecycle(row: Row) -> datetime:
    return max(row[c] for c in TIMESTAMP_COLUMNS if row[c] is not None)


def is_returned(row: Row) -> bool:
    return row["status"] == "returned" or row["returned_at"] is not None


# --------------------------------------------------------------------------- KPIs


@dataclass(frozen=True)
class LandedFile:
    """The valid rows of one file (text values, as in the CSV), and when it landed."""

    kind: str
    rows: Sequence[Mapping[str, Any]]
    landing_order: int = 0


@dataclass
class Components:
    """Exact KPI components, named as the KPI tables' attributes."""

    daily: dict[str, dict[str, int]]  # order_date -> components
    categories: dict[tuple[str, str], dict[str, int]]  # (category, order_date) -> components
    held_items: list[int] = field(default_factory=list)  # item ids held for a missing order/product


def winning_rows(files: Iterable[LandedFile], now: datetime | None = None) -> dict[str, dict[int, Row]]:
    """Latest wins per key, with the module's two tie rules."""
    won: dict[str, dict[int, Row]] = {ORDERS: {}, ITEMS: {}, PRODUCTS: {}}
    for landed in sorted(files, key=lambda f: f.landing_order):  # stable: list order breaks ties
        kind = landed.kind
        for raw in landed.rows:
            row = validate_row(kind, raw, now)
            key = row[KEYS[kind]]
            current = won[kind].get(key)
            if kind == PRODUCTS or current is None or _version(kind, row) > _version(kind, current):
                won[kind][key] = row
    return won


def _version(kind: str, row: Row) -> tuple[datetime, tuple[str, ...]]:
    return lifecycle(row), row_sort_key(kind, row)


def compute_components(files: Iterable[LandedFile], now: datetime | None = None) -> Components:
    won = winning_rows(files, now)
    orders, products = won[ORDERS], won[PRODUCTS]
    daily: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"total_orders": 0, "revenue_micros": 0, "total_items_sold": 0, "returned_orders": 0, "users": set()}
    )
    for order in orders.values():
        day = daily[order_date(order)]
        day["total_orders"] += 1
        day["returned_orders"] += is_returned(order)
        day["users"].add(order["user_id"])
    cats: dict[tuple[str, str], dict[str, Any]] = defaultdict(
        lambda: {"revenue_micros": 0, "items_sold": 0, "orders": set(), "returned": set()}
    )
    held = []
    for item_id, item in sorted(won[ITEMS].items()):
        order, product = orders.get(item["order_id"]), products.get(item["product_id"])
        if order is None or product is None:
            held.append(item_id)
            continue
        day_key = order_date(order)
        daily[day_key]["revenue_micros"] += item["sale_price"]
        daily[day_key]["total_items_sold"] += 1
        cat = cats[(product["category"], day_key)]
        cat["revenue_micros"] += item["sale_price"]
        cat["items_sold"] += 1
        cat["orders"].add(item["order_id"])
        if is_returned(item):
            cat["returned"].add(item["order_id"])
    return Components(
        daily={
            d: {
                "total_orders": v["total_orders"],
                "revenue_micros": v["revenue_micros"],
                "total_items_sold": v["total_items_sold"],
                "returned_orders": v["returned_orders"],
                "unique_customers": len(v["users"]),
            }
            for d, v in sorted(daily.items())
        },
        categories={
            k: {
                "orders": len(v["orders"]),
                "revenue_micros": v["revenue_micros"],
                "items_sold": v["items_sold"],
                "returned_orders": len(v["returned"]),
            }
            for k, v in sorted(cats.items(), key=lambda kv: (kv[0][1], kv[0][0]))
        },
        held_items=held,
    )


def order_date(order: Row) -> str:
    return order["created_at"].astimezone(UTC).date().isoformat()


def round_half_up(value: Fraction, places: int) -> float:
    """Exact half-up rounding of a non-negative rational to `places` decimals."""
    scale = 10**places
    scaled = value * scale
    rounded = (scaled.numerator * 2 + scaled.denominator) // (scaled.denominator * 2)
    return float(Decimal(rounded) / Decimal(scale))


def _share(numerator: int | Fraction, denominator: int) -> Fraction:
    return Fraction(numerator) / denominator if denominator else Fraction(0)


def public_kpis(components: Components) -> dict[str, list[dict[str, Any]]]:
    """The replay JSON shape: money to 2 decimals, rates to 4, both half-up, sorted by date
    (categories by date, then category)."""
    orders = [
        {
            "order_date": d,
            "total_orders": c["total_orders"],
            "total_revenue": round_half_up(Fraction(c["revenue_micros"], 1_000_000), 2),
            "total_items_sold": c["total_items_sold"],
            "return_rate": round_half_up(_share(c["returned_orders"], c["total_orders"]), 4),
            "unique_customers": c["unique_customers"],
        }
        for d, c in sorted(components.daily.items())
    ]
    categories = []
    for (category, d), c in sorted(components.categories.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        revenue = Fraction(c["revenue_micros"], 1_000_000)
        categories.append(
            {
                "category": category,
                "order_date": d,
                "daily_revenue": round_half_up(revenue, 2),
                "avg_order_value": round_half_up(_share(revenue, c["orders"]), 2),
                "avg_return_rate": round_half_up(_share(c["returned_orders"], c["orders"]), 4),
            }
        )
    return {"orders": orders, "categories": categories}


def compute_kpis(files: Iterable[LandedFile], now: datetime | None = None) -> dict[str, list[dict[str, Any]]]:
    return public_kpis(compute_components(files, now))


# --------------------------------------------------------------------------- CSV files


@dataclass
class ParsedFile:
    """One CSV file read with the data contract."""

    name: str
    kind: str | None  # None when the header matches no kind
    valid: list[dict[str, str]]  # valid rows as text (contract columns only)
    invalid: list[tuple[int, str]]  # (1-based data row number, reason)
    rejected: str | None = None  # why the whole file is rejected, or None

    @property
    def total_rows(self) -> int:
        return len(self.valid) + len(self.invalid)


def detect_kind(header: Sequence[str]) -> str | None:
    names = [h.strip() for h in header]
    if len(set(names)) != len(names):
        return None
    kinds = [k for k, cols in HEADERS.items() if set(cols) <= set(names)]
    return kinds[0] if len(kinds) == 1 else None


def parse_csv(name: str, data: bytes, threshold: float = REJECT_THRESHOLD, now: datetime | None = None) -> ParsedFile:
    text = data.decode("utf-8-sig")
    records = [r for r in csv.reader(io.StringIO(text, newline="")) if r]
    if not records:
        return ParsedFile(name, None, [], [], rejected="empty_file")
    header, body = [h.strip() for h in records[0]], records[1:]
    kind = detect_kind(header)
    if kind is None:
        return ParsedFile(name, None, [], [], rejected="unknown_header")
    parsed = ParsedFile(name, kind, [], [])
    for number, record in enumerate(body, start=1):
        if len(record) != len(header):
            parsed.invalid.append((number, "wrong_field_count"))
            continue
        raw = {h: v for h, v in zip(header, record, strict=False) if h in HEADERS[kind]}
        try:
            validate_row(kind, raw, now)
        except InvalidRow as err:
            parsed.invalid.append((number, err.reason))
        else:
            parsed.valid.append(raw)
    if parsed.total_rows and len(parsed.invalid) / parsed.total_rows > threshold:
        parsed.rejected = "too_many_invalid_rows"
    return parsed


def parse_csv_files(
    paths: Iterable[Path | str], threshold: float = REJECT_THRESHOLD, now: datetime | None = None
) -> list[ParsedFile]:
    return [parse_csv(Path(p).name, Path(p).read_bytes(), threshold, now) for p in paths]


def landed_files(parsed: Iterable[ParsedFile]) -> list[LandedFile]:
    """The accepted files' valid rows, landing in the given order."""
    return [LandedFile(p.kind, p.valid, i) for i, p in enumerate(parsed) if p.kind and not p.rejected]


def kpis_from_csv(
    paths: Iterable[Path | str], threshold: float = REJECT_THRESHOLD, now: datetime | None = None
) -> dict[str, list[dict[str, Any]]]:
    """Expected KPIs of CSV files landing in the given order."""
    return compute_kpis(landed_files(parse_csv_files(paths, threshold, now)), now)


def held_after_each(parsed: Sequence[ParsedFile], now: datetime | None = None) -> list[int]:
    """How many item ids are held (missing order or product) after each file has landed."""
    return [len(compute_components(landed_files(parsed[: n + 1]), now).held_items) for n in range(len(parsed))]
