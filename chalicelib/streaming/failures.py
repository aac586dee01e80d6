"""The OrderEventFailures table: what failed in the real-time flow, why, and what redrive needs.

Three kinds of items, one per thing that can go wrong:
- RECORD: a stream record a handler could not process (kept with the raw record, so it can be
  re-processed even after the stream has dropped it) - retried by the pipe, or, when
  unreadable (`retryable` false), rejected at once;
- BATCH: a pipe's dead-letter message: the shard and sequence range of a batch whose retries
  ran out (Pipes never put the records themselves in the dead-letter queue);
- MESSAGE: a dead-letter message that is not the documented shape, kept verbatim.
Keys are derived from what was delivered, so a replayed delivery finds its item.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from enum import Enum
from typing import TYPE_CHECKING, Any, TypedDict

from boto3.dynamodb.conditions import Key

from chalicelib.runs import utc_now
from chalicelib.streaming.notify import OnceNotifier
from chalicelib.streaming.put_once import put_once
from chalicelib.tables import ORDER_FAILURES, ORDER_FAILURES_BY_PIPE, ORDERS

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table

FAILURE_KEY = ORDER_FAILURES.partition_key
# A kept record must leave room for the rest of the item; a larger one is read from the stream.
MAX_KEPT_RECORD_CHARS = 300_000


class FailureKind(str, Enum):
    RECORD = "RECORD"
    BATCH = "BATCH"
    MESSAGE = "MESSAGE"


class FailureStatus(str, Enum):
    OPEN = "OPEN"  # needs redrive (a dead-lettered batch, a rejected record)
    RETRYING = "RETRYING"  # a record that failed an attempt; the pipe is still retrying it
    REDRIVEN = "REDRIVEN"


class DDBStreamBatchInfo(TypedDict):
    shardId: str
    startSequenceNumber: str
    endSequenceNumber: str
    approximateArrivalOfFirstRecord: str
    approximateArrivalOfLastRecord: str
    batchSize: int
    streamArn: str


class PipeDeadLetterMessage(TypedDict, total=False):
    """The body Pipes send to a stream source's dead-letter queue (no record data in it).

    {"context": {"partnerResourceArn": <pipe ARN>, "condition": "RetryAttemptsExhausted"},
     "version": "1.0", "timestamp": ..., "DDBStreamBatchInfo": {...}}. Lambda event source
    mappings send the same batch info under "requestContext" instead of "context".
    """

    context: dict[str, Any]
    requestContext: dict[str, Any]
    version: str
    timestamp: str
    DDBStreamBatchInfo: DDBStreamBatchInfo


_BATCH_FIELDS = ("shardId", "startSequenceNumber", "endSequenceNumber", "streamArn")


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


def parse_dead_letter(body: str) -> PipeDeadLetterMessage:
    """The message, or ValueError saying why it is not a stream batch's dead letter."""
    try:
        message = json.loads(body)
    except (TypeError, ValueError) as err:
        raise ValueError(f"not JSON: {err}") from err
    info = message.get("DDBStreamBatchInfo") if isinstance(message, dict) else None
    if not isinstance(info, dict):
        raise ValueError("no DDBStreamBatchInfo object")
    missing = [f for f in _BATCH_FIELDS if not isinstance(info.get(f), str) or not info.get(f)]
    if missing:
        raise ValueError(f"DDBStreamBatchInfo lacks {', '.join(missing)}")
    parsed: PipeDeadLetterMessage = message
    return parsed


def sequence_in(sequence: str, start: str, end: str) -> bool:
    """Stream sequence numbers are decimal strings of varying length: compare as integers."""
    return int(start) <= int(sequence) <= int(end)


class FailureRepository:
    def __init__(self, table: Table) -> None:
        self._table = table

    def _base(self, pipe_key: str, failure_id: str, kind: FailureKind, reason: str) -> dict[str, Any]:
        return {
            FAILURE_KEY: failure_id,
            ORDER_FAILURES_BY_PIPE.partition_key: pipe_key,
            ORDER_FAILURES_BY_PIPE.range_key: utc_now(),
            "kind": kind.value,
            "status": FailureStatus.OPEN.value,
            "reason": reason[:2000],
        }

    @staticmethod
    def record_failure_id(pipe_key: str, record: Mapping[str, Any]) -> str:
        event_id = record.get("eventID")
        ident = (
            event_id
            if isinstance(event_id, str) and event_id
            else _digest(json.dumps(record, sort_keys=True, default=str))
        )
        return f"record#{pipe_key}#{ident}"

    @staticmethod
    def _record_fields(record: Mapping[str, Any]) -> dict[str, Any]:
        data = record.get("dynamodb")
        keys = data.get("Keys") if isinstance(data, Mapping) else None
        order_key = keys.get(ORDERS.partition_key) if isinstance(keys, Mapping) else None
        fields: dict[str, Any] = {
            "event_id": record.get("eventID"),
            "event_name": record.get("eventName"),
            "stream_arn": record.get("eventSourceARN"),
            "sequence_number": data.get("SequenceNumber") if isinstance(data, Mapping) else None,
            "order_id": order_key.get("S") if isinstance(order_key, Mapping) else None,
            "record": json.dumps(record, default=str, sort_keys=True),
        }
        if len(fields["record"]) > MAX_KEPT_RECORD_CHARS:  # DynamoDB items stop at 400 KB
            fields["record"] = None
        return {k: v for k, v in fields.items() if isinstance(v, str) and v}

    def record_rejected(self, pipe_key: str, record: Mapping[str, Any], reason: str) -> tuple[dict[str, Any], bool]:
        """An unreadable record: kept with its reason, never retried. (item, first time?)"""
        item = self._base(pipe_key, self.record_failure_id(pipe_key, record), FailureKind.RECORD, reason)
        item.update(self._record_fields(record), retryable=False, attempts=1)
        return put_once(self._table, item, (FAILURE_KEY,))

    def record_attempt(self, pipe_key: str, record: Mapping[str, Any], reason: str) -> None:
        """A record that failed one attempt: count it, keep the last reason and the record.

        It stays RETRYING (the pipe retries it); if its batch is dead-lettered, redrive finds it
        by sequence number, which is how the record survives the stream's 24 h retention.
        """
        base = self._base(pipe_key, self.record_failure_id(pipe_key, record), FailureKind.RECORD, reason)
        first_time = {
            k: v
            for k, v in {**base, **self._record_fields(record)}.items()
            if k not in (FAILURE_KEY, "reason", "status")
        }
        names = {f"#f{i}": name for i, name in enumerate(first_time)}
        values: dict[str, Any] = {f":f{i}": value for i, value in enumerate(first_time.values())}
        values.update(
            {
                ":reason": base["reason"],
                ":retrying": FailureStatus.RETRYING.value,
                ":one": 1,
                ":now": utc_now(),
                ":retry": True,
            }
        )
        names.update(
            {
                "#reason": "reason",
                "#status": "status",
                "#attempts": "attempts",
                "#last": "last_attempt_at",
                "#retry": "retryable",
            }
        )
        sets = [f"#f{i} = if_not_exists(#f{i}, :f{i})" for i in range(len(first_time))]
        sets += ["#reason = :reason", "#status = :retrying", "#last = :now", "#retry = :retry"]
        self._table.update_item(
            Key={FAILURE_KEY: base[FAILURE_KEY]},
            UpdateExpression="SET " + ", ".join(sets) + " ADD #attempts :one",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )

    def record_dead_letter(self, pipe_key: str, message_id: str, body: str) -> tuple[dict[str, Any], bool]:
        """A pipe's dead-letter message as a BATCH item (or MESSAGE when unreadable)."""
        try:
            message = parse_dead_letter(body)
        except ValueError as err:
            item = self._base(
                pipe_key,
                f"message#{pipe_key}#{message_id}",
                FailureKind.MESSAGE,
                f"unreadable dead-letter message: {err}",
            )
            item.update(message_id=message_id, message=body[:100_000])
            return put_once(self._table, item, (FAILURE_KEY,))
        info = message["DDBStreamBatchInfo"]
        context = message.get("context") or message.get("requestContext") or {}
        condition = str(context.get("condition") or "unknown")
        positions: Mapping[str, Any] = info
        failure_id = f"batch#{pipe_key}#{_digest(*(positions[f] for f in _BATCH_FIELDS))}"
        item = self._base(pipe_key, failure_id, FailureKind.BATCH, f"batch dead-lettered by the pipe: {condition}")
        item.update(
            shard_id=info["shardId"],
            start_sequence_number=info["startSequenceNumber"],
            end_sequence_number=info["endSequenceNumber"],
            stream_arn=info["streamArn"],
            batch_size=int(info.get("batchSize") or 0),
            condition=condition,
            first_record_at=str(info.get("approximateArrivalOfFirstRecord", "")),
            last_record_at=str(info.get("approximateArrivalOfLastRecord", "")),
            pipe_arn=str(context.get("partnerResourceArn") or context.get("pipeArn") or ""),
            message_id=message_id,
            message=body,
        )
        return put_once(self._table, item, (FAILURE_KEY,))

    def get(self, failure_id: str) -> dict[str, Any] | None:
        item: dict[str, Any] | None = self._table.get_item(Key={FAILURE_KEY: failure_id}, ConsistentRead=True).get(
            "Item"
        )
        return item

    def for_pipe(self, pipe_key: str, status: FailureStatus | None = None) -> Iterator[dict[str, Any]]:
        """One pipe's failures, newest first (a Query on the index, page by page)."""
        kwargs: dict[str, Any] = {
            "IndexName": ORDER_FAILURES_BY_PIPE.name,
            "KeyConditionExpression": Key(ORDER_FAILURES_BY_PIPE.partition_key).eq(pipe_key),
            "ScanIndexForward": False,
        }
        while True:
            page = self._table.query(**kwargs)
            for item in page.get("Items", []):
                if status is None or item.get("status") == status.value:
                    yield item
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def records_of_batch(self, batch: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The RECORD failures that fall in a dead-lettered batch's shard range, oldest first."""
        start, end = batch["start_sequence_number"], batch["end_sequence_number"]
        found = [
            item
            for item in self.for_pipe(batch["pipe"])
            if item.get("kind") == FailureKind.RECORD.value
            and item.get("status") == FailureStatus.RETRYING.value
            and item.get("stream_arn") in (None, batch.get("stream_arn"))
            and "sequence_number" in item
            and "record" in item
            and sequence_in(item["sequence_number"], start, end)
        ]
        return sorted(found, key=lambda item: int(item["sequence_number"]))

    def mark_redriven(self, failure_id: str, summary: Mapping[str, Any]) -> None:
        self._table.update_item(
            Key={FAILURE_KEY: failure_id},
            UpdateExpression="SET #s = :s, #r = :r, #at = :at",
            ExpressionAttributeNames={"#s": "status", "#r": "redrive", "#at": "redriven_at"},
            ExpressionAttributeValues={":s": FailureStatus.REDRIVEN.value, ":r": dict(summary), ":at": utc_now()},
        )


class FailureAlerts:
    """One alert per failure item (replays of the same failure stay silent)."""

    def __init__(self, notifier: OnceNotifier) -> None:
        self._notifier = notifier

    def send(self, item: Mapping[str, Any]) -> bool:
        summary = {k: v for k, v in item.items() if k not in ("record", "message")}
        subject = f"ShopPulse {item['pipe']} orders pipe: {str(item['kind']).lower()} failure"
        return self._notifier.notify(item, {FAILURE_KEY: item[FAILURE_KEY]}, subject, summary)
