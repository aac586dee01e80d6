"""The pipes' dead-letter queues: each message recorded (queryable) and alerted, once.

For a DynamoDB stream source a dead-letter message names a batch (stream, shard, sequence
range), never its records; `shoppulse redrive` turns it back into records.
"""

from __future__ import annotations

from collections.abc import Iterable

from chalicelib.pipes import PipeSpec
from chalicelib.streaming.batch import BatchItemFailure, BatchResponse
from chalicelib.streaming.failures import FailureAlerts, FailureRepository
from chalicelib.streaming.telemetry import logger, publish_counts


class DeadLetterHandler:
    def __init__(self, failures: FailureRepository, alerts: FailureAlerts) -> None:
        self._failures = failures
        self._alerts = alerts

    def handle(self, pipe: PipeSpec, messages: Iterable[tuple[str, str]]) -> BatchResponse:
        """(messageId, body) pairs; failed ones are returned so that only they come back."""
        failed: list[BatchItemFailure] = []
        recorded = 0
        for message_id, body in messages:
            try:
                item, created = self._failures.record_dead_letter(pipe.key, message_id, body)
                self._alerts.send(item)
            except Exception:  # noqa: BLE001 - this message stays in the queue and is retried
                logger.exception("dead letter not recorded", extra={"pipe": pipe.key, "message_id": message_id})
                failed.append(BatchItemFailure(itemIdentifier=message_id))
                continue
            recorded += 1
            logger.error(
                "order events dead-lettered",
                extra={
                    "pipe": pipe.key,
                    "failure_id": item["failure_id"],
                    "kind": item["kind"],
                    "first_delivery": created,
                    "shard_id": item.get("shard_id"),
                    "start_sequence_number": item.get("start_sequence_number"),
                    "end_sequence_number": item.get("end_sequence_number"),
                    "batch_size": item.get("batch_size"),
                },
            )
        publish_counts(
            pipe.dead_letter_function_name, {"DeadLettersRecorded": recorded, "DeadLettersFailed": len(failed)}
        )
        return BatchResponse(batchItemFailures=failed)
