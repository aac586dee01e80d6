"""Creates every resource of the cloud stack on the embedded AWS, from the same definitions.

Tables (chalicelib.tables), buckets with versioning and EventBridge notifications
(chalicelib.storage_layout, via shoppulse.provision), topics and queues (chalicelib.messaging,
chalicelib.pipes), the ECS cluster and task definitions and the EventBridge rule (infra's
definitions), the state machine (infra.state_machine.build_definition, the very document the
cloud stack deploys) and the two pipes (chalicelib.pipes: stored in moto's Pipes for `aws pipes
describe-pipe`; run by shoppulse.local.pipes).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from chalicelib.messaging import ALERTS_TOPIC, TOPICS
from chalicelib.pipes import PIPES, PipeSpec
from chalicelib.runs import Task
from chalicelib.storage_layout import BUCKETS, INPUT_BUCKET
from chalicelib.tables import ALL_TABLES, ORDERS, RUNS
from infra.ecs import TASK_TIMEOUT_SECONDS
from infra.execution_watch import CLOSER_LOGICAL_ID
from infra.messaging import EVENTS_DLQ
from infra.state_machine import (
    CloserConfig,
    EcsTask,
    RetryPolicy,
    WorkflowConfig,
    build_closer_definition,
    build_definition,
)
from shoppulse.local.cloud_template import (
    Resolver,
    RuleSpec,
    cloud_resources,
    execution_watch_rule,
    role_of,
    task_definitions,
    the_one,
    workflow_rule,
)
from shoppulse.local.iam.roles import create_roles, role_definitions, role_physical_ids
from shoppulse.local.service_clients import ServiceClients
from shoppulse.provision import create_buckets, create_tables

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_ecs import ECSClient
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_events.type_defs import TargetTypeDef
    from mypy_boto3_kms import KMSClient
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_stepfunctions import SFNClient

# Local names of what the cloud stack names per stage.
CLUSTER_NAME = "shoppulse"
STATE_MACHINE_NAME = "shoppulse-batch-workflow"
CLOSER_NAME = "shoppulse-run-closer"
EXECUTION_WATCH_RULE_NAME = "shoppulse-workflow-execution-ended"
RULE_NAME = "shoppulse-object-created"
WORKFLOW_TRIGGER_DLQ = "shoppulse-workflow-trigger-dlq"


@dataclass(frozen=True)
class WorkflowTuning:
    """Retry intervals of the workflow: the cloud's are minutes, locally seconds do."""

    task_retry: RetryPolicy = RetryPolicy(1, 3, 2.0, 4)
    api_retry: RetryPolicy = RetryPolicy(1, 2, 2.0, 4)


@dataclass(frozen=True)
class PipeResources:
    spec: PipeSpec
    pipe_arn: str
    stream_arn: str
    dead_letter_queue_url: str
    dead_letter_queue_arn: str
    role_arn: str
    function_arn: str


@dataclass
class LocalResources:
    region: str
    tables: dict[str, str] = field(default_factory=dict)
    buckets: dict[str, str] = field(default_factory=dict)
    topics: dict[str, str] = field(default_factory=dict)
    queues: dict[str, str] = field(default_factory=dict)
    cluster: str = ""
    task_definitions: dict[str, str] = field(default_factory=dict)
    state_machine_arn: str = ""
    rule_name: str = ""
    closer_arn: str = ""
    pipes: dict[str, PipeResources] = field(default_factory=dict)
    task_roles: dict[str, str] = field(default_factory=dict)  # task definition family -> task role ARN
    # What the template's `Ref` / `Fn::GetAtt` are here (the roles' policies are resolved with it).
    physical_ids: dict[str, str] = field(default_factory=dict)

    @property
    def input_bucket(self) -> str:
        return self.buckets[INPUT_BUCKET.logical_id]

    def summary(self) -> dict[str, object]:
        """What `shoppulse up` prints: every name a user may want to poke at."""
        return {
            "tables": self.tables,
            "buckets": self.buckets,
            "topics": self.topics,
            "queues": self.queues,
            "ecs_cluster": self.cluster,
            "task_definitions": self.task_definitions,
            "state_machine": self.state_machine_arn,
            "run_closer": self.closer_arn,
            "eventbridge_rule": self.rule_name,
            "pipes": {key: p.pipe_arn for key, p in self.pipes.items()},
        }


def provision(aws: ServiceClients, region: str, tuning: WorkflowTuning = WorkflowTuning()) -> LocalResources:
    resources = LocalResources(region=region)
    resources.tables = create_tables(aws.client("dynamodb"), ALL_TABLES)
    resources.buckets = create_buckets(aws.client("s3"), BUCKETS)
    aws.client("s3").put_bucket_notification_configuration(
        Bucket=resources.input_bucket, NotificationConfiguration={"EventBridgeConfiguration": {}}
    )
    resources.topics = {
        spec.logical_id: aws.client("sns").create_topic(Name=spec.default_name)["TopicArn"] for spec in TOPICS
    }
    sqs = aws.client("sqs")
    queue_names = {p.dead_letter_queue.logical_id: p.dead_letter_queue.name() for p in PIPES}
    queue_names[EVENTS_DLQ] = WORKFLOW_TRIGGER_DLQ
    resources.queues = {lid: sqs.create_queue(QueueName=name)["QueueUrl"] for lid, name in queue_names.items()}
    roles = role_definitions()
    resources.physical_ids = _physical_ids(aws.client("dynamodb"), sqs, resources) | role_physical_ids(roles)
    resources.physical_ids.update(_keys(aws.client("kms")))
    resolve = Resolver(resources.physical_ids, region)
    network = _network(aws.client("ec2"))
    tasks = _ecs(aws.client("ecs"), resources, resolve)
    trigger = workflow_rule(resolve)
    resources.state_machine_arn = _state_machine(
        aws.client("stepfunctions"), resources, tasks, network, tuning, trigger.target_logical_id, resolve
    )
    resources.rule_name = _rule(aws.client("events"), resources, trigger, _queue_arn(sqs, resources.queues[EVENTS_DLQ]))
    resources.closer_arn = _execution_watch(aws, resources, tuning)
    resources.pipes = {p.key: _pipe(aws, p, resources, resolve) for p in PIPES}
    create_roles(aws.client("iam"), roles, Resolver(resources.physical_ids, region))
    return resources


def resource_environment(resources: LocalResources) -> dict[str, str]:
    """Every resource's environment variable, as the cloud sets them on functions and tasks."""
    env = {spec.env_var: resources.tables[spec.logical_id] for spec in ALL_TABLES}
    env.update({spec.env_var: resources.buckets[spec.logical_id] for spec in BUCKETS})
    env.update({spec.env_var: resources.topics[spec.logical_id] for spec in TOPICS})
    env.update({p.dead_letter_queue.env_var: p.dead_letter_queue.name() for p in PIPES})
    return env


def _physical_ids(dynamodb: DynamoDBClient, sqs: SQSClient, resources: LocalResources) -> dict[str, str]:
    """What `Ref` / `Fn::GetAtt` of the template's resources are here (more as they are created)."""
    ids: dict[str, str] = {**resources.tables, **resources.buckets, **resources.topics, **resources.queues}
    ids.update({f"{lid}.Arn": _queue_arn(sqs, url) for lid, url in resources.queues.items()})
    ids.update({f"{lid}.QueueName": url.rsplit("/", 1)[-1] for lid, url in resources.queues.items()})
    ids.update({f"{lid}.Arn": f"arn:aws:s3:::{name}" for lid, name in resources.buckets.items()})
    for lid, name in resources.tables.items():
        table = dynamodb.describe_table(TableName=name)["Table"]
        ids[f"{lid}.Arn"] = table["TableArn"]
        if table.get("LatestStreamArn"):
            ids[f"{lid}.StreamArn"] = table["LatestStreamArn"]
    return ids


def _keys(kms: KMSClient) -> dict[str, str]:
    """The template's KMS keys (moto encrypts nothing with them: they are what policies name)."""
    ids = {}
    for logical_id, resource in cloud_resources().items():
        if resource.get("Type") == "AWS::KMS::Key":
            key = kms.create_key(Description=resource["Properties"].get("Description", logical_id))["KeyMetadata"]
            ids.update({logical_id: key["KeyId"], f"{logical_id}.Arn": key["Arn"]})
    return ids


@dataclass(frozen=True)
class _Network:
    subnets: list[str]
    security_groups: list[str]


def _network(ec2: EC2Client) -> _Network:
    """A VPC for the tasks' awsvpc network (DNS hostnames on: moto's task ENIs need them)."""
    vpc = ec2.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]["VpcId"]
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.42.1.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName="shoppulse-tasks", Description="ShopPulse batch tasks", VpcId=vpc)[
        "GroupId"
    ]
    return _Network([subnet], [group])


def _ecs(ecs: ECSClient, resources: LocalResources, resolve: Resolver) -> dict[Task, EcsTask]:
    """The cluster and the template's task definitions; the workflow's view of each task."""
    resources.cluster = ecs.create_cluster(clusterName=CLUSTER_NAME)["cluster"]["clusterArn"]
    cluster_id = the_one("AWS::ECS::Cluster")
    resources.physical_ids.update({cluster_id: CLUSTER_NAME, f"{cluster_id}.Arn": resources.cluster})
    tasks: dict[Task, EcsTask] = {}
    for spec in task_definitions(resolve):
        task = Task(spec.container_name)
        arn = ecs.register_task_definition(
            family=spec.family,
            taskRoleArn=spec.task_role_arn,
            executionRoleArn=spec.execution_role_arn,
            tags=[{"key": k, "value": v} for k, v in spec.tags.items()],
            networkMode="awsvpc",
            requiresCompatibilities=["FARGATE"],
            cpu=spec.cpu,
            memory=spec.memory,
            containerDefinitions=[
                {
                    "name": spec.container_name,
                    "image": f"{spec.family}:local",
                    "essential": True,
                    "command": spec.command,
                    "environment": [{"name": k, "value": v} for k, v in spec.environment.items()],
                    "stopTimeout": spec.stop_timeout_seconds,
                }
            ],
        )["taskDefinition"]["taskDefinitionArn"]
        resources.task_definitions[task.value] = arn
        resources.physical_ids[spec.logical_id] = arn
        resources.task_roles[spec.family] = spec.task_role_arn
        tasks[task] = EcsTask(arn, spec.container_name, TASK_TIMEOUT_SECONDS[task])
    return tasks


def _state_machine(
    sfn: SFNClient,
    resources: LocalResources,
    tasks: Mapping[Task, EcsTask],
    network: _Network,
    tuning: WorkflowTuning,
    machine_id: str,
    resolve: Resolver,
) -> str:
    """The workflow (`machine_id`: the template's state machine the S3 rule starts), as its role."""
    config = WorkflowConfig(
        runs_table=resources.tables[RUNS.logical_id],
        cluster=resources.cluster,
        validation=tasks[Task.VALIDATION],
        transformation=tasks[Task.TRANSFORMATION],
        alerts_topic_arn=resources.topics[ALERTS_TOPIC.logical_id],
        subnets=network.subnets,
        security_groups=network.security_groups,
        task_retry=tuning.task_retry,
        api_retry=tuning.api_retry,
    )
    arn = create_state_machine(sfn, STATE_MACHINE_NAME, config, role_of(machine_id, resolve))
    resources.physical_ids.update({machine_id: arn, f"{machine_id}.Name": STATE_MACHINE_NAME})
    return arn


def create_state_machine(sfn: SFNClient, name: str, config: WorkflowConfig | CloserConfig, role_arn: str) -> str:
    """The workflow or the run closer in (moto's) Step Functions, from the definition the template deploys."""
    definition = build_definition(config) if isinstance(config, WorkflowConfig) else build_closer_definition(config)
    arn: str = sfn.create_state_machine(
        name=name, definition=json.dumps(definition), roleArn=role_arn, type="STANDARD"
    )["stateMachineArn"]
    return arn


def _queue_arn(sqs: SQSClient, url: str) -> str:
    return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def _rule(events: EventBridgeClient, resources: LocalResources, rule: RuleSpec, dead_letter_arn: str) -> str:
    target: TargetTypeDef = {
        "Id": "batch-workflow",
        "Arn": resources.state_machine_arn,
        "RoleArn": rule.role_arn,
        "DeadLetterConfig": {"Arn": dead_letter_arn},
    }
    description = "Object Created under incoming/ in the input bucket: start the batch workflow"
    _put_rule(events, RULE_NAME, rule, description, target)
    return RULE_NAME


def _put_rule(events: EventBridgeClient, name: str, rule: RuleSpec, description: str, target: TargetTypeDef) -> None:
    """The rule on the template's event pattern, and its one target with the template's retry policy."""
    events.put_rule(Name=name, EventPattern=json.dumps(rule.event_pattern), State="ENABLED", Description=description)
    if rule.retry_policy:
        target["RetryPolicy"] = rule.retry_policy
    events.put_targets(Rule=name, Targets=[target])


def _execution_watch(aws: ServiceClients, resources: LocalResources, tuning: WorkflowTuning) -> str:
    """The run closer and the rule on the workflow's ended executions (`infra.execution_watch`)."""
    config = CloserConfig(
        runs_table=resources.tables[RUNS.logical_id],
        alerts_topic_arn=resources.topics[ALERTS_TOPIC.logical_id],
        api_retry=tuning.api_retry,
    )
    closer_arn = create_state_machine(
        aws.client("stepfunctions"),
        CLOSER_NAME,
        config,
        role_of(CLOSER_LOGICAL_ID, Resolver(resources.physical_ids, resources.region)),
    )
    resources.physical_ids.update({CLOSER_LOGICAL_ID: closer_arn, f"{CLOSER_LOGICAL_ID}.Name": CLOSER_NAME})
    rule = execution_watch_rule(Resolver(resources.physical_ids, resources.region))
    description = "A batch workflow execution ended FAILED, TIMED_OUT or ABORTED: close its run if still RUNNING"
    target: TargetTypeDef = {"Id": "run-closer", "Arn": closer_arn, "RoleArn": rule.role_arn}
    _put_rule(aws.client("events"), EXECUTION_WATCH_RULE_NAME, rule, description, target)
    return closer_arn


def _pipe(aws: ServiceClients, spec: PipeSpec, resources: LocalResources, resolve: Resolver) -> PipeResources:
    stream_arn = aws.client("dynamodb").describe_table(TableName=resources.tables[ORDERS.logical_id])["Table"][
        "LatestStreamArn"
    ]
    sqs = aws.client("sqs")
    dlq_url = resources.queues[spec.dead_letter_queue.logical_id]
    dlq_arn = _queue_arn(sqs, dlq_url)
    pipe_role = role_of(spec.logical_id, resolve)
    function_arn = str(resolve(cloud_resources()[spec.logical_id]["Properties"]["Target"]))
    pipe = aws.client("pipes").create_pipe(
        Name=spec.default_name,
        RoleArn=pipe_role,
        Source=stream_arn,
        SourceParameters=spec.source_parameters(dlq_arn),
        Target=function_arn,
        TargetParameters=spec.target_parameters(),
        DesiredState="RUNNING",
    )
    return PipeResources(spec, pipe["Arn"], stream_arn, dlq_url, dlq_arn, pipe_role, function_arn)
