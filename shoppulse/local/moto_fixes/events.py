"""EventBridge: fix 7, delivery to the project's bus.

moto's EventBridge raises NotImplementedError for Step Functions targets, so nothing starts the
workflow, and a failing target stops delivery to the others. Its pattern matcher is approximate,
and S3 events go to rules on every bus with a numeric `time` and a fixed `id`. Events are
matched with the project's matcher and delivered by `LocalEventBus` (one target at a time,
retries, target DLQ) in AWS's shape.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from shoppulse.local.moto_fixes.patching import HOOKS, replace, utc_now

LOG = logging.getLogger(__name__)

# moto's S3 notifications to EventBridge all carry this id (moto/events/notifications.py).
MOTO_S3_EVENT_ID = "17793124-05d4-b198-2fde-7ededc63b103"


def apply() -> None:
    _fix_eventbridge_delivery()


def _fix_eventbridge_delivery() -> None:
    from moto.events.models import Rule

    original_send_to_targets: Any = Rule.send_to_targets

    def send_to_targets(self: Any, original_event: dict[str, Any], transform_input: bool = True) -> None:
        delivery = HOOKS.events
        if delivery is None:
            original_send_to_targets(self, original_event, transform_input)
            return None
        event = aws_event(original_event)
        if event.get("source") == "aws.s3" and self.event_bus_name != "default":
            return None  # S3 sends to the default bus only
        if self.state != "ENABLED" or not delivery.matches(self.event_pattern._raw_pattern or "{}", event):
            return None
        for target in self.targets:
            try:
                if not delivery.deliver(self.arn, target, event):
                    single = _RuleView(self, target)
                    original_send_to_targets(single, event, transform_input)
            except Exception:  # one target's failure never stops the others
                LOG.exception("event delivery to %s failed", target.get("Arn"))
        return None

    replace(Rule, "send_to_targets", send_to_targets)


class _RuleView:
    """A rule seen with one target and a pattern already matched, for moto's own delivery."""

    def __init__(self, rule: Any, target: Mapping[str, Any]) -> None:
        self._rule = rule
        self.targets = [target]
        self.event_pattern = _AlwaysMatches()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._rule, name)


class _AlwaysMatches:
    def matches_event(self, event: Any) -> bool:
        return True


def aws_event(event: Mapping[str, Any]) -> dict[str, Any]:
    """An event as EventBridge delivers it: a unique id and an ISO-8601 `time`."""
    fixed: dict[str, Any] = json.loads(json.dumps(event, default=str))
    if fixed.get("id") in (None, "", MOTO_S3_EVENT_ID):
        fixed["id"] = str(uuid.uuid4())
    when = fixed.get("time")
    if isinstance(when, (int, float)) or (isinstance(when, str) and _is_number(when)):
        fixed["time"] = datetime.fromtimestamp(float(when), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    elif not when:
        fixed["time"] = utc_now().strftime("%Y-%m-%dT%H:%M:%SZ")
    return fixed


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
