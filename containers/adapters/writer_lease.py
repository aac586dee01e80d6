"""The curated store's one writer: a lease and the commit pointer, on one DynamoDB item.

The item lives in the DailyKpis table under a partition no date sorts into (`#curated`), the
way the category registry does. Every update is conditional on the caller holding the lease
(a condition expression: the write happens only if it holds, atomically with the check;
https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Expressions.SpecifyingConditions.html),
so only the holder moves the pointer.

How long a lease lasts, and who may take it over:
- The holder renews it every `RENEW_SECONDS` from a background thread, for as long as it runs, so
  a live writer never sees it expire, whatever the size of its file.
- A holder that cannot renew (its lease was taken, or no renewal got through for
  `LEASE_SECONDS - RENEW_SECONDS`) exits at once as transient (75, retried by the workflow), before
  its lease can expire: a writer that lost its lease never writes again.
- A stopped holder (ECS sends SIGTERM, then SIGKILL after the container's stopTimeout,
  https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_StopTask.html) releases it
  before it exits (containers/tasks/stop_signal.py). A dead holder (SIGKILL, OOM) renews no
  more: another run takes the lease at most `LEASE_SECONDS` after its last renewal.
- A retry of the same run (the holder is the run id) takes its own lease back at once: `.sync`
  fails the state only once the task has stopped
  (https://docs.aws.amazon.com/step-functions/latest/dg/connect-to-resource.html#connect-sync),
  so the attempt it replaces is gone.

Attributes: `seq` (the committed snapshot), `writing` (objects an attempt is writing, not yet
committed), `garbage` (objects the last commit superseded, not yet deleted), `kpi_days` (days
committed whose KPIs may not be written yet).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from chalicelib.runs import ExitCode
from containers.tasks.stop_signal import checkpoint

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef

STATE_KEY = {"year": {"S": "#curated"}, "order_date": {"S": "state"}}
LEASE_SECONDS = 60.0  # a lease outlives its last renewal by this: the longest a dead holder blocks others
RENEW_SECONDS = 15.0  # the holder renews this often; it stops itself when none got through for 45 s
WAIT_SECONDS = 900  # a run waits this long for a live holder, then exits as transient (retried)


class LeaseLost(Exception):
    """Another writer holds the lease (ours expired): nothing of this attempt is committed."""


def stop_process(holder: str) -> None:
    """What a holder does when its lease is lost or could not be renewed in time: exit at once
    as transient (the workflow retries), before another writer may take the lease over."""
    logging.getLogger(__name__).error("writer lease lost: stopping", extra={"fields": {"holder": holder}})
    os._exit(int(ExitCode.TRANSIENT))


def release_abandoned(client: DynamoDBClient, table: str) -> str | None:
    """Free the lease, whoever holds it; the holder it had, if any.

    Only for a caller that knows no writer is alive: the local stack as it restores its state
    (no task of its last session outlives it), so that the next writer need not wait up to
    `LEASE_SECONDS` for a dead holder's lease to expire. What that holder was writing is cleaned
    by the next holder, as after an expiry; a live holder would lose the lease at its next
    renewal and stop (75, retried) before writing again, since every write it makes is
    conditional on holding it."""
    try:
        out = client.update_item(
            TableName=table,
            Key=STATE_KEY,
            UpdateExpression="REMOVE lease_holder, lease_expires",
            ConditionExpression="attribute_exists(lease_holder)",
            ReturnValues="ALL_OLD",
        )
    except ClientError as err:
        if err.response["Error"]["Code"] == "ConditionalCheckFailedException":
            return None
        raise
    return out["Attributes"]["lease_holder"]["S"]


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
    """One holder's view of the lease. `clock` and `sleep` drive expiry and waiting; `on_lost`
    runs (on the renewal thread) when the lease is lost."""

    def __init__(
        self,
        client: DynamoDBClient,
        table: str,
        holder: str,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        lease_seconds: float = LEASE_SECONDS,
        renew_seconds: float = RENEW_SECONDS,
        on_lost: Callable[[str], None] = stop_process,
    ) -> None:
        self._db, self._table, self._holder, self._clock, self._sleep = client, table, holder, clock, sleep
        self._lease_seconds, self._renew_seconds, self._on_lost = lease_seconds, renew_seconds, on_lost
        if not 0 < renew_seconds < lease_seconds:
            raise ValueError("renew_seconds must be positive and shorter than lease_seconds")
        self._stop = threading.Event()
        self._stop.set()
        self._fence_at = 0.0

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

    def _expires(self, now: float) -> AttributeValueTypeDef:
        return {"N": f"{now + self._lease_seconds:.3f}"}

    def acquire(self, wait_seconds: float = WAIT_SECONDS) -> WriterState:
        """Take the lease (free, expired or already ours), waiting for it with backoff, and
        keep renewing it until `release`."""
        deadline, pause = self._clock() + wait_seconds, 0.02
        while True:
            now = self._clock()
            try:
                state = self._update(
                    "SET lease_holder = :me, lease_expires = :expires",
                    {":expires": self._expires(now), ":now": {"N": f"{now:.3f}"}},
                    "attribute_not_exists(lease_holder) OR lease_holder = :me OR lease_expires < :now",
                )
            except LeaseLost:
                checkpoint()
                if now >= deadline:
                    raise LeaseBusy(self._holder) from None
                self._sleep(pause)
                pause = min(pause * 2, 1.0)
                continue
            self._keep(now)
            return state

    def _keep(self, taken_at: float) -> None:
        """Renew the lease from a thread, and stop this process if it cannot be renewed in time
        (from a second thread: a renewal may hang on the network)."""
        self._stop = stop = threading.Event()
        self._fence_at = taken_at + self._lease_seconds - self._renew_seconds
        threading.Thread(target=self._renew, args=(stop,), name="lease-renewal", daemon=True).start()
        threading.Thread(target=self._watch, args=(stop,), name="lease-fence", daemon=True).start()

    def _renew(self, stop: threading.Event) -> None:
        log = logging.getLogger(__name__)
        while not stop.wait(self._renew_seconds):
            sent = self._clock()
            try:
                self._update("SET lease_expires = :expires", {":expires": self._expires(sent)})
            except LeaseLost:
                if not stop.is_set():  # not a release racing this renewal
                    stop.set()
                    self._on_lost(self._holder)
                return
            except Exception:  # a transient fault: the next renewal may get through, or the fence acts
                log.warning("writer lease renewal failed", exc_info=True, extra={"fields": {"holder": self._holder}})
                continue
            self._fence_at = sent + self._lease_seconds - self._renew_seconds

    def _watch(self, stop: threading.Event) -> None:
        while not stop.wait(min(self._renew_seconds, 1.0) / 4):
            if self._clock() >= self._fence_at:
                stop.set()
                self._on_lost(self._holder)
                return

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

    def stop_renewing(self) -> None:
        """Renew no more: what the end of the holder's process does (the lease then expires)."""
        self._stop.set()

    def release(self, kpis_written: set[str] | None = None) -> None:
        """Free the lease; with `kpis_written`, the same update clears those days from
        `kpi_days` (their KPIs are stored): one write fewer per file than two steps, and no
        state between them to reason about (an update may hold each of SET, REMOVE, ADD and
        DELETE once: https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Expressions.Modifying.html)."""
        self.stop_renewing()
        expression = "REMOVE lease_holder, lease_expires"
        values: dict[str, AttributeValueTypeDef] = {}
        if kpis_written:
            expression = f"{expression} DELETE kpi_days :days"
            values[":days"] = {"SS": sorted(kpis_written)}
        self._update(expression, values)
