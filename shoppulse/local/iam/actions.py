"""What IAM authorizes for one API request: its actions, resource ARNs and condition keys.

moto asks IAM about resource "*" for every service but S3, SQS, IAM and STS, and checks only
the action the request names. AWS authorizes each request on the resource it touches (the
Service Authorization Reference lists them per action), and some requests on more than one
action: DynamoDB's batch and transaction calls per table and item action, ECS RunTask also as
`iam:PassRole` on the task definition's roles, S3 CopyObject also as a read of its source.
https://docs.aws.amazon.com/service-authorization/latest/reference/reference_policies_actions-resources-contextkeys.html

`requests_of` answers for the calls this stack makes (DynamoDB and its streams, S3, SNS, SQS,
ECS, Step Functions); any other call is asked about resource "*", so a scoped statement never
allows it (fails closed); calls on a resource encrypted with a customer-managed key also ask for
the key's use (`iam.encryption`). Pure functions of a `Call`: no moto imports here.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from shoppulse.local.iam.policy import Request

# IAM's service prefix where it differs from the name moto gives the service.
_PREFIXES = {"dynamodbstreams": "dynamodb", "stepfunctions": "states"}
# DynamoDB's transaction and batch entries, by the item action IAM authorizes for each.
_TRANSACT_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}
_BATCH_ACTIONS = {"BatchWriteItem": "BatchWriteItem", "BatchGetItem": "BatchGetItem"}


@dataclass(frozen=True)
class TaskDefinitionRoles:
    """The roles a task definition passes to ECS (looked up in moto's ECS by the caller)."""

    arn: str
    task_role_arn: str | None
    execution_role_arn: str | None
    tagged: bool = False


@dataclass(frozen=True)
class Call:
    """One API request as moto parsed it."""

    service: str
    action: str
    region: str
    account: str
    params: Mapping[str, Any]
    # For S3: the ARN moto computed, the query string, the headers.
    resource: str = "*"
    query: Mapping[str, Sequence[str]] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    # ECS RunTask: resolves a task definition reference to its ARN and roles.
    task_definition: Callable[[str], TaskDefinitionRoles | None] = lambda reference: None
    # The KMS key that encrypts a bucket, queue or topic (by its ARN), if any (`iam.encryption`).
    encryption_key: Callable[[str], str | None] = lambda resource: None

    def arn(self, service: str, resource: str) -> str:
        return f"arn:aws:{service}:{self.region}:{self.account}:{resource}"


def parse_params(body: Any, query: Mapping[str, Sequence[str]]) -> dict[str, Any]:
    """JSON-protocol bodies are the parameters; query-protocol calls carry them in the query."""
    if isinstance(body, Mapping):
        return dict(body)
    if body:
        try:
            parsed = json.loads(body)
        except (TypeError, ValueError):
            parsed = None
        if isinstance(parsed, dict):
            return parsed
    return {name: values[0] for name, values in query.items() if values}


def requests_of(call: Call) -> list[Request]:
    prefix = _PREFIXES.get(call.service, call.service)
    analyse = _BY_SERVICE.get(call.service)
    if analyse is None:
        return [Request(f"{prefix}:{call.action}", call.resource)]
    return list(analyse(call, f"{prefix}:{call.action}"))


def _dynamodb(call: Call, action: str) -> Iterator[Request]:
    def table(name: str) -> str:
        return name if name.startswith("arn:") else call.arn("dynamodb", f"table/{name}")

    if call.action in ("TransactWriteItems", "TransactGetItems"):
        # Authorized per item, as the item's own action (there is no Transact* action in IAM).
        for item in call.params.get("TransactItems", []):
            for kind, operation in item.items():
                item_action = "GetItem" if call.action == "TransactGetItems" else _TRANSACT_ACTIONS.get(kind, kind)
                yield Request(f"dynamodb:{item_action}", table(operation["TableName"]))
        return
    if call.action in _BATCH_ACTIONS:
        for name in call.params.get("RequestItems", {}):
            yield Request(action, table(name))
        return
    name = call.params.get("TableName")
    if not name:
        yield Request(action, "*")
        return
    index = call.params.get("IndexName")
    yield Request(action, table(name) + (f"/index/{index}" if index else ""))


def _dynamodb_streams(call: Call, action: str) -> Iterator[Request]:
    if call.action == "ListStreams":  # no resource-level permissions
        yield Request(action, "*")
        return
    stream = call.params.get("StreamArn")
    if not stream and call.params.get("ShardIterator"):
        stream = str(call.params["ShardIterator"]).split("|", 1)[0]  # moto's iterators start with it
    yield Request(action, stream or "*")


def _sns(call: Call, action: str) -> Iterator[Request]:
    topic = call.params.get("TopicArn") or call.params.get("TargetArn")
    if not topic and call.action == "CreateTopic":
        topic = call.arn("sns", str(call.params.get("Name", "")))
    yield Request(action, topic or "*")
    if call.action == "Publish" and topic:
        yield from _key_use(call, "sns", topic, ("kms:GenerateDataKey", "kms:Decrypt"))


def _sqs(call: Call, action: str) -> Iterator[Request]:
    queue = call.params.get("QueueUrl") or call.params.get("QueueName") or ""
    name = str(queue).rstrip("/").rsplit("/", 1)[-1]
    # Batch calls are authorized as their single action (there is no sqs:*Batch permission).
    # https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-batch-api.html
    queue_arn = call.arn("sqs", name) if name else "*"
    yield Request(action.removesuffix("Batch"), queue_arn)
    if call.action in ("SendMessage", "SendMessageBatch"):
        yield from _key_use(call, "sqs", queue_arn, ("kms:GenerateDataKey", "kms:Decrypt"))
    elif call.action == "ReceiveMessage":
        yield from _key_use(call, "sqs", queue_arn, ("kms:Decrypt",))


def _key_use(call: Call, service: str, resource: str, actions: tuple[str, ...]) -> Iterator[Request]:
    """The KMS requests a call on an encrypted resource makes as its caller (via the service)."""
    key = call.encryption_key(resource)
    if key is None:
        return
    via = {"kms:ViaService": [f"{service}.{call.region}.amazonaws.com"]}
    for action in actions:
        yield Request(action, key, via)


def _ecs(call: Call, action: str) -> Iterator[Request]:
    cluster = _cluster_arn(call)
    context = {"ecs:cluster": [cluster]}
    if call.action == "RunTask":
        reference = str(call.params.get("taskDefinition", ""))
        roles = call.task_definition(reference)
        yield Request(action, roles.arn if roles else reference, context)
        for role in (roles.task_role_arn, roles.execution_role_arn) if roles else ():
            if role:
                yield Request("iam:PassRole", role, {"iam:PassedToService": ["ecs-tasks.amazonaws.com"]})
        propagated = call.params.get("propagateTags") == "TASK_DEFINITION" and roles is not None and roles.tagged
        if call.params.get("tags") or propagated:
            # Tags applied at creation are authorized as ecs:TagResource on the new task.
            # https://docs.aws.amazon.com/AmazonECS/latest/developerguide/supported-iam-actions-tagging.html
            new_task = call.arn("ecs", f"task/{cluster.rsplit('/', 1)[-1]}/{uuid.uuid4().hex}")
            yield Request("ecs:TagResource", new_task, {**context, "ecs:CreateAction": ["RunTask"]})
        return
    if call.action in ("DescribeTasks", "StopTask"):
        tasks = call.params.get("tasks") or [call.params.get("task", "")]
        cluster_name = cluster.rsplit("/", 1)[-1]
        for task in tasks:
            arn = task if str(task).startswith("arn:") else call.arn("ecs", f"task/{cluster_name}/{task}")
            yield Request(action, arn, context)
        return
    yield Request(action, "*", context)


def _cluster_arn(call: Call) -> str:
    cluster = str(call.params.get("cluster") or "default")
    return cluster if cluster.startswith("arn:") else call.arn("ecs", f"cluster/{cluster}")


def _states(call: Call, action: str) -> Iterator[Request]:
    resource = call.params.get("stateMachineArn") or call.params.get("executionArn")
    yield Request(action, resource or "*")


def _s3(call: Call, action: str) -> Iterator[Request]:
    context: dict[str, Sequence[str]] = {}
    if "prefix" in call.query:
        context["s3:prefix"] = list(call.query["prefix"])
    bucket = call.resource.split("/", 1)[0]
    if action == "s3:DeleteObject" and "delete" in call.query:
        # DeleteObjects needs s3:DeleteObject on each object it names
        # (https://docs.aws.amazon.com/AmazonS3/latest/API/API_DeleteObjects.html, "Permissions").
        for key in call.params.get("Keys", []):
            yield Request(action, f"{bucket}/{key}", context)
        return
    yield Request(action, call.resource, context)
    if action == "s3:PutObject":
        yield from _key_use(call, "s3", bucket, ("kms:GenerateDataKey",))
    elif action in ("s3:GetObject", "s3:GetObjectVersion"):
        yield from _key_use(call, "s3", bucket, ("kms:Decrypt",))
    source = _header(call.headers, "x-amz-copy-source")
    if source and action == "s3:PutObject":
        # CopyObject / UploadPartCopy also read (and decrypt) the source object, its version if named.
        path, _, version = unquote(source).lstrip("/").partition("?versionId=")
        read = "s3:GetObjectVersion" if version else "s3:GetObject"
        yield Request(read, f"arn:aws:s3:::{path}")
        yield from _key_use(call, "s3", f"arn:aws:s3:::{path.split('/', 1)[0]}", ("kms:Decrypt",))


def _header(headers: Mapping[str, str], name: str) -> str | None:
    return next((v for k, v in headers.items() if k.lower() == name), None)


_BY_SERVICE: dict[str, Callable[[Call, str], Iterator[Request]]] = {
    "dynamodb": _dynamodb,
    "dynamodbstreams": _dynamodb_streams,
    "sns": _sns,
    "sqs": _sqs,
    "ecs": _ecs,
    "stepfunctions": _states,
    "s3": _s3,
}
