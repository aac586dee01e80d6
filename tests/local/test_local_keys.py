"""Object keys with any legal characters go end to end through the local stack.

S3 -> EventBridge delivers the key as stored (docs/architecture.md, "Object keys"); the tasks
read it, and the archive step's CopyObject gets it URL-encoded (`RunIdentity.copy_source`).
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import pytest

from chalicelib.runs import RunStatus
from chalicelib.storage_layout import INCOMING_PREFIX, RunIdentity
from chalicelib.tables import RUNS

ORDERS_FILE = Path(__file__).resolve().parents[2] / "sample_files" / "2025-03-01T1000_orders.csv"
KEYS = [
    "space and+plus %20 100% #hash ?query.csv",
    "ümlaut €uro naïve 日本語.csv",
    "sub dir/a+b=c&d;e:f@g,h'(i)!j~k.csv",
]


@pytest.fixture(scope="module")
def stack_settings(stack_settings):
    return replace(stack_settings, serve_api=False)


@pytest.mark.parametrize("name", KEYS)
def test_a_file_whose_key_has_special_characters_is_processed_and_archived(stack, name):
    s3, bucket, key = stack.client("s3"), stack.resources.input_bucket, INCOMING_PREFIX + name
    body = ORDERS_FILE.read_bytes()
    version = s3.put_object(Bucket=bucket, Key=key, Body=body)["VersionId"]
    run_id = RunIdentity(bucket, key, version).run_id
    table = stack.resources.tables[RUNS.logical_id]
    deadline = time.monotonic() + 120
    while True:
        item = stack.client("dynamodb").get_item(TableName=table, Key={RUNS.partition_key: {"S": run_id}}).get("Item")
        if item and item["status"]["S"] != RunStatus.RUNNING.value:
            break
        assert time.monotonic() < deadline, f"{run_id} not finished"
        time.sleep(0.3)

    assert item["status"]["S"] == RunStatus.SUCCEEDED.value, item.get("error")
    assert item["key"]["S"] == key  # the event carried the key exactly as stored
    archived = item["validation"]["M"]["archive_key"]["S"]
    assert archived.endswith("/" + name.rsplit("/", 1)[-1])
    assert s3.get_object(Bucket=bucket, Key=archived)["Body"].read() == body
    assert s3.list_objects_v2(Bucket=bucket, Prefix=key).get("KeyCount") == 0
