"""The batch engine on the embedded AWS: held rows, moves between days and shards, re-runs,
and the generation guard that makes concurrent recomputations converge."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from chalicelib.kpis import served_daily
from chalicelib.storage_layout import CURATED_BUCKET, INPUT_BUCKET
from chalicelib.tables import CATEGORY_KPIS, DAILY_KPIS
from containers.adapters.kpi_tables import KpiTables
from containers.transformation.reconcile import reconcile
from shoppulse.embedded import embedded_aws
from shoppulse.replay import InProcessWorkflow, scan_all
from tests import reference_kpis as ref
from tests.containers.batch_support import csv_bytes, rows_of, stored_components

PRODUCTS = rows_of(ref.PRODUCTS, [(1, "S1", "2", "Jeans"), (2, "S2", "1", "Tops & Tees")])


def order_row(order_id: int, created: str, status: str = "complete", user: int = 7, **extra: str) -> dict[str, Any]:
    return {"order_id": order_id, "user_id": user, "status": status, "created_at": created, **extra}


def item_row(item_id: int, order_id: int, product_id: int, price: str, created: str, **extra: str) -> dict[str, Any]:
    return {
        "id": item_id,
        "order_id": order_id,
        "product_id": product_id,
        "status": "complete",
        "created_at": created,
        "sale_price": price,
        **extra,
    }


@pytest.fixture()
def workflow(tmp_path: Path) -> Any:
    with embedded_aws() as clients:
        flow = InProcessWorkflow(clients)
        counter = iter(range(1000))

        def land(kind: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
            path = tmp_path / f"{next(counter):03d}-{kind}.csv"
            path.write_bytes(csv_bytes(kind, rows))
            return flow.ingest(path)

        flow.land = land
        flow.clients = clients
        yield flow


def expect(files: list[tuple[str, list[dict[str, Any]]]]) -> ref.Components:
    return ref.compute_components([ref.LandedFile(k, rows, i) for i, (k, rows) in enumerate(files)])


def test_items_before_their_order_and_product_are_held_then_counted(workflow: Any) -> None:
    items = [item_row(1, 10, 1, "20", "2025-03-01 10:00:00"), item_row(2, 10, 3, "5", "2025-03-01 10:00:00")]
    first = workflow.land(ref.ITEMS, items)
    assert first["held_rows"] == 2
    workflow.land(ref.ORDERS, [order_row(10, "2025-03-01 09:00:00")])
    assert stored_components(workflow.clients.dynamodb_resource)[0]["2025-03-01"]["total_items_sold"] == 0
    workflow.land(ref.PRODUCTS, PRODUCTS)
    assert stored_components(workflow.clients.dynamodb_resource)[0]["2025-03-01"]["total_items_sold"] == 1
    workflow.land(ref.PRODUCTS, rows_of(ref.PRODUCTS, [(3, "S3", "1", "Socks")]))
    daily, categories = stored_components(workflow.clients.dynamodb_resource)
    assert daily["2025-03-01"] == {
        "total_orders": 1,
        "revenue_micros": 25_000_000,
        "total_items_sold": 2,
        "returned_orders": 0,
        "unique_customers": 1,
    }
    assert categories[("Socks", "2025-03-01")]["revenue_micros"] == 5_000_000


def test_an_item_moving_to_an_order_in_another_shard_counts_once(workflow: Any) -> None:
    orders = [order_row(1, "2025-03-01 09:00:00"), order_row(8200, "2025-03-02 09:00:00", user=8)]
    newer = [item_row(5, 8200, 1, "30", "2025-03-01 09:00:00", shipped_at="2025-03-03 00:00:00")]
    older = [item_row(5, 1, 2, "10", "2025-03-01 09:00:00")]
    files = [(ref.PRODUCTS, PRODUCTS), (ref.ITEMS, newer), (ref.ORDERS, orders), (ref.ITEMS, older)]
    for kind, rows in files:
        workflow.land(kind, rows)
    daily, categories = stored_components(workflow.clients.dynamodb_resource)
    assert daily["2025-03-01"]["total_items_sold"] == 0
    assert daily["2025-03-02"]["revenue_micros"] == 30_000_000
    assert (daily, categories) == (expect(files).daily, expect(files).categories)
    # Each day alone, recomputed from its own partition, still counts the item once.
    files += [
        (ref.ORDERS, [order_row(4, "2025-03-01 12:00:00", user=9)]),
        (ref.ORDERS, [order_row(5, "2025-03-02 12:00:00", user=9)]),
    ]
    for kind, rows in files[-2:]:
        workflow.land(kind, rows)
    assert stored_components(workflow.clients.dynamodb_resource) == (expect(files).daily, expect(files).categories)


def test_an_order_whose_newer_version_moves_to_another_day_leaves_the_old_day(workflow: Any) -> None:
    files = [
        (ref.PRODUCTS, PRODUCTS),
        (ref.ITEMS, [item_row(1, 3, 1, "12.5", "2025-03-01 10:00:00")]),
        (ref.ORDERS, [order_row(3, "2025-03-02 23:00:00", returned_at="2025-03-04 10:00:00", status="returned")]),
        (ref.ORDERS, [order_row(3, "2025-03-01 10:00:00")]),  # an older version, arriving late
    ]
    for kind, rows in files:
        workflow.land(kind, rows)
    daily, categories = stored_components(workflow.clients.dynamodb_resource)
    assert "2025-03-01" not in daily
    assert daily["2025-03-02"]["returned_orders"] == 1
    assert (daily, categories) == (expect(files).daily, expect(files).categories)
    assert workflow.kpis()["orders"] == [
        {
            "order_date": "2025-03-02",
            "total_orders": 1,
            "total_revenue": 12.5,
            "total_items_sold": 1,
            "return_rate": 1.0,
            "unique_customers": 1,
        }
    ]
    # The old day alone, recomputed from its own partition, still knows the order moved away.
    files.append((ref.ORDERS, [order_row(4, "2025-03-01 12:00:00", user=9)]))
    workflow.land(*files[-1])
    daily, categories = stored_components(workflow.clients.dynamodb_resource)
    assert daily["2025-03-01"]["total_orders"] == 1
    assert (daily, categories) == (expect(files).daily, expect(files).categories)


def test_a_redelivered_object_version_is_a_duplicate_and_a_new_copy_changes_nothing(
    workflow: Any, tmp_path: Path
) -> None:
    workflow.land(ref.PRODUCTS, PRODUCTS)
    path = tmp_path / "orders.csv"
    path.write_bytes(csv_bytes(ref.ORDERS, [order_row(1, "2025-03-01 10:00:00")]))
    first = workflow.ingest(path)
    before = stored_components(workflow.clients.dynamodb_resource)
    again = workflow.ingest(path)  # a new version of the same content
    assert first["duplicate_of"] is None
    assert again["status"] == "SUCCEEDED" and again["duplicate_of"].startswith(
        f"s3://{INPUT_BUCKET.name()}/incoming/orders.csv?"
    )
    assert stored_components(workflow.clients.dynamodb_resource) == before


def test_a_superseded_recomputation_cannot_overwrite_or_resurrect(workflow: Any) -> None:
    c = workflow.clients
    tables = KpiTables(c.dynamodb, DAILY_KPIS.name(), CATEGORY_KPIS.name())
    day = {"total_orders": 2, "revenue_micros": 5, "total_items_sold": 1, "returned_orders": 0, "unique_customers": 2}
    jeans = {"orders": 1, "revenue_micros": 5, "items_sold": 1, "returned_orders": 0}
    old, new = 1, 2  # snapshot numbers: the newer snapshot holds more data
    assert tables.write_day("2025-03-01", new, day, {"Tops": jeans})
    # The older run read less data; it must neither overwrite nor add its category back.
    assert not tables.write_day("2025-03-01", old, {**day, "total_orders": 1}, {"Jeans": jeans})
    daily, categories = stored_components(c.dynamodb_resource)
    assert daily["2025-03-01"]["total_orders"] == 2
    assert set(categories) == {("Tops", "2025-03-01")}
    assert tables.write_day("2025-03-01", new, day, {"Tops": jeans})  # a retry of the same snapshot
    assert tables.write_day("2025-03-01", 3, None, {})  # every order moved away
    assert stored_components(c.dynamodb_resource) == ({}, {})


def test_concurrent_files_for_the_same_day_converge(workflow: Any, tmp_path: Path) -> None:
    orders = [[order_row(i, "2025-03-01 10:00:00", user=i % 3)] for i in range(1, 7)]
    items = [[item_row(i, i, 1 + i % 2, "1.5", "2025-03-01 10:00:00")] for i in range(1, 7)]
    files = [(ref.PRODUCTS, PRODUCTS)] + [(ref.ORDERS, o) for o in orders] + [(ref.ITEMS, i) for i in items]
    workflow.land(*files[0])
    paths = []
    for n, (kind, rows) in enumerate(files[1:]):
        paths.append(tmp_path / f"c{n:02d}-{kind}.csv")
        paths[-1].write_bytes(csv_bytes(kind, rows))
    with ThreadPoolExecutor(4) as pool:
        outcomes = list(pool.map(workflow.ingest, paths))
    assert {o["status"] for o in outcomes} == {"SUCCEEDED"}
    daily, categories = stored_components(workflow.clients.dynamodb_resource)
    assert (daily, categories) == (expect(files).daily, expect(files).categories)


def test_concurrent_files_moving_orders_and_items_between_days_converge(workflow: Any, tmp_path: Path) -> None:
    """Items before and after their orders, orders whose versions fall on other days, items whose
    versions name other orders: all landing at once, the stored KPIs are the reference's."""
    files = [
        (ref.ORDERS, [order_row(1, "2025-03-01 10:00:00"), order_row(2, "2025-03-02 10:00:00", user=8)]),
        (ref.ORDERS, [order_row(1, "2025-03-03 10:00:00", shipped_at="2025-03-04 10:00:00", status="shipped")]),
        (ref.ORDERS, [order_row(2, "2025-03-01 11:00:00", status="returned", returned_at="2025-03-05 10:00:00")]),
        (ref.ORDERS, [order_row(3, "2025-03-02 12:00:00", user=9)]),
        (ref.ITEMS, [item_row(1, 1, 1, "10", "2025-03-01 10:00:00"), item_row(2, 2, 2, "20", "2025-03-02 10:00:00")]),
        (ref.ITEMS, [item_row(1, 3, 2, "11", "2025-03-02 12:00:00", shipped_at="2025-03-06 10:00:00")]),
        (ref.ITEMS, [item_row(3, 1, 1, "7", "2025-03-03 10:00:00"), item_row(4, 3, 1, "3", "2025-03-02 12:00:00")]),
        (ref.ITEMS, [item_row(2, 1, 2, "19", "2025-03-01 10:00:00", delivered_at="2025-03-07 10:00:00")]),
    ]
    workflow.land(ref.PRODUCTS, PRODUCTS)
    paths = []
    for n, (kind, rows) in enumerate(files):
        paths.append(tmp_path / f"m{n:02d}-{kind}.csv")
        paths[-1].write_bytes(csv_bytes(kind, rows))
    with ThreadPoolExecutor(4) as pool:
        outcomes = list(pool.map(workflow.ingest, paths))
    assert {o["status"] for o in outcomes} == {"SUCCEEDED"}
    everything = [(ref.PRODUCTS, PRODUCTS), *files]
    assert stored_components(workflow.clients.dynamodb_resource) == (
        expect(everything).daily,
        expect(everything).categories,
    )


def test_one_more_file_for_a_day_reads_that_days_partitions_only(workflow: Any) -> None:
    """Order ids that do not follow time (as TheLook's): recomputing a day still reads only its
    own partition of curated rows, not the history."""
    workflow.land(ref.PRODUCTS, PRODUCTS)
    days = ["2025-03-01", "2025-03-02", "2025-03-03"]
    orders = [order_row(i, f"{days[i % 3]} 10:00:00", user=i) for i in range(1, 31)]
    workflow.land(ref.ORDERS, orders)
    workflow.land(ref.ITEMS, [item_row(i, i, 1 + i % 2, "5", f"{days[i % 3]} 10:00:00") for i in range(1, 31)])
    read: list[str] = []
    workflow.clients.s3.meta.events.register(
        "provide-client-params.s3.GetObject", lambda params, **_: read.append(params["Key"])
    )
    workflow.land(ref.ORDERS, [order_row(100, "2025-03-02 11:00:00", user=100)])
    workflow.land(ref.ITEMS, [item_row(100, 100, 1, "7", "2025-03-02 11:00:00")])
    curated = {key.split("/")[2] for key in read if key.startswith("curated/") and "/order_date=" in key}
    assert curated == {"order_date=2025-03-02"}
    assert stored_components(workflow.clients.dynamodb_resource)[0]["2025-03-02"]["total_orders"] == 11


def land_all(workflow: Any, files: list[tuple[str, list[dict[str, Any]]]]) -> Any:
    """Land the files in order; the embedded AWS's clients."""
    for kind, rows in files:
        workflow.land(kind, rows)
    return workflow.clients


def set_stored(clients: Any, day: str, field: str, value: int) -> None:
    """Corrupt a stored day's KPI field, as a reconciliation should find it."""
    clients.dynamodb_resource.Table(DAILY_KPIS.name()).update_item(
        Key={"year": day[:4], "order_date": day},
        UpdateExpression=f"SET {field} = :n",
        ExpressionAttributeValues={":n": value},
    )


def reconcile_days(clients: Any, first: str, last: str) -> dict[str, Any]:
    return reconcile(
        clients.s3, clients.dynamodb, CURATED_BUCKET.name(), DAILY_KPIS.name(), CATEGORY_KPIS.name(), first, last
    )


def test_reconcile_reports_and_fixes_a_day_that_differs_from_the_curated_data(workflow: Any) -> None:
    files = [
        (ref.PRODUCTS, PRODUCTS),
        (ref.ORDERS, [order_row(1, "2025-03-01 10:00:00"), order_row(2, "2025-03-02 10:00:00", user=8)]),
        (ref.ITEMS, [item_row(1, 1, 1, "10", "2025-03-01 10:00:00"), item_row(2, 2, 2, "4", "2025-03-02 10:00:00")]),
    ]
    c = land_all(workflow, files)
    set_stored(c, "2025-03-02", "total_orders", 5)
    c.dynamodb_resource.Table(CATEGORY_KPIS.name()).delete_item(Key={"order_date": "2025-03-01", "category": "Jeans"})
    report = reconcile_days(c, "2025-03-01", "2025-03-31")
    assert [d["date"] for d in report["differences"]] == ["2025-03-01", "2025-03-02"]
    assert report["fixed"] == ["2025-03-01", "2025-03-02"]
    assert stored_components(c.dynamodb_resource) == (expect(files).daily, expect(files).categories)
    again = reconcile_days(c, "2025-03-01", "2025-03-31")
    assert (again["days_checked"], again["differences"]) == (2, [])


def test_reconcile_over_many_folds_reads_each_day_once_and_fixes_a_day_in_the_last_fold(workflow: Any) -> None:
    """40 days: three folds of DAYS_PER_FOLD, each next one read while this one is summed."""
    days = [f"2025-{1 + d // 31:02d}-{1 + d % 31:02d} 10:00:00" for d in range(40)]
    files = [
        (ref.PRODUCTS, PRODUCTS),
        (ref.ORDERS, [order_row(1 + d, day, user=d) for d, day in enumerate(days)]),
        (ref.ITEMS, [item_row(1 + d, 1 + d, 1 + d % 2, f"{d + 1}", day) for d, day in enumerate(days)]),
    ]
    c = land_all(workflow, files)
    set_stored(c, "2025-02-08", "revenue_micros", 1)
    read: list[str] = []
    c.s3.meta.events.register("provide-client-params.s3.GetObject", lambda params, **_: read.append(params["Key"]))
    report = reconcile_days(c, "2025-01-01", "2025-12-31")
    assert (report["days_checked"], report["fixed"]) == (40, ["2025-02-08"])
    assert stored_components(c.dynamodb_resource) == (expect(files).daily, expect(files).categories)
    partitions = [key.rsplit("/", 1)[0] for key in read if "/order_date=" in key]
    assert len(partitions) == 80 and len(set(partitions)) == 80  # each day's orders and items, once


def test_each_day_partition_holds_one_object_and_held_items_are_counted_on_their_day(workflow: Any) -> None:
    workflow.land(ref.PRODUCTS, PRODUCTS)
    for n in range(3):
        workflow.land(ref.ORDERS, [order_row(10 + n, "2025-03-01 10:00:00"), order_row(20 + n, "2025-03-02 10:00:00")])
    early = workflow.land(
        ref.ITEMS, [item_row(1, 99, 1, "3", "2025-03-02 08:00:00"), item_row(2, 10, 5, "2", "2025-03-01 10:00:00")]
    )
    assert (early["held_by_order"], early["held_by_product"], early["waiting_for_order"]) == (1, 1, 1)
    days = {i["order_date"]: i for i in scan_all(workflow.clients.dynamodb_resource.Table(DAILY_KPIS.name()))}
    assert (days["2025-03-01"]["items_waiting"], days["2025-03-02"]["items_waiting"]) == (1, 1)
    late = workflow.land(ref.ORDERS, [order_row(99, "2025-03-01 12:00:00")])
    assert (late["released_rows"], late["waiting_for_order"], late["waiting_for_product"]) == (1, 0, 1)
    days = {i["order_date"]: i for i in scan_all(workflow.clients.dynamodb_resource.Table(DAILY_KPIS.name()))}
    assert (days["2025-03-01"]["items_waiting"], days["2025-03-02"]["items_waiting"]) == (1, 0)
    assert served_daily(days["2025-03-01"])["items_waiting"] == 1  # what /kpis/daily serves
    assert "items_waiting" not in served_daily(days["2025-03-02"])
    keys = [o["Key"] for o in workflow.clients.s3.list_objects_v2(Bucket=CURATED_BUCKET.name())["Contents"]]
    partitions = [k.rsplit("/", 1)[0] for k in keys if k.startswith("curated/")]
    assert len(partitions) == len(set(partitions))  # one object per partition
    assert "curated/orders/order_date=2025-03-01" in partitions
