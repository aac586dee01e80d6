"""Reading DynamoDB pages the way the API serves them."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from chalicelib.kpis import json_number


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
