"""moto as released still needs the EventBridge fix (shoppulse/local/moto_fixes/events.py, fix 7).

Each test runs moto's own code (`patching.upstream`) and asserts the shortcoming the fix makes
up for: when one fails, moto has caught up, and the part of the fix it names can go.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from unittest import mock

import boto3
import pytest
from moto import mock_aws
from moto.events.models import Rule

from shoppulse.local.moto_fixes.events import MOTO_S3_EVENT_ID, aws_event
from shoppulse.local.moto_fixes.patching import upstream

REGION = "us-east-1"
ACCOUNT = "123456789012"
S3_PATTERN = json.dumps({"source": ["aws.s3"], "detail-type": ["Object Created"]})


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws(), upstream():
        yield


def _queue(name: str) -> tuple[str, str]:
    sqs = boto3.client("sqs", region_name=REGION)
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    return url, sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def _received(url: str) -> list[dict[str, Any]]:
    messages = boto3.client("sqs", region_name=REGION).receive_message(QueueUrl=url, MaxNumberOfMessages=10)
    return [json.loads(m["Body"]) for m in messages.get("Messages", [])]


@pytest.mark.usefixtures("aws")
def test_fix_7_moto_cannot_deliver_to_a_step_functions_target() -> None:
    events = boto3.client("events", region_name=REGION)
    events.put_rule(Name="r", EventPattern=json.dumps({"source": ["shop"]}))
    target = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:workflow"
    events.put_targets(Rule="r", Targets=[{"Id": "sfn", "Arn": target, "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/r"}])
    with pytest.raises(NotImplementedError):  # AWS starts an execution
        events.put_events(Entries=[{"Source": "shop", "DetailType": "order", "Detail": "{}"}])


@pytest.mark.usefixtures("aws")
def test_fix_7_moto_sends_s3_events_to_every_bus_with_a_fixed_id_and_a_numeric_time() -> None:
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="input-bucket")
    s3.put_bucket_notification_configuration(
        Bucket="input-bucket", NotificationConfiguration={"EventBridgeConfiguration": {}}
    )
    events = boto3.client("events", region_name=REGION)
    events.create_event_bus(Name="other")
    queues = {bus: _queue(f"q-{bus}") for bus in ("default", "other")}
    for bus, (_, arn) in queues.items():
        events.put_rule(Name=f"r-{bus}", EventBusName=bus, EventPattern=S3_PATTERN)
        events.put_targets(Rule=f"r-{bus}", EventBusName=bus, Targets=[{"Id": "q", "Arn": arn}])
    handed: list[dict[str, Any]] = []  # what moto's S3 hands each rule (and so the fix)
    deliver = Rule.send_to_targets

    def spy(rule: Rule, event: Any, transform_input: bool = True) -> None:
        handed.append(dict(event))
        deliver(rule, event, transform_input)

    with mock.patch.object(Rule, "send_to_targets", spy):
        s3.put_object(Bucket="input-bucket", Key="a.csv", Body=b"x")
        s3.put_object(Bucket="input-bucket", Key="b.csv", Body=b"y")
    default, other = (_received(queues[bus][0]) for bus in ("default", "other"))
    assert len(default) == 2
    assert len(other) == 2  # AWS: S3 sends to the default bus only
    assert {e["id"] for e in default} == {MOTO_S3_EVENT_ID}  # AWS: a unique id per event
    assert {type(e["time"]) for e in handed} == {float}  # AWS: an ISO-8601 string
    fixed = aws_event(handed[0])
    assert fixed["id"] != MOTO_S3_EVENT_ID
    assert fixed["time"].endswith("Z")
