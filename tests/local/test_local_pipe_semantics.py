"""The local pipe's delivery rules, one at a time, on the embedded AWS's real stream.

A pipe poller reads a real (moto) Orders stream and invokes a scripted target: the target is
the pipe's function, the thing under test is the poller. Batching (size and window), partial
batch failures, bisection on errors, retries, the dead-letter message, and maximum record age.
"""

from __future__ import annotations

import json
import threading
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


def orders_table(aws: EmbeddedAws, name: str, count: int, updates: int = 0) -> str:
    """A fresh Orders-like table with `count` qualifying orders o1..oN, then `updates` amount
    changes of each (151, 152, ..., round-robin over the orders); returns its stream ARN."""
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
    for change in range(1, updates + 1):
        for n in range(1, count + 1):
            repository.update(f"o{n}", amount=Decimal(150 + change))
    return dynamodb.describe_table(TableName=name)["Table"]["LatestStreamArn"]


def run_pipe(
    aws: EmbeddedAws,
    name: str,
    target: Target,
    count: int,
    settle: Callable[[], bool],
    delay: float = 0.0,
    updates: int = 0,
    **spec_changes: Any,
) -> list[dict]:
    """Run a poller until `settle()`; returns the dead-letter messages it sent."""
    stream_arn = orders_table(aws, name, count, updates)
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


class SlowTarget(Target):
    """Takes its time over each batch and notes how many batches ran at once, and each order's
    amounts in the order they reached it."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._running = 0
        self.most_at_once = 0
        self.amounts: dict[str, list[str]] = {}

    def __call__(self, records: list[dict]) -> Any:
        with self._lock:
            self._running += 1
            self.most_at_once = max(self.most_at_once, self._running)
            self.calls.append([r["dynamodb"]["Keys"]["orderId"]["S"] for r in records])
            for r in records:
                image = r["dynamodb"]["NewImage"]
                self.amounts.setdefault(image["orderId"]["S"], []).append(image["amount"]["N"])
        time.sleep(0.1)
        with self._lock:
            self._running -= 1
        return {"batchItemFailures": []}


def test_parallel_batches_run_at_once_yet_keep_each_items_changes_in_order(aws):
    target = SlowTarget()

    def delivered() -> bool:
        return sum(len(c) for c in target.calls) == 12 * 4

    dead = run_pipe(aws, "parallel", target, 12, delivered, updates=3, batch_size=3, parallelization_factor=4)
    assert target.most_at_once > 1  # different items' batches did overlap
    assert {order: [Decimal(a) for a in amounts] for order, amounts in target.amounts.items()} == {
        f"o{n}": [Decimal(150), Decimal(151), Decimal(152), Decimal(153)] for n in range(1, 13)
    }
    assert dead == []


@pytest.mark.parametrize(
    "change",
    [
        {"parallelization_factor": 0},
        {"parallelization_factor": 11},
        {"batch_size": 10_001},
        {"maximum_batching_window_seconds": 301},
        {"maximum_retry_attempts": -2},
        {"maximum_record_age_seconds": 604_801},
        {"starting_position": "AT_TIMESTAMP"},
        {"on_partial_batch_item_failure": "OFF"},
    ],
)
def test_the_local_pipe_refuses_what_pipes_refuse(change):
    with pytest.raises(ValueError, match=r"Pipes refuse|not in"):
        PipePoller(
            replace(STANDARD_PIPE, **change),
            streams_client=None,
            sqs_client=None,
            stream_arn="arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/x",
            dead_letter_queue_url="",
            pipe_arn=PIPE_ARN,
            invoke=Target(),
        )


def test_an_idle_pipe_reads_at_aws_base_rate_and_a_write_wakes_it(aws):
    """Four reads a second per shard when nothing is written (AWS's base rate), not a busy poll."""
    stream_arn = orders_table(aws, "idle", 0)
    streams = boto3.client("dynamodbstreams", endpoint_url=aws.endpoint)
    reads: list[float] = []
    streams.meta.events.register("before-call.dynamodbstreams.GetRecords", lambda **_: reads.append(time.monotonic()))
    target = Target()
    poller = PipePoller(
        STANDARD_PIPE,
        streams_client=streams,
        sqs_client=aws.client("sqs"),
        stream_arn=stream_arn,
        dead_letter_queue_url="unused",
        pipe_arn=PIPE_ARN,
        invoke=target,
    )
    poller.start()
    try:
        time.sleep(1.5)
        assert 1 <= len(reads) <= 8  # at 4/s; a busy poll at 20/s would have read ~30 times
        OrderRepository(boto3.resource("dynamodb", endpoint_url=aws.endpoint).Table("idle")).create(
            new_order(
                order_id="o1",
                customer_id="c",
                customer_email="a@example.com",
                line_items=[{"sku": "S", "quantity": 1, "unitPrice": Decimal("150.00")}],
            )
        )
        deadline = time.monotonic() + 30
        while not target.calls and time.monotonic() < deadline:
            time.sleep(0.01)
        assert target.calls == [["o1"]]
    finally:
        poller.stop()
