"""EventBridge: an object created under `incoming/` in the input bucket starts the workflow.

The target retries for a day (EventBridge's maximum) and then dead-letters the event, so no
file is ever silently left unprocessed: the dead-letter queue has an alarm, and a dead-lettered
event can be replayed by re-copying the object onto itself (a new version, a new run).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import awacs.sqs as sqs
import awacs.states as states
from awacs.aws import Allow, ArnEquals, Condition, Principal, Statement
from troposphere import GetAtt, Ref
from troposphere.events import DeadLetterConfig, RetryPolicy, Rule, Target
from troposphere.iam import Policy, Role
from troposphere.sqs import Queue
from troposphere.stepfunctions import StateMachine

from chalicelib.storage_layout import INCOMING_PREFIX
from infra.context import Stack, allow, assume_role_policy, policy
from infra.messaging import EVENTS_DLQ, Messaging, add_queue_policy
from infra.storage import Storage
from infra.workflow import Workflow

RULE_LOGICAL_ID = "WorkflowTriggerRule"
MAXIMUM_EVENT_AGE_SECONDS = 24 * 3600
MAXIMUM_RETRY_ATTEMPTS = 185


def object_created_pattern(bucket_name: object) -> dict[str, Any]:
    """The rule's event pattern (the local runtime filters the same way)."""
    return {
        "source": ["aws.s3"],
        "detail-type": ["Object Created"],
        "detail": {"bucket": {"name": [bucket_name]}, "object": {"key": [{"prefix": INCOMING_PREFIX}]}},
    }


@dataclass(frozen=True)
class Trigger:
    """A rule that starts a state machine, and the role EventBridge starts it as."""

    rule: Rule
    role: Role


def start_execution_rule(
    stack: Stack,
    machine: StateMachine,
    *,
    rule_id: str,
    role_id: str,
    name: str,
    description: str,
    event_pattern: dict[str, Any],
    target_id: str,
    starts: str,
    outputs: tuple[str, str],
    dead_letters: Queue | None = None,
) -> Trigger:
    """A rule on `event_pattern` whose one target starts `machine` (policy `start-<starts>`), retried
    for EventBridge's maximum; `outputs` describe the role's and the rule's stack outputs."""
    role = Role(
        role_id,
        AssumeRolePolicyDocument=assume_role_policy("events"),
        Policies=[
            Policy(
                PolicyName=f"start-{starts}",
                PolicyDocument=policy(
                    [allow([states.StartExecution], [Ref(machine)], sid="Start" + starts.title().replace("-", ""))]
                ),
            )
        ],
        Tags=stack.tags("events"),
    )
    stack.add(role, outputs[0], "Arn")
    target: dict[str, Any] = {
        "Id": target_id,
        "Arn": Ref(machine),
        "RoleArn": GetAtt(role, "Arn"),
        "RetryPolicy": RetryPolicy(
            MaximumEventAgeInSeconds=MAXIMUM_EVENT_AGE_SECONDS, MaximumRetryAttempts=MAXIMUM_RETRY_ATTEMPTS
        ),
    }
    if dead_letters is not None:
        target["DeadLetterConfig"] = DeadLetterConfig(Arn=GetAtt(dead_letters, "Arn"))
    rule = Rule(
        rule_id,
        Name=stack.name(name),
        Description=description,
        EventPattern=event_pattern,
        State="ENABLED",
        Targets=[Target(**target)],
    )
    stack.add(rule, outputs[1], "Arn")
    return Trigger(rule, role)


def build(stack: Stack, storage: Storage, workflow: Workflow, messaging: Messaging) -> Trigger:
    dead_letters = messaging.queues[EVENTS_DLQ]
    trigger = start_execution_rule(
        stack,
        workflow.state_machine,
        rule_id=RULE_LOGICAL_ID,
        role_id="WorkflowTriggerRole",
        name="file-landed",
        description="Object Created under incoming/ in the input bucket: start the batch workflow",
        event_pattern=object_created_pattern(Ref(storage.input_bucket)),
        target_id="batch-workflow",
        starts="workflow",
        outputs=("Role EventBridge uses to start the workflow", "EventBridge rule starting the workflow"),
        dead_letters=dead_letters,
    )
    add_queue_policy(
        stack,
        dead_letters,
        [
            Statement(
                Sid="EventBridgeDeadLetters",
                Effect=Allow,
                Principal=Principal("Service", ["events.amazonaws.com"]),
                Action=[sqs.SendMessage],
                Resource=[GetAtt(dead_letters, "Arn")],
                Condition=Condition(ArnEquals({"aws:SourceArn": GetAtt(trigger.rule, "Arn")})),
            )
        ],
    )
    return trigger
