"""Exit codes, JSON logs and the summary line: how a task tells the workflow what happened.

The exit code is the contract with Step Functions: rejected data must never be retried,
transient faults must be. The summary goes to stdout (last line) and to the Runs table.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from chalicelib.runs import ExitCode, TaskFailure, TaskFailureStatus, TaskSummary
from containers.tasks.stop_signal import TaskStopped

TASK_LOGGER = "shoppulse.task"

TRANSIENT_CODES = {
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "Throttling",
    "RequestLimitExceeded",
    "InternalServerError",
    "InternalError",
    "ServiceUnavailable",
    "SlowDown",
    "RequestTimeout",
    "TransactionConflictException",
    "TransactionInProgressException",
}


class DataRejected(Exception):
    """The input cannot be processed as it is; the summary says why."""

    def __init__(self, summary: Mapping[str, Any]) -> None:
        super().__init__(summary.get("reason", "rejected"))
        self.summary = dict(summary)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "time": self.formatTime(record),
        }
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging() -> logging.Logger:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    return logging.getLogger(TASK_LOGGER)


def is_transient(err: BaseException) -> bool:
    if isinstance(err, ClientError):
        code = err.response.get("Error", {}).get("Code", "")
        status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return code in TRANSIENT_CODES or status >= 500
    return isinstance(err, (BotoConnectionError, BotoCoreError, ConnectionError, TimeoutError, TaskStopped))


def run_task(name: str, body: Callable[[], TaskSummary], record: Callable[[TaskSummary | TaskFailure], None]) -> int:
    """Run a task body, classify its end, record and print its summary; return the exit code."""
    configure_logging()
    summary, code = complete_task(name, body, record)
    print(json.dumps(summary, default=str), flush=True)
    return int(code)


def complete_task(
    name: str, body: Callable[[], TaskSummary], record: Callable[[TaskSummary | TaskFailure], None]
) -> tuple[TaskSummary | TaskFailure, ExitCode]:
    """Run a task body, classify its end and record its summary: the task process and
    `shoppulse replay` (which runs it in-process, its logging left alone) share this."""
    log = logging.getLogger(TASK_LOGGER)
    summary: TaskSummary | TaskFailure
    try:
        summary, code = body(), ExitCode.OK
    except DataRejected as rejected:
        summary, code = rejected.summary, ExitCode.REJECTED
    except Exception as err:  # the edge: every failure becomes an exit code and a summary
        transient = is_transient(err)
        code = ExitCode.TRANSIENT if transient else ExitCode.FAILED
        status = TaskFailureStatus.TRANSIENT_FAILURE if transient else TaskFailureStatus.FAILED
        summary = TaskFailure(status=status, error=type(err).__name__, reason=str(err))
        log.exception("task failed", extra={"fields": {"task": name, "exit_code": int(code)}})
    try:
        record(summary)
    except Exception as err:
        log.exception("could not record the summary", extra={"fields": {"task": name}})
        if code is ExitCode.OK:
            code = ExitCode.TRANSIENT if is_transient(err) else ExitCode.FAILED
    log.info("task finished", extra={"fields": {"task": name, "exit_code": int(code), "summary": summary}})
    return summary, code
