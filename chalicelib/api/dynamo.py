"""Reading DynamoDB pages the way the API serves them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

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
        last: Item | None = page.get("LastEvaluatedKey")
        if not last or (limit is not None and len(items) >= limit):
            return items, last
        start_key = last


def projection(names: Iterable[str]) -> dict[str, Any]:
    """Read only what is served: less to transfer and parse (reserved words like `year` included)."""
    aliases = {f"#p{n}": name for n, name in enumerate(names)}
    return {"ProjectionExpression": ", ".join(aliases), "ExpressionAttributeNames": aliases}


def plain(value: Any) -> Any:
    """DynamoDB values as JSON wants them: whole numbers as int, others as float, sets as sorted lists."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted(plain(v) for v in value)
    return value
