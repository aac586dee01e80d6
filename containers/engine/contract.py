"""The input data contract: the three kinds of file, recognised by their header.

Column roles drive both validation and typing, so a rule is stated once per role rather
than once per column.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from enum import Enum


class FileKind(str, Enum):
    ORDERS = "orders"
    ORDER_ITEMS = "order_items"
    PRODUCTS = "products"


class Role(str, Enum):
    ID = "id"  # integer key or reference
    STATUS = "status"  # one of STATUSES, case-insensitive
    TIMESTAMP = "timestamp"  # ISO-8601, naive means UTC
    COUNT = "count"  # integer >= 1
    MONEY = "money"  # number >= 0, kept exactly in micro-units
    TEXT = "text"


@dataclass(frozen=True)
class Column:
    name: str
    role: Role
    required: bool = False


STATUSES = ("pending", "processing", "shipped", "complete", "delivered", "cancelled", "returned")
RETURNED = "returned"

# Lifecycle timestamps: the newest of them dates a row's version (latest wins).
LIFECYCLE = ("created_at", "shipped_at", "delivered_at", "returned_at")


@dataclass(frozen=True)
class Schema:
    kind: FileKind
    columns: tuple[Column, ...]
    key: str
    excludes: frozenset[str] = frozenset()  # a column that means another kind of file

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def by_role(self, role: Role) -> list[Column]:
        return [c for c in self.columns if c.role is role]

    @property
    def tie_columns(self) -> tuple[str, ...]:
        """Header order after the key: equal-timestamp versions are compared on these, in order."""
        return tuple(n for n in self.names if n != self.key)


def _c(name: str, role: Role, required: bool = False) -> Column:
    return Column(name, role, required)


ORDERS = Schema(
    FileKind.ORDERS,
    (
        _c("order_id", Role.ID, True),
        _c("user_id", Role.ID, True),
        _c("status", Role.STATUS, True),
        _c("created_at", Role.TIMESTAMP, True),
        _c("returned_at", Role.TIMESTAMP),
        _c("shipped_at", Role.TIMESTAMP),
        _c("delivered_at", Role.TIMESTAMP),
        _c("num_of_item", Role.COUNT),
    ),
    key="order_id",
    excludes=frozenset({"id"}),  # items and products have an `id`; an orders file never does
)

ORDER_ITEMS = Schema(
    FileKind.ORDER_ITEMS,
    (
        _c("id", Role.ID, True),
        _c("order_id", Role.ID, True),
        _c("user_id", Role.ID),
        _c("product_id", Role.ID, True),
        _c("status", Role.STATUS, True),
        _c("created_at", Role.TIMESTAMP, True),
        _c("shipped_at", Role.TIMESTAMP),
        _c("delivered_at", Role.TIMESTAMP),
        _c("returned_at", Role.TIMESTAMP),
        _c("sale_price", Role.MONEY, True),
    ),
    key="id",
)

PRODUCTS = Schema(
    FileKind.PRODUCTS,
    (
        _c("id", Role.ID, True),
        _c("sku", Role.TEXT),
        _c("cost", Role.MONEY),
        _c("category", Role.TEXT, True),
        _c("name", Role.TEXT),
        _c("brand", Role.TEXT),
        _c("retail_price", Role.MONEY),
        _c("department", Role.TEXT),
    ),
    key="id",
    excludes=frozenset({"order_id"}),  # an items file names its order; a products file never does
)

SCHEMAS: dict[FileKind, Schema] = {s.kind: s for s in (ORDERS, ORDER_ITEMS, PRODUCTS)}


class UnknownHeader(ValueError):
    """The header matches no kind of file: the whole file is rejected."""


def header_name(text: str) -> str:
    """How a header cell is matched: trimmed (white space and stray byte-order marks), any case."""
    return text.strip().strip("\ufeff").strip().lower()


def detect_schema(header: list[str]) -> Schema:
    """The one kind whose required columns are all present and none of its excluded ones.

    Optional columns may be absent (their values are then null); extra columns are allowed
    and ignored. The exclusions make the kinds disjoint: an items file lacking a required
    column is not taken for an orders file.
    """
    names = [header_name(h) for h in header]
    duplicated = sorted(n for n, count in Counter(names).items() if n and count > 1)
    if duplicated:
        raise UnknownHeader(f"duplicate columns in header: {', '.join(duplicated)}")
    present = set(names)
    found = [s for s in SCHEMAS.values() if set(s.required) <= present and not s.excludes & present]
    if len(found) == 1:
        return found[0]
    closest = min(SCHEMAS.values(), key=lambda s: len(set(s.required) - present))
    missing = [n for n in closest.required if n not in present]
    clash = sorted(closest.excludes & present)
    if missing:
        hint = f"closest is {closest.kind.value}, missing {', '.join(missing)}"
    else:
        hint = f"it has every {closest.kind.value} column but also {', '.join(clash)}, which no {closest.kind.value} file has"
    expected = "; ".join(f"{s.kind.value}: {','.join(s.required)}" for s in SCHEMAS.values())
    raise UnknownHeader(
        f"header matches no known file kind ({','.join(names)[:500]}): {hint}; required columns: {expected}"
    )
