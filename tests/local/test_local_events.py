"""S3 -> EventBridge -> Step Functions on the local stack: the rule's own pattern decides.

Only objects created under incoming/ of the input bucket start the workflow (the cloud rule's
pattern, matched by the project's matcher); the execution's input is the event in AWS's shape;
an event the target cannot take is retried per the target's policy, then dead-lettered with
EventBridge's attributes.
"""

from __future__ import annotations

import json
import time

import pytest

from chalicelib.storage_layout import ARCHIVE_PREFIX, INCOMING_PREFIX
from shoppulse.local.provision import RULE_NAME, WORKFLOW_TRIGGER_DLQ
from shoppulse.local.stack import LocalStack, StackSettings


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with LocalStack(StackSettings(aws_port=0, serve_api=False, data_dir=tmp_path_factory.mktemp("data"))) as running:
        yield running


def executions(stack) -> list[dict]:
    sfn = stack.client("stepfunctions")
    listed = sfn.list_executions(stateMachineArn=stack.resources.state_machine_arn)["executions"]
    return [sfn.describe_execution(executionArn=e["executionArn"]) for e in listed]


def test_only_objects_created_under_incoming_start_the_workflow_with_the_s3_event(stack):
    s3 = stack.client("s3")
    bucket = stack.resources.input_bucket
    s3.put_object(Bucket=bucket, Key=f"{ARCHIVE_PREFIX}not-a-landing.csv", Body=b"x")
    s3.put_object(Bucket=stack.resources.buckets["CuratedBucket"], Key=f"{INCOMING_PREFIX}other-bucket.csv", Body=b"x")
    version = s3.put_object(Bucket=bucket, Key=f"{INCOMING_PREFIX}landed.csv", Body=b"no,header\n")["VersionId"]

    deadline = time.monotonic() + 30
    while not executions(stack) and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1)  # an event wrongly delivered would have started by now too
    [execution] = executions(stack)
    event = json.loads(execution["input"])
    assert event["source"] == "aws.s3" and event["detail-type"] == "Object Created"
    assert event["detail"]["bucket"]["name"] == bucket
    assert event["detail"]["object"]["key"] == f"{INCOMING_PREFIX}landed.csv"
    assert event["detail"]["object"]["version-id"] == version
    assert event["time"].endswith("Z") and len(event["id"]) == 36
    assert execution["name"] not in ("None", "")


def test_an_event_the_target_cannot_take_is_dead_lettered_with_its_reason(stack):
    events, sqs = stack.client("events"), stack.client("sqs")
    [target] = events.list_targets_by_rule(Rule=RULE_NAME)["Targets"]
    target["Arn"] = target["Arn"].replace("shoppulse-batch-workflow", "no-such-workflow")
    target["RetryPolicy"] = {"MaximumRetryAttempts": 1, "MaximumEventAgeInSeconds": 60}
    events.put_targets(Rule=RULE_NAME, Targets=[target])
    stack.client("s3").put_object(Bucket=stack.resources.input_bucket, Key=f"{INCOMING_PREFIX}lost.csv", Body=b"x")

    queue = sqs.get_queue_url(QueueName=WORKFLOW_TRIGGER_DLQ)["QueueUrl"]
    deadline = time.monotonic() + 30
    messages: list[dict] = []
    while not messages and time.monotonic() < deadline:
        messages = sqs.receive_message(QueueUrl=queue, MessageAttributeNames=["All"], WaitTimeSeconds=1).get(
            "Messages", []
        )
    [message] = messages
    assert json.loads(message["Body"])["detail"]["object"]["key"] == f"{INCOMING_PREFIX}lost.csv"
    attributes = {k: v["StringValue"] for k, v in message["MessageAttributes"].items()}
    assert attributes["TARGET_ARN"] == target["Arn"]
    assert attributes["RULE_ARN"].endswith(f":rule/{RULE_NAME}")
    # The rule's role may start only the stack's own state machine: IAM refuses before Step
    # Functions looks the target up (docs/local-runtime.md, "IAM enforcement").
    assert attributes["ERROR_CODE"] == "AccessDeniedException"
    assert "states:StartExecution" in attributes["ERROR_MESSAGE"]
