"""DynamoDB table definitions: the one source of truth for names, keys and indexes.

Infra renders these into CloudFormation, the local stack creates them with boto3, and the
app, the containers and the tests take their key names from here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from chalicelib.resource_spec import ResourceSpec


@dataclass(frozen=True)
class Index:
    """A global secondary index (projection ALL: the KPI items are small)."""

    name: str
    partition_key: str
    sort_key: str | None = None

    @property
    def range_key(self) -> str:
        """The sort key, for code that addresses items of an index that has one."""
        if self.sort_key is None:
            raise TypeError(f"{self.name} has no sort key")
        return self.sort_key


@dataclass(frozen=True)
class TableSpec(ResourceSpec):
    """A table as both CloudFormation and boto3 need it."""

    partition_key: str
    sort_key: str | None = None
    attribute_types: Mapping[str, str] = field(default_factory=dict)
    indexes: tuple[Index, ...] = ()
    stream_view_type: str | None = None
    ttl_attribute: str | None = None

    @property
    def range_key(self) -> str:
        """The sort key, for code that addresses items of a table that has one."""
        if self.sort_key is None:
            raise TypeError(f"{self.default_name} has no sort key")
        return self.sort_key

    def key_attributes(self) -> list[str]:
        names = [self.partition_key, self.sort_key]
        for index in self.indexes:
            names += [index.partition_key, index.sort_key]
        return list(dict.fromkeys(n for n in names if n))

    def key_schema(self) -> list[dict[str, str]]:
        return _key_schema(self.partition_key, self.sort_key)

    def attribute_definitions(self) -> list[dict[str, str]]:
        return [{"AttributeName": n, "AttributeType": self.attribute_types.get(n, "S")} for n in self.key_attributes()]

    def create_table_kwargs(self, name: str | None = None) -> dict[str, Any]:
        """Arguments for boto3 `create_table` (the local stack and tests)."""
        kwargs: dict[str, Any] = {
            "TableName": name or self.default_name,
            "KeySchema": self.key_schema(),
            "AttributeDefinitions": self.attribute_definitions(),
            "BillingMode": "PAY_PER_REQUEST",
        }
        if self.indexes:
            kwargs["GlobalSecondaryIndexes"] = [
                {
                    "IndexName": i.name,
                    "KeySchema": _key_schema(i.partition_key, i.sort_key),
                    "Projection": {"ProjectionType": "ALL"},
                }
                for i in self.indexes
            ]
        if self.stream_view_type:
            kwargs["StreamSpecification"] = {
                "StreamEnabled": True,
                "StreamViewType": self.stream_view_type,
            }
        return kwargs


def _key_schema(partition_key: str, sort_key: str | None) -> list[dict[str, str]]:
    schema = [{"AttributeName": partition_key, "KeyType": "HASH"}]
    if sort_key:
        schema.append({"AttributeName": sort_key, "KeyType": "RANGE"})
    return schema


# Daily KPIs: one item per day. Partitioned by year so that a date range is a Query on one
# or two partitions (never a Scan) without putting all history in one partition.
DAILY_KPIS = TableSpec(
    logical_id="DailyKpisTable",
    default_name="DailyKpis",
    env_var="DAILY_KPIS_TABLE",
    partition_key="year",
    sort_key="order_date",
)

# Category KPIs: one item per (day, category). The base key answers "every category of one
# day" with a strongly consistent Query (the transformation relies on that to delete stale
# categories); the index answers "one category over a date range".
CATEGORY_KPIS_BY_CATEGORY = Index(name="by_category", partition_key="category", sort_key="order_date")
CATEGORY_KPIS = TableSpec(
    logical_id="CategoryKpisTable",
    default_name="CategoryKpis",
    env_var="CATEGORY_KPIS_TABLE",
    partition_key="order_date",
    sort_key="category",
    indexes=(CATEGORY_KPIS_BY_CATEGORY,),
)

# Runs: one item per input object version (the workflow's idempotency guard and outcome
# record). The index lists runs newest first (a handful a day: one partition is plenty);
# `by_content` finds the first landing of a file's bytes (chalicelib.runs.FirstLandings).
RUNS_BY_TIME = Index(name="by_time", partition_key="run_kind", sort_key="started_at")
RUNS_BY_CONTENT = Index(name="by_content", partition_key="content_sha256", sort_key="landed_at")
RUNS = TableSpec(
    logical_id="RunsTable",
    default_name="Runs",
    env_var="RUNS_TABLE",
    partition_key="run_id",
    indexes=(RUNS_BY_TIME, RUNS_BY_CONTENT),
)

BATCH_TABLES: tuple[TableSpec, ...] = (DAILY_KPIS, CATEGORY_KPIS, RUNS)

# --- Real-time orders (stream tables) ---------------------------------------------------------

# Orders: one item per order. Its stream (new and old images) feeds the two pipes; the
# attribute names are fixed in chalicelib/orders/model.py.
ORDERS = TableSpec(
    logical_id="OrdersTable",
    default_name="Orders",
    env_var="ORDERS_TABLE",
    partition_key="orderId",
    stream_view_type="NEW_AND_OLD_IMAGES",
)

# Standard processing records: one item per processed order event, keyed so that "the events
# of one order, oldest first" (GET /orders/{orderId}/events) is a Query on the base key. The
# sort key begins with the event's stream time and ends with its eventID: deterministic per
# event, which makes the conditional put the idempotency guard.
ORDER_PROCESSING = TableSpec(
    logical_id="OrderProcessingTable",
    default_name="OrderProcessing",
    env_var="ORDER_PROCESSING_TABLE",
    partition_key="orderId",
    sort_key="event_key",
)

# Premium cases: at most one per order (the key is the guard). The index lists cases newest
# first without a Scan; premium cases are a handful a day, one index partition is plenty.
PREMIUM_CASES_BY_TIME = Index(name="by_opened", partition_key="case_kind", sort_key="opened_at")
PREMIUM_CASES = TableSpec(
    logical_id="PremiumCasesTable",
    default_name="PremiumCases",
    env_var="PREMIUM_CASES_TABLE",
    partition_key="orderId",
    indexes=(PREMIUM_CASES_BY_TIME,),
)

# Order event failures: dead-lettered batches (from the pipes' DLQs) and records that failed
# or were rejected in a handler, kept with their reason and the raw record. The index lists
# one pipe's failures newest first (what `shoppulse redrive` and the alarms' runbook read).
ORDER_FAILURES_BY_PIPE = Index(name="by_pipe", partition_key="pipe", sort_key="recorded_at")
ORDER_FAILURES = TableSpec(
    logical_id="OrderEventFailuresTable",
    default_name="OrderEventFailures",
    env_var="ORDER_EVENT_FAILURES_TABLE",
    partition_key="failure_id",
    indexes=(ORDER_FAILURES_BY_PIPE,),
)

STREAM_TABLES: tuple[TableSpec, ...] = (ORDERS, ORDER_PROCESSING, PREMIUM_CASES, ORDER_FAILURES)
ALL_TABLES: tuple[TableSpec, ...] = BATCH_TABLES + STREAM_TABLES
