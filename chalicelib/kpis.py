"""KPI formulas and their public form: defined once for the transformation, the API and replay.

The transformation stores exact components (sums and counts) and the derived KPIs at full
precision; rounding happens only here, at the edge (money to 2 decimals, rates to 4).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Context, Decimal, localcontext
from typing import Any, TypedDict, cast

from chalicelib import kpi_fields
from chalicelib.kpi_fields import CATEGORY_DAILY, DAILY, Field, KpiTable, Unit

MONEY_PLACES = Decimal("0.01")
RATE_PLACES = Decimal("0.0001")
# Exact sums are kept in micro-units (1e-6) as integers, so they add without rounding error.
MICROS = Decimal(1_000_000)
# Any DynamoDB number (38 significant digits, magnitudes up to 1E+126) divided by MICROS or
# quantized to cents stays exact within this precision: no InvalidOperation, no silent rounding.
# https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/HowItWorks.NamingRulesDataTypes.html
EXACT = Context(prec=200)

# Attributes of a DailyKpis item (besides its keys) while the day holds KPIs.
DAILY_COMPONENTS = tuple(c.name for c in DAILY.components)
# Items of the day (by their order, or by their own created_at while their order is unknown)
# waiting for their order or product: the day's revenue is incomplete while it is not 0.
ITEMS_WAITING = kpi_fields.ITEMS_WAITING.name
# Attributes of a CategoryKpis item (besides its keys).
CATEGORY_COMPONENTS = tuple(c.name for c in CATEGORY_DAILY.components)


# The served shapes for type checkers; tests/api/test_kpi_fields.py checks them against the definition.
class _AlwaysServedDay(TypedDict):
    order_date: str
    total_orders: int
    total_revenue: float | Decimal
    total_items_sold: int
    return_rate: float | Decimal
    unique_customers: int


class DailyKpis(_AlwaysServedDay, total=False):
    items_waiting: int  # served only when items of the day wait for a reference


class CategoryKpis(TypedDict):
    category: str
    order_date: str
    daily_revenue: float | Decimal
    avg_order_value: float | Decimal
    avg_return_rate: float | Decimal


def ratio(numerator: int | Decimal, denominator: int | Decimal) -> Decimal:
    """An exact-as-stored ratio (38 significant digits); 0 when there is nothing to divide."""
    if not denominator:
        return Decimal(0)
    with localcontext() as ctx:
        ctx.prec = 38
        return Decimal(numerator) / Decimal(denominator)


def money(micros: int | Decimal) -> Decimal:
    """Micro-units to currency, exactly."""
    return EXACT.divide(Decimal(int(micros)), MICROS)


def exact(f: Field, c: Mapping[str, Any]) -> Decimal:
    """A derived KPI at full precision from its components (money from micro-units, exactly)."""
    if f.of is None:
        raise ValueError(f"{f.name} is a key, not computed from components")
    value = money(c[f.of.name]) if f.of.unit is Unit.MICROS else c[f.of.name]
    return ratio(value, c[f.per.name]) if f.per else Decimal(value)


def derived(table: KpiTable, c: Mapping[str, Any]) -> dict[str, Decimal]:
    """The table's derived KPIs from an item's components, as stored (unrounded)."""
    return {f.name: exact(f, c) for f in table.derived}


def derived_daily(c: Mapping[str, Any]) -> dict[str, Decimal]:
    """total_revenue and return_rate from a day's components."""
    return derived(DAILY, c)


def derived_category(c: Mapping[str, Any]) -> dict[str, Decimal]:
    """daily_revenue, avg_order_value and avg_return_rate from a (day, category)'s components."""
    return derived(CATEGORY_DAILY, c)


def round_money(value: Decimal) -> float | Decimal:
    return json_number(Decimal(value).quantize(MONEY_PLACES, rounding=ROUND_HALF_UP, context=EXACT))


def round_rate(value: Decimal) -> float | Decimal:
    return json_number(Decimal(value).quantize(RATE_PLACES, rounding=ROUND_HALF_UP, context=EXACT))


def json_number(value: Decimal) -> float | Decimal:
    """The float when it is the same number (what clients and `json.dumps` expect), else the
    Decimal, which the API serializes digit for digit (chalicelib.api.json_body)."""
    as_float = float(value)
    return as_float if Decimal(repr(as_float)) == value else value


def served_value(f: Field, item: Mapping[str, Any]) -> str | int | float | Decimal:
    """One field of a table item as clients see it: keys as text, counts as integers, money and
    rates rounded at the edge."""
    if f.of is None:
        return str(item[f.name])
    if not f.derived:
        return int(item[f.of.name])
    value = exact(f, item)
    return round_money(value) if f.unit is Unit.MONEY else round_rate(value)


def public(table: KpiTable, item: Mapping[str, Any]) -> dict[str, Any]:
    """A table item's fields that are always served, in the definition's order."""
    return {f.name: served_value(f, item) for f in table.fields if f.always}


def served(table: KpiTable, item: Mapping[str, Any]) -> dict[str, Any]:
    """A table item as the API serves it: the fields served only when not 0 join when they are not."""
    body = public(table, item)
    body.update({f.name: served_value(f, item) for f in table.fields if not f.always and f.of and item.get(f.of.name)})
    return body


def public_daily(item: Mapping[str, Any]) -> DailyKpis:
    """A DailyKpis table item as clients see it."""
    return cast(DailyKpis, public(DAILY, item))


def served_daily(item: Mapping[str, Any]) -> DailyKpis:
    """A day as the API serves it: its KPIs, and `items_waiting` when items of the day wait for
    their order or product (the day's revenue is incomplete then; absent means none)."""
    return cast(DailyKpis, served(DAILY, item))


def public_category(item: Mapping[str, Any]) -> CategoryKpis:
    """A CategoryKpis table item as clients see it."""
    return cast(CategoryKpis, public(CATEGORY_DAILY, item))


def has_kpis(item: Mapping[str, Any]) -> bool:
    """A day whose orders all moved away keeps its bookkeeping but holds no KPIs."""
    return kpi_fields.TOTAL_ORDERS.name in item
