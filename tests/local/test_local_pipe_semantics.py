"""The local pipe's delivery rules, one at a time, on the embedded AWS's real stream.

A pipe poller reads a real (moto) Orders stream and invokes a scripted target: the target is
the pipe's function, the thing under test is the poller. Batching (size and window), partial
batch failures, bisection on errors, retries, the dead-letter message, and maximum record age.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal
from typing import Any

import boto3
import pytest

from chalicelib.orders.model import new_order
from chalicelib.orders.repository import OrderRepository
from chalicelib.pipes import STANDARD_PIPE
from chalicelib.tables import ORDERS
from shoppulse.local.embedded_aws import EmbeddedAws, apply_environment, restore_environment
from shoppulse.local.pipes import RECORD_TOO_OLD, RETRIES_EXHAUSTED, PipePoller

PIPE_ARN = "arn:aws:pipes:us-east-1:123456789012:pipe/under-test"


@pytest.fixture(scope="module")
def aws():
    aws = EmbeddedAws(port=0)
    aws.start()
    previous = apply_environment(aws.environment())
    yield aws
    aws.stop()
    restore_environment(previous)


class Target:
    """The pipe's function: records each batch's order ids, answers as scripted."""

    def __init__(self, answer: Callable[[list[str], int], Any] = lambda ids, call: None) -> None:
        self.calls: list[list[str]] = []
        self._answer = answer

    def __call__(self, records: list[dict]) -> Any:
        ids = [r["dynamodb"]["Keys"]["orderId"]["S"] for r in records]
        self.calls.append(ids)
        self.records = {r["dynamodb"]["Keys"]["orderId"]["S"]: r for r in records}
        return self._answer(ids, len(self.calls))


def orders_table(aws: EmbeddedAws, name: str, count: int) -> str:
    """A fresh Orders-like table with `count` qualifying orders o1..oN; returns its stream ARN."""
    dynamodb = aws.client("dynamodb")
    dynamodb.create_table(**ORDERS.create_table_kwargs(name))
    repository = OrderRepository(boto3.session.Session().resource("dynamodb", endpoint_url=aws.endpoint).Table(name))
    for n in range(1, count + 1):
        repository.create(
            new_order(
                order_id=f"o{n}",
                customer_id="c",
                customer_email="a@example.com",
                line_items=[{"sku": "S", "quantity": 1, "unitPrice": Decimal("150.00")}],
            )
        )
    return dynamodb.describe_table(TableName=name)["Table"]["LatestStreamArn"]


def run_pipe(
    aws: EmbeddedAws,
    name: str,
    target: Target,
    count: int,
    settle: Callable[[], bool],
    delay: float = 0.0,
    **spec_changes: Any,
) -> list[dict]:
    """Run a poller until `settle()`; returns the dead-letter messages it sent."""
    stream_arn = orders_table(aws, name, count)
    sqs = aws.client("sqs")
    dlq = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
    time.sleep(delay)
    poller = PipePoller(
        replace(STANDARD_PIPE, **spec_changes),
        streams_client=aws.client("dynamodbstreams"),
        sqs_client=sqs,
        stream_arn=stream_arn,
        dead_letter_queue_url=dlq,
        pipe_arn=PIPE_ARN,
        invoke=target,
    )
    poller.start()
    try:
        deadline = time.monotonic() + 30
        while not settle() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert poller.wait_idle()
    finally:
        poller.stop()
    messages = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(m["Body"]) for m in messages]


def test_a_full_batch_goes_at_once_and_the_rest_after_the_batching_window(aws):
    target = Target()
    started = time.monotonic()
    dead = run_pipe(
        aws, "window", target, 4, lambda: len(target.calls) == 2, batch_size=3, maximum_batching_window_seconds=1
    )
    assert target.calls == [["o1", "o2", "o3"], ["o4"]]
    assert time.monotonic() - started >= 1
    assert dead == []


def test_a_partial_failure_retries_from_the_first_failed_record(aws):
    def answer(ids: list[str], call: int) -> Any:
        failed = ["o2"] if call == 1 else []
        return {"batchItemFailures": [{"itemIdentifier": target.records[i]["eventID"]} for i in failed]}

    target = Target(answer)
    dead = run_pipe(aws, "partial", target, 4, lambda: len(target.calls) == 2, batch_size=4)
    assert target.calls == [["o1", "o2", "o3", "o4"], ["o2", "o3", "o4"]]
    assert dead == []


def test_an_error_bisects_until_the_poison_record_is_alone_then_dead_letters_it(aws):
    def answer(ids: list[str], call: int) -> Any:
        if "o3" in ids:
            raise RuntimeError("poison")
        return {"batchItemFailures": []}

    target = Target(answer)
    dead = run_pipe(aws, "poison", target, 4, lambda: ["o4"] in target.calls, batch_size=4, maximum_retry_attempts=3)
    assert target.calls == [["o1", "o2", "o3", "o4"], ["o1", "o2"], ["o3", "o4"], ["o3"], ["o3"], ["o4"]]
    [message] = dead
    assert message["context"] == {"partnerResourceArn": PIPE_ARN, "condition": RETRIES_EXHAUSTED}
    batch = message["DDBStreamBatchInfo"]
    assert batch["batchSize"] == 1 and batch["startSequenceNumber"] == batch["endSequenceNumber"]
    assert ":table/poison/stream/" in batch["streamArn"]


def test_records_older_than_the_maximum_age_are_dead_lettered_without_an_invocation(aws):
    target = Target()
    dead = run_pipe(aws, "aged", target, 2, lambda: True, delay=2.5, maximum_record_age_seconds=1)
    assert target.calls == []
    [message] = dead
    assert message["context"]["condition"] == RECORD_TOO_OLD
    assert message["DDBStreamBatchInfo"]["batchSize"] == 2
