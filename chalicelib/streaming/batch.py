"""A pipe's batch of stream records, processed record by record with partial-failure reporting.

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


def _as_record(raw: Any) -> Mapping[str, Any]:
    return raw if isinstance(raw, Mapping) else {"value": raw}


class StreamBatchProcessor:
    def __init__(
        self, pipe: PipeSpec, handle: RecordHandler, failures: FailureRepository, alerts: FailureAlerts
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
        for raw in records:
            record = _as_record(raw)
            report.add(str(record.get("eventID") or ""), self._process_one(record))
        counts = Counter(dict.fromkeys(Outcome, 0))
        counts.update(outcome for _, outcome in report.outcomes)
        summary = {outcome.value: n for outcome, n in counts.items()}
        logger.info("batch processed", extra={"pipe": self.pipe.key, "records": len(records), "outcomes": summary})
        publish_counts(
            self.pipe.function_name,
            {"Records": len(records), **{f"Records{o.name.title()}": n for o, n in counts.items()}},
        )
        return report

    def _process_one(self, record: Mapping[str, Any]) -> Outcome:
        try:
            change = parse_record(record)
        except InvalidOrderEvent as err:
            return self._reject(record, str(err))
        try:
            outcome = self._handle(change)
        except InvalidOrderEvent as err:
            return self._reject(record, str(err))
        except Exception as err:  # noqa: BLE001 - whatever the cause, only this record fails and is retried
            logger.exception(
                "record failed", extra={"pipe": self.pipe.key, "event_id": change.event_id, "order_id": change.order_id}
            )
            self._note_attempt(record, f"{type(err).__name__}: {err}")
            return Outcome.FAILED
        logger.debug(
            "record handled",
            extra={
                "pipe": self.pipe.key,
                "event_id": change.event_id,
                "order_id": change.order_id,
                "outcome": outcome.value,
            },
        )
        return outcome

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
