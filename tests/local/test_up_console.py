"""`shoppulse up` on a terminal: a short console, the logs and metrics in files.

The stack runs under a pseudo-terminal (as in `make run`); files are ingested and an order is
written while it runs. The console must hold the addresses, one line per ingested file, the
dashboard link and nothing of the JSON the functions and servers log.
"""

from __future__ import annotations

import json
import os
import pty
import re
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.request import urlopen

import boto3
import pytest

from chalicelib.orders.model import new_order
from chalicelib.orders.repository import OrderRepository
from chalicelib.tables import ORDERS
from shoppulse.local.embedded_aws import CREDENTIALS

PROJECT = Path(__file__).resolve().parents[2]
SHOPPULSE = [sys.executable, "-m", "shoppulse.cli"]
FILES = [
    PROJECT / "sample_files" / "2025-03-01T0600_products.csv",
    PROJECT / "sample_files" / "2025-03-01T1000_orders.csv",
]
# The startup lines (ready, two addresses, logs), the dashboard link, the stop line.
FIXED_LINES = 6


class Terminal:
    """A process on a pseudo-terminal, its output collected as it comes."""

    def __init__(self, argv: list[str], cwd: Path) -> None:
        master, slave = pty.openpty()
        self.process = subprocess.Popen(
            argv, stdin=slave, stdout=slave, stderr=slave, cwd=cwd, close_fds=True, start_new_session=True
        )
        os.close(slave)
        self._master = master
        self._output = b""
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            ready, _, _ = select.select([self._master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(self._master, 65536)
                except OSError:  # the other side closed
                    return
                if not chunk:
                    return
                self._output += chunk
            elif self.process.poll() is not None:
                return

    @property
    def lines(self) -> list[str]:
        return [line for line in self._output.decode(errors="replace").replace("\r", "").split("\n") if line]

    def wait_for(self, found: Callable[[list[str]], bool], timeout: float = 60.0) -> list[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if found(self.lines):
                return self.lines
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError(f"not seen within {timeout} s; the console so far:\n" + "\n".join(self.lines))

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._reader.join(timeout=5)
        os.close(self._master)


def address(lines: list[str], label: str) -> str:
    [url] = [m.group(1) for line in lines if (m := re.match(rf"\s+{label}\s+(http://\S+)", line))]
    return url


@pytest.fixture(scope="module")
def terminal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Terminal, Path]]:
    data_dir = tmp_path_factory.mktemp("data")
    term = Terminal([*SHOPPULSE, "up", "--aws-port", "0", "--api-port", "0", "--data-dir", str(data_dir)], PROJECT)
    try:
        yield term, data_dir
    finally:
        term.close()


def test_up_on_a_terminal_says_little_and_logs_to_files(terminal: tuple[Terminal, Path]) -> None:
    term, data_dir = terminal
    lines = term.wait_for(lambda ls: any(line.startswith("Dashboard: ") for line in ls), timeout=120)
    endpoint, api = address(lines, "AWS endpoint"), address(lines, "REST API")
    assert lines[-1] == f"Dashboard: {api}/   (Ctrl-C stops)"

    env = {**os.environ, **CREDENTIALS, "AWS_DEFAULT_REGION": "us-east-1"}
    ingest = subprocess.run(
        [*SHOPPULSE, "ingest", "--endpoint", endpoint, *map(str, FILES)],
        check=False,
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert ingest.returncode == 0, ingest.stderr
    assert [json.loads(line)["status"] for line in ingest.stdout.splitlines()] == ["SUCCEEDED", "SUCCEEDED"]
    assert ingest.stderr.strip().splitlines()[-1].startswith("ingest: 2 files (2 SUCCEEDED), 222 rows, 0 held")

    # An order through the pipes: the handlers log and publish EMF, to the log file only.
    session = boto3.session.Session(
        aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        region_name="us-east-1",
    )
    table = session.resource("dynamodb", endpoint_url=endpoint).Table(ORDERS.name())
    order = new_order(
        order_id="console-1",
        customer_id="c-1",
        customer_email="a@shop.example",
        line_items=[{"sku": "p", "quantity": 1, "unitPrice": "150"}],
    )
    OrderRepository(table).create(order)
    lambda_log = data_dir / "logs" / "lambda.jsonl"
    deadline = time.monotonic() + 30
    while '"_aws"' not in (lambda_log.read_text() if lambda_log.exists() else "") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert '"batch processed"' in lambda_log.read_text() and '"_aws"' in lambda_log.read_text()

    lines = term.wait_for(lambda ls: sum(FILES[-1].name in line for line in ls) == 1)
    file_lines = [line for line in lines if any(f.name in line for f in FILES)]
    assert [line.split()[:2] for line in file_lines] == [["SUCCEEDED", f.name] for f in FILES]
    assert "201 rows (1 rejected), 0 held" in file_lines[0]

    status = subprocess.run(
        [*SHOPPULSE, "status", "--endpoint", endpoint, "--json"], check=False, capture_output=True, text=True, env=env
    )
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["runs_by_status"] == {"SUCCEEDED": 2}
    assert json.loads(status.stdout)["last_file"] == FILES[-1].name

    with urlopen(f"{api}/health", timeout=10) as response:
        assert json.loads(response.read())["status"] == "ok"

    os.killpg(term.process.pid, signal.SIGINT)
    assert term.process.wait(timeout=60) == 0
    lines = term.lines
    assert lines[-1] == "shoppulse up: stopping"
    assert len(lines) <= FIXED_LINES + len(FILES), "\n".join(lines)
    assert not [line for line in lines if line.lstrip().startswith("{") or "Traceback" in line]
    assert '"GET /health HTTP/1.1\\" 200' in (data_dir / "logs" / "shoppulse-up.log").read_text()  # access lines


def test_the_functions_emf_becomes_one_stream_line_and_stays_in_the_log(tmp_path: Path) -> None:
    from chalicelib.streaming.telemetry import publish_counts
    from shoppulse.local.console import LambdaOutput, stream_line
    from shoppulse.stdout import diverted_stdout

    output = LambdaOutput(tmp_path / "lambda.jsonl")
    with diverted_stdout(output):
        publish_counts("standard_order_processing", {"Records": 3, "RecordsProcessed": 2, "RecordsSkipped": 1})
        publish_counts("standard_order_processing", {"Records": 2, "RecordsProcessed": 2, "RecordsSkipped": 0})
        publish_counts("premium_order_service", {"Records": 5, "RecordsProcessed": 1, "RecordsSkipped": 4})
        print("not json at all")
    assert stream_line(output.take()) == (
        "stream: premium_order_service 5 records (1 processed, 4 skipped); "
        "standard_order_processing 5 records (4 processed, 1 skipped)"
    )
    assert stream_line(output.take()) is None  # each minute's line counts that minute only
    output.close()
    logged = (tmp_path / "lambda.jsonl").read_text().splitlines()
    assert len(logged) == 4 and sum('"_aws"' in line for line in logged) == 3
