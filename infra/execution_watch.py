"""No run stays RUNNING: executions of the workflow that end without recording their run.

A timed-out or aborted execution never reaches the workflow's failure path. Step Functions
announces every execution's end on the default bus ("Step Functions Execution Status Change",
https://docs.aws.amazon.com/eventbridge/latest/ref/events-ref-states.html); a rule on the
workflow's FAILED, TIMED_OUT and ABORTED executions starts the run closer
(`infra.state_machine.build_closer_definition`), which closes the run FAILED if it is still
RUNNING and alerts. The local runtime provisions the same rule and machine from this template.
"""

from __future__ import annotations

from dataclasses import dataclass

import awacs.dynamodb as ddb
import awacs.sns as sns
from troposphere import Ref
from troposphere.events import Rule
from troposphere.iam import Policy, Role
from troposphere.stepfunctions import StateMachine

from chalicelib.messaging import ALERTS_TOPIC
from chalicelib.tables import RUNS
from infra.context import Stack, allow, assume_role_policy, policy
from infra.encryption import Encryption
from infra.events import start_execution_rule
from infra.messaging import Messaging
from infra.state_machine import CloserConfig, build_closer_definition, execution_status_pattern
from infra.tables import Tables
from infra.workflow import Workflow, execution_log_group, logged_state_machine, logging_and_tracing_statements

RULE_LOGICAL_ID = "WorkflowExecutionEndedRule"
CLOSER_LOGICAL_ID = "RunCloser"


def placeholder_config() -> CloserConfig:
    """The closer's parameters as CloudFormation placeholders (`DefinitionSubstitutions`)."""
    return CloserConfig(runs_table="${RunsTable}", alerts_topic_arn="${AlertsTopic}")


@dataclass(frozen=True)
class ExecutionWatch:
    closer: StateMachine
    rule: Rule


def build(
    stack: Stack, workflow: Workflow, tables: Tables, messaging: Messaging, encryption: Encryption
) -> ExecutionWatch:
    alerts = Ref(messaging.topic(ALERTS_TOPIC))
    closer_role = Role(
        "RunCloserRole",
        AssumeRolePolicyDocument=assume_role_policy("states"),
        Policies=[
            Policy(
                PolicyName="close-runs",
                PolicyDocument=policy(
                    [
                        allow([ddb.UpdateItem], [tables.arn(RUNS)], sid="CloseRuns"),
                        allow([sns.Publish], [alerts], sid="Alerts"),
                        encryption.data_statement(),
                        *logging_and_tracing_statements(),
                    ]
                ),
            )
        ],
        Tags=stack.tags("workflow"),
    )
    stack.add(closer_role, "Role of the run closer", "Arn")
    closer = logged_state_machine(
        stack,
        CLOSER_LOGICAL_ID,
        "run-closer",
        closer_role,
        build_closer_definition(placeholder_config()),
        {"RunsTable": Ref(tables[RUNS]), "AlertsTopic": alerts},
        execution_log_group(stack, CLOSER_LOGICAL_ID, "run-closer", encryption),
        encryption,
        "ARN of the run closer (closes runs whose execution ended without recording them)",
    )
    trigger = start_execution_rule(
        stack,
        closer,
        rule_id=RULE_LOGICAL_ID,
        role_id="RunCloserTriggerRole",
        name="workflow-execution-ended",
        description="A batch workflow execution ended FAILED, TIMED_OUT or ABORTED: close its run if still RUNNING",
        event_pattern=execution_status_pattern(Ref(workflow.state_machine)),
        target_id="run-closer",
        starts="run-closer",
        outputs=(
            "Role EventBridge uses to start the run closer",
            "EventBridge rule on the workflow's ended executions",
        ),
    )
    return ExecutionWatch(closer, trigger.rule)
