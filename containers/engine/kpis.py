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


def ints(table: pa.Table, column: str) -> np.ndarray:
    """A column without nulls as int64 numpy values."""
    values: np.ndarray = table.column(column).to_numpy().astype("int64", copy=False)
    return values


def _returned(rows: pa.Table) -> np.ndarray:
    """Returned: the status says so, or a return was recorded."""
    flag = pc.or_(pc.fill_null(pc.equal(rows["status"], RETURNED), False), pc.is_valid(rows["returned_at"]))
    values: np.ndarray = flag.to_numpy(zero_copy_only=False)
    return values


def positions(keys: np.ndarray, of: np.ndarray) -> np.ndarray:
    """Where each of `of` sits in `keys` (-1: absent): one hash look-up instead of a join.
    `keys` are unique (current state: one row per order, per product); a duplicate raises."""
    found: np.ndarray = pd.Index(keys).get_indexer(of)
    return found


def _sums(cells: np.ndarray, values: np.ndarray, size: int) -> np.ndarray:
    """Exact int64 sums of `values` per cell (`np.bincount` would sum in float64)."""
    out = np.zeros(size, dtype="int64")
    np.add.at(out, cells, values)
    return out


def components(
    orders: pa.Table, items: pa.Table, categories: pa.Table, days: set[int]
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Components of the given days (orders on other days are left out).

    `orders` and `items` are the winning versions; `categories` maps product `id` to
    `category`. Items without a known order or product are held: they count nowhere yet.
    Returns (daily sums by day, category sums by day and category, distinct day/user pairs).
    Only the columns the KPIs use leave Arrow, as numpy arrays. Items find their order and
    their product's category by position; every sum is over a small integer cell (a day, or
    a day and a category's rank), and an order counts once per category as one distinct
    integer (its position times the number of categories, plus the category's rank): no join,
    no group-by on text.
    """
    order_day_all = order_days(ints(orders, "created_at"))
    mine = np.isin(order_day_all, np.fromiter(days, dtype="int64", count=len(days)))
    first = min(days, default=0)
    order_day_of = order_day_all[mine] - first  # 0 .. span: the cell of each order's day
    span = max(days, default=0) - first + 1
    order_at = positions(ints(orders, "order_id")[mine], ints(items, "order_id"))
    category_text = categories["category"].to_numpy(zero_copy_only=False)
    names, ranks = np.unique(category_text.astype(object), return_inverse=True)
    product_at = positions(ints(categories, "id"), ints(items, "product_id"))
    known = (order_at >= 0) & (product_at >= 0)
    width = max(len(names), 1)
    item_order, prices = order_at[known], ints(items, "sale_price")[known]
    item_day, rank = order_day_of[item_order], ranks[product_at[known]]

    orders_by_day = np.bincount(order_day_of, minlength=span)
    daily = pd.DataFrame(
        {
            "total_orders": orders_by_day,
            "returned_orders": np.bincount(order_day_of[_returned(orders)[mine]], minlength=span),
            "revenue_micros": _sums(item_day, prices, span),
            "total_items_sold": np.bincount(item_day, minlength=span),
        },
        index=pd.Index(np.arange(first, first + span, dtype="int64"), name="day"),
    )
    daily = daily[orders_by_day > 0][DAILY_SUMS]

    cell = item_day.astype("int64") * width + rank  # (day, category) as one integer
    pair = item_order.astype("int64") * width + rank  # (order, category): an order is on one day
    ordered = pd.unique(pair)
    returned = pd.unique(pair[_returned(items)[known]])
    size = span * width
    sums = {
        "orders": np.bincount(_cell_of(ordered, order_day_of, width), minlength=size),
        "returned_orders": np.bincount(_cell_of(returned, order_day_of, width), minlength=size),
        "revenue_micros": _sums(cell, prices, size),
        "items_sold": np.bincount(cell, minlength=size),
    }
    used = np.flatnonzero(sums["items_sold"])
    index = pd.MultiIndex.from_arrays(
        [used // width + first, pd.Index(names, dtype=object).take(used % width)], names=["day", "category"]
    )
    category = pd.DataFrame({k: v[used] for k, v in sums.items()}, index=index)[CATEGORY_SUMS]

    customers = pd.DataFrame({"day": order_day_of + first, "user_id": ints(orders, "user_id")[mine]})
    return daily, category, customers.drop_duplicates()


def _cell_of(pairs: np.ndarray, order_day_of: np.ndarray, width: int) -> np.ndarray:
    """The (day, category) cell of distinct (order, category) integers."""
    cells: np.ndarray = order_day_of[pairs // width].astype("int64") * width + pairs % width
    return cells


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
