"""Reading DynamoDB pages the way the API serves them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from chalicelib.kpis import json_number

Item = dict[str, Any]


def query_page(
    table: Any, limit: int | None, start_key: Mapping[str, Any] | None = None, **kwargs: Any
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
        start_key = page.get("LastEvaluatedKey")
        if not start_key or (limit is not None and len(items) >= limit):
            return items, start_key


def projection(names: Iterable[str]) -> dict[str, Any]:
    """Read only what is served: less to transfer and parse (reserved words like `year` included)."""
    aliases = {f"#p{n}": name for n, name in enumerate(names)}
    return {"ProjectionExpression": ", ".join(aliases), "ExpressionAttributeNames": aliases}


def plain(value: Any) -> Any:
    """DynamoDB values as JSON wants them: whole numbers as int, others kept exact (`json_number`),
    sets as sorted lists."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else json_number(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted(plain(v) for v in value)
    return value
