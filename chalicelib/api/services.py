"""The API's query objects, each built once per Lambda container behind an accessor.

They take their tables in the constructor; `reset()` is the one place tests swap them
(e.g. after entering moto, or pointing at another endpoint via AWS_ENDPOINT_URL).
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

import boto3

from chalicelib.api.kpi_queries import KpiQueries
from chalicelib.api.order_queries import OrderQueries
from chalicelib.api.run_queries import RunQueries
from chalicelib.runs import RunRepository
from chalicelib.streaming import services as streaming
from chalicelib.tables import CATEGORY_KPIS, DAILY_KPIS, RUNS, TableSpec

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBServiceResource
    from mypy_boto3_dynamodb.service_resource import Table


@cache
def _dynamodb() -> DynamoDBServiceResource:
    return boto3.resource("dynamodb")


def _table(spec: TableSpec) -> Table:
    return _dynamodb().Table(spec.name())


@cache
def kpi_queries() -> KpiQueries:
    return KpiQueries(_table(DAILY_KPIS), _table(CATEGORY_KPIS))


@cache
def run_queries() -> RunQueries:
    return RunQueries(RunRepository(_table(RUNS)))


@cache
def order_queries() -> OrderQueries:
    """Reads through the stream side's own repositories (their accessors, their reset)."""
    return OrderQueries(streaming.order_repository(), streaming.processing_repository(), streaming.premium_cases())


def reset() -> None:
    for accessor in (_dynamodb, kpi_queries, run_queries, order_queries):
        accessor.cache_clear()
    streaming.reset()
