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
    rule: Rule
    role: Role


def build(stack: Stack, storage: Storage, workflow: Workflow, messaging: Messaging) -> Trigger:
    machine = workflow.state_machine
    role = Role(
        "WorkflowTriggerRole",
        AssumeRolePolicyDocument=assume_role_policy("events"),
        Policies=[
            Policy(
                PolicyName="start-workflow",
                PolicyDocument=policy([allow([states.StartExecution], [Ref(machine)], sid="StartWorkflow")]),
            )
        ],
        Tags=stack.tags("events"),
    )
    stack.add(role, "Role EventBridge uses to start the workflow", "Arn")
    dead_letters = messaging.queues[EVENTS_DLQ]
    rule = Rule(
        RULE_LOGICAL_ID,
        Name=stack.name("file-landed"),
        Description="Object Created under incoming/ in the input bucket: start the batch workflow",
        EventPattern=object_created_pattern(Ref(storage.input_bucket)),
        State="ENABLED",
        Targets=[
            Target(
                Id="batch-workflow",
                Arn=Ref(machine),
                RoleArn=GetAtt(role, "Arn"),
                RetryPolicy=RetryPolicy(
                    MaximumEventAgeInSeconds=MAXIMUM_EVENT_AGE_SECONDS, MaximumRetryAttempts=MAXIMUM_RETRY_ATTEMPTS
                ),
                DeadLetterConfig=DeadLetterConfig(Arn=GetAtt(dead_letters, "Arn")),
            )
        ],
    )
    stack.add(rule, "EventBridge rule starting the workflow", "Arn")
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
                Condition=Condition(ArnEquals({"aws:SourceArn": GetAtt(rule, "Arn")})),
            )
        ],
    )
    return Trigger(rule, role)
