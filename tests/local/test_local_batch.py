"""The batch pipeline end to end on the local stack: S3 -> EventBridge -> Step Functions -> ECS.

Files are put in the input bucket (as any client would) in awkward orders; the real state
machine runs the real containers as processes; the KPIs served by the REST API must equal the
independent reference computation (tests/reference_kpis.py) over the same files in the same
order. A rejected file ends REJECTED with its reasons and rows kept and an alert published; a
task that keeps crashing is retried and the run ends FAILED, recorded and alerted.
"""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from chalicelib.messaging import ALERTS_TOPIC
from chalicelib.runs import RunStatus, Task
from chalicelib.storage_layout import INCOMING_PREFIX
from chalicelib.tables import RUNS
from tests.reference_kpis import kpis_from_csv, parse_csv_files

SAMPLES = Path(__file__).resolve().parents[2] / "sample_files"
REJECTED_FILE = SAMPLES / "2025-03-03T1300_items_marketplace.csv"


@pytest.fixture(scope="module")
def alerts(stack):
    """An SQS queue subscribed to the alerts topic: what an on-call e-mail would receive."""
    sqs = stack.client("sqs")
    url = sqs.create_queue(QueueName="test-alerts")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    stack.client("sns").subscribe(
        TopicArn=ALERTS_TOPIC.arn(), Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"}
    )

    def received() -> list[dict]:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
        for message in messages:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        return [json.loads(m["Body"]) for m in messages]

    return received


def api(stack, path: str) -> dict:
    with urllib.request.urlopen(stack.api_url + path) as response:
        return json.loads(response.read())


def served_kpis(stack, days: list[str]) -> dict[str, list[dict]]:
    daily = api(stack, f"/kpis/daily?from={min(days)}&to={max(days)}")["items"]
    categories = [c for day in days for c in api(stack, f"/kpis/categories?date={day}")["items"]]
    return {"orders": daily, "categories": sorted(categories, key=lambda c: (c["order_date"], c["category"]))}


def test_files_in_awkward_orders_give_the_reference_kpis(stack, ingestor):
    # Items before their orders, the catalogue last, then an orders file delivered again.
    uploads = [
        SAMPLES / "2025-03-01T1005_items.csv",
        SAMPLES / "2025-03-01T1805_items.csv",
        SAMPLES / "2025-03-01T1000_orders.csv",
        SAMPLES / "2025-03-01T1800_orders.csv",
        SAMPLES / "2025-03-01T0600_products.csv",
        SAMPLES / "2025-03-01T1000_orders.csv",
    ]
    results = [ingestor.ingest(path) for path in uploads]

    assert [r["status"] for r in results] == [RunStatus.SUCCEEDED.value] * len(uploads)
    assert results[0]["held_rows"] > 0  # items wait for their orders and products
    expected = kpis_from_csv(uploads)
    days = sorted({row["order_date"] for row in expected["orders"]})
    assert served_kpis(stack, days) == expected
    s3 = stack.client("s3")
    left = s3.list_objects_v2(Bucket=stack.resources.input_bucket, Prefix=INCOMING_PREFIX).get("KeyCount", 0)
    assert left == 0  # every processed file was archived


def test_a_rejected_file_keeps_its_reasons_and_rows_and_alerts(stack, ingestor, alerts):
    before = served_kpis(stack, ["2025-03-01", "2025-03-03"])
    alerts()  # drain
    result = ingestor.ingest(REJECTED_FILE)

    [parsed] = parse_csv_files([REJECTED_FILE])
    assert result["status"] == RunStatus.REJECTED.value
    assert result["rejected_rows"] == len(parsed.invalid)
    assert sum(result["reasons"].values()) == len(parsed.invalid)
    run = api(stack, "/runs/" + urllib.parse.quote(result["run_id"], safe=""))
    assert run["status"] == RunStatus.REJECTED.value
    s3 = stack.client("s3")
    summary = stack.client("dynamodb").get_item(TableName=RUNS.name(), Key={"run_id": {"S": result["run_id"]}})["Item"][
        Task.VALIDATION.value
    ]["M"]
    kept = s3.get_object(Bucket=stack.resources.input_bucket, Key=summary["rejected_key"]["S"])["Body"].read()
    assert kept == REJECTED_FILE.read_bytes()
    rows = s3.get_object(Bucket=stack.resources.input_bucket, Key=summary["rejected_rows_key"]["S"])["Body"].read()
    assert len(rows.decode().strip().splitlines()) == len(parsed.invalid) + 1  # a header and one line per row
    assert served_kpis(stack, ["2025-03-01", "2025-03-03"]) == before  # nothing of it was loaded
    messages = _collect(alerts, lambda found: any(m.get("event") == "FILE_REJECTED" for m in found))
    [alert] = [m for m in messages if m.get("event") == "FILE_REJECTED"]
    assert alert["run_id"] == result["run_id"]


def test_a_crashing_task_is_retried_then_the_run_fails_recorded_and_alerted(stack, ingestor, alerts, tasks_cut_off):
    alerts()  # drain
    validation_logs = stack.settings.data_dir / "logs" / "ecs"
    before = len(list(validation_logs.glob("*validation/*.log")))
    with tasks_cut_off():
        result = ingestor.ingest(SAMPLES / "2025-03-02T1000_orders.csv")

    assert result["status"] == RunStatus.FAILED.value
    attempts = len(list(validation_logs.glob("*validation/*.log"))) - before
    assert attempts == 1 + stack.settings.tuning.task_retry.max_attempts
    run = api(stack, "/runs/" + urllib.parse.quote(result["run_id"], safe=""))
    assert run["status"] == RunStatus.FAILED.value
    messages = _collect(alerts, lambda found: any(m.get("event") == "RUN_FAILED" for m in found))
    [alert] = [m for m in messages if m.get("event") == "RUN_FAILED"]
    assert alert["run_id"] == result["run_id"]
    assert alert["error"] == "Task.Transient"


def _collect(receive, done, timeout: float = 30.0) -> list[dict]:
    found: list[dict] = []
    deadline = time.monotonic() + timeout
    while not done(found) and time.monotonic() < deadline:
        found += receive()
    return found
