"""Recovery never reorders history: a file re-landed after its run failed (copied onto itself,
or uploaded again with the same bytes) keeps the place of its original landing in the
latest-wins order; the same bytes re-landed after they were loaded are a duplicate; different
bytes are a new landing. KPIs are checked against the independent reference, which ranks
files by their landing order."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

import moto.s3.models
import pytest
from moto.core.utils import utcnow

from chalicelib.runs import RunRepository, RunStatus
from chalicelib.storage_layout import CURATED_BUCKET, INCOMING_PREFIX, INPUT_BUCKET, STAGING_PREFIX, RunIdentity
from chalicelib.tables import RUNS
from shoppulse.embedded import embedded_aws
from shoppulse.replay import InProcessWorkflow, WorkflowFailed
from tests import reference_kpis as ref
from tests.containers.batch_support import csv_bytes, rows_of, stored_components

CATEGORIES = ["Jeans", "Tops & Tees", "Socks", "Outerwear & Coats", "Swim"]
DAYS = ["2025-03-01", "2025-03-02", "2025-03-03"]
# The old catalogue puts every product in another category than the new one.
OLD_CATALOGUE = rows_of(ref.PRODUCTS, [(p, f"S{p}", "1", CATEGORIES[p % 5]) for p in range(1, 6)])
NEW_CATALOGUE = rows_of(ref.PRODUCTS, [(p, f"S{p}", "1", CATEGORIES[(p + 2) % 5]) for p in range(1, 6)])
ORDERS = [
    {"order_id": n, "user_id": n % 3, "status": "complete", "created_at": f"{DAYS[n % 3]} 10:00:00"}
    for n in range(1, 7)
]
ITEMS = [
    {
        "id": n,
        "order_id": 1 + n % 6,
        "product_id": 1 + n % 5,
        "status": "complete",
        "created_at": f"{DAYS[(1 + n % 6) % 3]} 10:00:00",
        "sale_price": f"{10 + n}",
    }
    for n in range(1, 16)
]


class InjectedFault(Exception):
    """A task failing for good (its retries exhausted): the run ends FAILED."""


@contextmanager
def failing(s3: Any, operation: str, bucket: str, skip_prefix: str = "\0") -> Iterator[None]:
    """Every `operation` on `bucket` (but on keys under `skip_prefix`) fails."""

    def fail(params: dict[str, Any], **_: Any) -> None:
        if params.get("Bucket") == bucket and not params["Key"].startswith(skip_prefix):
            raise InjectedFault(params["Key"])

    event = f"before-parameter-build.s3.{operation}"
    s3.meta.events.register(event, fail, unique_id="inject")
    try:
        yield
    finally:
        s3.meta.events.unregister(event, unique_id="inject")


class Feed:
    """Files landing in the input bucket of an embedded AWS, each run through the workflow."""

    def __init__(self, clients: Any) -> None:
        self.clients, self.s3 = clients, clients.s3
        self.flow = InProcessWorkflow(clients)
        self.runs = RunRepository(clients.dynamodb_resource.Table(RUNS.name()))

    def run(self, key: str, version: str) -> dict[str, Any]:
        return self.flow.process(RunIdentity(INPUT_BUCKET.name(), key, version), key)

    def upload(self, name: str, body: bytes) -> str:
        return str(self.s3.put_object(Bucket=INPUT_BUCKET.name(), Key=INCOMING_PREFIX + name, Body=body)["VersionId"])

    def land(self, name: str, body: bytes) -> dict[str, Any]:
        return self.run(INCOMING_PREFIX + name, self.upload(name, body))

    def land_failing(self, name: str, body: bytes, where: str = "transformation") -> str:
        """Land a file whose run fails: its transformation at its first write to the curated data,
        or its validation before it reads the file; or no run at all (the event dead-lettered)."""
        version = self.upload(name, body)
        identity = RunIdentity(INPUT_BUCKET.name(), INCOMING_PREFIX + name, version)
        if where == "no-run":
            return identity.run_id
        fault = (
            failing(self.s3, "PutObject", CURATED_BUCKET.name(), skip_prefix=STAGING_PREFIX)
            if where == "transformation"
            else failing(self.s3, "GetObject", INPUT_BUCKET.name())
        )
        with fault, pytest.raises(WorkflowFailed, match=r"task failed"):
            self.flow.process(identity, name)
        failed = self.runs.get(identity.run_id)
        assert failed is not None and failed["status"] == RunStatus.FAILED.value  # recorded by the workflow itself
        return identity.run_id

    def copy_onto_itself(self, name: str) -> str:
        """`aws s3 cp s3://b/k s3://b/k --metadata-directive REPLACE`: S3 refuses a copy onto itself
        that changes nothing ("This copy request is illegal because it is trying to copy an object to
        itself without changing the object's metadata, storage class, website redirect location or
        encryption attributes", https://docs.aws.amazon.com/AmazonS3/latest/API/API_CopyObject.html),
        so the recovery replaces the metadata."""
        key = INCOMING_PREFIX + name
        copied = self.s3.copy_object(
            Bucket=INPUT_BUCKET.name(),
            Key=key,
            CopySource={"Bucket": INPUT_BUCKET.name(), "Key": key},
            MetadataDirective="REPLACE",
            Metadata={"relanded": "after-failed-run"},
        )
        return str(copied["VersionId"])

    def components(self) -> tuple[Any, Any]:
        return stored_components(self.clients.dynamodb_resource)

    def validation_of(self, key: str, version: str) -> dict[str, Any]:
        run = self.runs.get(RunIdentity(INPUT_BUCKET.name(), key, version).run_id)
        assert run is not None
        summary: dict[str, Any] = run["validation"]
        return summary


class S3Clock:
    """moto's S3 clock, which a test moves on to the next second instead of sleeping until then."""

    def __init__(self) -> None:
        self.skipped = timedelta(0)

    def now(self) -> datetime:
        return utcnow() + self.skipped

    def next_second(self) -> None:
        """S3 dates versions to the second: what lands after this lands strictly later."""
        now = self.now()
        self.skipped += timedelta(seconds=1, milliseconds=10) - timedelta(microseconds=now.microsecond)


@pytest.fixture()
def s3_clock(monkeypatch: pytest.MonkeyPatch) -> S3Clock:
    clock = S3Clock()
    monkeypatch.setattr(moto.s3.models, "utcnow", clock.now)  # dates every object version moto stores
    return clock


@pytest.fixture()
def feed() -> Iterator[Feed]:
    with embedded_aws() as clients:
        yield Feed(clients)


def expected(files: list[tuple[str, list[dict[str, Any]]]]) -> tuple[Any, Any]:
    """The reference's KPIs, files ranked in the given (landing) order."""
    components = ref.compute_components([ref.LandedFile(k, rows, i) for i, (k, rows) in enumerate(files)])
    return components.daily, components.categories


def relanded_by_copy(feed: Feed, name: str, _: bytes) -> str:
    return feed.copy_onto_itself(name)


def relanded_by_upload(feed: Feed, name: str, body: bytes) -> str:
    return feed.upload(name, body)


RELANDINGS = [pytest.param(relanded_by_copy, id="copied-onto-itself"), pytest.param(relanded_by_upload, id="uploaded")]


@pytest.mark.parametrize("failure", ["transformation", "validation", "no-run"])
@pytest.mark.parametrize("reland", RELANDINGS)
def test_an_old_catalogue_relanded_after_its_failed_run_keeps_its_original_place(
    feed: Feed, s3_clock: S3Clock, reland: Callable[[Feed, str, bytes], str], failure: str
) -> None:
    old = csv_bytes(ref.PRODUCTS, OLD_CATALOGUE)
    # Keys sort in landing order, so two files landing within one second rank as they landed.
    first_run = feed.land_failing("a-catalogue.csv", old, failure)
    assert feed.land("b-catalogue.csv", csv_bytes(ref.PRODUCTS, NEW_CATALOGUE))["status"] == "SUCCEEDED"
    feed.land("c-orders.csv", csv_bytes(ref.ORDERS, ORDERS))
    feed.land("d-items.csv", csv_bytes(ref.ITEMS, ITEMS))
    right = expected(
        [(ref.PRODUCTS, OLD_CATALOGUE), (ref.PRODUCTS, NEW_CATALOGUE), (ref.ORDERS, ORDERS), (ref.ITEMS, ITEMS)]
    )
    wrong = expected(
        [(ref.PRODUCTS, NEW_CATALOGUE), (ref.PRODUCTS, OLD_CATALOGUE), (ref.ORDERS, ORDERS), (ref.ITEMS, ITEMS)]
    )
    assert feed.components() == right
    # What ranking by the re-landing's own time would give: most category-days differ.
    assert sum(right[1].get(k) != wrong[1].get(k) for k in right[1].keys() | wrong[1].keys()) >= 10

    s3_clock.next_second()  # the re-landed version is strictly newer than the new catalogue
    version = reland(feed, "a-catalogue.csv", old)
    outcome = feed.run(INCOMING_PREFIX + "a-catalogue.csv", version)

    assert (outcome["status"], outcome["duplicate_of"]) == ("SUCCEEDED", None)  # never loaded: not a duplicate
    assert feed.validation_of(INCOMING_PREFIX + "a-catalogue.csv", version)["first_landing"]["run_id"] == first_run
    assert feed.components() == right


def test_the_same_bytes_again_are_a_duplicate_and_different_bytes_a_new_landing(feed: Feed, s3_clock: S3Clock) -> None:
    old = csv_bytes(ref.PRODUCTS, OLD_CATALOGUE)
    feed.land_failing("a-catalogue.csv", old)
    feed.land("b-catalogue.csv", csv_bytes(ref.PRODUCTS, NEW_CATALOGUE))
    feed.land("c-orders.csv", csv_bytes(ref.ORDERS, ORDERS))
    feed.land("d-items.csv", csv_bytes(ref.ITEMS, ITEMS))
    s3_clock.next_second()
    recovered = feed.copy_onto_itself("a-catalogue.csv")
    feed.run(INCOMING_PREFIX + "a-catalogue.csv", recovered)
    before = feed.components()

    again = feed.land("e-catalogue.csv", old)  # the same bytes once more, under another key
    loaded_by = RunIdentity(INPUT_BUCKET.name(), INCOMING_PREFIX + "a-catalogue.csv", recovered).run_id
    assert again["duplicate_of"] == loaded_by
    assert feed.components() == before

    edited = [*OLD_CATALOGUE[:-1], {**OLD_CATALOGUE[-1], "category": "Swim"}]  # other bytes: a new landing
    assert feed.land("a-catalogue.csv", csv_bytes(ref.PRODUCTS, edited))["duplicate_of"] is None
    assert feed.components() == expected(
        [
            (ref.PRODUCTS, OLD_CATALOGUE),
            (ref.PRODUCTS, NEW_CATALOGUE),
            (ref.ORDERS, ORDERS),
            (ref.ITEMS, ITEMS),
            (ref.PRODUCTS, edited),
        ]
    )


@pytest.mark.parametrize("reland", RELANDINGS)
def test_old_order_versions_relanded_after_their_failed_run_do_not_win(
    feed: Feed, reland: Callable[[Feed, str, bytes], str]
) -> None:
    """Orders and items are dated by their own lifecycle timestamps: a re-landed file of older
    versions loads, and the newer versions keep winning (ties settled by content, not landing)."""
    old_orders = [{**o, "status": "pending"} for o in ORDERS]
    new_orders = [
        {**o, "status": "returned", "shipped_at": str(o["created_at"]).replace("10:00", "12:00")}
        | {"returned_at": str(o["created_at"]).replace("10:00", "18:00")}
        for o in ORDERS[:4]
    ]
    # Order 5: equal lifecycle timestamps, other content (the greater row as text wins).
    new_orders.append({**ORDERS[4], "status": "cancelled"})
    old = csv_bytes(ref.ORDERS, old_orders)
    feed.land("a-products.csv", csv_bytes(ref.PRODUCTS, NEW_CATALOGUE))
    feed.land_failing("b-orders.csv", old)
    feed.land("c-orders.csv", csv_bytes(ref.ORDERS, new_orders))
    feed.land("d-items.csv", csv_bytes(ref.ITEMS, ITEMS))
    version = reland(feed, "b-orders.csv", old)
    outcome = feed.run(INCOMING_PREFIX + "b-orders.csv", version)

    assert (outcome["status"], outcome["duplicate_of"], outcome["rows"]) == ("SUCCEEDED", None, 6)
    daily, categories = feed.components()
    assert sum(d["returned_orders"] for d in daily.values()) == 4
    assert (daily, categories) == expected(
        [
            (ref.PRODUCTS, NEW_CATALOGUE),
            (ref.ORDERS, old_orders),
            (ref.ORDERS, new_orders),
            (ref.ITEMS, ITEMS),
        ]
    )


def test_a_content_remembers_its_first_landing_whatever_the_order_of_runs(feed: Feed, s3_clock: S3Clock) -> None:
    """Two versions of the same bytes run in reverse landing order: both report the earlier as
    the first landing (the later one finds it among its key's versions, before its run)."""
    body = csv_bytes(ref.ORDERS, ORDERS[:1])
    first = feed.upload("x.csv", body)
    s3_clock.next_second()
    second = feed.upload("x.csv", body)
    later = feed.run(INCOMING_PREFIX + "x.csv", second)
    earlier = feed.run(INCOMING_PREFIX + "x.csv", first)
    assert later["duplicate_of"] is None and earlier["duplicate_of"] is not None
    ids = [RunIdentity(INPUT_BUCKET.name(), INCOMING_PREFIX + "x.csv", v).run_id for v in (first, second)]
    reported = [feed.validation_of(INCOMING_PREFIX + "x.csv", v)["first_landing"]["run_id"] for v in (first, second)]
    assert reported == [ids[0], ids[0]]
    items = [feed.runs.get(run_id) or {} for run_id in ids]
    assert items[0]["content_sha256"] == items[1]["content_sha256"]
    assert items[0]["landed_at"] < items[1]["landed_at"]
