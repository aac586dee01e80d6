"""The known categories, kept in the CategoryKpis table so `GET /categories` is one Query.

Listing the distinct categories of the `by_category` index would need a Scan. Instead the
KPI writer registers every category it writes under one reserved `order_date` partition.
`#` sorts before every digit, so registry items never fall inside a date range of the
index, and no day's partition (the writer's stale-category check) ever sees them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from boto3.dynamodb.conditions import Key

from chalicelib.dynamo_pages import query_page
from chalicelib.tables import CATEGORY_KPIS

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table

REGISTRY_PARTITION = "#categories"


class CategoryRegistry:
    def __init__(self, table: Table) -> None:
        self._table = table

    def register(self, categories: Iterable[str]) -> None:
        """Idempotent: registering a known category rewrites the same small item."""
        with self._table.batch_writer(
            overwrite_by_pkeys=[CATEGORY_KPIS.partition_key, CATEGORY_KPIS.range_key]
        ) as batch:
            for name in set(categories):
                batch.put_item(Item={CATEGORY_KPIS.partition_key: REGISTRY_PARTITION, CATEGORY_KPIS.range_key: name})

    def names(self) -> list[str]:
        """Every category ever registered, in name order (the table's sort order)."""
        items, _ = query_page(
            self._table,
            None,
            KeyConditionExpression=Key(CATEGORY_KPIS.partition_key).eq(REGISTRY_PARTITION),
            ProjectionExpression="#c",
            ExpressionAttributeNames={"#c": CATEGORY_KPIS.range_key},
        )
        return [str(item[CATEGORY_KPIS.range_key]) for item in items]
