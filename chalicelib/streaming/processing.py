"""Standard order processing: one processing record per order event, queryable per order."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypedDict

from boto3.dynamodb.conditions import Key

from chalicelib.kpis import round_money
from chalicelib.orders.events import OrderChange
from chalicelib.orders.exceptions import InvalidOrderEvent
from chalicelib.orders.rules import standard_applies
from chalicelib.runs import utc_now
from chalicelib.streaming.outcomes import Outcome
from chalicelib.streaming.put_once import PutResult, put_each_once, put_once
from chalicelib.tables import ORDER_PROCESSING

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table

PIPELINE = "standard"
_KEY = (ORDER_PROCESSING.partition_key, ORDER_PROCESSING.range_key)


class ProcessingEvent(TypedDict):
    """A processing record as API clients see it."""

    orderId: str
    pipeline: str
    event_id: str
    event_name: str
    status: str
    amount: float | Decimal
    customer_id: str
    stream_time: str
    processed_at: str


def public_event(item: Mapping[str, Any]) -> ProcessingEvent:
    return ProcessingEvent(
        orderId=str(item[ORDER_PROCESSING.partition_key]),
        pipeline=str(item["pipeline"]),
        event_id=str(item["event_id"]),
        event_name=str(item["event_name"]),
        status=str(item["status"]),
        amount=round_money(item["amount"]),
        customer_id=str(item.get("customer_id", "")),
        stream_time=str(item["stream_time"]),
        processed_at=str(item["processed_at"]),
    )


class ProcessingRepository:
    def __init__(self, table: Table) -> None:
        self._table = table

    @staticmethod
    def item(change: OrderChange) -> dict[str, Any]:
        """The processing record of one event (raises InvalidOrderEvent for an unreadable one)."""
        return {
            ORDER_PROCESSING.partition_key: change.order_id,
            ORDER_PROCESSING.range_key: change.event_key,
            "pipeline": PIPELINE,
            "event_id": change.event_id,
            "event_name": change.event_name.value,
            "sequence_number": change.sequence_number,
            "status": change.new_value("status"),
            "amount": change.new_amount(),
            "customer_id": str(change.new_value("customerId") or ""),
            "stream_time": change.stream_time.isoformat(timespec="milliseconds"),
            "processed_at": utc_now(),
        }

    def record(self, change: OrderChange) -> bool:
        """Record that this event was processed; False when it already was (a replay)."""
        return put_once(self._table, self.item(change), _KEY)[1]

    def record_all(self, items: Sequence[Mapping[str, Any]]) -> list[PutResult]:
        """Record that these events were processed: per item, True if now, False if already
        (a replay), or the error that kept it out. A batch is one write, not one per event."""
        return put_each_once(self._table, items, _KEY)

    def events_for_order(
        self, order_id: str, limit: int = 100, start_key: Mapping[str, Any] | None = None
    ) -> tuple[list[ProcessingEvent], dict[str, Any] | None]:
        """One order's processed events, oldest first, a page at a time (a Query, never a Scan)."""
        items, last = self.items_for_order(order_id, limit, start_key)
        return [public_event(i) for i in items], last

    def items_for_order(
        self, order_id: str, limit: int = 100, start_key: Mapping[str, Any] | None = None
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        """`events_for_order` as stored (the API converts them with `public_event`, item by item)."""
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": Key(ORDER_PROCESSING.partition_key).eq(order_id),
            "Limit": limit,
        }
        if start_key:
            kwargs["ExclusiveStartKey"] = dict(start_key)
        page = self._table.query(**kwargs)
        return page.get("Items", []), page.get("LastEvaluatedKey")


class StandardProcessing:
    """The standard pipe's work on a batch: the rule as last guard per record, then the
    recorded effects of all the records it lets through, written together."""

    def __init__(self, records: ProcessingRepository) -> None:
        self._records = records

    def __call__(self, changes: Sequence[OrderChange]) -> list[Outcome | Exception]:
        results: list[Outcome | Exception] = [Outcome.SKIPPED] * len(changes)
        items: list[dict[str, Any]] = []
        positions: list[int] = []
        for position, change in enumerate(changes):
            try:
                if not standard_applies(change):
                    continue
                items.append(self._records.item(change))
            except InvalidOrderEvent as err:
                results[position] = err
                continue
            positions.append(position)
        for position, written in zip(positions, self._records.record_all(items), strict=True):
            results[position] = _outcome(written)
        return results


def _outcome(written: PutResult) -> Outcome | Exception:
    if isinstance(written, Exception):
        return written
    return Outcome.PROCESSED if written else Outcome.DUPLICATE
