"""The idempotency guard of every stream effect: a put that only the first delivery wins."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

# TransactWriteItems groups up to 100 actions, all or nothing, each Put with its own condition;
# a cancelled transaction says why per action, in request order (`CancellationReasons`, Code
# "None" for an action that was fine), and writes nothing
# (https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_TransactWriteItems.html).
# BatchWriteItem takes no condition, so it could not tell a first delivery from a replay.
TRANSACTION_MAX_ITEMS = 100

# What each item of `put_each_once` came to: written now, already there, or why it failed.
PutResult = bool | Exception


def _condition(key_names: tuple[str, ...]) -> dict[str, Any]:
    return {"ConditionExpression": "attribute_not_exists(#k)", "ExpressionAttributeNames": {"#k": key_names[0]}}


def put_once(table: Table, item: Mapping[str, Any], key_names: tuple[str, ...]) -> tuple[dict[str, Any], bool]:
    """Write `item` unless its key exists; return the stored item and whether this call wrote it.

    A conditional PutItem is atomic, so the effect and its deduplication are one write: no
    separate idempotency store, and no window in which a replay could double the effect.
    """
    key = {name: item[name] for name in key_names}
    try:
        table.put_item(Item=dict(item), **_condition(key_names))
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
            raise
        existing = table.get_item(Key=key, ConsistentRead=True).get("Item")
        return (existing if existing is not None else dict(item)), False
    return dict(item), True


def put_each_once(table: Table, items: Sequence[Mapping[str, Any]], key_names: tuple[str, ...]) -> list[PutResult]:
    """`put_once` for many items in one TransactWriteItems per 100: the same answer per item.

    Each item's outcome is its own, as if put alone: True (written by this call), False (its key
    existed: a replay), or the error that kept it out. A cancelled transaction is retried with
    the items it named fine; an item it names for another reason than its condition, and every
    item of an answer without per-item reasons, is put alone (`put_once`).
    The client fills `ClientRequestToken` once per call, so its own retries are idempotent.
    """
    results: list[PutResult] = [False] * len(items)
    for start in range(0, len(items), TRANSACTION_MAX_ITEMS):
        pending = list(range(start, min(start + TRANSACTION_MAX_ITEMS, len(items))))
        while pending:
            pending = _transact(table, items, key_names, pending, results)
    return results


def _transact(
    table: Table,
    items: Sequence[Mapping[str, Any]],
    key_names: tuple[str, ...],
    pending: list[int],
    out: list[PutResult],
) -> list[int]:
    """One transaction over `pending`; fills `out` for what it settled, returns what to retry."""
    puts = [{"Put": {"TableName": table.name, "Item": dict(items[i]), **_condition(key_names)}} for i in pending]
    try:
        # The resource's client takes Python values (boto3 registers its TypeSerializer on it,
        # boto3/dynamodb/transform.py DynamoDBHighLevelResource); the stubs type the wire form.
        table.meta.client.transact_write_items(TransactItems=cast("list[TransactWriteItemTypeDef]", puts))
    except ClientError as err:
        reasons = err.response.get("CancellationReasons") or []
        if err.response.get("Error", {}).get("Code") != "TransactionCanceledException" or len(reasons) != len(pending):
            _each_alone(table, items, key_names, pending, out)  # e.g. two items with one key
            return []
        retry: list[int] = []
        alone: list[int] = []
        for i, reason in zip(pending, reasons, strict=True):
            code = str(reason.get("Code", "None"))
            if code == "ConditionalCheckFailed":
                out[i] = False
            else:  # "None": fine, in the next transaction; any other: throttled, too large...
                (retry if code == "None" else alone).append(i)
        if len(retry) == len(pending):  # cancelled, yet no item said why
            retry, alone = [], pending
        _each_alone(table, items, key_names, alone, out)  # their answer is put_once's own
        return retry
    for i in pending:
        out[i] = True
    return []


def _each_alone(
    table: Table,
    items: Sequence[Mapping[str, Any]],
    key_names: tuple[str, ...],
    pending: list[int],
    out: list[PutResult],
) -> None:
    for i in pending:
        try:
            out[i] = put_once(table, items[i], key_names)[1]
        except Exception as err:  # noqa: BLE001 - this item's failure is its own answer
            out[i] = err
