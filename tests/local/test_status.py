"""`shoppulse status` over moto: runs by status, stuck and failed runs with their cause, dead
letters (queued and open), open premium cases, the last file."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import boto3

from chalicelib.pipes import PIPES, PREMIUM_PIPE, STANDARD_PIPE
from chalicelib.runs import RunRepository, RunStatus
from chalicelib.storage_layout import RunIdentity
from chalicelib.streaming.failures import FailureRepository
from shoppulse.local.status import gather
from tests.api_support import case_item

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def started(tables: dict[str, Any], name: str, at: datetime) -> str:
    identity = RunIdentity("shoppulse-input", f"incoming/{name}", version="v1")
    assert RunRepository(tables["RunsTable"]).start(identity, execution="arn:exec")
    tables["RunsTable"].update_item(
        Key={"run_id": identity.run_id},
        UpdateExpression="SET started_at = :t",
        ExpressionAttributeValues={":t": at.isoformat(timespec="milliseconds")},
    )
    return identity.run_id


def test_status_names_what_needs_a_look(tables: dict[str, Any]) -> None:
    runs = RunRepository(tables["RunsTable"])
    runs.finish(started(tables, "a.csv", NOW - timedelta(hours=3)), RunStatus.SUCCEEDED)
    failed = started(tables, "b.csv", NOW - timedelta(hours=2))
    runs.finish(failed, RunStatus.FAILED, {"error": "States.TaskFailed", "cause": "validation task exited 137\nmore"})
    started(tables, "stuck.csv", NOW - timedelta(hours=1))
    started(tables, "new.csv", NOW - timedelta(minutes=1))
    tables["PremiumCasesTable"].put_item(Item=case_item("p-1", Decimal("1500"), "2026-05-01T10:00:00.000Z"))
    tables["PremiumCasesTable"].put_item(
        Item={**case_item("p-2", Decimal("1200"), "2026-05-01T11:00:00.000Z"), "case_status": "CLOSED"}
    )
    sqs = boto3.client("sqs")
    urls = {p.key: sqs.create_queue(QueueName=p.dead_letter_queue.name())["QueueUrl"] for p in PIPES}
    sqs.send_message(QueueUrl=urls[PREMIUM_PIPE.key], MessageBody="{}")
    FailureRepository(tables["OrderEventFailuresTable"]).record_dead_letter(STANDARD_PIPE.key, "m-1", "not json")

    status = gather(boto3.resource("dynamodb"), sqs, timedelta(minutes=15), now=NOW)

    assert status.runs_by_status == {"SUCCEEDED": 1, "FAILED": 1, "RUNNING": 2}
    assert [r["file"] for r in status.stuck] == ["stuck.csv"]
    assert status.failed == [{"file": "b.csv", "run_id": failed, "cause": "validation task exited 137"}]
    assert status.dead_letters == {
        STANDARD_PIPE.key: {"queued": 0, "open_failures": 1},
        PREMIUM_PIPE.key: {"queued": 1, "open_failures": 0},
    }
    assert status.open_premium_cases == 1
    assert (status.last_file, status.last_file_at) == ("new.csv", "2026-05-01T11:59:00.000+00:00")
    lines = status.lines()
    assert lines[0] == "runs: 1 FAILED, 2 RUNNING, 1 SUCCEEDED"
    assert "  failed  b.csv: validation task exited 137" in lines and "premium cases open: 1" in lines
