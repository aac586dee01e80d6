"""Order changes as the handlers see them: a DynamoDB stream record, typed.

Pipes deliver records in Lambda's wire format (images in DynamoDB JSON, numbers as strings).
Parsing here is the one place that turns that into Python values; anything unreadable raises
InvalidOrderEvent, which the handlers keep with its reason instead of retrying.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from boto3.dynamodb.types import TypeDeserializer

from chalicelib.orders.exceptions import InvalidOrderEvent
from chalicelib.stream_records import StreamEventName
from chalicelib.tables import ORDERS

_DESERIALIZER = TypeDeserializer()
SEQUENCE_DIGITS = 40  # DynamoDB Streams sequence numbers have 21 to 40 digits


# INSERT / MODIFY / REMOVE: the stream's own vocabulary, defined with the wire format.
EventName = StreamEventName


def _image(data: Mapping[str, Any], name: str) -> dict[str, Any] | None:
    raw = data.get(name)
    if raw is None:
        return None
    try:
        return {key: _DESERIALIZER.deserialize(value) for key, value in raw.items()}
    except (TypeError, AttributeError, InvalidOperation) as err:
        raise InvalidOrderEvent(f"{name} is not DynamoDB JSON: {err}") from err


def _stream_time(value: Any) -> datetime:
    try:
        return datetime.fromtimestamp(float(value), tz=UTC)
    except (TypeError, ValueError, OverflowError) as err:
        raise InvalidOrderEvent(f"ApproximateCreationDateTime {value!r} is not an epoch time") from err


@dataclass(frozen=True)
class OrderChange:
    """One INSERT/MODIFY/REMOVE of an Orders item, with its old and new images deserialized."""

    event_id: str
    event_name: EventName
    sequence_number: str
    stream_time: datetime
    order_id: str
    old: Mapping[str, Any] | None
    new: Mapping[str, Any] | None

    @property
    def event_key(self) -> str:
        """Sorts an order's events as they happened; unique per event (the idempotency key).

        Stream time has whole seconds only, so the sequence number (increasing along an item's
        shard lineage; zero-padded to its 40-digit maximum) orders events within a second.
        """
        sequence = (
            self.sequence_number.zfill(SEQUENCE_DIGITS) if self.sequence_number.isdigit() else self.sequence_number
        )
        return f"{self.stream_time.isoformat(timespec='milliseconds')}#{sequence}#{self.event_id}"

    def new_value(self, name: str) -> Any:
        return (self.new or {}).get(name)

    def old_value(self, name: str) -> Any:
        return (self.old or {}).get(name)

    def new_amount(self) -> Decimal:
        """The new image's amount; an order without a numeric amount cannot be judged."""
        amount = self.new_value("amount")
        if isinstance(amount, bool) or not isinstance(amount, Decimal):
            raise InvalidOrderEvent(f"order {self.order_id}: amount {amount!r} is not a number")
        return amount

    def new_email(self) -> str:
        email = self.new_value("customerEmail")
        if not isinstance(email, str):
            raise InvalidOrderEvent(f"order {self.order_id}: customerEmail {email!r} is not a string")
        return email


def parse_record(record: Mapping[str, Any]) -> OrderChange:
    """A wire-format record (chalicelib.stream_records.StreamRecord) as an OrderChange."""
    if not isinstance(record, Mapping):
        raise InvalidOrderEvent(f"a stream record must be a JSON object, not {type(record).__name__}")
    data = record.get("dynamodb")
    if not isinstance(data, Mapping):
        raise InvalidOrderEvent("the record has no 'dynamodb' object")
    try:
        event_name = EventName(record.get("eventName"))
    except ValueError as err:
        raise InvalidOrderEvent(f"eventName {record.get('eventName')!r} is not INSERT, MODIFY or REMOVE") from err
    event_id, sequence = record.get("eventID"), data.get("SequenceNumber")
    if not isinstance(event_id, str) or not event_id or not isinstance(sequence, str):
        raise InvalidOrderEvent("the record lacks its eventID or SequenceNumber")
    keys = _image(data, "Keys") or {}
    order_id = keys.get(ORDERS.partition_key)
    if not isinstance(order_id, str):
        raise InvalidOrderEvent(f"the record's Keys lack a string {ORDERS.partition_key}")
    return OrderChange(
        event_id=event_id,
        event_name=event_name,
        sequence_number=sequence,
        stream_time=_stream_time(data.get("ApproximateCreationDateTime")),
        order_id=order_id,
        old=_image(data, "OldImage"),
        new=_image(data, "NewImage"),
    )
