"""The ECS tasks as processes: environment in, exit code and JSON summary out."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import boto3
import pytest
from boto3.dynamodb.conditions import Key
from moto.server import ThreadedMotoServer

from chalicelib.runs import ExitCode, RunRepository
from chalicelib.storage_layout import BUCKETS, INPUT_BUCKET, RunIdentity
from chalicelib.tables import ALL_TABLES, DAILY_KPIS, RUNS
from containers.adapters.writer_lease import STATE_KEY
from shoppulse.embedded import EMBEDDED_ENV
from shoppulse.provision import create_buckets, create_tables

ROOT = Path(__file__).resolve().parents[2]
ORDERS = b"order_id,user_id,status,created_at,returned_at,shipped_at,delivered_at,num_of_item\n"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    url = f"http://127.0.0.1:{port}"
    session = _session()
    create_tables(session.client("dynamodb", endpoint_url=url), ALL_TABLES)
    create_buckets(session.client("s3", endpoint_url=url), BUCKETS)
    yield url
    server.stop()


def _session() -> boto3.session.Session:
    return boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1")


def run_task(module: str, endpoint: str, key: str, version: str) -> tuple[int, dict[str, Any]]:
    env = {
        **os.environ,
        **EMBEDDED_ENV,
        "AWS_ENDPOINT_URL": endpoint,
        "INPUT_BUCKET": INPUT_BUCKET.name(),
        "INPUT_KEY": key,
        "INPUT_VERSION": version,
    }
    done = subprocess.run(
        [sys.executable, "-m", module], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    return done.returncode, json.loads(done.stdout.strip().splitlines()[-1])


def land(endpoint: str, key: str, body: bytes) -> tuple[RunIdentity, Any]:
    session = _session()
    s3 = session.client("s3", endpoint_url=endpoint)
    version = s3.put_object(Bucket=INPUT_BUCKET.name(), Key=key, Body=body)["VersionId"]
    runs = RunRepository(session.resource("dynamodb", endpoint_url=endpoint).Table(RUNS.name()))
    identity = RunIdentity(INPUT_BUCKET.name(), key, version)
    runs.start(identity)
    return identity, runs


def test_valid_file_exits_zero_and_records_both_summaries(endpoint: str) -> None:
    identity, runs = land(endpoint, "incoming/a.csv", ORDERS + b"1,7,pending,2025-03-01 10:00:00,,,,1\n")
    code, summary = run_task("containers.validation", endpoint, identity.key, identity.version)
    assert (code, summary["status"], summary["valid_rows"]) == (ExitCode.OK, "VALID", 1)
    code, summary = run_task("containers.transformation", endpoint, identity.key, identity.version)
    assert (code, summary["affected_dates"]) == (ExitCode.OK, ["2025-03-01"])
    run = runs.get(identity.run_id)
    assert run["validation"]["status"] == "VALID" and run["transformation"]["rows_loaded"] == 1


def test_rejected_data_exits_65(endpoint: str) -> None:
    identity, runs = land(endpoint, "incoming/b.csv", b"no,such,header\n")
    code, summary = run_task("containers.validation", endpoint, identity.key, identity.version)
    assert (code, summary["reason"]) == (ExitCode.REJECTED, "unknown_header")
    assert runs.get(identity.run_id)["validation"]["reason"] == "unknown_header"


def test_an_unreachable_aws_is_transient_and_exits_75() -> None:
    env_endpoint = f"http://127.0.0.1:{free_port()}"
    env = {
        **os.environ,
        **EMBEDDED_ENV,
        "AWS_ENDPOINT_URL": env_endpoint,
        "AWS_MAX_ATTEMPTS": "1",
        "INPUT_BUCKET": "b",
        "INPUT_KEY": "incoming/x.csv",
    }
    done = subprocess.run(
        [sys.executable, "-m", "containers.validation"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == ExitCode.TRANSIENT


def test_missing_configuration_fails_without_retry() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("INPUT_BUCKET", "INPUT_KEY")}
    done = subprocess.run(
        [sys.executable, "-m", "containers.transformation"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == ExitCode.FAILED
    assert json.loads(done.stdout)["error"] == "ConfigurationError"


class Signalled(NamedTuple):
    identity: RunIdentity
    exit_code: int
    summary_line: str


def _signal_once_it_holds_the_lease(endpoint: str, name: str, month: int, sent: signal.Signals) -> Signalled:
    """A validated file of 3 000 orders in `month` whose transformation gets `sent` once it holds
    the writer lease (wherever it then is); the task's process has ended on return."""
    ids = range(month * 10_000, month * 10_000 + 3000)  # each month its own orders
    rows = b"".join(b"%d,7,complete,2025-%02d-%02d 10:00:00,,,,1\n" % (i, month, 1 + i % 28) for i in ids)
    identity, _ = land(endpoint, f"incoming/{name}.csv", ORDERS + rows)
    assert run_task("containers.validation", endpoint, identity.key, identity.version)[0] == ExitCode.OK
    db = _session().client("dynamodb", endpoint_url=endpoint)
    env = {**os.environ, **EMBEDDED_ENV, "AWS_ENDPOINT_URL": endpoint, "INPUT_BUCKET": INPUT_BUCKET.name()}
    env |= {"INPUT_KEY": identity.key, "INPUT_VERSION": identity.version}
    task = subprocess.Popen(
        [sys.executable, "-m", "containers.transformation"], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        while task.poll() is None and "lease_holder" not in db.get_item(TableName=DAILY_KPIS.name(), Key=STATE_KEY).get(
            "Item", {}
        ):
            time.sleep(0.005)
        task.send_signal(sent)
    finally:
        out, _ = task.communicate(timeout=120)
    return Signalled(identity, task.returncode, (out.strip().splitlines() or [""])[-1])


def _orders_in(endpoint: str, month: int) -> int:
    days = _session().resource("dynamodb", endpoint_url=endpoint).Table(DAILY_KPIS.name())
    found = days.query(
        KeyConditionExpression=Key("year").eq("2025") & Key("order_date").begins_with(f"2025-{month:02d}")
    )
    return sum(int(i["total_orders"]) for i in found["Items"])


def test_a_transformation_killed_mid_run_is_repaired_by_its_retry(endpoint: str) -> None:
    """SIGKILL once the task holds the writer lease, then the retry of the same run: it exits 0
    and the days hold every order, once."""
    identity, code, _ = _signal_once_it_holds_the_lease(endpoint, "killed", 4, signal.SIGKILL)
    assert code == -signal.SIGKILL  # killed while holding the lease, not finished
    code, summary = run_task("containers.transformation", endpoint, identity.key, identity.version)
    assert (code, summary["rows_loaded"]) == (ExitCode.OK, 3000)
    assert _orders_in(endpoint, 4) == 3000
    db = _session().client("dynamodb", endpoint_url=endpoint)
    state = db.get_item(TableName=DAILY_KPIS.name(), Key=STATE_KEY)["Item"]
    # Nothing owed: no holder, no day whose KPIs are still to write, no object to clean up.
    assert not {"lease_holder", "lease_expires", "kpi_days", "writing", "garbage"} & state.keys()


def test_a_stopped_transformation_releases_its_lease_and_exits_as_transient(endpoint: str) -> None:
    """SIGTERM (ECS StopTask) once the task holds the writer lease: it records a transient
    failure, exits 75 and frees the lease at once, so another run goes on without waiting for
    the lease to expire; the stopped run's retry then loads its file, once."""
    stopped, code, line = _signal_once_it_holds_the_lease(endpoint, "stopped", 5, signal.SIGTERM)
    assert code == ExitCode.TRANSIENT
    assert json.loads(line) == {
        "status": "TRANSIENT_FAILURE",
        "error": "TaskStopped",
        "reason": "the task was stopped (SIGTERM, ECS StopTask)",
    }
    db = _session().client("dynamodb", endpoint_url=endpoint)
    # Free now: held, it would block every other run until it expired (LEASE_SECONDS after its last renewal).
    assert "lease_holder" not in db.get_item(TableName=DAILY_KPIS.name(), Key=STATE_KEY)["Item"]
    runs = RunRepository(_session().resource("dynamodb", endpoint_url=endpoint).Table(RUNS.name()))
    assert runs.get(stopped.run_id)["transformation"]["error"] == "TaskStopped"

    other, _ = land(endpoint, "incoming/other.csv", ORDERS + b"1,7,complete,2025-06-01 10:00:00,,,,1\n")
    assert run_task("containers.validation", endpoint, other.key, other.version)[0] == ExitCode.OK
    assert run_task("containers.transformation", endpoint, other.key, other.version)[0] == ExitCode.OK
    code, summary = run_task("containers.transformation", endpoint, stopped.key, stopped.version)
    assert (code, summary["rows_loaded"]) == (ExitCode.OK, 3000)
    assert (_orders_in(endpoint, 5), _orders_in(endpoint, 6)) == (3000, 1)
