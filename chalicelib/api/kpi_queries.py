"""The KPI tables as the API reads them: every date range is a Query, never a Scan."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.conditions import Key

from chalicelib.api.dynamo import projection
from chalicelib.api.exceptions import NotFound
from chalicelib.api.pagination import decode_token, page_body
from chalicelib.api.params import DateRange, PageRequest
from chalicelib.api.readable import Listing
from chalicelib.category_registry import CategoryRegistry
from chalicelib.dynamo_pages import Item, query_page
from chalicelib.kpi_fields import CATEGORY_DAILY, DAILY
from chalicelib.kpis import DailyKpis, has_kpis, public_category, served_daily
from chalicelib.tables import CATEGORY_KPIS, CATEGORY_KPIS_BY_CATEGORY, DAILY_KPIS

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table

YEAR, DAY = DAILY_KPIS.partition_key, DAILY_KPIS.range_key
CATEGORY = CATEGORY_KPIS_BY_CATEGORY.partition_key
# The public form is computed from the exact components: derived values and bookkeeping stay home.
DAILY_READ = projection((YEAR, DAY, *DAILY.inputs))
CATEGORY_READ = projection((CATEGORY_KPIS.partition_key, CATEGORY_KPIS.range_key, *CATEGORY_DAILY.inputs))


class KpiQueries:
    def __init__(self, daily_table: Table, category_table: Table) -> None:
        self._daily = daily_table
        self._categories = category_table
        self._registry = CategoryRegistry(category_table)

    def day(self, day: date) -> DailyKpis:
        item = self._daily.get_item(Key={YEAR: f"{day.year:04d}", DAY: day.isoformat()}, **DAILY_READ).get("Item")
        if not item or not has_kpis(item):
            raise NotFound(f"no KPIs for {day.isoformat()}", "date")
        return served_daily(item)

    def daily(self, days: DateRange, page: PageRequest) -> dict[str, Any]:
        """One Query per year partition the range touches, resuming where the token says."""
        start = decode_token(page.token, {YEAR: {f"{y:04d}" for y in days.years()}.__contains__, DAY: days.contains})
        items: list[Item] = []
        resume: Item | None = None
        for year in days.years(int(start[YEAR]) if start else None):
            got, last = query_page(
                self._daily,
                page.limit - len(items),
                start if start and start[YEAR] == f"{year:04d}" else None,
                KeyConditionExpression=Key(YEAR).eq(f"{year:04d}")
                & Key(DAY).between(days.start.isoformat(), days.end.isoformat()),
                **DAILY_READ,
            )
            items += got
            if len(items) >= page.limit:
                if last or year < days.end.year:
                    resume = {YEAR: f"{year:04d}", DAY: items[-1][DAY]}
                break
        listing = Listing((YEAR, DAY))
        served = listing.convert((i for i in items if has_kpis(i)), served_daily)
        return page_body(served, resume, **days.public(), **listing.header())

    def category(self, category: str, days: DateRange, page: PageRequest) -> dict[str, Any]:
        """One category over a range: one Query on the `by_category` index."""
        start = decode_token(page.token, {CATEGORY: category.__eq__, DAY: days.contains})
        items, last = query_page(
            self._categories,
            page.limit,
            start,
            IndexName=CATEGORY_KPIS_BY_CATEGORY.name,
            KeyConditionExpression=Key(CATEGORY).eq(category)
            & Key(DAY).between(days.start.isoformat(), days.end.isoformat()),
            **CATEGORY_READ,
        )
        resume = {CATEGORY: category, DAY: items[-1][DAY]} if last and items else None
        listing = Listing((CATEGORY, DAY))
        served = listing.convert(items, public_category)
        return page_body(served, resume, category=category, **days.public(), **listing.header())

    def categories_of_day(self, day: date) -> dict[str, Any]:
        """Every category of one day (its base-table partition), highest revenue first."""
        items, _ = query_page(
            self._categories,
            None,
            KeyConditionExpression=Key(CATEGORY_KPIS.partition_key).eq(day.isoformat()),
            **CATEGORY_READ,
        )
        listing = Listing((CATEGORY_KPIS.partition_key, CATEGORY_KPIS.sort_key))
        served = listing.convert(items, public_category)
        served.sort(key=lambda c: (-c["daily_revenue"], c["category"]))
        return {"date": day.isoformat(), "items": served, **listing.header()}

    def known_categories(self) -> dict[str, list[str]]:
        return {"items": self._registry.names()}
