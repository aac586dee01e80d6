"""Reading DynamoDB Query pages: shared by the API's queries, the category registry and the
repositories that list their items newest first."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.conditions import Key

from chalicelib.tables import Index

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table

Item = dict[str, Any]


def query_page(
    table: Table, limit: int | None, start_key: Mapping[str, Any] | None = None, **kwargs: Any
) -> tuple[list[Item], Item | None]:
    """Up to `limit` items (all when None), following DynamoDB's 1 MB pages; the key to resume at."""
    items: list[Item] = []
    while True:
        call = dict(kwargs)
        if limit is not None:
            call["Limit"] = limit - len(items)
        if start_key:
            call["ExclusiveStartKey"] = dict(start_key)
        page = table.query(**call)
        items += page.get("Items", [])
        last: Item | None = page.get("LastEvaluatedKey")
        if not last or (limit is not None and len(items) >= limit):
            return items, last
        start_key = last


def newest_first(
    table: Table, index: Index, kind: str, limit: int, start_key: Mapping[str, Any] | None = None
) -> tuple[list[Item], Item | None]:
    """One page of the index partition `kind`, newest first (a Query on the index, never a Scan)."""
    kwargs: dict[str, Any] = {
        "IndexName": index.name,
        "KeyConditionExpression": Key(index.partition_key).eq(kind),
        "ScanIndexForward": False,
        "Limit": limit,
    }
    if start_key:
        kwargs["ExclusiveStartKey"] = dict(start_key)
    page = table.query(**kwargs)
    return page.get("Items", []), page.get("LastEvaluatedKey")
