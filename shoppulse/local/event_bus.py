"""Local EventBridge delivery to Step Functions: the S3 -> rule -> state machine link.

moto's S3 emits the "Object Created" events and moto's rules hold the pattern and targets
(created from infra's definitions); `moto_fixes` hands each event to `LocalEventBus`, which
matches the rule's own pattern with the project's matcher (event-bus semantics) and starts
the target state machine as EventBridge does: asynchronously, target by target, with the
target's retry policy, and to the target's dead-letter queue when delivery keeps failing.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any, cast

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.event_patterns import CompiledPattern, Mode, compile_pattern

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_stepfunctions import SFNClient

LOG = logging.getLogger(__name__)

# EventBridge's defaults when a target sets no RetryPolicy.
DEFAULT_MAX_ATTEMPTS = 185
DEFAULT_MAX_EVENT_AGE_SECONDS = 86400
_BACKOFF_SECONDS = (0.2, 0.5, 1.0, 2.0)


@lru_cache(maxsize=256)
def _compiled(pattern_text: str) -> CompiledPattern:
    return compile_pattern(pattern_text, Mode.EVENT_BUS)


@dataclass(frozen=True)
class _Delivery:
    rule_arn: str
    target: Mapping[str, Any]
    event: Mapping[str, Any]
    received: float


class LocalEventBus:
    """Delivers matched events to state-machine targets on a background thread."""

    def __init__(self, sfn_for_role: Callable[[str], SFNClient], sqs_client: SQSClient) -> None:
        self._sfn_for_role = sfn_for_role
        self._sqs = sqs_client
        self._queue: queue.Queue[_Delivery | None] = queue.Queue()
        self._thread = threading.Thread(target=self._work, name="local-event-bus", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=5)

    def matches(self, pattern_text: str, event: Mapping[str, Any]) -> bool:
        return _compiled(pattern_text).matches(dict(event))

    def deliver(self, rule_arn: str, target: Mapping[str, Any], event: Mapping[str, Any]) -> bool:
        if ":states:" not in target.get("Arn", ""):
            return False
        self._queue.put(_Delivery(rule_arn, dict(target), dict(event), time.monotonic()))
        return True

    def _work(self) -> None:
        while (delivery := self._queue.get()) is not None:
            try:
                self._deliver(delivery)
            except Exception:  # never let one event kill the bus
                LOG.exception("event delivery crashed")

    def _deliver(self, delivery: _Delivery) -> None:
        policy = delivery.target.get("RetryPolicy") or {}
        attempts = 1 + int(policy.get("MaximumRetryAttempts", DEFAULT_MAX_ATTEMPTS))
        max_age = float(policy.get("MaximumEventAgeInSeconds", DEFAULT_MAX_EVENT_AGE_SECONDS))
        error: Exception | None = None
        for attempt in range(attempts):
            if time.monotonic() - delivery.received > max_age:
                break
            try:
                self._sfn_for_role(delivery.target.get("RoleArn", "")).start_execution(
                    stateMachineArn=delivery.target["Arn"],
                    input=json.dumps(target_input(delivery.target, delivery.event)),
                )
            except (ClientError, BotoCoreError, KeyError) as err:  # KeyError: a role the stack has not
                error = err
                LOG.warning("starting %s failed (attempt %d): %s", delivery.target["Arn"], attempt + 1, err)
                time.sleep(_BACKOFF_SECONDS[min(attempt, len(_BACKOFF_SECONDS) - 1)])
                continue
            return
        self._dead_letter(delivery, error)

    def _dead_letter(self, delivery: _Delivery, error: Exception | None) -> None:
        queue_arn = (delivery.target.get("DeadLetterConfig") or {}).get("Arn")
        LOG.error("event %s not delivered to %s: %s", delivery.event.get("id"), delivery.target["Arn"], error)
        if not queue_arn:
            return
        code, message = _error_parts(error)
        url = self._sqs.get_queue_url(QueueName=queue_arn.rsplit(":", 1)[-1])["QueueUrl"]
        # The attributes EventBridge sets on a dead-lettered event.
        attributes = {
            "RULE_ARN": delivery.rule_arn,
            "TARGET_ARN": delivery.target["Arn"],
            "ERROR_CODE": code,
            "ERROR_MESSAGE": message,
        }
        self._sqs.send_message(
            QueueUrl=url,
            MessageBody=json.dumps(delivery.event),
            MessageAttributes={k: {"DataType": "String", "StringValue": v} for k, v in attributes.items()},
        )


def _error_parts(error: Exception | None) -> tuple[str, str]:
    if isinstance(error, ClientError):
        details = error.response.get("Error", {})
        return details.get("Code", "SDKClientException"), details.get("Message", str(error))
    if error is None:
        return "RetryAttemptsExhausted", "Maximum event age or retry attempts reached"
    return "SDKClientException", str(error)


def target_input(target: Mapping[str, Any], event: Mapping[str, Any]) -> Any:
    """What the target receives: the event, a constant (Input), a part (InputPath) or a template."""
    if target.get("Input"):
        return json.loads(target["Input"])
    if target.get("InputPath"):
        return _select(event, target["InputPath"])
    transformer = target.get("InputTransformer")
    if transformer:
        from moto.events.utils import EventMessageType, EventTemplateParser

        return EventTemplateParser.parse(
            input_template=transformer.get("InputTemplate"),
            input_paths_map=transformer.get("InputPathsMap", {}),
            event=cast("EventMessageType", {**event, "ingestion-time": event.get("time")}),
        )
    return dict(event)


def _select(event: Mapping[str, Any], path: str) -> Any:
    """A simple `$.a.b` JSONPath (what InputPath allows)."""
    value: Any = event
    for part in [p for p in path.lstrip("$").split(".") if p]:
        value = value.get(part) if isinstance(value, Mapping) else None
    return value
