"""`shoppulse up` and `shoppulse ingest` as a user runs them: separate processes, real ports.

`up` (ephemeral ports) prints its endpoints and resource names, serves the API, and stops
cleanly on Ctrl-C; `ingest` uploads a file to it through the endpoint, follows the workflow and
prints one JSON line; plain boto3 works against the endpoint.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import boto3
import pytest

from tests.local.process_support import ended, pipes_process_of

PROJECT = Path(__file__).resolve().parents[2]
SHOPPULSE = [sys.executable, "-m", "shoppulse.cli"]
PRODUCTS = PROJECT / "sample_files" / "2025-03-01T0600_products.csv"


@pytest.fixture(scope="module")
def up(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("data")
    stderr = (data_dir / "stderr.txt").open("w")
    # Its own process group, like a terminal's foreground job: Ctrl-C reaches every process in it.
    process = subprocess.Popen(
        [*SHOPPULSE, "up", "--aws-port", "0", "--api-port", "0", "--data-dir", str(data_dir)],
        cwd=PROJECT,
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
        start_new_session=True,
    )
    lines = []
    assert process.stdout is not None
    for line in process.stdout:  # the startup document: indented JSON, closed by a "}" line
        lines.append(line)
        if line.rstrip() == "}":
            break
    info = json.loads("".join(lines))
    info["data_dir"] = data_dir
    yield process, info
    if process.poll() is None:
        process.kill()
        process.wait()
    stderr.close()


def test_up_prints_its_endpoints_and_every_resource_name(up):
    _, info = up
    resources = info["resources"]
    assert info["aws_endpoint"].startswith("http://127.0.0.1:") and info["api"].startswith("http://127.0.0.1:")
    assert set(resources["tables"]) >= {"DailyKpisTable", "CategoryKpisTable", "RunsTable", "OrdersTable"}
    assert resources["buckets"]["InputBucket"] and resources["state_machine"].startswith("arn:aws:states:")
    assert set(resources["pipes"]) == {"standard", "premium"}
    s3 = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    ).client("s3", endpoint_url=info["aws_endpoint"])
    assert {b["Name"] for b in s3.list_buckets()["Buckets"]} >= set(resources["buckets"].values())
    with urllib.request.urlopen(info["api"] + "/health") as response:
        assert json.loads(response.read())["status"] == "ok"


def test_ingest_uploads_follows_the_workflow_and_prints_one_line_per_file(up):
    _, info = up
    done = subprocess.run(
        [*SHOPPULSE, "ingest", str(PRODUCTS), "--endpoint", info["aws_endpoint"]],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    [line] = [json.loads(out) for out in done.stdout.splitlines() if out.startswith("{")]
    assert line["file"] == str(PRODUCTS)
    assert line["status"] == "SUCCEEDED"
    assert line["rows"] == 201 and line["rejected_rows"] == 1
    assert done.returncode == 0
    task_logs = list((info["data_dir"] / "logs" / "ecs").glob("*/*.log"))
    assert task_logs  # the tasks' output is kept in the data directory


@pytest.mark.skipif(shutil.which("aws") is None, reason="the AWS CLI is not installed")
def test_a_file_copied_with_the_aws_cli_starts_the_workflow(up, tmp_path):
    _, info = up
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    copy = tmp_path / "cli-products.csv"
    copy.write_bytes(PRODUCTS.read_bytes())
    bucket = info["resources"]["buckets"]["InputBucket"]
    subprocess.run(
        ["aws", "--endpoint-url", info["aws_endpoint"], "s3", "cp", str(copy), f"s3://{bucket}/incoming/"],
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    sfn = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    ).client("stepfunctions", endpoint_url=info["aws_endpoint"])
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        runs = [
            sfn.describe_execution(executionArn=e["executionArn"])
            for e in sfn.list_executions(stateMachineArn=info["resources"]["state_machine"])["executions"]
        ]
        mine = [r for r in runs if "incoming/cli-products.csv" in r["input"]]
        if mine and mine[0]["status"] != "RUNNING":
            break
        time.sleep(0.2)
    assert mine[0]["status"] == "SUCCEEDED"
    assert json.loads(mine[0]["output"])["status"] == "SUCCEEDED"


def test_ingest_refuses_a_missing_file_and_an_endpoint_without_the_stack(up, tmp_path):
    missing = subprocess.run(
        [*SHOPPULSE, "ingest", str(tmp_path / "nope.csv")], cwd=PROJECT, capture_output=True, text=True
    )
    assert missing.returncode == 2 and "no such file" in missing.stderr
    nobody = subprocess.run(
        [*SHOPPULSE, "ingest", str(PRODUCTS), "--endpoint", "http://127.0.0.1:9"],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert nobody.returncode == 2 and "error" in json.loads(nobody.stdout.splitlines()[-1])


def test_ctrl_c_stops_everything_cleanly(up):
    process, info = up
    pipes = pipes_process_of(process.pid)
    os.killpg(process.pid, signal.SIGINT)
    assert process.wait(timeout=60) == 0
    assert ended(pipes, timeout=0.5)  # stopped by `up` before it exited, not left behind
    with pytest.raises(OSError):
        urllib.request.urlopen(info["api"] + "/health", timeout=2)
    assert "Traceback" not in (info["data_dir"] / "stderr.txt").read_text()
