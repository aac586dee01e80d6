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
import awacs.states as states
from troposphere import GetAtt, Ref
from troposphere.events import RetryPolicy, Rule, Target
from troposphere.iam import Policy, Role
from troposphere.stepfunctions import EncryptionConfiguration, StateMachine, TracingConfiguration

from chalicelib.messaging import ALERTS_TOPIC
from chalicelib.tables import RUNS
from infra.context import Stack, allow, assume_role_policy, policy
from infra.encryption import Encryption, log_group
from infra.events import MAXIMUM_EVENT_AGE_SECONDS, MAXIMUM_RETRY_ATTEMPTS
from infra.messaging import Messaging
from infra.state_machine import CloserConfig, build_closer_definition, execution_status_pattern
from infra.tables import Tables
from infra.workflow import Workflow, execution_logging, logging_and_tracing_statements

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
    logs_group = log_group(
        stack,
        "RunCloserLogGroup",
        f"/aws/vendedlogs/states/{stack.name('run-closer')}",
        encryption,
        "Log group of the run closer's executions",
    )
    closer = StateMachine(
        CLOSER_LOGICAL_ID,
        StateMachineName=stack.name("run-closer"),
        StateMachineType="STANDARD",
        RoleArn=GetAtt(closer_role, "Arn"),
        Definition=build_closer_definition(placeholder_config()),
        DefinitionSubstitutions={"RunsTable": Ref(tables[RUNS]), "AlertsTopic": alerts},
        LoggingConfiguration=execution_logging(logs_group),
        TracingConfiguration=TracingConfiguration(Enabled=True),
        EncryptionConfiguration=EncryptionConfiguration(
            Type="CUSTOMER_MANAGED_KMS_KEY", KmsKeyId=encryption.key_arn, KmsDataKeyReusePeriodSeconds=300
        ),
        Tags=stack.tags("workflow"),
    )
    stack.add(closer, "ARN of the run closer (closes runs whose execution ended without recording them)")
    trigger_role = Role(
        "RunCloserTriggerRole",
        AssumeRolePolicyDocument=assume_role_policy("events"),
        Policies=[
            Policy(
                PolicyName="start-run-closer",
                PolicyDocument=policy([allow([states.StartExecution], [Ref(closer)], sid="StartRunCloser")]),
            )
        ],
        Tags=stack.tags("events"),
    )
    stack.add(trigger_role, "Role EventBridge uses to start the run closer", "Arn")
    rule = Rule(
        RULE_LOGICAL_ID,
        Name=stack.name("workflow-execution-ended"),
        Description="A batch workflow execution ended FAILED, TIMED_OUT or ABORTED: close its run if still RUNNING",
        EventPattern=execution_status_pattern(Ref(workflow.state_machine)),
        State="ENABLED",
        Targets=[
            Target(
                Id="run-closer",
                Arn=Ref(closer),
                RoleArn=GetAtt(trigger_role, "Arn"),
                RetryPolicy=RetryPolicy(
                    MaximumEventAgeInSeconds=MAXIMUM_EVENT_AGE_SECONDS, MaximumRetryAttempts=MAXIMUM_RETRY_ATTEMPTS
                ),
            )
        ],
    )
    stack.add(rule, "EventBridge rule on the workflow's ended executions", "Arn")
    return ExecutionWatch(closer, rule)
