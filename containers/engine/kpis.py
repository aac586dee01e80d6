"""Daily KPIs as components (sums and counts), computed from the winning versions of a batch
of days and added up; customers are kept as distinct (day, user) pairs. The formulas that
turn components into KPIs live in `chalicelib.kpis`, shared with the API.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from chalicelib.kpi_fields import (
    CATEGORY_ORDERS,
    ITEMS_SOLD,
    RETURNED_ORDERS,
    REVENUE_MICROS,
    TOTAL_ITEMS_SOLD,
    TOTAL_ORDERS,
    UNIQUE_CUSTOMERS,
)
from containers.engine.contract import RETURNED

DAY_MICROS = 86_400_000_000
# Column names are the stored attribute names, from the one KPI definition (chalicelib/kpi_fields.py).
DAILY_SUMS = [f.name for f in (TOTAL_ORDERS, RETURNED_ORDERS, REVENUE_MICROS, TOTAL_ITEMS_SOLD)]
CATEGORY_SUMS = [f.name for f in (CATEGORY_ORDERS, RETURNED_ORDERS, REVENUE_MICROS, ITEMS_SOLD)]


def order_days(micros: np.ndarray) -> np.ndarray:
    """Days since the epoch of UTC timestamps in micros: an order's `order_date`."""
    days: np.ndarray = micros // DAY_MICROS
    return days


def day_label(day: int) -> str:
    return pd.Timestamp(day * DAY_MICROS, unit="us").strftime("%Y-%m-%d")


def day_number(label: str) -> int:
    return int(pd.Timestamp(label).value // 1000 // DAY_MICROS)


def _ints(table: pa.Table, column: str) -> np.ndarray:
    values: np.ndarray = table.column(column).to_numpy().astype("int64", copy=False)
    return values


def _returned(rows: pa.Table) -> np.ndarray:
    """Returned: the status says so, or a return was recorded."""
    flag = pc.or_(pc.fill_null(pc.equal(rows["status"], RETURNED), False), pc.is_valid(rows["returned_at"]))
    values: np.ndarray = flag.to_numpy(zero_copy_only=False)
    return values


def _positions(keys: np.ndarray, of: np.ndarray) -> np.ndarray:
    """Where each of `of` sits in `keys` (-1: absent): one hash look-up instead of a join.
    `keys` are unique (current state: one row per order, per product); a duplicate raises."""
    found: np.ndarray = pd.Index(keys).get_indexer(of)
    return found


def components(
    orders: pa.Table, items: pa.Table, categories: pa.Table, days: set[int]
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Components of the given days (orders on other days are left out).

    `orders` and `items` are the winning versions; `categories` maps product `id` to
    `category`. Items without a known order or product are held: they count nowhere yet.
    Returns (daily sums by day, category sums by day and category, distinct day/user pairs).
    Only the columns the KPIs use leave Arrow, as numpy arrays; items find their order and
    their product's category by position and are grouped on one integer per (order, category),
    faster than joining tables and grouping on text.
    """
    order_day_all = order_days(_ints(orders, "created_at"))
    mine = np.isin(order_day_all, np.fromiter(days, dtype="int64", count=len(days)))
    order_day_of = order_day_all[mine]
    order_ids = _ints(orders, "order_id")[mine]
    order_at = _positions(order_ids, _ints(items, "order_id"))
    category_text = categories["category"].to_numpy(zero_copy_only=False)
    names, ranks = np.unique(category_text.astype(object), return_inverse=True)
    product_at = _positions(_ints(categories, "id"), _ints(items, "product_id"))
    known = (order_at >= 0) & (product_at >= 0)
    # An order is on one day, so (order, category) is one integer: its order's position times
    # the number of categories, plus its category's rank.
    width = max(len(names), 1)
    pair = order_at[known].astype("int64") * width + ranks[product_at[known]]
    prices = _ints(items, "sale_price")[known]
    counted = pd.DataFrame({"pair": pair, "sale_price": prices, "returned": _returned(items)[known]})

    daily = (
        pd.DataFrame({"day": order_day_of, "returned": _returned(orders)[mine]})
        .groupby("day")
        .agg(total_orders=("returned", "size"), returned_orders=("returned", "sum"))
    )
    sold = (
        pd.DataFrame({"day": order_day_of[order_at[known]], "sale_price": prices})
        .groupby("day")
        .agg(revenue_micros=("sale_price", "sum"), total_items_sold=("sale_price", "size"))
    )
    daily = daily.join(sold, how="outer").fillna(0).astype("int64")[DAILY_SUMS]

    by_order = counted.groupby("pair", sort=False).agg(
        revenue_micros=("sale_price", "sum"), items_sold=("sale_price", "size"), returned=("returned", "any")
    )
    pairs = by_order.index.to_numpy(dtype="int64")
    by_order["day"] = order_day_of[pairs // width]
    by_order["category"] = pd.Index(names, dtype=object).take(pairs % width)
    category = (
        by_order.groupby(["day", "category"])
        .agg(
            orders=("items_sold", "size"),
            returned_orders=("returned", "sum"),
            revenue_micros=("revenue_micros", "sum"),
            items_sold=("items_sold", "sum"),
        )
        .astype("int64")[CATEGORY_SUMS]
    )

    customers = pd.DataFrame({"day": order_day_of, "user_id": _ints(orders, "user_id")[mine]}).drop_duplicates()
    return daily, category, customers


@dataclass
class DayTotals:
    """Running sums over folds; `result()` gives one row per day and per (day, category)."""

    daily: list[pd.DataFrame] = field(default_factory=list)
    category: list[pd.DataFrame] = field(default_factory=list)
    customers: list[pd.DataFrame] = field(default_factory=list)

    def add(self, parts: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]) -> None:
        daily, category, customers = parts
        self.daily.append(daily)
        self.category.append(category)
        self.customers.append(customers)
        if len(self.daily) > 64:
            self._fold()

    def _fold(self) -> None:
        self.daily = [pd.concat(self.daily).groupby(level=0).sum()]
        self.category = [pd.concat(self.category).groupby(level=[0, 1]).sum()]
        self.customers = [pd.concat(self.customers).drop_duplicates()]

    def result(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(daily components indexed by day, category components indexed by day and category)."""
        if not self.daily:
            empty_daily = pd.DataFrame(columns=[*DAILY_SUMS, UNIQUE_CUSTOMERS.name], dtype="int64")
            empty_category = pd.DataFrame(columns=CATEGORY_SUMS, dtype="int64")
            return empty_daily, empty_category
        self._fold()
        daily = self.daily[0].astype("int64")
        users = self.customers[0].groupby("day")["user_id"].size().rename(UNIQUE_CUSTOMERS.name)
        daily = daily.join(users, how="left").fillna(0).astype("int64")
        return daily, self.category[0].astype("int64")
