"""The idempotency guard of every stream effect: a put that only the first delivery wins."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError


def put_once(table: Any, item: Mapping[str, Any], key_names: tuple[str, ...]) -> tuple[dict[str, Any], bool]:
    """Write `item` unless its key exists; return the stored item and whether this call wrote it.

    A conditional PutItem is atomic, so the effect and its deduplication are one write: no
    separate idempotency store, and no window in which a replay could double the effect.
    """
    key = {name: item[name] for name in key_names}
    try:
        table.put_item(
            Item=dict(item),
            ConditionExpression="attribute_not_exists(#k)",
            ExpressionAttributeNames={"#k": key_names[0]},
        )
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
            raise
        existing = table.get_item(Key=key, ConsistentRead=True).get("Item")
        return (existing if existing is not None else dict(item)), False
    return dict(item), True
