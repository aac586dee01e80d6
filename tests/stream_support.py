"""Shared helpers for the real-time orders tests: an embedded AWS, stream records, SNS inboxes.

Stream records are built by `chalicelib.stream_records` from typed images, exactly as
Lambda/Pipes receive them; the AWS side is moto, with fault-injecting wrappers where a test
needs AWS to fail (throttling), never fakes of our own code.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar
from unittest import mock

import boto3
from boto3.dynamodb.types import TypeSerializer
from botocore.exceptions import ClientError
from chalice.cli.factory import CLIFactory
from moto import mock_aws

from chalicelib.messaging import ALERTS_TOPIC, PREMIUM_TEAM_TOPIC, TopicSpec
from chalicelib.orders.model import new_order
from chalicelib.orders.routing import AMOUNT_BAND, EMAIL_CLASS
from chalicelib.pipes import PIPES
from chalicelib.stream_records import StreamRecordFactory, stream_arn
from chalicelib.streaming import services
from chalicelib.tables import ORDERS, STREAM_TABLES
from shoppulse.embedded import EMBEDDED_ENV
from shoppulse.provision import create_tables

PROJECT_DIR = str(Path(__file__).resolve().parents[1])
_SERIALIZER = TypeSerializer()


def typed(item: Mapping[str, Any]) -> dict[str, Any]:
    """A Python item as a DynamoDB typed image (what stream images hold)."""
    return {k: _SERIALIZER.serialize(v) for k, v in item.items()}


def order_item(
    amount: str = "150.00",
    email: str = "ann@example.com",
    status: str = "pending",
    order_id: str = "o-1",
    helpers: bool = True,
) -> dict[str, Any]:
    """An Orders item from the model; `helpers=False` is an item from a writer that lacks them."""
    item = dict(
        new_order(
            customer_id="c-1",
            customer_email=email,
            order_id=order_id,
            status=status,
            amount=amount,
            line_items=[{"sku": "sku-1", "quantity": 1, "unitPrice": Decimal(amount)}],
            now="2026-11-23T05:00:00.000+00:00",
        )
    )
    if not helpers:
        item.pop(AMOUNT_BAND)
        item.pop(EMAIL_CLASS)
    return item


class OrderStream:
    """Successive writes to the Orders table as the stream records they produce."""

    def __init__(self) -> None:
        self._factory = StreamRecordFactory(
            stream_arn(ORDERS.default_name, "us-east-1", "123456789012", "2026-11-23T00:00:00.000"),
            (ORDERS.partition_key,),
            clock=lambda: 1_795_000_000.0,
        )

    def insert(self, new: Mapping[str, Any]) -> dict[str, Any]:
        return self._factory.record(None, typed(new))

    def modify(self, old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
        return self._factory.record(typed(old), typed(new))

    def remove(self, old: Mapping[str, Any]) -> dict[str, Any]:
        return self._factory.record(typed(old), None)


@dataclass
class Inbox:
    """An SQS queue subscribed to an SNS topic: what the topic really delivered."""

    sqs: Any
    url: str

    def messages(self) -> list[dict[str, Any]]:
        found = []
        while True:
            batch = self.sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=10).get("Messages", [])
            if not batch:
                return found
            for message in batch:
                envelope = json.loads(message["Body"])
                found.append({"subject": envelope.get("Subject"), "message": json.loads(envelope["Message"])})
                self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"])


@dataclass
class StreamAws:
    dynamodb: Any
    sns: Any
    sqs: Any
    inboxes: dict[str, Inbox]

    def table(self, spec: Any) -> Any:
        return self.dynamodb.Table(spec.name())

    def items(self, spec: Any) -> list[dict[str, Any]]:
        return self.table(spec).scan(ConsistentRead=True)["Items"]


def _subscribe(sns: Any, sqs: Any, spec: TopicSpec) -> Inbox:
    topic_arn = sns.create_topic(Name=spec.default_name)["TopicArn"]
    url = sqs.create_queue(QueueName=f"{spec.default_name}-inbox")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
    return Inbox(sqs, url)


def chalice_environment(stage: str = "dev") -> dict[str, str]:
    """The stage's environment variables from .chalice/config.json (Chalice's test client sets them)."""
    return dict(CLIFactory(PROJECT_DIR).create_config_obj(chalice_stage_name=stage).environment_variables)


@contextmanager
def stream_aws() -> Iterator[StreamAws]:
    """moto with the stream tables, topics (each with an inbox) and the pipes' dead-letter queues,
    named as the Chalice stage configures them."""
    cleared = {k: "" for k in ("AWS_ENDPOINT_URL", "AWS_PROFILE") if k in os.environ}
    with mock.patch.dict(os.environ, {**EMBEDDED_ENV, **chalice_environment(), **cleared}), mock_aws():
        for name in cleared:
            os.environ.pop(name)
        services.reset()
        dynamodb, sns, sqs = boto3.resource("dynamodb"), boto3.client("sns"), boto3.client("sqs")
        create_tables(dynamodb.meta.client, STREAM_TABLES)
        inboxes = {spec.logical_id: _subscribe(sns, sqs, spec) for spec in (ALERTS_TOPIC, PREMIUM_TEAM_TOPIC)}
        for pipe in PIPES:
            sqs.create_queue(QueueName=pipe.dead_letter_queue.name())
        try:
            yield StreamAws(dynamodb, sns, sqs, inboxes)
        finally:
            services.reset()


class Throttled:
    """Wraps a boto3 Table or client: chosen calls fail as AWS would (throttling by default)."""

    def __init__(
        self,
        target: Any,
        method: str,
        when: Any = lambda kwargs: True,
        times: int | None = None,
        code: str = "ThrottlingException",
    ) -> None:
        self._target, self._method, self._when, self._left, self._code = target, method, when, times, code

    # A Put that fails alone fails inside a transaction too: the transaction is cancelled, with
    # a reason per action (https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_TransactWriteItems.html).
    _CANCELLATION_CODES: ClassVar[dict[str, str]] = {"ThrottlingException": "ThrottlingError"}

    def __getattr__(self, name: str) -> Any:
        real = getattr(self._target, name)
        if name == "meta" and self._method == "put_item":
            return SimpleNamespace(client=_TransactionsOf(real.client, self))
        if name != self._method:
            return real

        def call(**kwargs: Any) -> Any:
            if self.fails(kwargs):
                raise ClientError({"Error": {"Code": self._code, "Message": f"{self._code} (injected)"}}, name)
            return real(**kwargs)

        return call

    def fails(self, kwargs: Mapping[str, Any]) -> bool:
        """Whether this call fails (and counts it against `times`)."""
        if not self._when(kwargs) or (self._left is not None and self._left <= 0):
            return False
        if self._left is not None:
            self._left -= 1
        return True

    def cancellation_code(self) -> str:
        return self._CANCELLATION_CODES.get(self._code, self._code)


class _TransactionsOf:
    """A Table's client whose TransactWriteItems fails the Puts its `Throttled` table would fail."""

    def __init__(self, client: Any, table: Throttled) -> None:
        self._client, self._table = client, table

    def __getattr__(self, name: str) -> Any:
        real = getattr(self._client, name)
        if name != "transact_write_items":
            return real

        def call(**kwargs: Any) -> Any:
            failing = [
                self._table.fails(action["Put"]) if "Put" in action else False for action in kwargs["TransactItems"]
            ]
            if any(failing):
                code = self._table.cancellation_code()
                reasons = [{"Code": code, "Message": "injected"} if f else {"Code": "None"} for f in failing]
                error = {"Code": "TransactionCanceledException", "Message": "Transaction cancelled (injected)"}
                raise ClientError({"Error": error, "CancellationReasons": reasons}, name)  # type: ignore[typeddict-unknown-key]
            return real(**kwargs)

        return call
