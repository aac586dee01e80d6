"""The local stack enforces the deployed IAM policies: take one statement away, the pipeline breaks.

Each test removes one statement of one role's policy (as synthesized from the cloud template and
created in the embedded IAM), drives the real pipeline and asserts the denied outcome AWS would
give: an AccessDeniedException from the call, a FAILED run, a dead-lettered batch or event.
The policy is put back afterwards; with the full policies the same paths succeed (the other
tests/local/test_local_*.py modules run the whole pipeline under enforcement).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from chalicelib.orders.model import OrderStatus, new_order
from chalicelib.runs import RunStatus
from chalicelib.storage_layout import CURATED_BUCKET, INCOMING_PREFIX, STAGING_PREFIX
from chalicelib.streaming.failures import FailureKind
from chalicelib.tables import ORDER_FAILURES, ORDER_PROCESSING
from infra.state_machine import RetryPolicy
from shoppulse.local.iam.roles import role_arn, role_name
from shoppulse.local.provision import RULE_NAME, WORKFLOW_TRIGGER_DLQ, WorkflowTuning
from tests.waiting import wait_for

SAMPLES = Path(__file__).resolve().parents[2] / "sample_files"
ORDERS_FILE = SAMPLES / "2025-03-01T1000_orders.csv"
TUNING = WorkflowTuning(task_retry=RetryPolicy(1, 1, 1.0, 1), api_retry=RetryPolicy(1, 1, 1.0, 1))

Statement = dict[str, Any]


@pytest.fixture(scope="module")
def stack_settings(stack_settings):
    return replace(stack_settings, tuning=TUNING)  # one retry of a failing task, not two


@contextmanager
def without_statement(stack, role: str, matches: Callable[[Statement], bool]) -> Iterator[Statement]:
    """The role's inline policy minus exactly one statement, for the duration of the block."""
    iam = stack.client("iam")
    [policy_name] = iam.list_role_policies(RoleName=role_name(role))["PolicyNames"]
    document = iam.get_role_policy(RoleName=role_name(role), PolicyName=policy_name)["PolicyDocument"]
    [removed] = [s for s in document["Statement"] if matches(s)]
    kept = {**document, "Statement": [s for s in document["Statement"] if s is not removed]}
    if kept["Statement"]:
        iam.put_role_policy(RoleName=role_name(role), PolicyName=policy_name, PolicyDocument=json.dumps(kept))
    else:  # IAM refuses an empty policy: the role then has none
        iam.delete_role_policy(RoleName=role_name(role), PolicyName=policy_name)
    try:
        yield removed
    finally:
        iam.put_role_policy(RoleName=role_name(role), PolicyName=policy_name, PolicyDocument=json.dumps(document))


def sid(name: str) -> Callable[[Statement], bool]:
    return lambda statement: statement.get("Sid") == name


def place(orders, order_id: str, amount: str) -> None:
    orders.create(
        new_order(
            order_id=order_id,
            customer_id="c-1",
            customer_email="a@example.com",
            status=OrderStatus.PENDING,
            line_items=[{"sku": "SKU-1", "quantity": 1, "unitPrice": Decimal(amount)}],
        )
    )


def dead_lettered_batches(stack) -> list[dict]:
    items = stack.client("dynamodb").scan(TableName=ORDER_FAILURES.name())["Items"]
    return [f for f in items if f["kind"]["S"] == FailureKind.BATCH.value]


def processed(stack, order_id: str) -> list[dict]:
    return [
        i
        for i in stack.client("dynamodb").scan(TableName=ORDER_PROCESSING.name())["Items"]
        if order_id in json.dumps(i)
    ]


def test_a_function_role_without_its_write_statement_is_denied_and_the_batch_dead_lettered(stack, orders):
    before = len(dead_lettered_batches(stack))
    with without_statement(stack, "StandardOrderProcessingRole", sid("WriteTables")):
        function = stack.roles.client(role_arn("StandardOrderProcessingRole"), "dynamodb")
        with pytest.raises(ClientError) as denied:
            function.put_item(TableName=ORDER_PROCESSING.name(), Item={"pk": {"S": "x"}})
        place(orders, "iam-no-write", "250.00")
        stack.wait_for_pipes()
        batches = wait_for(lambda: dead_lettered_batches(stack)[before:])

    assert denied.value.response["Error"]["Code"] == "AccessDeniedException"
    assert "dynamodb:PutItem" in denied.value.response["Error"]["Message"]
    assert len(batches) == 1 and batches[0]["pipe"]["S"] == "standard"
    assert processed(stack, "iam-no-write") == []


def test_a_pipe_role_without_invoke_never_reaches_its_function_and_dead_letters(stack, orders):
    before = len(dead_lettered_batches(stack))
    with without_statement(stack, "StandardOrdersPipeRole", sid("InvokeHandler")) as removed:
        place(orders, "iam-no-invoke", "300.00")
        stack.wait_for_pipes()
        batches = wait_for(lambda: dead_lettered_batches(stack)[before:])

    assert removed["Action"] == ["lambda:InvokeFunction"]
    assert len(batches) == 1 and batches[0]["pipe"]["S"] == "standard"
    assert processed(stack, "iam-no-invoke") == []


def test_a_task_role_without_put_on_curated_staging_fails_the_run(stack, ingestor):
    curated = stack.resources.buckets[CURATED_BUCKET.logical_id]

    def staging_writes(statement: Statement) -> bool:
        return "s3:PutObject" in statement["Action"] and any(
            r.endswith(f"{curated}/{STAGING_PREFIX}*") for r in statement["Resource"]
        )

    logs = stack.settings.data_dir / "logs" / "ecs"
    with without_statement(stack, "ValidationTaskRole", staging_writes):
        result = ingestor.ingest(ORDERS_FILE)

    assert result["status"] == RunStatus.FAILED.value
    newest = max(logs.glob("*validation/*.log"), key=lambda p: p.stat().st_mtime).read_text()
    assert "AccessDenied" in newest and "s3:PutObject" in newest


def test_a_workflow_role_without_pass_role_cannot_start_the_tasks(stack, ingestor):
    with without_statement(stack, "WorkflowRole", sid("PassTaskRoles")):
        result = ingestor.ingest(SAMPLES / "2025-03-01T1800_orders.csv")

    assert result["status"] == RunStatus.FAILED.value
    assert "iam:PassRole" in json.dumps(result)


def test_a_rule_role_without_start_execution_dead_letters_the_event(stack):
    events, sqs = stack.client("events"), stack.client("sqs")
    [target] = events.list_targets_by_rule(Rule=RULE_NAME)["Targets"]
    short = {**target, "RetryPolicy": {"MaximumRetryAttempts": 1, "MaximumEventAgeInSeconds": 60}}
    events.put_targets(Rule=RULE_NAME, Targets=[short])
    queue = sqs.get_queue_url(QueueName=WORKFLOW_TRIGGER_DLQ)["QueueUrl"]
    try:
        with without_statement(stack, "WorkflowTriggerRole", sid("StartWorkflow")):
            key = f"{INCOMING_PREFIX}iam-unstarted.csv"
            stack.client("s3").put_object(Bucket=stack.resources.input_bucket, Key=key, Body=b"x")
            messages = wait_for(
                lambda: sqs.receive_message(QueueUrl=queue, MessageAttributeNames=["All"], WaitTimeSeconds=1).get(
                    "Messages", []
                )
            )
    finally:
        events.put_targets(Rule=RULE_NAME, Targets=[target])

    [message] = messages
    assert json.loads(message["Body"])["detail"]["object"]["key"] == key
    attributes = {k: v["StringValue"] for k, v in message["MessageAttributes"].items()}
    assert attributes["ERROR_CODE"] == "AccessDeniedException"
    assert "WorkflowTriggerRole" in attributes["ERROR_MESSAGE"]


def test_a_task_role_without_the_stack_key_cannot_read_the_encrypted_input(stack, ingestor):
    # moto encrypts nothing; the stack's buckets are SSE-KMS in the template, so reading needs kms:Decrypt.
    logs = stack.settings.data_dir / "logs" / "ecs"
    with without_statement(stack, "ValidationTaskRole", sid("UseStackKey")):
        result = ingestor.ingest(SAMPLES / "2025-03-02T1000_orders.csv")

    assert result["status"] == RunStatus.FAILED.value
    newest = max(logs.glob("*validation/*.log"), key=lambda p: p.stat().st_mtime).read_text()
    assert "kms:Decrypt" in newest


def test_a_workflow_role_without_tagging_on_create_cannot_start_tasks_that_propagate_tags(stack, ingestor):
    # The RunTask states propagate the (tagged) task definition's tags: ECS authorizes that as
    # ecs:TagResource at RunTask (issue 10, item 4).
    with without_statement(stack, "WorkflowRole", sid("TagStartedTasks")):
        result = ingestor.ingest(SAMPLES / "2025-03-02T1800_orders.csv")

    assert result["status"] == RunStatus.FAILED.value
    assert "ecs:TagResource" in json.dumps(result)
