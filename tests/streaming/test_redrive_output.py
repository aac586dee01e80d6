"""`shoppulse redrive` keeps stdout for its result lines: the handlers' logs and EMF go to stderr."""

from __future__ import annotations

import json
import sys

from chalicelib.streaming import services
from chalicelib.streaming.processing import ProcessingRepository
from chalicelib.streaming.telemetry import logger
from chalicelib.tables import ORDER_PROCESSING
from shoppulse import cli
from tests.stream_support import Throttled
from tests.streaming.test_dead_letters import fail_then_dead_letter


def test_redrive_prints_only_result_lines_on_stdout(aws, client, monkeypatch, capsys):
    fail_then_dead_letter(aws, client, monkeypatch, ["150.00", "1500.00"])
    monkeypatch.setattr(
        services,
        "processing_repository",
        lambda: ProcessingRepository(Throttled(aws.table(ORDER_PROCESSING), "put_item")),
    )
    # In a process of its own the powertools handler writes to the process's stdout.
    for handler in logger._logger.handlers:
        monkeypatch.setattr(handler, "stream", sys.stdout)
    capsys.readouterr()

    assert cli.main(["redrive", "--pipe", "standard", "--all-open"]) == 1
    out, err = capsys.readouterr()
    results = [json.loads(line) for line in out.splitlines()]
    assert results and all(set(r) >= {"target", "status"} for r in results)
    assert '"record failed"' in err and '"_aws"' in err  # the handler's log line and its EMF document
