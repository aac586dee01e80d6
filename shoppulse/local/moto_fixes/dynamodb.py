"""DynamoDB: fixes 9 (stream records), 10 (transaction snapshots), 15 (atomic writes), 17 (GetRecords),
18 (item sizes), 26 (Query and Scan).

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
17. moto answers GetRecords through its generic response serializer, which walks every
   attribute value of every image against the API's shapes (`XFormedAttributePicker`): most
   of the embedded AWS's time under a burst of writes, since each pipe reads each record. The
   records are already DynamoDB JSON (`StreamRecord.to_json`), so the fix encodes them
   directly: the same body, blobs in base64 and `ApproximateCreationDateTime` in epoch
   seconds truncated to milliseconds, as moto's serializer writes them. No upstream issue found.
18. moto checks DynamoDB's item size limit (400 KB) while it builds an item, by summing the
   size of every attribute already set each time it sets one (`LimitedSizeDict.__setitem__`,
   moto/dynamodb/models/dynamo_type.py): quadratic in the attributes, a fifth of the server's
   time per PutItem of an order. The fix builds a new item's attributes, then checks their total
   once, against moto's own limit: the same items refused, in linear time (later changes of an
   item keep moto's check).
26. Query and Scan go through the same generic serializer as GetRecords did (17): a Scan of the
   810 category-day KPI items took 1.4 s, nine tenths of it in `XFormedAttributePicker`, and
   every read of the API and the dashboard paid it per item. Their results are DynamoDB JSON too
   and are encoded directly the same way: the same body. No upstream issue found.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from chalicelib.stream_records import StreamEventName, StreamRecord, StreamViewType, build_stream_record
from shoppulse.local.moto_fixes.patching import replace


def apply() -> None:
    """The stack's DynamoDB fixes beyond `fix_dynamodb_transaction_snapshots` (`fix_embedded_aws`)."""
    _encode_records_directly()


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


class WriteSignal:
    """Tells the local pipes that a DynamoDB write ended (it may have added stream records), so
    that they read the stream when there is something to read instead of polling it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._listeners: list[threading.Event] = []

    def subscribe(self, event: threading.Event) -> None:
        with self._lock:
            self._listeners.append(event)

    def unsubscribe(self, event: threading.Event) -> None:
        with self._lock:
            if event in self._listeners:
                self._listeners.remove(event)

    def notify(self) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for event in listeners:
            event.set()


DYNAMODB_WRITES = WriteSignal()


def _serialise_dynamodb_writes(backend: Any) -> None:
    """Fix 15: one lock around every write, so that a conditional write is atomic; then the
    write is signalled (`DYNAMODB_WRITES`), once its stream records are in the stream."""

    def locked(method: Any) -> Any:
        def write(self: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                with _DYNAMODB_WRITES:
                    return method(self, *args, **kwargs)
            finally:
                DYNAMODB_WRITES.notify()

        return write

    for name in ("put_item", "update_item", "delete_item", "transact_write_items"):
        replace(backend, name, locked(getattr(backend, name)))


def _wire_json(value: Any) -> Any:
    """What moto's JSON serializer makes of the non-JSON values in a DynamoDB answer."""
    from moto.core.serialize import TimestampSerializer

    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, datetime):
        return TimestampSerializer._timestamp_unixtimestamp(value)
    raise TypeError(f"{type(value).__name__} in a DynamoDB answer")


def get_records_body(result: object) -> str:
    """Fix 17: the GetRecords body, encoded without moto's generic serializer."""
    return json.dumps(result, default=_wire_json)


def _encoded(result: object) -> Any:
    """An answer of DynamoDB JSON, encoded directly (fixes 17 and 26)."""
    from moto.core.responses import ActionContext, ActionResult

    class Encoded(ActionResult):
        def execute_result(self, context: ActionContext) -> tuple[int, dict[str, str], str]:
            return 200, {"Content-Type": "application/x-amz-json-1.0"}, get_records_body(self.result)

    return Encoded(result)


def _encode_records_directly() -> None:
    from moto.dynamodbstreams.responses import DynamoDBStreamsHandler

    def get_records(self: Any) -> Any:
        limit = self._get_param("Limit")
        return _encoded(self.backend.get_records(self._get_param("ShardIterator"), 1000 if limit is None else limit))

    replace(DynamoDBStreamsHandler, "get_records", get_records)


def encode_item_reads_directly() -> None:
    """Fix 26 (the in-process embedded AWS applies it too: `fix_embedded_aws`)."""
    from moto.dynamodb.responses import DynamoHandler

    def direct(read: Any) -> Any:
        def encoded_read(self: Any) -> Any:
            return _encoded(read(self).result)  # moto's result: the items already as DynamoDB JSON

        return encoded_read

    for name in ("query", "scan"):
        original = getattr(DynamoHandler, name)
        if getattr(original, "__name__", "") != "encoded_read":  # once a process
            replace(DynamoHandler, name, direct(original))


# moto's item size limit (`LimitedSizeDict.__setitem__`): AWS's 400 KB, measured a little above it.
ITEM_SIZE_LIMIT = 405000


def size_items_once() -> None:
    """Fix 18 (the in-process embedded AWS applies it too: `fix_embedded_aws`)."""
    from moto.dynamodb.exceptions import ItemSizeTooLarge
    from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict
    from moto.dynamodb.models.utilities import bytesize

    def item_init(self: Any, hash_key: Any, range_key: Any, attrs: dict[str, Any]) -> None:
        self.hash_key = hash_key
        self.range_key = range_key
        values = {key: DynamoType(value) for key, value in attrs.items()}
        if sum(bytesize(key) + value.size() for key, value in values.items()) > ITEM_SIZE_LIMIT:
            raise ItemSizeTooLarge
        self.attrs = LimitedSizeDict(values)  # its constructor sets items without checking

    replace(Item, "__init__", item_init)
