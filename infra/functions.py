"""The Chalice app's functions: one IAM policy each, written once, as the merge overlay.

The overlay (`chalice package --merge-template`) holds each function's deployed name,
environment and role policy with the exact ARNs of this stack's resources, and the dead-letter
handlers' event source settings Chalice 1.34 cannot express. `infra.chalice_stage` resolves the
same overlay into the `.chalice/config.json` stage block and `policy-<stage>-<function>.json`
files (Chalice `iam_policy_file`, `autogen_policy` off), so the two cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import awacs.dynamodb as ddb
import awacs.kms as kms
import awacs.logs as logs
import awacs.sns as sns
import awacs.sqs as sqs
import awacs.xray as xray
from awacs.aws import PolicyDocument
from chalice.utils import to_cfn_resource_name
from troposphere import GetAtt, Ref

from chalicelib.messaging import ALERTS_TOPIC, PREMIUM_TEAM_TOPIC, TOPICS, QueueSpec, TopicSpec
from chalicelib.pipes import DEAD_LETTER_FUNCTION_RESPONSE_TYPES, PIPES
from chalicelib.storage_layout import BUCKETS
from chalicelib.tables import (
    ALL_TABLES,
    CATEGORY_KPIS,
    DAILY_KPIS,
    ORDER_FAILURES,
    ORDER_PROCESSING,
    ORDERS,
    PREMIUM_CASES,
    RUNS,
    TableSpec,
)
from infra.context import APP, Stack, allow, arn, policy
from infra.messaging import Messaging
from infra.tables import Tables

API_HANDLER = "api_handler"
READ = (ddb.GetItem, ddb.Query)
WRITE = (ddb.GetItem, ddb.Query, ddb.PutItem, ddb.UpdateItem)
# What a function with active tracing needs to send its segments (the Lambda runtime sends them).
TRACING = (xray.PutTraceSegments, xray.PutTelemetryRecords)
CONSUME = (sqs.ReceiveMessage, sqs.DeleteMessage, sqs.GetQueueAttributes, sqs.ChangeMessageVisibility)


@dataclass(frozen=True)
class FunctionAccess:
    name: str
    reads: tuple[TableSpec, ...] = ()
    writes: tuple[TableSpec, ...] = ()
    publishes: tuple[TopicSpec, ...] = ()
    consumes: QueueSpec | None = None

    @property
    def logical_id(self) -> str:
        return "APIHandler" if self.name == API_HANDLER else to_cfn_resource_name(self.name)

    @property
    def role_logical_id(self) -> str:
        return "ApiHandlerRole" if self.name == API_HANDLER else f"{self.logical_id}Role"

    def deployed_name(self, stack: Stack) -> str:
        """The name `chalice deploy` gives the function (the REST handler is `<app>-<stage>`)."""
        return f"{APP}-{stack.stage}" if self.name == API_HANDLER else stack.function_name(self.name)


FUNCTIONS: tuple[FunctionAccess, ...] = (
    FunctionAccess(API_HANDLER, reads=(DAILY_KPIS, CATEGORY_KPIS, RUNS, ORDERS, ORDER_PROCESSING, PREMIUM_CASES)),
    *(
        access
        for pipe in PIPES
        for access in (
            FunctionAccess(
                pipe.function_name,
                writes=(ORDER_FAILURES, PREMIUM_CASES if pipe.key == "premium" else ORDER_PROCESSING),
                publishes=(ALERTS_TOPIC, PREMIUM_TEAM_TOPIC) if pipe.key == "premium" else (ALERTS_TOPIC,),
            ),
            FunctionAccess(
                pipe.dead_letter_function_name,
                writes=(ORDER_FAILURES,),
                publishes=(ALERTS_TOPIC,),
                consumes=pipe.dead_letter_queue,
            ),
        )
    ),
)


@dataclass(frozen=True)
class Arns:
    """How a policy names resources: exact stack ARNs, or stage names with any region/account."""

    table: Callable[[TableSpec], list[Any]]  # the table and, if it has any, its indexes
    topic: Callable[[TopicSpec], Any]
    queue: Callable[[QueueSpec], Any]
    log_group: Callable[[str], Any]
    key_statement: Callable[[], Any]


def stack_arns(stack: Stack, tables: Tables, messaging: Messaging, key_arn: Any) -> Arns:
    return Arns(
        table=tables.arns_with_indexes,
        topic=lambda spec: Ref(messaging.topic(spec)),
        queue=lambda spec: messaging.queue_arn(spec.logical_id),
        log_group=lambda function: arn("logs", f"log-group:/aws/lambda/{function}:*"),
        key_statement=lambda: allow([kms.Decrypt, kms.GenerateDataKey], [key_arn], sid="UseStackKey"),
    )


def _with_indexes(spec: TableSpec, table_arn: Any, index_arns: Callable[[Any], Any]) -> list[Any]:
    return [table_arn, index_arns(table_arn)] if spec.indexes else [table_arn]


def function_policy(stack: Stack, access: FunctionAccess, arns: Arns) -> PolicyDocument:
    statements = [
        allow(
            [logs.CreateLogGroup, logs.CreateLogStream, logs.PutLogEvents],
            [arns.log_group(access.deployed_name(stack))],
            sid="OwnLogs",
        )
    ]
    if access.reads:
        statements.append(allow(READ, [r for s in access.reads for r in arns.table(s)], sid="ReadTables"))
    if access.writes:
        statements.append(allow(WRITE, [r for s in access.writes for r in arns.table(s)], sid="WriteTables"))
    if access.publishes:
        statements.append(allow([sns.Publish], [arns.topic(t) for t in access.publishes], sid="Publish"))
    if access.consumes:
        statements.append(allow(CONSUME, [arns.queue(access.consumes)], sid="ConsumeDeadLetters"))
    statements.append(arns.key_statement())
    # `Tracing: Active` (see `overlay`): SAM adds these rights only to roles it creates, and every
    # role here is explicit. They have no resource-level permission: "*" is the only form.
    # https://docs.aws.amazon.com/lambda/latest/dg/services-xray.html
    # https://docs.aws.amazon.com/aws-managed-policy/latest/reference/AWSXRayDaemonWriteAccess.html
    statements.append(allow(TRACING, ["*"], sid="WriteTraces"))
    return policy(statements)


def policy_file_name(stack: Stack, access: FunctionAccess) -> str:
    return f"policy-{stack.stage}-{access.name.replace('_', '-')}.json"


def overlay(stack: Stack, tables: Tables, messaging: Messaging, key_arn: Any) -> dict[str, Any]:
    """Resources to deep-merge into Chalice's packaged template (`--merge-template`)."""
    arns = stack_arns(stack, tables, messaging, key_arn)
    variables: dict[str, Any] = {spec.env_var: Ref(tables[spec]) for spec in ALL_TABLES}
    variables.update({spec.env_var: Ref(spec.logical_id) for spec in BUCKETS})
    variables.update({spec.env_var: Ref(messaging.topic(spec)) for spec in TOPICS})
    variables.update(
        {
            p.dead_letter_queue.env_var: GetAtt(messaging.queues[p.dead_letter_queue.logical_id], "QueueName")
            for p in PIPES
        }
    )
    resources: dict[str, Any] = {}
    for access in FUNCTIONS:
        properties: dict[str, Any] = {
            "FunctionName": access.deployed_name(stack),
            "Environment": {"Variables": variables},
            "KmsKeyArn": key_arn,
            "Tracing": "Active",
        }
        if access.consumes:
            properties["Events"] = {
                f"{access.logical_id}SqsEventSource": {
                    # The queue ARN is Chalice's (from the queue name in the generated stage block,
                    # `infra.chalice_stage`, at packaging time); only the response type is added.
                    "Properties": {"FunctionResponseTypes": list(DEAD_LETTER_FUNCTION_RESPONSE_TYPES)}
                }
            }
        resources[access.logical_id] = {"Properties": properties, "Metadata": {"checkov": {"skip": LAMBDA_SKIPS}}}
        resources[access.role_logical_id] = {
            "Properties": {
                "Policies": [
                    {
                        "PolicyName": f"{access.role_logical_id}Policy",
                        "PolicyDocument": function_policy(stack, access, arns),
                    }
                ]
            }
        }
    return resources


# Checks that do not fit these functions, each with the reason (read by checkov).
LAMBDA_SKIPS = [
    {
        "id": "CKV_AWS_116",
        "comment": "Invoked synchronously (API Gateway, Pipes) or by SQS: failures go to the pipes' and queues' own dead-letter queues, a Lambda DLQ would never receive anything.",
    },
    {
        "id": "CKV_AWS_117",
        "comment": "The functions call only AWS APIs over TLS with IAM auth; a VPC would add NAT cost and cold-start latency without protecting anything.",
    },
    {
        "id": "CKV_AWS_115",
        "comment": "Concurrency is bounded by the sources (stream shards x parallelization 1, SQS batch polling, API Gateway throttling); reserved concurrency would only take capacity from the account pool.",
    },
]
