"""Every KPI field, defined once: its name (as stored and served), table, unit, dashboard label
and meaning. The engine's columns and table attributes, the API's answers and OpenAPI schemas,
the dashboard's labels and the KPI tables of docs/kpis.md are all derived from these.

Pure data (no boto3, no pandas), so the Lambda functions, the containers and the tools import it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Unit(StrEnum):
    """How a value is kept: components are exact integers; served KPIs are rounded at the edge."""

    COUNT = "count"  # an integer, stored and served as is
    MICROS = "micros"  # money as an exact integer of micro-units (1e-6), stored only
    MONEY = "money"  # served as a JSON number with 2 decimals (half-up)
    RATE = "rate"  # a share 0..1, served with 4 decimals (half-up)
    DATE = "date"  # YYYY-MM-DD, UTC
    TEXT = "text"


@dataclass(frozen=True)
class Component:
    """An exact attribute the engine computes and the KPI tables store."""

    name: str
    unit: Unit  # COUNT or MICROS
    meaning: str


@dataclass(frozen=True)
class Field:
    """A field of the API's answer. Its value is `of` (money: from micro-units), divided by `per`
    when given; a key (`of` None) is the table item's own attribute of that name."""

    name: str
    unit: Unit
    label: str  # as the dashboard shows it
    definition: str  # one sentence, for OpenAPI descriptions and docs/kpis.md
    of: Component | None = None
    per: Component | None = None
    always: bool = True  # False: served only when the value is not 0

    @property
    def derived(self) -> bool:
        """Computed from components (rather than a component served as it is, or a key)."""
        return self.of is not None and (self.per is not None or self.of.name != self.name)

    def __post_init__(self) -> None:
        """Refuse a definition the formulas (chalicelib.kpis) would serve wrongly."""
        if self.of is None and self.unit not in (Unit.DATE, Unit.TEXT):
            raise ValueError(f"{self.name}: a key is a date or text")
        if self.of is not None and not self.derived and self.unit is not Unit.COUNT:
            raise ValueError(f"{self.name}: a component served as it is must be a count")
        if self.derived and self.unit not in (Unit.MONEY, Unit.RATE):
            raise ValueError(f"{self.name}: a computed field is money or a rate")
        if self.unit is Unit.MONEY and (self.of is None or self.of.unit is not Unit.MICROS):
            raise ValueError(f"{self.name}: money comes from micro-units")
        if not self.always and self.unit is not Unit.COUNT:
            raise ValueError(f"{self.name}: only counts are left out when 0")


@dataclass(frozen=True)
class KpiTable:
    """One KPI table: its served keys and KPIs, and the components its items store while they
    hold KPIs (`bookkeeping` components are stored on every item, KPIs or not)."""

    schema: str  # the OpenAPI schema name of one served item
    title: str
    keys: tuple[Field, ...]
    kpis: tuple[Field, ...]
    components: tuple[Component, ...]
    bookkeeping: tuple[Component, ...] = ()

    @property
    def fields(self) -> tuple[Field, ...]:
        return (*self.keys, *self.kpis)

    @property
    def inputs(self) -> tuple[str, ...]:
        """The item attributes its served fields are computed from (keys aside), in order."""
        used = [c.name for f in self.fields for c in (f.of, f.per) if c is not None]
        return tuple(dict.fromkeys(used))

    @property
    def derived(self) -> tuple[Field, ...]:
        """The KPIs the tables also store at full precision (besides the components)."""
        return tuple(f for f in self.kpis if f.derived)


ORDER_DATE = Field(
    "order_date", Unit.DATE, "Day", "the UTC date of the winning order version's `created_at`, the day the KPIs count"
)
CATEGORY = Field("category", Unit.TEXT, "Category", "the winning product version's category of the items counted")

TOTAL_ORDERS = Component("total_orders", Unit.COUNT, "distinct orders created that day")
REVENUE_MICROS = Component("revenue_micros", Unit.MICROS, "sum of the counted items' `sale_price`, in micro-units")
TOTAL_ITEMS_SOLD = Component("total_items_sold", Unit.COUNT, "item rows of the day's orders")
RETURNED_ORDERS = Component(
    "returned_orders", Unit.COUNT, "counted orders that are returned (per category: holding a returned item of it)"
)
UNIQUE_CUSTOMERS = Component("unique_customers", Unit.COUNT, "distinct `user_id` of the day's orders")
ITEMS_WAITING = Component(
    "items_waiting",
    Unit.COUNT,
    "items of the day waiting for their product, plus items waiting for their order dated by their own `created_at`",
)
CATEGORY_ORDERS = Component("orders", Unit.COUNT, "distinct orders holding at least one item of the category")
ITEMS_SOLD = Component("items_sold", Unit.COUNT, "item rows of the category")

DAILY = KpiTable(
    schema="DailyKpis",
    title="Per day",
    keys=(ORDER_DATE,),
    kpis=(
        Field("total_orders", Unit.COUNT, "Orders", "distinct orders created that day", TOTAL_ORDERS),
        Field(
            "total_revenue",
            Unit.MONEY,
            "Revenue",
            "sum of `sale_price` of all their items (gross: returned items included)",
            REVENUE_MICROS,
        ),
        Field("total_items_sold", Unit.COUNT, "Items sold", "number of their item rows", TOTAL_ITEMS_SOLD),
        Field(
            "return_rate",
            Unit.RATE,
            "Return rate",
            "share of those orders that are returned (status `returned` or `returned_at` set), 0..1",
            RETURNED_ORDERS,
            TOTAL_ORDERS,
        ),
        Field("unique_customers", Unit.COUNT, "Customers", "distinct `user_id` of those orders", UNIQUE_CUSTOMERS),
        Field(
            "items_waiting",
            Unit.COUNT,
            "Items waiting",
            "order items of the day still waiting for their order or product file: the day's numbers are"
            " incomplete while it is above 0 (absent when 0)",
            ITEMS_WAITING,
            always=False,
        ),
    ),
    components=(TOTAL_ORDERS, REVENUE_MICROS, TOTAL_ITEMS_SOLD, RETURNED_ORDERS, UNIQUE_CUSTOMERS),
    bookkeeping=(ITEMS_WAITING,),
)

CATEGORY_DAILY = KpiTable(
    schema="CategoryKpis",
    title="Per category and day",
    keys=(CATEGORY, ORDER_DATE),
    kpis=(
        Field(
            "daily_revenue",
            Unit.MONEY,
            "Revenue",
            "sum of `sale_price` of that day's items in the category",
            REVENUE_MICROS,
        ),
        Field(
            "avg_order_value",
            Unit.MONEY,
            "Avg order value",
            "`daily_revenue` / distinct orders holding at least one item of the category",
            REVENUE_MICROS,
            CATEGORY_ORDERS,
        ),
        Field(
            "avg_return_rate",
            Unit.RATE,
            "Return rate",
            "share of those orders holding a returned item (item status `returned` or item `returned_at` set)"
            " of that category, 0..1",
            RETURNED_ORDERS,
            CATEGORY_ORDERS,
        ),
    ),
    components=(CATEGORY_ORDERS, REVENUE_MICROS, ITEMS_SOLD, RETURNED_ORDERS),
)

TABLES: tuple[KpiTable, ...] = (DAILY, CATEGORY_DAILY)
