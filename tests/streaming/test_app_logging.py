"""Importing the Chalice app (as the local stack and Lambda do) keeps our modules' INFO logs:
Chalice's own logger setup would set the `shoppulse` logger tree to ERROR."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from chalicelib.pipes import STANDARD_PIPE
from chalicelib.tables import ORDERS
from shoppulse.commands.up import _configure_logging
from shoppulse.local.pipes import PipePoller


@pytest.fixture
def up_log(tmp_path: Path) -> Iterator[Path]:
    """The root logger as `shoppulse up` sets it (JSON lines to shoppulse-up.log), then as before."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    _configure_logging(tmp_path)
    try:
        yield tmp_path / "shoppulse-up.log"
    finally:
        for handler in root.handlers:
            handler.close()
        root.handlers[:], root.level = handlers, level


def test_a_local_modules_structured_info_log_reaches_the_log_file_after_the_app_is_imported(aws, client, up_log):
    from app import app  # what the local stack loads: importing it must not silence `shoppulse.*`

    assert app.app_name == "shoppulse"
    stream_arn = aws.dynamodb.meta.client.describe_table(TableName=ORDERS.name())["Table"]["LatestStreamArn"]
    poller = PipePoller(
        STANDARD_PIPE,
        streams_client=boto3.client("dynamodbstreams"),
        sqs_client=aws.sqs,
        stream_arn=stream_arn,
        dead_letter_queue_url="",
        pipe_arn="arn:aws:pipes:us-east-1:123456789012:pipe/under-test",
        invoke=lambda records: None,
    )
    poller.start()
    assert poller.wait_idle()
    poller.stop()
    for handler in logging.getLogger().handlers:
        handler.flush()

    lines = [json.loads(line) for line in up_log.read_text().splitlines()]
    [started] = [line for line in lines if line["message"] == "pipe started"]
    assert (started["level"], started["logger"]) == ("INFO", "shoppulse.local.pipes")
    assert (started["pipe"], started["batch_size"], started["parallelization_factor"]) == ("standard", 100, 1)
