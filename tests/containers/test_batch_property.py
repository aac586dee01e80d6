"""Any sequence of file arrivals — any order, re-deliveries, re-runs, tasks killed at any
point and retried — ends with the KPIs computed once over the union of all valid rows (by the
independent reference)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from chalicelib.storage_layout import CURATED_BUCKET, INCOMING_PREFIX, INPUT_BUCKET, RunIdentity
from chalicelib.tables import CATEGORY_KPIS, DAILY_KPIS
from containers.transformation.task import transform_object
from containers.validation.task import validate_object
from shoppulse.embedded import embedded_aws
from shoppulse.replay import InProcessWorkflow
from tests import reference_kpis as ref
from tests.containers.batch_support import csv_bytes, stored_components

# Instants around UTC midnights, written in several ways; two spell the same instant (a tie).
INSTANTS = [
    "2025-03-01 08:00:00",
    "2025-03-01T23:30:00-02:00",
    "2025-03-02T10:00:00Z",
    "2025-03-02 10:00:00",
    "2025-03-03 00:00:00+00:00",
    "2025-03-03 12:00:00.5",
]
# Order ids span three shards and item ids two, so versions can move between shards.
ORDER_IDS = [1, 2, 4097, 8200, 8201]
ITEM_IDS = [1, 2, 3, 16385]
PRODUCT_IDS = [1, 2, 3]
CATEGORIES = ["Jeans", "Tops & Tees", "Socks, Hosiery"]
PRICES = ["0", "9.99", "10", "0.015", "123.456789", "5.0000005"]
STATUSES = ["pending", "Shipped", "COMPLETE", "returned", "cancelled"]

LONE_DAYS = ["2025-03-01 12:00:00", "2025-03-02 12:00:00", "2025-03-03 12:00:00"]

instant = st.sampled_from(range(len(INSTANTS)))


@st.composite
def lifecycle(draw: Any) -> dict[str, str]:
    created = draw(instant)
    later = st.sampled_from(range(created, len(INSTANTS)))
    row = {"created_at": INSTANTS[created]}
    for column in ("shipped_at", "returned_at"):
        if draw(st.booleans()):
            row[column] = INSTANTS[draw(later)]
    return row


@st.composite
def order(draw: Any) -> dict[str, Any]:
    return {
        "order_id": draw(st.sampled_from(ORDER_IDS)),
        "user_id": draw(st.integers(1, 3)),
        "status": draw(st.sampled_from(STATUSES)),
        **draw(lifecycle()),
    }


@st.composite
def item(draw: Any) -> dict[str, Any]:
    return {
        "id": draw(st.sampled_from(ITEM_IDS)),
        "order_id": draw(st.sampled_from([*ORDER_IDS, 9999])),  # 9999 never arrives: held
        "user_id": draw(st.integers(1, 3)),
        "product_id": draw(st.sampled_from([*PRODUCT_IDS, 77])),  # 77 never arrives: held
        "status": draw(st.sampled_from(STATUSES)),
        "sale_price": draw(st.sampled_from(PRICES)),
        **draw(lifecycle()),
    }


@st.composite
def product(draw: Any) -> dict[str, Any]:
    return {"id": draw(st.sampled_from(PRODUCT_IDS)), "category": draw(st.sampled_from(CATEGORIES)), "sku": "S"}


@st.composite
def arrivals(draw: Any) -> tuple[list[ref.LandedFile], list[int], list[int], dict[int, int]]:
    """Files in landing order, the order they are processed in, re-runs of some, and the
    AWS call (counted from the start of its workflow) at which some files' tasks are killed."""
    files = []
    for kind, rows in ((ref.PRODUCTS, product()), (ref.ORDERS, order()), (ref.ITEMS, item())):
        for _ in range(draw(st.integers(1, 2))):
            files.append((kind, draw(st.lists(rows, min_size=1, max_size=5))))
    files = draw(st.permutations(files))
    landed = [ref.LandedFile(kind, rows, landing_order=i) for i, (kind, rows) in enumerate(files)]
    processing = draw(st.permutations(range(len(landed))))
    reruns = draw(st.lists(st.sampled_from(range(len(landed))), max_size=3))
    kills = draw(st.dictionaries(st.sampled_from(range(len(landed))), st.integers(1, 60), max_size=2))
    return landed, list(processing), reruns, kills


# An order whose newer version, in a later file, moves it to another day: the old day, later
# recomputed alone, must find the newer version in its own partition.
MOVED_ORDER = (
    [
        ref.LandedFile(ref.PRODUCTS, [{"id": 1, "category": "Jeans", "sku": "S"}], 0),
        ref.LandedFile(ref.ORDERS, [{"order_id": 1, "user_id": 1, "status": "pending", "created_at": INSTANTS[0]}], 1),
        ref.LandedFile(
            ref.ORDERS,
            [{"order_id": 1, "user_id": 1, "status": "shipped", "created_at": INSTANTS[2], "shipped_at": INSTANTS[4]}],
            2,
        ),
        ref.LandedFile(
            ref.ITEMS,
            [
                {
                    "id": 1,
                    "order_id": 1,
                    "user_id": 1,
                    "product_id": 1,
                    "status": "shipped",
                    "sale_price": "10",
                    "created_at": INSTANTS[2],
                }
            ],
            3,
        ),
    ],
    [0, 1, 2, 3],
    [],
    {2: 25},
)


class Killed(BaseException):
    """A task killed mid-way (SIGKILL, OOM): no handler of ours runs after it."""


@contextmanager
def killed_at(clients: Any, call: int) -> Iterator[None]:
    """Kill the running task at its `call`-th S3 or DynamoDB request (before it is sent)."""
    count = itertools.count(1)

    def hook(**_: Any) -> None:
        if next(count) == call:
            raise Killed

    targets = [(clients.s3, "before-call.s3"), (clients.dynamodb, "before-call.dynamodb")]
    for client, event in targets:
        client.meta.events.register(event, hook, unique_id="kill")
    try:
        yield
    finally:
        for client, event in targets:
            client.meta.events.unregister(event, unique_id="kill")


def land(s3: Any, f: ref.LandedFile) -> RunIdentity:
    key = f"{INCOMING_PREFIX}{f.landing_order:04d}-{f.kind}.csv"
    put = s3.put_object(Bucket=INPUT_BUCKET.name(), Key=key, Body=csv_bytes(f.kind, f.rows))
    return RunIdentity(INPUT_BUCKET.name(), key, put["VersionId"])


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(arrivals())
@example(MOVED_ORDER)
def test_kpis_equal_the_union_of_all_valid_rows_whatever_the_arrival_order(case: Any) -> None:
    landed, processing, reruns, kills = case
    with embedded_aws() as clients:
        workflow = InProcessWorkflow(clients)
        identities = [land(clients.s3, f) for f in landed]  # every file lands first: S3's order
        for i in processing:
            if i not in kills:
                assert workflow.process(identities[i], str(i))["status"] == "SUCCEEDED"
                continue
            try:
                with killed_at(clients, kills[i]):
                    workflow.process(identities[i], str(i))
            except Killed:  # Step Functions retries the tasks of the same run
                validate_object(clients.s3, identities[i], CURATED_BUCKET.name(), 0.05)
                transform_object(clients, identities[i], CURATED_BUCKET.name(), DAILY_KPIS.name(), CATEGORY_KPIS.name())
        assert workflow.process(identities[processing[0]], "again")["status"] == "DUPLICATE"
        for i in reruns:  # a transformation re-run after a crash, on its staged input
            transform_object(clients, identities[i], CURATED_BUCKET.name(), DAILY_KPIS.name(), CATEGORY_KPIS.name())
        for n, day in enumerate(LONE_DAYS):  # each day recomputed alone, from its own partition
            lone = ref.LandedFile(
                ref.ORDERS,
                [{"order_id": 90_000 + n, "user_id": 1, "status": "complete", "created_at": day}],
                landing_order=len(landed),
            )
            assert workflow.process(land(clients.s3, lone), "lone")["status"] == "SUCCEEDED"
            landed = [*landed, lone]
        daily, categories = stored_components(clients.dynamodb_resource)
        public = workflow.kpis()
    expected = ref.compute_components(landed)
    assert daily == expected.daily
    assert categories == expected.categories
    assert public == ref.public_kpis(expected)
