"""KPI formulas and their public form: defined once for the transformation, the API and replay.

The transformation stores exact components (sums and counts) and the derived KPIs at full
precision; rounding happens only here, at the edge (money to 2 decimals, rates to 4).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Context, Decimal, localcontext
from typing import Any, NotRequired, TypedDict

MONEY_PLACES = Decimal("0.01")
RATE_PLACES = Decimal("0.0001")
# Exact sums are kept in micro-units (1e-6) as integers, so they add without rounding error.
MICROS = Decimal(1_000_000)
# Any DynamoDB number (38 significant digits, magnitudes up to 1E+126) divided by MICROS or
# quantized to cents stays exact within this precision: no InvalidOperation, no silent rounding.
# https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/HowItWorks.NamingRulesDataTypes.html
EXACT = Context(prec=200)

# Attributes of a DailyKpis item (besides its keys).
DAILY_COMPONENTS = ("total_orders", "revenue_micros", "total_items_sold", "returned_orders", "unique_customers")
# Items of the day (by their order, or by their own created_at while their order is unknown)
# waiting for their order or product: the day's revenue is incomplete while it is not 0.
ITEMS_WAITING = "items_waiting"
# Attributes of a CategoryKpis item (besides its keys).
CATEGORY_COMPONENTS = ("orders", "revenue_micros", "items_sold", "returned_orders")


class DailyKpis(TypedDict):
    order_date: str
    total_orders: int
    total_revenue: float | Decimal
    total_items_sold: int
    return_rate: float | Decimal
    unique_customers: int
    items_waiting: NotRequired[int]  # served only when items of the day wait for a reference


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


def derived_daily(c: Mapping[str, Any]) -> dict[str, Decimal]:
    """total_revenue and return_rate from a day's components."""
    return {
        "total_revenue": money(c["revenue_micros"]),
        "return_rate": ratio(c["returned_orders"], c["total_orders"]),
    }


def derived_category(c: Mapping[str, Any]) -> dict[str, Decimal]:
    """daily_revenue, avg_order_value and avg_return_rate from a (day, category)'s components."""
    revenue = money(c["revenue_micros"])
    return {
        "daily_revenue": revenue,
        "avg_order_value": ratio(revenue, c["orders"]),
        "avg_return_rate": ratio(c["returned_orders"], c["orders"]),
    }


def round_money(value: Decimal) -> float | Decimal:
    return json_number(Decimal(value).quantize(MONEY_PLACES, rounding=ROUND_HALF_UP, context=EXACT))


def round_rate(value: Decimal) -> float | Decimal:
    return json_number(Decimal(value).quantize(RATE_PLACES, rounding=ROUND_HALF_UP, context=EXACT))


def json_number(value: Decimal) -> float | Decimal:
    """The float when it is the same number (what clients and `json.dumps` expect), else the
    Decimal, which the API serializes digit for digit (chalicelib.api.json_body)."""
    as_float = float(value)
    return as_float if Decimal(repr(as_float)) == value else value


def public_daily(item: Mapping[str, Any]) -> DailyKpis:
    """A DailyKpis table item as clients see it."""
    d = derived_daily(item)
    return DailyKpis(
        order_date=str(item["order_date"]),
        total_orders=int(item["total_orders"]),
        total_revenue=round_money(d["total_revenue"]),
        total_items_sold=int(item["total_items_sold"]),
        return_rate=round_rate(d["return_rate"]),
        unique_customers=int(item["unique_customers"]),
    )


def served_daily(item: Mapping[str, Any]) -> DailyKpis:
    """A day as the API serves it: its KPIs, and `items_waiting` when items of the day wait for
    their order or product (the day's revenue is incomplete then; absent means none)."""
    served = public_daily(item)
    waiting = int(item.get(ITEMS_WAITING, 0))
    if waiting:
        served["items_waiting"] = waiting
    return served


def public_category(item: Mapping[str, Any]) -> CategoryKpis:
    """A CategoryKpis table item as clients see it."""
    d = derived_category(item)
    return CategoryKpis(
        category=str(item["category"]),
        order_date=str(item["order_date"]),
        daily_revenue=round_money(d["daily_revenue"]),
        avg_order_value=round_money(d["avg_order_value"]),
        avg_return_rate=round_rate(d["avg_return_rate"]),
    )


def has_kpis(item: Mapping[str, Any]) -> bool:
    """A day whose orders all moved away keeps its bookkeeping but holds no KPIs."""
    return "total_orders" in item
