"""Re-processing failed order events through the very processing the pipes invoke.

Where the records come from, best first:
- the stream: a dead-lettered batch's shard and sequence range, while the stream retains it
  (24 h); the pipe's filters are applied again, since the range also holds records the pipe
  filtered out;
- the failures table: the raw records the handlers kept when they failed or rejected them
  (they outlive the stream);
- the Orders table: the order's current item, as a synthetic MODIFY (standard pipe only: the
  premium rule needs the old image, which the table no longer has).
Processing is idempotent, so redriving what was partly processed already has one effect.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from enum import Enum
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeSerializer
from botocore.exceptions import ClientError

from chalicelib.orders.events import EventName
from chalicelib.orders.exceptions import OrderNotFound
from chalicelib.orders.repository import OrderRepository
from chalicelib.pipes import PIPES_BY_KEY, STANDARD_PIPE
from chalicelib.stream_records import StreamRecord, build_stream_record
from chalicelib.streaming.batch import BatchReport, StreamBatchProcessor
from chalicelib.streaming.exceptions import RedriveError, StreamDataGone
from chalicelib.streaming.failures import FAILURE_KEY, FailureKind, FailureRepository, FailureStatus
from chalicelib.streaming.outcomes import Outcome
from chalicelib.tables import ORDERS

if TYPE_CHECKING:
    from mypy_boto3_dynamodbstreams import DynamoDBStreamsClient

ToWire = Callable[[Mapping[str, Any], str], StreamRecord]
REDRIVE_STREAM = "redrive"
# Errors meaning "the stream no longer has these records" (trimmed, shard or stream gone).
_GONE = {"TrimmedDataAccessException", "ResourceNotFoundException", "ExpiredIteratorException", "ValidationException"}
_EMPTY_PAGES_LIMIT = 5


class Source(str, Enum):
    AUTO = "auto"
    STREAM = "stream"
    FAILURES = "failures"
    ORDERS = "orders"


@dataclass
class RedriveResult:
    target: str
    pipe: str
    source: str
    records: int = 0
    passed_filters: int = 0
    still_failing: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.still_failing

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "status": "REDRIVEN" if self.ok else "STILL_FAILING"}


class StreamRangeReader:
    """Reads one shard's records from a start to an end sequence number (inclusive)."""

    def __init__(self, streams: DynamoDBStreamsClient, to_wire: ToWire) -> None:
        self._streams = streams
        self._to_wire = to_wire

    def read(self, stream_arn: str, shard_id: str, start: str, end: str) -> list[StreamRecord]:
        try:
            iterator = self._streams.get_shard_iterator(
                StreamArn=stream_arn,
                ShardId=shard_id,
                ShardIteratorType="AT_SEQUENCE_NUMBER",
                SequenceNumber=start,
            )["ShardIterator"]
            records: list[StreamRecord] = []
            empty_pages = 0
            while iterator and empty_pages < _EMPTY_PAGES_LIMIT:
                page = self._streams.get_records(ShardIterator=iterator, Limit=1000)
                iterator = page.get("NextShardIterator")
                empty_pages = 0 if page["Records"] else empty_pages + 1
                for record in page["Records"]:
                    if int(record["dynamodb"]["SequenceNumber"]) > int(end):
                        return records
                    records.append(self._to_wire(record, stream_arn))
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") in _GONE:
                raise StreamDataGone(f"shard {shard_id} no longer holds {start}..{end}: {err}") from err
            raise
        else:
            return records


def current_item_record(item: Mapping[str, Any]) -> StreamRecord:
    """The order's current state as a MODIFY record; one eventID per item version (idempotent)."""
    serializer = TypeSerializer()
    image = {name: serializer.serialize(value) for name, value in item.items()}
    updated = str(item.get("updatedAt") or item.get("createdAt") or "")
    try:
        when = datetime.fromisoformat(updated.replace("Z", "+00:00")).timestamp()
    except ValueError:
        when = datetime.now(UTC).timestamp()
    order_id = str(item[ORDERS.partition_key])
    return build_stream_record(
        event_name=EventName.MODIFY,
        keys={ORDERS.partition_key: image[ORDERS.partition_key]},
        old_image=None,
        new_image=image,
        sequence_number="0",
        approximate_creation_time=when,
        stream_arn=f"arn:aws:dynamodb:::table/{ORDERS.default_name}/stream/{REDRIVE_STREAM}",
        event_id=f"{REDRIVE_STREAM}:{order_id}:{updated}",
    )


class Redriver:
    def __init__(
        self,
        failures: FailureRepository,
        batches: Callable[[str], StreamBatchProcessor],
        orders: OrderRepository,
        stream: StreamRangeReader,
    ) -> None:
        self._failures = failures
        self._batches = batches
        self._orders = orders
        self._stream = stream

    def redrive_failure(self, failure_id: str, source: Source = Source.AUTO) -> RedriveResult:
        failure = self._failures.get(failure_id)
        if failure is None:
            raise RedriveError(f"no failure {failure_id!r}")
        kind = FailureKind(failure["kind"])
        if kind is FailureKind.MESSAGE:
            raise RedriveError(f"{failure_id}: an unreadable dead-letter message names no records; read its 'message'")
        if kind is FailureKind.RECORD:
            if source not in (Source.AUTO, Source.FAILURES):
                raise RedriveError(f"{failure_id}: a kept record is redriven from the failures table")
            if "record" not in failure:
                raise RedriveError(f"{failure_id}: the record was too large to keep; redrive its batch from the stream")
            records, used = [json.loads(failure["record"])], Source.FAILURES
        else:
            records, used = self._batch_records(failure, source)
            if not records:
                raise RedriveError(
                    f"{failure_id}: the stream no longer holds the batch and no handler kept its records"
                )
        result = self._process(failure_id, failure["pipe"], used, records)
        if result.ok:
            covered = self._failures.records_of_batch(failure) if kind is FailureKind.BATCH else []
            for item in [failure, *covered]:
                self._failures.mark_redriven(item[FAILURE_KEY], result.as_dict())
        return result

    def redrive_open(
        self, pipe_key: str, source: Source = Source.AUTO
    ) -> list[tuple[str, RedriveResult | RedriveError]]:
        """Every OPEN failure of the pipe, oldest first; errors are returned, not raised."""
        results: list[tuple[str, RedriveResult | RedriveError]] = []
        for failure in reversed(list(self._failures.for_pipe(pipe_key, FailureStatus.OPEN))):
            try:
                results.append((failure[FAILURE_KEY], self.redrive_failure(failure[FAILURE_KEY], source)))
            except RedriveError as err:
                results.append((failure[FAILURE_KEY], err))
        return results

    def redrive_order(self, pipe_key: str, order_id: str) -> RedriveResult:
        if pipe_key != STANDARD_PIPE.key:
            raise RedriveError(
                "only the standard pipe can be redriven from the Orders table: the premium "
                "rule needs the order's old image, which only the stream holds"
            )
        item = self._orders.get(order_id)
        if item is None:
            raise OrderNotFound(order_id)
        return self._process(f"order:{order_id}", pipe_key, Source.ORDERS, [current_item_record(item)])

    def _batch_records(self, failure: Mapping[str, Any], source: Source) -> tuple[list[Any], Source]:
        if source in (Source.AUTO, Source.STREAM):
            try:
                records = self._stream.read(
                    failure["stream_arn"],
                    failure["shard_id"],
                    failure["start_sequence_number"],
                    failure["end_sequence_number"],
                )
            except StreamDataGone:
                if source is Source.STREAM:
                    raise
            else:
                return records, Source.STREAM
        if source is Source.ORDERS:
            raise RedriveError("a dead-lettered batch names stream positions, not orders: use --order-id")
        return [json.loads(item["record"]) for item in self._failures.records_of_batch(failure)], Source.FAILURES

    def _process(self, target: str, pipe_key: str, source: Source, records: list[Any]) -> RedriveResult:
        pipe = PIPES_BY_KEY[pipe_key]
        passed = [r for r in records if pipe.accepts(r)]
        report = self._batches(pipe_key).run(passed) if passed else BatchReport()
        return RedriveResult(
            target=target,
            pipe=pipe_key,
            source=source.value,
            records=len(records),
            passed_filters=len(passed),
            still_failing=report.having(Outcome.FAILED, Outcome.REJECTED),
        )
