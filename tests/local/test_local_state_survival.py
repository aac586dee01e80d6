"""Fault injection for the local stack's saved state: interrupted saves, stops during ingest, a
second Ctrl-C during the save, `kill -9`, restarts. Nothing is lost beyond the documented
interval (`snapshot.SNAPSHOT_INTERVAL_SECONDS`), and no run is left RUNNING.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from chalicelib.runs import RunStatus
from chalicelib.storage_layout import ARCHIVE_PREFIX, INCOMING_PREFIX, RunIdentity
from chalicelib.tables import RUNS
from infra.state_machine import RetryPolicy
from shoppulse.local import snapshot
from shoppulse.local.provision import WorkflowTuning
from shoppulse.local.stack import INTERRUPTED_ERROR, LocalStack, StackSettings
from tests.local.process_support import ended, pipes_process_of
from tests.waiting import wait_for

REGION = "us-east-1"
ORDERS_FILE = Path(__file__).resolve().parents[2] / "sample_files" / "2025-03-01T1000_orders.csv"
TUNING = WorkflowTuning(task_retry=RetryPolicy(1, 2, 1.0, 1), api_retry=RetryPolicy(1, 1, 1.0, 1))


# --- the snapshot itself -----------------------------------------------------------------------


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        dynamodb, s3 = boto3.client("dynamodb"), boto3.client("s3")
        dynamodb.create_table(
            TableName="t",
            KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        s3.create_bucket(Bucket="bkt")
        yield dynamodb, s3


def _fill(dynamodb: Any, s3: Any, generation: str, objects: int = 3) -> None:
    dynamodb.put_item(TableName="t", Item={"k": {"S": "gen"}, "v": {"S": generation}})
    for n in range(objects):
        s3.put_object(Bucket="bkt", Key=f"dir/o{n} +%#?é.bin", Body=f"{generation}-{n}".encode())


def _saved(state: Path) -> dict[str, Any]:
    manifest = json.loads((state / snapshot.MANIFEST).read_text())
    item = json.loads((state / "dynamodb" / "t.jsonl").read_text())
    return {"generation": item["v"]["S"], "objects": manifest["counts"]["bkt"]}


def test_a_save_interrupted_half_way_keeps_the_previous_snapshot_whole(aws, tmp_path, monkeypatch):
    dynamodb, s3 = aws
    state = tmp_path / "state"
    _fill(dynamodb, s3, "one")
    snapshot.save(state, dynamodb, s3, ["t"], ["bkt"])
    _fill(dynamodb, s3, "two")
    real_get, calls = s3.get_object, []

    def interrupted(**kwargs: Any) -> Any:
        calls.append(kwargs)
        if len(calls) == 2:
            raise KeyboardInterrupt  # a Ctrl-C in the middle of the objects
        return real_get(**kwargs)

    monkeypatch.setattr(s3, "get_object", interrupted)
    with pytest.raises(KeyboardInterrupt):
        snapshot.save(state, dynamodb, s3, ["t"], ["bkt"])
    monkeypatch.setattr(s3, "get_object", real_get)

    assert _saved(state) == {"generation": "one", "objects": 3}
    snapshot.recover(state)
    assert not state.with_name("state.new").exists()
    snapshot.save(state, dynamodb, s3, ["t"], ["bkt"])
    assert _saved(state) == {"generation": "two", "objects": 3}


@pytest.mark.parametrize("crash_after_renames", [0, 1])
def test_a_save_cut_between_its_renames_is_recovered_to_a_complete_snapshot(
    aws, tmp_path, monkeypatch, crash_after_renames
):
    dynamodb, s3 = aws
    state = tmp_path / "state"
    _fill(dynamodb, s3, "one")
    snapshot.save(state, dynamodb, s3, ["t"], ["bkt"])
    _fill(dynamodb, s3, "two")
    real_rename, done = Path.rename, []

    def rename(self: Path, target: Any) -> Any:
        if len(done) == crash_after_renames:
            raise SystemExit("power cut")
        done.append(self)
        return real_rename(self, target)

    monkeypatch.setattr(Path, "rename", rename)
    with pytest.raises(SystemExit):
        snapshot.save(state, dynamodb, s3, ["t"], ["bkt"])
    monkeypatch.setattr(Path, "rename", real_rename)

    snapshot.recover(state)
    # Cut before the first rename: the old snapshot stands; after it: the finished new one wins.
    assert _saved(state)["generation"] == ("one" if crash_after_renames == 0 else "two")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state"]
    s3.delete_objects(Bucket="bkt", Delete={"Objects": [{"Key": f"dir/o{n} +%#?é.bin"} for n in range(3)]})
    assert snapshot.restore(state, dynamodb, s3) == {"t": 1, "bkt": 3}
    assert (
        s3.get_object(Bucket="bkt", Key="dir/o0 +%#?é.bin")["Body"]
        .read()
        .startswith(b"one" if crash_after_renames == 0 else b"two")
    )


def test_unchanged_objects_are_linked_from_the_last_snapshot_not_downloaded_again(aws, tmp_path, monkeypatch):
    dynamodb, s3 = aws
    state = tmp_path / "state"
    _fill(dynamodb, s3, "one")
    snapshot.save(state, dynamodb, s3, ["t"], ["bkt"])
    s3.put_object(Bucket="bkt", Key="dir/o1 +%#?é.bin", Body=b"changed")
    downloads: list[str] = []
    real_get = s3.get_object
    monkeypatch.setattr(s3, "get_object", lambda **kw: downloads.append(kw["Key"]) or real_get(**kw))

    snapshot.save(state, dynamodb, s3, ["t"], ["bkt"])

    assert downloads == ["dir/o1 +%#?é.bin"]
    assert (state / "s3" / "bkt" / "dir" / "o1 +%#?é.bin").read_bytes() == b"changed"
    assert (state / "s3" / "bkt" / "dir" / "o0 +%#?é.bin").read_bytes() == b"one-0"


# --- the running stack ---------------------------------------------------------------------------


def _settings(data_dir: Path, **extra: Any) -> StackSettings:
    return StackSettings(
        aws_port=0, api_port=0, data_dir=data_dir, persist=True, serve_api=False, tuning=TUNING, **extra
    )


def _runs(stack: LocalStack) -> list[dict[str, Any]]:
    table = stack.resources.tables[RUNS.logical_id]  # type: ignore[union-attr]
    return stack.client("dynamodb").scan(TableName=table, ConsistentRead=True)["Items"]


def test_a_stop_during_ingest_leaves_no_run_running_and_the_file_is_processed_after_restart(tmp_path):
    key = f"{INCOMING_PREFIX}{ORDERS_FILE.name}"
    # Cold-started tasks (they import pandas themselves): the stop lands while the first task
    # runs, where a warm task could finish this small file between the check and the stop.
    with LocalStack(_settings(tmp_path, warm_start=False)) as first:
        assert first.ecs is not None
        first.client("s3").put_object(Bucket=first.resources.input_bucket, Key=key, Body=ORDERS_FILE.read_bytes())
        wait_for(lambda: bool(first.ecs.running()))
    # Stopped mid-run: the snapshot holds the file in incoming/ and its run, RUNNING or FAILED.

    with LocalStack(_settings(tmp_path)) as second:
        bucket = second.resources.input_bucket
        s3 = second.client("s3")
        wait_for(lambda: any(r["status"]["S"] == RunStatus.SUCCEEDED.value for r in _runs(second)))
        wait_for(lambda: all(r["status"]["S"] != "RUNNING" for r in _runs(second)))
        statuses = sorted(r["status"]["S"] for r in _runs(second))
        # The stop lands mid-run (the interrupted run FAILED, its file processed again under a new
        # run) unless the run finished first, which a stop must not undo: one SUCCEEDED run either way.
        assert statuses in ([RunStatus.FAILED.value, RunStatus.SUCCEEDED.value], [RunStatus.SUCCEEDED.value])
        succeeded = next(r for r in _runs(second) if r["status"]["S"] == RunStatus.SUCCEEDED.value)
        failed = next((r for r in _runs(second) if r["status"]["S"] == RunStatus.FAILED.value), None)
        if failed is not None and second.closed_runs:  # the stop came before the workflow could record the kill
            assert failed["error"]["M"]["error"]["S"] == INTERRUPTED_ERROR
            assert succeeded["run_id"]["S"] in failed["error"]["M"]["cause"]["S"]
        assert s3.list_objects_v2(Bucket=bucket, Prefix=INCOMING_PREFIX).get("KeyCount") == 0
        archived = s3.list_objects_v2(Bucket=bucket, Prefix=ARCHIVE_PREFIX)["Contents"]
        assert [o["Key"].rsplit("/", 1)[-1] for o in archived] == [ORDERS_FILE.name]


def test_a_run_left_running_by_a_stop_is_closed_failed_at_start_naming_its_re_run(tmp_path):
    key = f"{INCOMING_PREFIX}late.csv"
    with LocalStack(_settings(tmp_path, warm_start=False)) as first:
        bucket = first.resources.input_bucket
        # A run the last session left behind: its file in incoming/, its execution gone.
        first.client("s3").put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={})
        version = first.client("s3").put_object(Bucket=bucket, Key=key, Body=ORDERS_FILE.read_bytes())["VersionId"]
        stale = RunIdentity(bucket, key, version)
        first.client("dynamodb").put_item(
            TableName=first.resources.tables[RUNS.logical_id],
            Item={
                RUNS.partition_key: {"S": stale.run_id},
                "run_kind": {"S": "FILE"},
                "started_at": {"S": "2026-12-01T00:00:00.000Z"},
                "bucket": {"S": bucket},
                "key": {"S": key},
                "version": {"S": version},
                "status": {"S": "RUNNING"},
                "execution": {"S": "arn:aws:states:us-east-1:123456789012:execution:gone:1"},
            },
        )

    with LocalStack(_settings(tmp_path, warm_start=False)) as second:
        assert second.closed_runs == [stale.run_id]
        wait_for(lambda: any(r["status"]["S"] == RunStatus.SUCCEEDED.value for r in _runs(second)))
        by_id = {r["run_id"]["S"]: r for r in _runs(second)}
        closed = by_id.pop(stale.run_id)
        [(rerun_id, rerun)] = by_id.items()
        assert closed["status"]["S"] == RunStatus.FAILED.value
        assert closed["error"]["M"]["error"]["S"] == INTERRUPTED_ERROR
        assert f"processed again as {rerun_id}" in closed["error"]["M"]["cause"]["S"]
        assert rerun["status"]["S"] == RunStatus.SUCCEEDED.value


def test_a_second_ctrl_c_during_the_save_waits_for_it(tmp_path, monkeypatch, capsys):
    stack = LocalStack(_settings(tmp_path)).start()
    stack.client("s3").put_object(Bucket=stack.resources.input_bucket, Key="kept.txt", Body=b"kept")
    real_save = snapshot.save

    def save_with_ctrl_c(*args: Any, **kwargs: Any) -> Any:
        os.kill(os.getpid(), signal.SIGINT)  # the user presses Ctrl-C again while it saves
        time.sleep(0.2)
        return real_save(*args, **kwargs)

    monkeypatch.setattr(snapshot, "save", save_with_ctrl_c)
    assert stack.pipes_process is not None
    pipes = stack.pipes_process.pid
    stack.stop()  # no KeyboardInterrupt: the save ran to the end

    assert pipes is not None and ended(pipes, timeout=0.5)  # stopped with the stack, before stop() returned

    assert "still saving the local state" in capsys.readouterr().err
    assert (tmp_path / "state" / "s3" / stack.resources.input_bucket / "kept.txt").read_bytes() == b"kept"
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def _saved_bytes(path: Path) -> bytes | None:
    """The file as a save left it, or None while none has (or a save is swapping `state/` in)."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def test_kill_9_loses_at_most_the_snapshot_interval(tmp_path):
    command = [sys.executable, "-m", "shoppulse.cli", "up", "--data-dir", str(tmp_path), "--snapshot-interval", "1"]
    up = subprocess.Popen(
        [*command, "--aws-port", "0", "--api-port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert up.stdout is not None
        printed = ""
        for line in up.stdout:
            printed += line
            if line.startswith("}"):
                break
        started = json.loads(printed)
        s3 = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing").client(
            "s3", endpoint_url=started["aws_endpoint"], region_name=REGION
        )
        bucket = started["resources"]["buckets"]["CuratedBucket"]
        s3.put_object(Bucket=bucket, Key="before-the-kill.txt", Body=b"saved by the periodic snapshot")
        saved = tmp_path / "state" / "s3" / bucket / "before-the-kill.txt"
        # A periodic save has run: soon with the 1 s interval (the default 30 s would not save it in time).
        wait_for(lambda: _saved_bytes(saved) == b"saved by the periodic snapshot", timeout=20)
        pipes = pipes_process_of(up.pid)
    finally:
        up.send_signal(signal.SIGKILL)
        up.wait(30)
    assert ended(pipes)  # the pipes process does not outlive a killed stack

    with LocalStack(_settings(tmp_path)) as restarted:
        body = restarted.client("s3").get_object(Bucket=bucket, Key="before-the-kill.txt")["Body"].read()
        assert body == b"saved by the periodic snapshot"


def test_a_task_killed_mid_run_is_retried_and_its_file_ends_archived_with_its_run_succeeded(tmp_path):
    # A cold start (the task imports pandas itself) keeps the first attempt alive long enough to be
    # killed while it runs; a warm task can finish this small file before the kill lands.
    with LocalStack(replace(_settings(tmp_path), persist=False, warm_start=False)) as stack:
        assert stack.ecs is not None
        bucket, key = stack.resources.input_bucket, f"{INCOMING_PREFIX}{ORDERS_FILE.name}"
        version = stack.client("s3").put_object(Bucket=bucket, Key=key, Body=ORDERS_FILE.read_bytes())["VersionId"]
        wait_for(lambda: bool(stack.ecs.running()), timeout=60)
        [victim] = stack.ecs.running()
        stack.ecs.kill(victim)  # kill -9 of the task process
        run_id = RunIdentity(bucket, key, version).run_id
        wait_for(lambda: any(r["run_id"]["S"] == run_id and r["status"]["S"] != "RUNNING" for r in _runs(stack)))
        [run] = [r for r in _runs(stack) if r["run_id"]["S"] == run_id]
        assert run["status"]["S"] == RunStatus.SUCCEEDED.value, run.get("error")
        archived = run["validation"]["M"]["archive_key"]["S"]
        assert stack.client("s3").get_object(Bucket=bucket, Key=archived)["Body"].read() == ORDERS_FILE.read_bytes()
        assert stack.client("s3").list_objects_v2(Bucket=bucket, Prefix=INCOMING_PREFIX).get("KeyCount") == 0
        logs = "".join(p.read_text() for p in (tmp_path / "logs" / "ecs").rglob("*.log"))
        assert (
            "exit code 137, EssentialContainerExited: Essential container in task exited: killed by signal SIGKILL"
            in logs
        )
