"""The curated store's one writer: a lease and the commit pointer, on one DynamoDB item.

The item lives in the DailyKpis table under a partition no date sorts into (`#curated`), the
way the category registry does. Every update is conditional on the caller holding the lease,
so only the holder moves the pointer. A lease outlives the transformation task's timeout
(`LEASE_SECONDS`): once it has expired, Step Functions has stopped its holder
(https://docs.aws.amazon.com/step-functions/latest/dg/connect-ecs.html, "timeoutSeconds"),
so two writers never overlap. A retry of the same run takes its own lease back at once.

Attributes: `seq` (the committed snapshot), `writing` (objects an attempt is writing, not yet
committed), `garbage` (objects the last commit superseded, not yet deleted), `kpi_days` (days
committed whose KPIs may not be written yet).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef

STATE_KEY = {"year": {"S": "#curated"}, "order_date": {"S": "state"}}
LEASE_SECONDS = 1800 + 300  # the transformation task's timeout (infra/ecs.py) and a margin
WAIT_SECONDS = 900  # a run waits this long for the lease, then exits as transient (retried)


class LeaseLost(Exception):
    """Another writer holds the lease (ours expired): nothing of this attempt is committed."""


class LeaseBusy(TimeoutError):
    """The lease stayed held by another run for `WAIT_SECONDS`: a transient failure (the task
    exits 75 and the workflow retries it)."""


@dataclass
class WriterState:
    seq: int = 0
    writing: list[str] = field(default_factory=list)
    garbage: list[str] = field(default_factory=list)
    kpi_days: set[str] = field(default_factory=set)


def _state(item: Mapping[str, AttributeValueTypeDef]) -> WriterState:
    return WriterState(
        seq=int(item.get("seq", {}).get("N", "0")),
        writing=[v["S"] for v in item.get("writing", {}).get("L", [])],
        garbage=[v["S"] for v in item.get("garbage", {}).get("L", [])],
        kpi_days=set(item.get("kpi_days", {}).get("SS", [])),
    )


def _keys(keys: list[str]) -> AttributeValueTypeDef:
    return {"L": [{"S": k} for k in keys]}


class WriterLease:
    def __init__(self, client: DynamoDBClient, table: str, holder: str, clock: Callable[[], float] = time.time) -> None:
        self._db, self._table, self._holder, self._clock = client, table, holder, clock

    def _update(
        self, expression: str, values: dict[str, AttributeValueTypeDef], condition: str = "lease_holder = :me"
    ) -> WriterState:
        try:
            out = self._db.update_item(
                TableName=self._table,
                Key=STATE_KEY,
                UpdateExpression=expression,
                ConditionExpression=condition,
                ExpressionAttributeValues={":me": {"S": self._holder}, **values},
                ReturnValues="ALL_NEW",
            )
        except ClientError as err:
            if err.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise LeaseLost(self._holder) from err
            raise
        return _state(out["Attributes"])

    def acquire(self, wait_seconds: float = WAIT_SECONDS) -> WriterState:
        """Take the lease (free, expired or already ours), waiting for it with backoff."""
        deadline, pause = self._clock() + wait_seconds, 0.02
        while True:
            now = self._clock()
            try:
                return self._update(
                    "SET lease_holder = :me, lease_expires = :expires",
                    {":expires": {"N": str(int(now + LEASE_SECONDS))}, ":now": {"N": str(int(now))}},
                    "attribute_not_exists(lease_holder) OR lease_holder = :me OR lease_expires < :now",
                )
            except LeaseLost:
                if now >= deadline:
                    raise LeaseBusy(self._holder) from None
                time.sleep(pause)
                pause = min(pause * 2, 1.0)

    def cleaned(self) -> WriterState:
        """Forget what a crashed attempt was writing and what the last commit superseded
        (the caller has deleted both)."""
        return self._update("REMOVE writing, garbage", {})

    def writing(self, keys: list[str]) -> None:
        """Announce the objects about to be written, so that a crash leaves none unknown."""
        self._update("SET writing = :keys", {":keys": _keys(keys)})

    def commit(self, seq: int, superseded: list[str], days: set[str]) -> None:
        """Move the pointer from `seq - 1` to `seq`: the one step that makes an attempt count."""
        values: dict[str, AttributeValueTypeDef] = {":seq": {"N": str(seq)}, ":g": _keys(superseded)}
        expression = "SET seq = :seq, garbage = :g REMOVE writing"
        if days:
            expression = f"{expression} ADD kpi_days :days"
            values[":days"] = {"SS": sorted(days)}
        before = "attribute_not_exists(seq)"
        if seq > 1:
            before, values[":before"] = "seq = :before", {"N": str(seq - 1)}
        self._update(expression, values, f"lease_holder = :me AND {before}")

    def kpis_written(self, days: set[str]) -> None:
        if days:
            self._update("DELETE kpi_days :days", {":days": {"SS": sorted(days)}})

    def release(self) -> None:
        self._update("REMOVE lease_holder, lease_expires", {})
