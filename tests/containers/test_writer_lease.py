"""The writer lease against DynamoDB (embedded): who may take it, when, and how it is kept.

Dead holders are modelled as what a kill leaves: a lease taken and never renewed again. Time is
a fake clock that the waiting run's sleeps advance, so waits of a minute take milliseconds.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from chalicelib.tables import DAILY_KPIS
from containers.adapters.writer_lease import (
    LEASE_SECONDS,
    STATE_KEY,
    LeaseBusy,
    LeaseLost,
    WriterLease,
    release_abandoned,
)
from containers.tasks.config import AwsClients
from shoppulse.embedded import embedded_aws


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000_000.0
        self.slept = 0.0

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.slept += seconds


@pytest.fixture
def aws() -> Iterator[AwsClients]:
    with embedded_aws() as clients:
        yield clients


def lease(aws: AwsClients, holder: str, clock: FakeClock, lost: list[str] | None = None) -> WriterLease:
    def record(who: str) -> None:
        (lost if lost is not None else []).append(who)

    return WriterLease(aws.dynamodb, DAILY_KPIS.name(), holder, clock.time, clock.sleep, on_lost=record)


def killed_holder(aws: AwsClients, holder: str, clock: FakeClock) -> None:
    """A task that took the lease and was then killed: no renewal, no release."""
    dead = lease(aws, holder, clock)
    dead.acquire()
    dead.stop_renewing()


def holder_of(aws: AwsClients) -> str | None:
    item = aws.dynamodb.get_item(TableName=DAILY_KPIS.name(), Key=STATE_KEY, ConsistentRead=True)["Item"]
    return item["lease_holder"]["S"] if "lease_holder" in item else None


def test_the_retry_of_a_killed_run_takes_its_lease_back_at_once(aws: AwsClients) -> None:
    clock = FakeClock()
    killed_holder(aws, "run-1", clock)
    retry = lease(aws, "run-1", clock)
    retry.acquire(wait_seconds=0)
    assert clock.slept == 0 and holder_of(aws) == "run-1"
    retry.release()
    assert holder_of(aws) is None


def test_another_run_waits_for_a_killed_holder_only_until_its_lease_expires(aws: AwsClients) -> None:
    """Before: a lease lasted 35 min and a waiting run gave up after 15 (LeaseBusy)."""
    clock = FakeClock()
    killed_holder(aws, "run-1", clock)
    other = lease(aws, "run-2", clock)
    other.acquire()
    assert LEASE_SECONDS <= clock.slept <= LEASE_SECONDS + 1.0  # backoff pauses are at most 1 s
    assert holder_of(aws) == "run-2"
    with pytest.raises(LeaseLost):  # the dead holder can touch nothing any more
        lease(aws, "run-1", clock).writing(["x"])
    other.release()


def test_a_run_gives_up_as_transient_while_a_live_holder_keeps_its_lease(aws: AwsClients) -> None:
    clock = FakeClock()
    holder = lease(aws, "run-1", clock)
    holder.acquire()
    try:
        with pytest.raises(LeaseBusy):
            lease(aws, "run-2", FakeClock()).acquire(wait_seconds=5)
    finally:
        holder.release()


def test_a_live_holder_renews_its_lease_past_its_duration(aws: AwsClients) -> None:
    """Real time, a lease of 1.5 s renewed every 0.15 s: held 2 s, then still not expired."""
    lost: list[str] = []
    table = DAILY_KPIS.name()
    holder = WriterLease(aws.dynamodb, table, "run-1", lease_seconds=1.5, renew_seconds=0.15, on_lost=lost.append)
    holder.acquire()
    time.sleep(2.0)
    with pytest.raises(LeaseBusy):
        WriterLease(aws.dynamodb, table, "run-2", lease_seconds=1.5, renew_seconds=0.15).acquire(wait_seconds=0)
    holder.writing(["still-the-writer"])  # every conditional update still passes
    holder.release()
    assert lost == [] and holder_of(aws) is None


def test_a_holder_whose_lease_was_taken_stops_itself(aws: AwsClients) -> None:
    stopped = threading.Event()
    holder = WriterLease(aws.dynamodb, DAILY_KPIS.name(), "run-1", renew_seconds=0.1, on_lost=lambda _: stopped.set())
    holder.acquire()
    aws.dynamodb.update_item(  # as if the lease had expired and another run had taken it
        TableName=DAILY_KPIS.name(),
        Key=STATE_KEY,
        UpdateExpression="SET lease_holder = :other",
        ExpressionAttributeValues={":other": {"S": "run-2"}},
    )
    assert stopped.wait(5)
    holder.stop_renewing()


def test_a_holder_that_cannot_renew_in_time_stops_before_its_lease_expires(aws: AwsClients) -> None:
    """No renewal gets through (the fake clock runs ahead of the renewal thread's 20 s pause):
    the holder stops 40 s after its last renewal, 20 s before others may take its lease."""
    clock = FakeClock()
    stopped = threading.Event()
    holder = WriterLease(
        aws.dynamodb, DAILY_KPIS.name(), "run-1", clock.time, clock.sleep, 60, 20, lambda _: stopped.set()
    )
    holder.acquire()
    clock.now += 39
    assert not stopped.wait(0.6)
    clock.now += 2
    assert stopped.wait(5)
    with pytest.raises(LeaseBusy):  # and its lease has not expired yet
        lease(aws, "run-2", FakeClock()).acquire(wait_seconds=0)
    holder.stop_renewing()


def test_a_renewal_period_must_be_shorter_than_the_lease(aws: AwsClients) -> None:
    with pytest.raises(ValueError, match="renew"):
        WriterLease(aws.dynamodb, DAILY_KPIS.name(), "run-1", lease_seconds=10, renew_seconds=10)


def test_a_lease_known_abandoned_is_freed_at_once_and_its_holder_cannot_write_again(aws: AwsClients) -> None:
    clock = FakeClock()
    assert release_abandoned(aws.dynamodb, DAILY_KPIS.name()) is None  # nobody holds it
    dead = lease(aws, "run-dead", clock)
    dead.acquire()
    dead.stop_renewing()
    assert release_abandoned(aws.dynamodb, DAILY_KPIS.name()) == "run-dead"
    assert holder_of(aws) is None
    successor = lease(aws, "run-next", clock)
    successor.acquire()
    assert clock.slept == 0  # no wait for the dead holder's lease to expire
    assert holder_of(aws) == "run-next"
    with pytest.raises(LeaseLost):  # had it lived, its writes are refused: the successor holds it
        dead.commit(1, [], set())
    successor.release()
