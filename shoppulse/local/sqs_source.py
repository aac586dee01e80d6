"""An SQS event source mapping: polls a queue and invokes a function with Lambda's SQS event.

Used for the pipes' dead-letter queues. Semantics of a mapping with
`ReportBatchItemFailures`: messages the function reports in `batchItemFailures` stay in the
queue (visible again after the visibility timeout), the others are deleted; if the function
raises, the whole batch stays.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from shoppulse.local.polling import BackgroundPoller

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import MessageTypeDef

LOG = logging.getLogger(__name__)

Invoke = Callable[[Mapping[str, Any]], Any]


class SqsEventSource(BackgroundPoller):
    def __init__(
        self,
        *,
        sqs_client: SQSClient,
        queue_url: str,
        queue_arn: str,
        region: str,
        invoke: Invoke,
        batch_size: int = 10,
        wait_seconds: int = 1,
    ) -> None:
        self._sqs = sqs_client
        self._url = queue_url
        self._arn = queue_arn
        self._region = region
        self._invoke = invoke
        self._batch_size = batch_size
        self._wait = wait_seconds
        self.join_timeout_seconds = wait_seconds + 5.0
        super().__init__(f"sqs-{queue_arn.rsplit(':', 1)[-1]}")

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                messages = self._sqs.receive_message(
                    QueueUrl=self._url,
                    MaxNumberOfMessages=self._batch_size,
                    WaitTimeSeconds=self._wait,
                    AttributeNames=["All"],
                    MessageAttributeNames=["All"],
                ).get("Messages", [])
            except Exception:
                if not self._stop.is_set():
                    LOG.exception("receiving from %s failed", self._arn)
                    self._stop.wait(1)
                continue
            if messages:
                self._handle(messages)

    def _handle(self, messages: list[MessageTypeDef]) -> None:
        self.invocations += 1
        try:
            response = self._invoke({"Records": [self._record(m) for m in messages]})
        except Exception:
            LOG.exception("function failed on %d message(s) from %s; they stay in the queue", len(messages), self._arn)
            return
        failed = {
            f.get("itemIdentifier") for f in (response or {}).get("batchItemFailures", []) if isinstance(f, Mapping)
        }
        done = [m for m in messages if m["MessageId"] not in failed]
        for start in range(0, len(done), 10):
            self._sqs.delete_message_batch(
                QueueUrl=self._url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done[start : start + 10])
                ],
            )

    def _record(self, message: MessageTypeDef) -> dict[str, Any]:
        """One record of Lambda's SQS event."""
        attributes: dict[str, dict[str, Any]] = {
            name: {
                "stringValue": value.get("StringValue"),
                "binaryValue": value.get("BinaryValue"),
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": value.get("DataType"),
            }
            for name, value in (message.get("MessageAttributes") or {}).items()
        }
        return {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": dict(message.get("Attributes") or {}),
            "messageAttributes": attributes,
            "md5OfBody": message.get("MD5OfBody") or hashlib.md5(message["Body"].encode()).hexdigest(),
            "eventSource": "aws:sqs",
            "eventSourceARN": self._arn,
            "awsRegion": self._region,
        }
