"""The Step Functions state machine (definition from `infra.state_machine`), its role and logs.

The definition is rendered with `${Name}` placeholders that CloudFormation resolves through
`DefinitionSubstitutions` (textual substitution in the definition): the same Python function
builds the local runtime's definition with concrete names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import awacs.dynamodb as ddb
import awacs.ecs as ecs_actions
import awacs.events as events
import awacs.iam as iam
import awacs.logs as logs
import awacs.s3 as s3
import awacs.sns as sns
import awacs.xray as xray
from awacs.aws import Condition, StringEquals
from troposphere import GetAtt, Ref
from troposphere.iam import Policy, Role
from troposphere.logs import LogGroup
from troposphere.stepfunctions import (
    CloudWatchLogsLogGroup,
    EncryptionConfiguration,
    LogDestination,
    LoggingConfiguration,
    StateMachine,
    TracingConfiguration,
)

from chalicelib.messaging import ALERTS_TOPIC
from chalicelib.runs import Task
from chalicelib.storage_layout import ARCHIVE_PREFIX, INCOMING_PREFIX, REJECTED_PREFIX
from chalicelib.tables import RUNS
from infra.context import Stack, allow, arn, assume_role_policy, policy
from infra.ecs import TASK_TIMEOUT_SECONDS, Ecs, task_arn_pattern
from infra.encryption import Encryption, log_group
from infra.messaging import Messaging
from infra.state_machine import EcsTask, WorkflowConfig, build_definition
from infra.storage import Storage, bucket_access
from infra.tables import Tables

# The rule Step Functions manages to learn when an ECS task it started stops (`.sync`).
ECS_SYNC_RULE = "rule/StepFunctionsGetEventsForECSTaskRule"


def placeholder_config() -> WorkflowConfig:
    """The workflow's parameters as CloudFormation placeholders (see `substitutions`)."""
    return WorkflowConfig(
        runs_table="${RunsTable}",
        cluster="${Cluster}",
        validation=EcsTask("${ValidationTaskDefinition}", Task.VALIDATION.value, TASK_TIMEOUT_SECONDS[Task.VALIDATION]),
        transformation=EcsTask(
            "${TransformationTaskDefinition}", Task.TRANSFORMATION.value, TASK_TIMEOUT_SECONDS[Task.TRANSFORMATION]
        ),
        alerts_topic_arn="${AlertsTopic}",
        # One placeholder for the whole list: its value is the subnet ids joined by '","'.
        subnets=["${Subnets}"],
        security_groups=["${SecurityGroup}"],
        assign_public_ip="${AssignPublicIp}",
    )


@dataclass(frozen=True)
class Workflow:
    state_machine: StateMachine
    role: Role
    log_group: LogGroup


def logging_and_tracing_statements() -> list[Any]:
    """What a state machine logging its executions and traced by X-Ray needs."""
    # Log delivery and X-Ray have no resource-level permissions: "*" is the documented form.
    return [
        allow(
            [
                logs.CreateLogDelivery,
                logs.GetLogDelivery,
                logs.UpdateLogDelivery,
                logs.DeleteLogDelivery,
                logs.ListLogDeliveries,
                logs.PutResourcePolicy,
                logs.DescribeResourcePolicies,
                logs.DescribeLogGroups,
            ],
            ["*"],
            sid="DeliverExecutionLogs",
        ),
        allow(
            [xray.PutTraceSegments, xray.PutTelemetryRecords, xray.GetSamplingRules, xray.GetSamplingTargets],
            ["*"],
            sid="Tracing",
        ),
    ]


def execution_log_group(stack: Stack, machine_id: str, name: str, encryption: Encryption) -> LogGroup:
    """The log group of a state machine's executions (`<machine_id>LogGroup`), named after `name`."""
    # Step Functions log groups under /aws/vendedlogs/ avoid the resource-policy size limit.
    return log_group(
        stack,
        f"{machine_id}LogGroup",
        f"/aws/vendedlogs/states/{stack.name(name)}",
        encryption,
        f"Log group of the {name.replace('-', ' ')}'s executions",
    )


def logged_state_machine(
    stack: Stack,
    machine_id: str,
    name: str,
    role: Role,
    definition: dict[str, Any],
    substitutions: dict[str, Any],
    logs_group: LogGroup,
    encryption: Encryption,
    description: str,
) -> StateMachine:
    """A standard state machine of the stack: every execution logged (with its data) and traced,
    its data encrypted with the stack key (`logging_and_tracing_statements` are its role's part)."""
    machine = StateMachine(
        machine_id,
        StateMachineName=stack.name(name),
        StateMachineType="STANDARD",
        RoleArn=GetAtt(role, "Arn"),
        Definition=definition,
        DefinitionSubstitutions=substitutions,
        LoggingConfiguration=LoggingConfiguration(
            Level="ALL",
            IncludeExecutionData=True,
            Destinations=[
                LogDestination(CloudWatchLogsLogGroup=CloudWatchLogsLogGroup(LogGroupArn=GetAtt(logs_group, "Arn")))
            ],
        ),
        TracingConfiguration=TracingConfiguration(Enabled=True),
        EncryptionConfiguration=EncryptionConfiguration(
            Type="CUSTOMER_MANAGED_KMS_KEY", KmsKeyId=encryption.key_arn, KmsDataKeyReusePeriodSeconds=300
        ),
        Tags=stack.tags("workflow"),
    )
    stack.add(machine, description)
    return machine


def _role(
    stack: Stack, ecs: Ecs, storage: Storage, tables: Tables, messaging: Messaging, encryption: Encryption
) -> Role:
    task_definitions = [Ref(t.task_definition) for t in ecs.tasks.values()]
    passed_roles = [GetAtt(t.task_role, "Arn") for t in ecs.tasks.values()] + [GetAtt(ecs.execution_role, "Arn")]
    run_task = allow([ecs_actions.RunTask], task_definitions, sid="RunBatchTasks")
    run_task.Condition = Condition(StringEquals({"ecs:cluster": GetAtt(ecs.cluster, "Arn")}))
    # The RunTask states set `PropagateTags` (infra.state_machine): tagging at RunTask is authorized
    # as ecs:TagResource on the new task, so without it every task start is denied. Limited to
    # tagging done by RunTask (`ecs:CreateAction`), on this cluster's tasks.
    # https://docs.aws.amazon.com/AmazonECS/latest/developerguide/supported-iam-actions-tagging.html
    tag_tasks = allow([ecs_actions.TagResource], [task_arn_pattern(ecs.cluster)], sid="TagStartedTasks")
    tag_tasks.Condition = Condition(StringEquals({"ecs:CreateAction": "RunTask"}))
    pass_role = allow([iam.PassRole], passed_roles, sid="PassTaskRoles")
    pass_role.Condition = Condition(StringEquals({"iam:PassedToService": "ecs-tasks.amazonaws.com"}))
    statements = [
        run_task,
        tag_tasks,
        allow(
            [ecs_actions.DescribeTasks, ecs_actions.StopTask], [task_arn_pattern(ecs.cluster)], sid="WatchAndStopTasks"
        ),
        pass_role,
        allow(
            [events.PutTargets, events.PutRule, events.DescribeRule], [arn("events", ECS_SYNC_RULE)], sid="EcsSyncRule"
        ),
        allow([ddb.PutItem, ddb.GetItem, ddb.UpdateItem], [tables.arn(RUNS)], sid="RunsTable"),
        allow([sns.Publish], [Ref(messaging.topic(ALERTS_TOPIC))], sid="Alerts"),
        bucket_access(
            storage.input_bucket,
            [
                s3.GetObject,
                s3.GetObjectVersion,
                s3.GetObjectTagging,
                s3.GetObjectVersionTagging,
                s3.DeleteObject,
                s3.DeleteObjectVersion,
            ],
            [INCOMING_PREFIX],
        ),
        bucket_access(storage.input_bucket, [s3.PutObject, s3.PutObjectTagging], [ARCHIVE_PREFIX, REJECTED_PREFIX]),
        encryption.data_statement(),
        *logging_and_tracing_statements(),
    ]
    role = Role(
        "WorkflowRole",
        AssumeRolePolicyDocument=assume_role_policy("states"),
        Policies=[Policy(PolicyName="workflow", PolicyDocument=policy(statements))],
        Tags=stack.tags("workflow"),
    )
    return stack.add(role, "Role of the batch workflow", "Arn")


def build(
    stack: Stack, ecs: Ecs, storage: Storage, tables: Tables, messaging: Messaging, encryption: Encryption
) -> Workflow:
    logs_group = execution_log_group(stack, "Workflow", "batch-workflow", encryption)
    role = _role(stack, ecs, storage, tables, messaging, encryption)
    substitutions = {
        "RunsTable": Ref(tables[RUNS]),
        "Cluster": GetAtt(ecs.cluster, "Arn"),
        "ValidationTaskDefinition": Ref(ecs.tasks[Task.VALIDATION].task_definition),
        "TransformationTaskDefinition": Ref(ecs.tasks[Task.TRANSFORMATION].task_definition),
        "AlertsTopic": Ref(messaging.topic(ALERTS_TOPIC)),
        "Subnets": ecs.network.subnet_ids,
        "SecurityGroup": GetAtt(ecs.network.task_security_group, "GroupId"),
        "AssignPublicIp": ecs.network.assign_public_ip,
    }
    machine = logged_state_machine(
        stack,
        "BatchWorkflow",
        "batch-workflow",
        role,
        build_definition(placeholder_config()),
        substitutions,
        logs_group,
        encryption,
        "ARN of the batch workflow state machine",
    )
    stack.output("BatchWorkflowName", GetAtt(machine, "Name"), "Name of the batch workflow state machine")
    return Workflow(machine, role, logs_group)
