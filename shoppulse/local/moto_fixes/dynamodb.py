"""DynamoDB: fixes 9 (stream records) and 10 (transaction snapshots).

9. DynamoDB stream records from moto lack `eventSourceARN`, and the API returns
   `ApproximateCreationDateTime` as a datetime: `wire_stream_record` gives the wire format a
   Lambda (or Pipe target) receives. moto's Pipes only store configuration: pipes are run by
   `shoppulse.local.pipes`.
10. TransactWriteItems deep-copies a whole table once per item of the transaction, for
   rollback (see `_NoTableCopies`): the fix snapshots only the items it names.
15. In AWS a conditional write checks and writes one item atomically
   (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/WorkingWithItems.html#WorkingWithItems.ConditionalUpdate);
   moto checks then writes without a lock, so two threads could both pass one condition (the
   batch writer lease relies on it). One lock around every write makes them atomic (it wraps
   the backend's public write methods; moto has no option for it; no upstream issue found).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from chalicelib.stream_records import StreamEventName, StreamRecord, StreamViewType, build_stream_record
from shoppulse.local.moto_fixes.patching import replace


def apply() -> None:
    fix_dynamodb_transaction_snapshots()


def wire_stream_record(record: Mapping[str, Any], stream_arn: str) -> StreamRecord:
    """A record from GetRecords (as boto3 parses moto's answer) in the wire format Pipes deliver."""
    data = record["dynamodb"]
    created = data["ApproximateCreationDateTime"]
    return build_stream_record(
        event_name=StreamEventName(record["eventName"]),
        keys=data["Keys"],
        old_image=data.get("OldImage"),
        new_image=data.get("NewImage"),
        sequence_number=data["SequenceNumber"],
        approximate_creation_time=created.timestamp() if isinstance(created, datetime) else float(created),
        stream_arn=stream_arn,
        view_type=StreamViewType(data.get("StreamViewType", StreamViewType.NEW_AND_OLD_IMAGES.value)),
        event_id=record["eventID"],
    )


_TRANSACTION = threading.local()


class _NoTableCopies:
    """Stands in for the `copy` module inside moto.dynamodb.models during a transaction.

    moto's TransactWriteItems deep-copies a whole table for rollback once per *item* of the
    transaction (moto/dynamodb/models/__init__.py, transact_write_items; no upstream issue
    yet), so a transaction costs table size times transaction size: seconds on a table of a
    few thousand items. During a transaction the table copies are skipped (the rollback then
    reassigns the same table) and only the items the transaction names are snapshotted and
    restored; every other copy is made as before.
    """

    def __init__(self, real: Any) -> None:
        self._real = real

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def deepcopy(self, value: Any, memo: Any = None) -> Any:
        from moto.dynamodb.models.table import Table

        if getattr(_TRANSACTION, "active", False) and isinstance(value, Table):
            return value
        return self._real.deepcopy(value, memo)


def _touched_items(backend: Any, transact_items: list[dict[str, Any]]) -> list[tuple[Any, Any, Any, Any]]:
    """(table, hash key, range key, copy of the current item or None) for each item named."""
    import copy

    from moto.dynamodb.models.dynamo_type import DynamoType

    saved = []
    for entry in transact_items:
        op: Any = next(iter(entry.values()), {})
        table: Any = backend.tables.get(op.get("TableName")) if isinstance(op, dict) else None
        key = (op.get("Key") or op.get("Item")) if table is not None else None
        if not key or table.hash_key_attr not in key or (table.range_key_attr and table.range_key_attr not in key):
            continue  # malformed: moto rejects it before changing anything
        hash_key = DynamoType(key[table.hash_key_attr])
        range_key = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
        saved.append((table, hash_key, range_key, copy.deepcopy(table.get_item(hash_key, range_key))))
    return saved


def _restore(table: Any, hash_key: Any, range_key: Any, item: Any) -> None:
    """Put an item back as it was, without a stream record (the transaction never happened)."""
    if range_key is None:
        if item is None:
            table.items.pop(hash_key, None)
        else:
            table.items[hash_key] = item
    elif item is None:
        table.items.get(hash_key, {}).pop(range_key, None)
    else:
        table.items[hash_key][range_key] = item


def fix_dynamodb_transaction_snapshots() -> None:
    """Idempotent; needed in-process (embedded AWS) and in the server alike."""
    import copy

    from moto.dynamodb import models
    from moto.dynamodb.models import DynamoDBBackend

    if isinstance(vars(models)["copy"], _NoTableCopies):
        return
    replace(models, "copy", _NoTableCopies(copy))
    original = DynamoDBBackend.transact_write_items

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        saved = _touched_items(self, transact_items)
        _TRANSACTION.active = True
        try:
            return original(self, transact_items)
        except Exception:
            for table, hash_key, range_key, item in reversed(saved):
                _restore(table, hash_key, range_key, item)
            raise
        finally:
            _TRANSACTION.active = False

    replace(DynamoDBBackend, "transact_write_items", transact_write_items)
    _serialise_dynamodb_writes(DynamoDBBackend)


_DYNAMODB_WRITES = threading.RLock()


def _serialise_dynamodb_writes(backend: Any) -> None:
    """Fix 15: one lock around every write, so that a conditional write is atomic."""

    def locked(method: Any) -> Any:
        def write(self: Any, *args: Any, **kwargs: Any) -> Any:
            with _DYNAMODB_WRITES:
                return method(self, *args, **kwargs)

        return write

    for name in ("put_item", "update_item", "delete_item", "transact_write_items"):
        replace(backend, name, locked(getattr(backend, name)))
