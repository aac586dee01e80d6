"""Recovery on the local stack (S3 -> EventBridge -> Step Functions -> ECS, the tasks' own IAM
roles): a catalogue whose run failed before validation read it, then a newer catalogue, then the
old one copied onto itself as the docs say. The KPIs served equal the reference ranking the old
catalogue by its original landing."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import boto3
import pytest

from chalicelib.runs import RunRepository, RunStatus, Task
from chalicelib.storage_layout import INCOMING_PREFIX, RunIdentity
from chalicelib.tables import RUNS
from infra.state_machine import RetryPolicy
from shoppulse.local.ingest import Ingestor
from shoppulse.local.provision import WorkflowTuning
from shoppulse.local.stack import LocalStack, StackSettings
from tests import reference_kpis as ref
from tests.containers.batch_support import csv_bytes, rows_of

TUNING = WorkflowTuning(task_retry=RetryPolicy(1, 1, 1.0, 1), api_retry=RetryPolicy(1, 1, 1.0, 1))
CATEGORIES = ["Jeans", "Swim", "Socks"]
OLD = rows_of(ref.PRODUCTS, [(p, "S", "1", CATEGORIES[p % 3]) for p in range(1, 4)])
NEW = rows_of(ref.PRODUCTS, [(p, "S", "1", CATEGORIES[(p + 1) % 3]) for p in range(1, 4)])
ORDERS = [{"order_id": n, "user_id": n, "status": "complete", "created_at": f"2025-05-0{n} 10:00:00"} for n in (1, 2)]
ITEMS = [
    {"id": n, "order_id": 1 + n % 2, "product_id": 1 + n % 3, "status": "complete", "sale_price": "10"}
    | {"created_at": f"2025-05-0{1 + n % 2} 10:00:00"}
    for n in range(1, 7)
]


def api(stack: LocalStack, path: str) -> dict[str, Any]:
    assert stack.api_url is not None
    with urllib.request.urlopen(stack.api_url + path) as response:
        body: dict[str, Any] = json.loads(response.read())
    return body


@pytest.fixture(scope="module")
def stack_settings(tmp_path_factory: pytest.TempPathFactory) -> StackSettings:
    """One task attempt: the failed run fails at once."""
    return StackSettings(aws_port=0, api_port=0, data_dir=tmp_path_factory.mktemp("data"), tuning=TUNING)


def test_a_catalogue_copied_onto_itself_after_its_failed_run_keeps_its_original_place(
    stack: LocalStack, ingestor: Ingestor, tasks_cut_off: Callable[[], AbstractContextManager[None]], tmp_path: Path
) -> None:
    assert stack.resources is not None
    files = {
        "a-catalogue.csv": csv_bytes(ref.PRODUCTS, OLD),
        "b-catalogue.csv": csv_bytes(ref.PRODUCTS, NEW),
        "c-orders.csv": csv_bytes(ref.ORDERS, ORDERS),
        "d-items.csv": csv_bytes(ref.ITEMS, ITEMS),
    }
    for name, body in files.items():
        (tmp_path / name).write_bytes(body)
    with tasks_cut_off():  # the first catalogue's run fails before it reads the file
        failed = ingestor.ingest(tmp_path / "a-catalogue.csv")
    assert failed["status"] == RunStatus.FAILED.value
    results = [ingestor.ingest(tmp_path / name) for name in list(files)[1:]]
    assert [r["status"] for r in results] == [RunStatus.SUCCEEDED.value] * 3

    time.sleep(1.0 - time.time() % 1.0 + 0.01)  # the copy lands strictly after the new catalogue
    s3, bucket, key = stack.client("s3"), stack.resources.input_bucket, INCOMING_PREFIX + "a-catalogue.csv"
    version = s3.copy_object(
        Bucket=bucket,
        Key=key,
        CopySource={"Bucket": bucket, "Key": key},
        MetadataDirective="REPLACE",
        Metadata={"relanded": "after-failed-run"},
    )["VersionId"]
    tables = boto3.session.Session().resource("dynamodb", endpoint_url=stack.endpoint)
    runs = RunRepository(tables.Table(stack.resources.tables[RUNS.logical_id]))
    run_id = RunIdentity(bucket, key, version).run_id
    deadline = time.monotonic() + 300
    while (run := runs.get(run_id)) is None or run["status"] == RunStatus.RUNNING.value:
        assert time.monotonic() < deadline, f"{run_id} not finished"
        time.sleep(0.3)

    assert run["status"] == RunStatus.SUCCEEDED.value, run.get("error")
    assert run[Task.VALIDATION.value]["first_landing"]["run_id"] == failed["run_id"]
    landed = [(ref.PRODUCTS, OLD), (ref.PRODUCTS, NEW), (ref.ORDERS, ORDERS), (ref.ITEMS, ITEMS)]
    expected = ref.compute_kpis([ref.LandedFile(k, rows, i) for i, (k, rows) in enumerate(landed)])
    served = [c for day in ("2025-05-01", "2025-05-02") for c in api(stack, f"/kpis/categories?date={day}")["items"]]
    assert sorted(served, key=lambda c: (c["order_date"], c["category"])) == expected["categories"]
    assert api(stack, "/kpis/daily?from=2025-05-01&to=2025-05-02")["items"] == expected["orders"]
