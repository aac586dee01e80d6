"""Local EventBridge Pipes: Orders stream -> filters -> Chalice function, as AWS runs them.

One poller per `chalicelib.pipes.PipeSpec`. It reads the table's stream through the
DynamoDB Streams API, turns moto's records into the wire format (`moto_fixes`), keeps the
records one of the pipe's filters accepts (the project's matcher, Pipes semantics; the rest
are consumed without an invocation, as in AWS), batches them (batch size, batching window),
invokes the function synchronously (in the process that runs the pollers: `pipe_process` for
the stack) and then applies the pipe's failure rules:
- `batchItemFailures`: records before the first failed one are done; the rest is retried;
- a failed invocation (exception): the batch is halved (AUTOMATIC_BISECT) and retried;
- after `MaximumRetryAttempts` retries, or once a record is older than
  `MaximumRecordAgeInSeconds`, the batch is dead-lettered: a message describing the batch
  (shard, sequence numbers; not the records, as for every stream source) goes to the DLQ.
`ParallelizationFactor` batches of a shard are in flight at once, each item (its key
attributes, hashed) always in the same one, so an item's changes reach the function in order:
with concurrent batches per shard, order is kept per item (partition and sort key), not per
shard (https://docs.aws.amazon.com/lambda/latest/dg/with-ddb.html); with 1, one batch per shard. The poller reads on while batches run, as AWS's pollers do.

When to read: AWS polls each shard at a base rate of four times a second (same page). Locally
every GetRecords costs the embedded AWS's server CPU that the writers need, so a pipe reads
when a DynamoDB write has ended (`writes`: `moto_fixes.DYNAMODB_WRITES` in the server's
process, the stack's `wake` messages in the pipes process) or a batch is
done, at most once per `MIN_READ_INTERVAL_SECONDS` (a burst gathers into few reads), and
otherwise four times a second, as AWS does (an idle stack barely reads).
"""

from __future__ import annotations

import json
import logging
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from chalicelib.pipes import PipeSpec
from chalicelib.stream_records import StreamRecord
from chalicelib.streaming.failures import DDBStreamBatchInfo, PipeDeadLetterMessage
from shoppulse.local.moto_fixes import DYNAMODB_WRITES, WriteSignal, wire_stream_record
from shoppulse.local.polling import BackgroundPoller

if TYPE_CHECKING:
    from mypy_boto3_dynamodbstreams import DynamoDBStreamsClient
    from mypy_boto3_dynamodbstreams.literals import ShardIteratorTypeType
    from mypy_boto3_sqs import SQSClient

LOG = logging.getLogger(__name__)

IDLE_POLL_SECONDS = 0.25  # AWS's base rate: four reads a second per shard
MIN_READ_INTERVAL_SECONDS = 0.1
# GetRecords returns at most 1000 records a call
# (https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_streams_GetRecords.html).
GET_RECORDS_LIMIT = 1000
RETRY_DELAY_SECONDS = 0.05

Invoke = Callable[[list[StreamRecord]], Any]


@dataclass
class _Batch:
    records: list[StreamRecord]
    retries: int = 0


class _Lane:
    """One of a shard's `ParallelizationFactor` concurrent batches: the records of the items
    hashed to it, in stream order, and the batch it has in flight (at most one)."""

    def __init__(self) -> None:
        self.pending: list[StreamRecord] = []
        self.first_buffered = 0.0
        self.in_flight: Future[None] | None = None

    def add(self, record: StreamRecord) -> None:
        if not self.pending:
            self.first_buffered = time.monotonic()
        self.pending.append(record)

    def busy(self) -> bool:
        return bool(self.pending) or (self.in_flight is not None and not self.in_flight.done())

    def ready(self, batch_size: int, window_seconds: int) -> list[StreamRecord]:
        """The next batch, once the one in flight is done and the batch is full or its window over."""
        if not self.pending or (self.in_flight is not None and not self.in_flight.done()):
            return []
        if len(self.pending) < batch_size and time.monotonic() - self.first_buffered < window_seconds:
            return []
        batch, self.pending = self.pending[:batch_size], self.pending[batch_size:]
        self.first_buffered = time.monotonic()
        return batch


def _lane_of(record: StreamRecord, lanes: int) -> int:
    """The same item (its key attributes) always goes to the same lane, hence stays in order."""
    if lanes == 1:
        return 0
    key = json.dumps(record["dynamodb"]["Keys"], sort_keys=True, separators=(",", ":"))
    return zlib.crc32(key.encode()) % lanes


# The `condition` a pipe states in a dead-letter message.
RETRIES_EXHAUSTED = "RetryAttemptsExhausted"
RECORD_TOO_OLD = "MaximumRecordAgeExceeded"


class PipePoller(BackgroundPoller):
    """Runs one pipe on a background thread until `stop()`."""

    def __init__(
        self,
        spec: PipeSpec,
        *,
        streams_client: DynamoDBStreamsClient,
        sqs_client: SQSClient,
        stream_arn: str,
        dead_letter_queue_url: str,
        pipe_arn: str,
        invoke: Invoke,
        skip_existing: bool = False,
        writes: WriteSignal = DYNAMODB_WRITES,
    ) -> None:
        spec.validate()  # what AWS refuses at CreatePipe, the local pipe refuses too
        self.spec = spec
        self._streams = streams_client
        self._sqs = sqs_client
        self._stream_arn = stream_arn
        self._dlq_url = dead_letter_queue_url
        self._pipe_arn = pipe_arn
        self._invoke = invoke
        # Records already in the stream are not events (a restored snapshot): start after them.
        # A pipe's StartingPosition (TRIM_HORIZON, LATEST) is a shard iterator type.
        self._position: ShardIteratorTypeType = "LATEST" if skip_existing else spec.starting_position
        self._idle = threading.Event()
        self._wake = threading.Event()  # a table written or a batch done: time to read again
        self._writes = writes
        self._counts = threading.Lock()
        self.dead_lettered_batches = 0
        super().__init__(f"pipe-{spec.key}")

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """True once the poller has caught up with the stream (for tests and the demo)."""
        self._idle.clear()
        self._wake.set()  # read now rather than at the next idle poll
        return self._idle.wait(timeout)

    # --- reading the stream -------------------------------------------------------------------

    def _run(self) -> None:
        iterators = self._shard_iterators()
        LOG.info(
            "pipe started",
            extra={
                "fields": {
                    "pipe": self.spec.key,
                    "shards": len(iterators),
                    "batch_size": self.spec.batch_size,
                    "parallelization_factor": self.spec.parallelization_factor,
                }
            },
        )
        lanes = [_Lane() for _ in range(self.spec.parallelization_factor)]
        self._writes.subscribe(self._wake)
        try:
            with ThreadPoolExecutor(len(lanes), thread_name_prefix=f"pipe-{self.spec.key}-batch") as batches:
                while not self._stop.is_set():
                    read_at = time.monotonic()
                    self._wake.clear()  # what is written from now on, the next read sees
                    received = self._read(iterators, lanes)
                    dispatched = False
                    for lane in lanes:
                        batch = lane.ready(self.spec.batch_size, self.spec.maximum_batching_window_seconds)
                        if batch:
                            lane.in_flight = batches.submit(self._process_logged, batch)
                            lane.in_flight.add_done_callback(lambda _: self._wake.set())
                            dispatched = True
                    if not received and not any(lane.busy() for lane in lanes):
                        self._idle.set()
                    # Read again at once only while batches can start; otherwise once a table is
                    # written or a batch ends (or the idle poll interval): with every lane busy
                    # the backlog batches itself, and the poller does not compete with the
                    # function for the embedded AWS.
                    if not (received and dispatched):
                        self._wake.wait(IDLE_POLL_SECONDS)
                    self._stop.wait(max(0.0, read_at + MIN_READ_INTERVAL_SECONDS - time.monotonic()))
        finally:
            self._writes.unsubscribe(self._wake)

    def _read(self, iterators: dict[str, str | None], lanes: list[_Lane]) -> int:
        """One GetRecords per shard; the records the filters pass go to their item's lane."""
        received = 0
        for shard_id, iterator in list(iterators.items()):
            if iterator is None:
                continue
            try:
                page = self._streams.get_records(ShardIterator=iterator, Limit=GET_RECORDS_LIMIT)
            except Exception:
                LOG.exception("pipe %s: GetRecords failed", self.spec.key)
                break
            iterators[shard_id] = page.get("NextShardIterator")
            for raw in page.get("Records", []):
                record = wire_stream_record(raw, self._stream_arn)
                received += 1
                if self.spec.accepts(record):
                    lanes[_lane_of(record, len(lanes))].add(record)
        return received

    def _process_logged(self, batch: list[StreamRecord]) -> None:
        try:
            self._process(batch)
        except Exception:  # e.g. the dead-letter queue is gone: the pipe keeps running
            LOG.exception("pipe %s: a batch of %d record(s) could not be handled", self.spec.key, len(batch))

    def _shard_iterators(self) -> dict[str, str | None]:
        description = self._streams.describe_stream(StreamArn=self._stream_arn)["StreamDescription"]
        return {
            shard["ShardId"]: self._streams.get_shard_iterator(
                StreamArn=self._stream_arn, ShardId=shard["ShardId"], ShardIteratorType=self._position
            )["ShardIterator"]
            for shard in description["Shards"]
        }

    # --- invoking and failure handling --------------------------------------------------------------

    def _process(self, records: list[StreamRecord]) -> None:
        todo: deque[_Batch] = deque([_Batch(records)])
        while todo and not self._stop.is_set():
            batch = todo.popleft()
            fresh = self._drop_expired(batch.records)
            if not fresh:
                continue
            retry = self._attempt(fresh)
            if not retry:
                continue
            if 0 <= self.spec.maximum_retry_attempts <= batch.retries:  # -1: retried until too old
                self._dead_letter(retry.records, RETRIES_EXHAUSTED)
                continue
            time.sleep(RETRY_DELAY_SECONDS)
            todo.extendleft(reversed([_Batch(part, batch.retries + 1) for part in retry.parts]))

    def _drop_expired(self, records: list[StreamRecord]) -> list[StreamRecord]:
        max_age = self.spec.maximum_record_age_seconds
        if max_age < 0:
            return records
        now = time.time()
        expired = [r for r in records if now - r["dynamodb"]["ApproximateCreationDateTime"] > max_age]
        if expired:
            self._dead_letter(expired, RECORD_TOO_OLD)
        return [r for r in records if r not in expired]

    def _attempt(self, records: list[StreamRecord]) -> _Retry | None:
        """Invoke once; None when every record is done, else what to retry and how to split it."""
        with self._counts:
            self.invocations += 1
        try:
            response = self._invoke(records)
        except Exception:
            LOG.warning("pipe %s: function failed on a batch of %d", self.spec.key, len(records), exc_info=True)
            return _Retry(records, self._halves(records))
        failed_ids = _failed_ids(response)
        if not failed_ids:
            return None
        ids = [r["eventID"] for r in records]
        known = [i for i in failed_ids if i in ids]
        if len(known) != len(failed_ids):  # an unknown identifier fails the whole batch, as in AWS
            return _Retry(records, self._halves(records))
        rest = records[min(ids.index(i) for i in known) :]
        return _Retry(rest, [rest])

    def _halves(self, records: list[StreamRecord]) -> list[list[StreamRecord]]:
        if len(records) < 2:  # AUTOMATIC_BISECT, the one value Pipes take (PipeSpec.validate)
            return [records]
        middle = len(records) // 2
        return [records[:middle], records[middle:]]

    def _dead_letter(self, records: Sequence[StreamRecord], condition: str) -> None:
        with self._counts:
            self.dead_lettered_batches += 1
        message = dead_letter_message(
            records, condition, stream_arn=self._stream_arn, pipe_arn=self._pipe_arn, shard_id=self._shard_id()
        )
        LOG.error("pipe %s: dead-lettering %d record(s): %s", self.spec.key, len(records), condition)
        self._sqs.send_message(QueueUrl=self._dlq_url, MessageBody=json.dumps(message))

    def _shard_id(self) -> str:
        shards = self._streams.describe_stream(StreamArn=self._stream_arn)["StreamDescription"]["Shards"]
        return shards[0]["ShardId"] if shards else ""


@dataclass(frozen=True)
class _Retry:
    records: list[StreamRecord]
    parts: list[list[StreamRecord]]


def _failed_ids(response: Any) -> list[str]:
    if not isinstance(response, Mapping):
        return []
    failures = response.get("batchItemFailures") or []
    return [str(f.get("itemIdentifier")) for f in failures if isinstance(f, Mapping)]


def _iso(epoch_seconds: float) -> str:
    return datetime.fromtimestamp(epoch_seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def dead_letter_message(
    records: Sequence[StreamRecord], condition: str, *, stream_arn: str, pipe_arn: str, shard_id: str
) -> PipeDeadLetterMessage:
    """What a pipe sends its dead-letter queue for a stream source: the batch, not its records."""
    times = [r["dynamodb"]["ApproximateCreationDateTime"] for r in records]
    batch: DDBStreamBatchInfo = {
        "shardId": shard_id,
        "startSequenceNumber": records[0]["dynamodb"]["SequenceNumber"],
        "endSequenceNumber": records[-1]["dynamodb"]["SequenceNumber"],
        "approximateArrivalOfFirstRecord": _iso(min(times)),
        "approximateArrivalOfLastRecord": _iso(max(times)),
        "batchSize": len(records),
        "streamArn": stream_arn,
    }
    return {
        "context": {"partnerResourceArn": pipe_arn, "condition": condition},
        "version": "1.0",
        "timestamp": _iso(time.time()),
        "DDBStreamBatchInfo": batch,
    }
