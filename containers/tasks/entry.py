"""The shared entry point of both tasks: configuration, clients, run, record, exit code."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import boto3

from chalicelib.runs import ExitCode, RunRepository, Task
from chalicelib.storage_layout import RunIdentity
from containers.tasks.config import AwsClients, ConfigurationError, TaskConfig
from containers.tasks.outcome import configure_logging, run_task
from containers.tasks.stop_signal import stop_on_sigterm

TaskBody = Callable[[TaskConfig, AwsClients, RunIdentity], dict[str, Any]]


def main(task: Task, body: TaskBody) -> int:
    stop_on_sigterm()
    log = configure_logging()
    try:
        config = TaskConfig.from_env()
    except ConfigurationError as err:
        log.error("bad configuration", extra={"fields": {"task": task.value, "reason": str(err)}})  # noqa: TRY400 - the operator's error: no traceback
        print(json.dumps({"status": "FAILED", "error": "ConfigurationError", "reason": str(err)}), flush=True)
        return int(ExitCode.FAILED)
    aws = AwsClients.from_session(boto3.session.Session())
    runs = RunRepository(aws.dynamodb_resource.Table(config.runs_table))
    identity = config.identity()
    return run_task(
        task.value,
        lambda: body(config, aws, identity),
        lambda summary: runs.record_task(identity.run_id, task, summary),
    )
