"""EventBridge Pipes: the Orders stream to the Chalice functions, from `chalicelib.pipes`.

Filters, batching, retries, record age, bisection and the dead-letter queue all come from the
PipeSpec (one definition, also used by the local runtime). Each pipe has its own role (read the
one stream, invoke the one function, write the one dead-letter queue) and its own log group.
"""

from __future__ import annotations

from dataclasses import dataclass

import awacs.awslambda as awslambda
import awacs.dynamodb as ddb
import awacs.logs as logs
import awacs.sqs as sqs
from troposphere import GetAtt, Sub
from troposphere.iam import Policy, Role
from troposphere.pipes import (
    CloudwatchLogsLogDestination,
    Pipe,
    PipeLogConfiguration,
    PipeSourceParameters,
    PipeTargetParameters,
)

from chalicelib.pipes import PIPES, PipeSpec
from infra.context import Stack, allow, arn, assume_role_policy, policy
from infra.encryption import Encryption, log_group
from infra.messaging import Messaging, stage_name
from infra.tables import Tables


@dataclass(frozen=True)
class Pipes:
    pipes: dict[str, Pipe]


def function_arn(stack: Stack, chalice_name: str) -> Sub:
    """A Chalice function's ARN by name: the stack need not contain it (plain `chalice deploy`)."""
    return arn("lambda", f"function:{stack.function_name(chalice_name)}")


def _pipe(
    stack: Stack, spec: PipeSpec, tables: Tables, messaging: Messaging, encryption: Encryption, condition: str
) -> Pipe:
    table = tables[spec.source_table]
    stream_arn = GetAtt(table, "StreamArn")
    dead_letter_arn = messaging.queue_arn(spec.dead_letter_queue.logical_id)
    logs_group = log_group(
        stack,
        f"{spec.logical_id}LogGroup",
        f"/aws/vendedlogs/pipes/{stage_name(stack, spec.default_name)}",
        encryption,
        f"Log group of the {spec.key} orders pipe",
    )
    role = Role(
        f"{spec.logical_id}Role",
        AssumeRolePolicyDocument=assume_role_policy("pipes"),
        Policies=[
            Policy(
                PolicyName=f"{spec.key}-pipe",
                PolicyDocument=policy(
                    [
                        allow(
                            [ddb.DescribeStream, ddb.GetRecords, ddb.GetShardIterator],
                            [stream_arn],
                            sid="ReadOrdersStream",
                        ),
                        # ListStreams lists the account's streams: the Service Authorization Reference
                        # gives it no resource type, so an ARN would match nothing (some DynamoDB guide
                        # examples scope it to a stream ARN). "*" is right under either reading and it
                        # reveals only stream ARNs. https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazondynamodb.html
                        # https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-pipes-dynamodb.html
                        allow([ddb.ListStreams], ["*"], sid="ListStreams"),
                        allow(
                            [awslambda.InvokeFunction], [function_arn(stack, spec.function_name)], sid="InvokeHandler"
                        ),
                        allow([sqs.SendMessage], [dead_letter_arn], sid="DeadLetters"),
                        allow([logs.CreateLogStream, logs.PutLogEvents], [GetAtt(logs_group, "Arn")], sid="PipeLogs"),
                        encryption.data_statement(),
                    ]
                ),
            )
        ],
        Tags=stack.tags("pipes"),
    )
    stack.add(role, f"Role of the {spec.key} orders pipe", "Arn")
    pipe = Pipe(
        spec.logical_id,
        Name=stage_name(stack, spec.default_name),
        Description=f"Orders stream -> {spec.function_name} ({len(spec.filters)} filters)",
        DesiredState="RUNNING",
        RoleArn=GetAtt(role, "Arn"),
        Source=stream_arn,
        SourceParameters=PipeSourceParameters._from_dict(**spec.source_parameters(dead_letter_arn)),
        Target=function_arn(stack, spec.function_name),
        TargetParameters=PipeTargetParameters._from_dict(**spec.target_parameters()),
        LogConfiguration=PipeLogConfiguration(
            Level="ERROR",
            CloudwatchLogsLogDestination=CloudwatchLogsLogDestination(LogGroupArn=GetAtt(logs_group, "Arn")),
        ),
        Tags={"Application": "shoppulse", "Stage": stack.stage, "Component": "pipes"},
        Condition=condition,
    )
    stack.add(pipe, f"ARN of the {spec.key} orders pipe", "Arn")
    return pipe


def build(stack: Stack, tables: Tables, messaging: Messaging, encryption: Encryption, condition: str) -> Pipes:
    """`condition` gates the Pipe resources only: see `infra.template.PIPES_CONDITION`."""
    return Pipes({spec.key: _pipe(stack, spec, tables, messaging, encryption, condition) for spec in PIPES})
