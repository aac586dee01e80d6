"""A pipe's batch of stream records, with one outcome per record and partial-failure reporting.

Pipes invoke the function with a JSON list of records and read back
{"batchItemFailures": [{"itemIdentifier": <eventID>}]}: only those records (and, for a stream,
the ones after the first of them) are retried, so one bad record never replays its batch.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypedDict

from chalicelib.orders.events import OrderChange, parse_record
from chalicelib.orders.exceptions import InvalidOrderEvent
from chalicelib.pipes import PipeSpec
from chalicelib.streaming.failures import FailureAlerts, FailureRepository
from chalicelib.streaming.outcomes import Outcome
from chalicelib.streaming.telemetry import logger, publish_counts

RecordHandler = Callable[[OrderChange], Outcome]
# A whole batch's work, one answer per change in order: its outcome, or the error that failed
# it (InvalidOrderEvent: rejected). Errors are per record, so one bad record fails alone.
BatchHandler = Callable[[Sequence[OrderChange]], list[Outcome | Exception]]


def each_record(handle: RecordHandler) -> BatchHandler:
    """A per-record handler (one effect per call) as a batch handler."""

    def handle_all(changes: Sequence[OrderChange]) -> list[Outcome | Exception]:
        results: list[Outcome | Exception] = []
        for change in changes:
            try:
                results.append(handle(change))
            except Exception as err:  # noqa: BLE001 - whatever the cause, only this record fails
                results.append(err)
        return results

    return handle_all


class BatchItemFailure(TypedDict):
    itemIdentifier: str


class BatchResponse(TypedDict):
    batchItemFailures: list[BatchItemFailure]


@dataclass
class BatchReport:
    """Each record's outcome, in order (by eventID; "" for a record without one)."""

    outcomes: list[tuple[str, Outcome]] = field(default_factory=list)

    def add(self, event_id: str, outcome: Outcome) -> None:
        self.outcomes.append((event_id, outcome))

    def having(self, *wanted: Outcome) -> list[str]:
        return [event_id for event_id, outcome in self.outcomes if outcome in wanted]

    @property
    def response(self) -> BatchResponse:
        # An empty identifier (a record without eventID) makes the pipe retry the whole batch:
        # the only safe answer when the record cannot be named.
        return BatchResponse(
            batchItemFailures=[BatchItemFailure(itemIdentifier=i) for i in self.having(Outcome.FAILED)]
        )


def _as_record(raw: object) -> Mapping[str, Any]:
    """A pipe record as sent; anything else (not a JSON object) kept as `value`, for its rejection."""
    return raw if isinstance(raw, Mapping) else {"value": raw}


class StreamBatchProcessor:
    def __init__(
        self, pipe: PipeSpec, handle: BatchHandler, failures: FailureRepository, alerts: FailureAlerts
    ) -> None:
        self.pipe = pipe
        self._handle = handle
        self._failures = failures
        self._alerts = alerts

    def process(self, records: Sequence[Any]) -> BatchResponse:
        """The pipe's contract: the records to retry, by eventID."""
        return self.run(records).response

    def run(self, records: Sequence[Any]) -> BatchReport:
        if not isinstance(records, list):
            raise TypeError(f"a pipe sends a JSON list of stream records, not {type(records).__name__}")
        report = BatchReport()
        readable: list[tuple[int, Mapping[str, Any], OrderChange]] = []
        settled: dict[int, Outcome] = {}
        wire = [_as_record(raw) for raw in records]
        for position, record in enumerate(wire):
            try:
                readable.append((position, record, parse_record(record)))
            except InvalidOrderEvent as err:
                settled[position] = self._reject(record, str(err))
        results = self._handle([change for _, _, change in readable])
        for (position, record, change), result in zip(readable, results, strict=True):
            settled[position] = self._settle(record, change, result)
        for position, record in enumerate(wire):
            report.add(str(record.get("eventID") or ""), settled[position])
        counts = Counter(dict.fromkeys(Outcome, 0))
        counts.update(outcome for _, outcome in report.outcomes)
        summary = {outcome.value: n for outcome, n in counts.items()}
        logger.info("batch processed", extra={"pipe": self.pipe.key, "records": len(records), "outcomes": summary})
        publish_counts(
            self.pipe.function_name,
            {"Records": len(records), **{f"Records{o.name.title()}": n for o, n in counts.items()}},
        )
        return report

    def _settle(self, record: Mapping[str, Any], change: OrderChange, result: Outcome | Exception) -> Outcome:
        if isinstance(result, InvalidOrderEvent):
            return self._reject(record, str(result))
        if isinstance(result, Exception):  # whatever the cause, only this record fails and is retried
            logger.error(
                "record failed",
                exc_info=result,
                extra={"pipe": self.pipe.key, "event_id": change.event_id, "order_id": change.order_id},
            )
            self._note_attempt(record, f"{type(result).__name__}: {result}")
            return Outcome.FAILED
        logger.debug(
            "record handled",
            extra={
                "pipe": self.pipe.key,
                "event_id": change.event_id,
                "order_id": change.order_id,
                "outcome": result.value,
            },
        )
        return result

    def _reject(self, record: Mapping[str, Any], reason: str) -> Outcome:
        """Unreadable data: retrying cannot help, so keep it with its reason and alert once."""
        logger.warning(
            "record rejected", extra={"pipe": self.pipe.key, "event_id": record.get("eventID"), "reason": reason}
        )
        try:
            item, _ = self._failures.record_rejected(self.pipe.key, record, reason)
            self._alerts.send(item)
        except Exception:  # noqa: BLE001 - not kept yet: let the pipe retry, then dead-letter it
            logger.exception(
                "could not keep a rejected record", extra={"pipe": self.pipe.key, "event_id": record.get("eventID")}
            )
            return Outcome.FAILED
        return Outcome.REJECTED

    def _note_attempt(self, record: Mapping[str, Any], reason: str) -> None:
        """Keep the failing record (best effort): redrive can use it once the stream drops it."""
        try:
            self._failures.record_attempt(self.pipe.key, record, reason)
        except Exception:  # noqa: BLE001 - the record is reported failed either way
            logger.exception(
                "could not record a failed attempt", extra={"pipe": self.pipe.key, "event_id": record.get("eventID")}
            )
