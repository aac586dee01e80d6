"""The real-time flow's objects, built once per process from the environment.

The accessors are the one place the app gets them and the one place tests swap them
(`reset()` after pointing boto3 somewhere else, e.g. inside moto).
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

import boto3

from chalicelib.messaging import ALERTS_TOPIC, PREMIUM_TEAM_TOPIC
from chalicelib.orders.repository import OrderRepository
from chalicelib.pipes import PREMIUM_PIPE, STANDARD_PIPE
from chalicelib.streaming.batch import StreamBatchProcessor, each_record
from chalicelib.streaming.dead_letters import DeadLetterHandler
from chalicelib.streaming.failures import FailureAlerts, FailureRepository
from chalicelib.streaming.notify import OnceNotifier
from chalicelib.streaming.premium import PremiumCaseRepository, PremiumService
from chalicelib.streaming.processing import ProcessingRepository, StandardProcessing
from chalicelib.tables import ORDER_FAILURES, ORDER_PROCESSING, ORDERS, PREMIUM_CASES, TableSpec

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBServiceResource
    from mypy_boto3_dynamodb.service_resource import Table
    from mypy_boto3_sns import SNSClient


@cache
def _dynamodb() -> DynamoDBServiceResource:
    return boto3.resource("dynamodb")


@cache
def _sns() -> SNSClient:
    return boto3.client("sns")


def _table(spec: TableSpec) -> Table:
    return _dynamodb().Table(spec.name())


@cache
def order_repository() -> OrderRepository:
    return OrderRepository(_table(ORDERS))


@cache
def processing_repository() -> ProcessingRepository:
    return ProcessingRepository(_table(ORDER_PROCESSING))


@cache
def premium_cases() -> PremiumCaseRepository:
    return PremiumCaseRepository(_table(PREMIUM_CASES))


@cache
def failure_repository() -> FailureRepository:
    return FailureRepository(_table(ORDER_FAILURES))


@cache
def _failure_alerts() -> FailureAlerts:
    return FailureAlerts(OnceNotifier(_table(ORDER_FAILURES), _sns(), ALERTS_TOPIC.arn()))


@cache
def standard_batches() -> StreamBatchProcessor:
    handle = StandardProcessing(processing_repository())
    return StreamBatchProcessor(STANDARD_PIPE, handle, failure_repository(), _failure_alerts())


@cache
def premium_batches() -> StreamBatchProcessor:
    notifier = OnceNotifier(_table(PREMIUM_CASES), _sns(), PREMIUM_TEAM_TOPIC.arn())
    handle = each_record(PremiumService(premium_cases(), notifier))
    return StreamBatchProcessor(PREMIUM_PIPE, handle, failure_repository(), _failure_alerts())


@cache
def dead_letters() -> DeadLetterHandler:
    return DeadLetterHandler(failure_repository(), _failure_alerts())


def batches_for(pipe_key: str) -> StreamBatchProcessor:
    return {STANDARD_PIPE.key: standard_batches, PREMIUM_PIPE.key: premium_batches}[pipe_key]()


# Captured here, so that reset() still reaches them while a test has replaced an accessor.
_CACHED = (
    _dynamodb,
    _sns,
    order_repository,
    processing_repository,
    premium_cases,
    failure_repository,
    _failure_alerts,
    standard_batches,
    premium_batches,
    dead_letters,
)


def reset() -> None:
    """Forget every built object: the next call rebuilds it from the environment."""
    for accessor in _CACHED:
        accessor.cache_clear()
