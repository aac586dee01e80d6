"""Hands files to a running local stack the way an extract job would, and follows each run.

A file is put under `incoming/` in the input bucket (any S3 client would do the same); the
bucket's Object Created event starts the workflow; the workflow's execution is found by its
input (bucket, key, version) and followed to its end; the Runs item gives the counts.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chalicelib.runs import LINE_COUNTS, RunRepository, RunStatus, Task
from chalicelib.storage_layout import INCOMING_PREFIX, INPUT_BUCKET, RunIdentity
from chalicelib.tables import RUNS
from shoppulse.local.exceptions import IngestError
from shoppulse.local.provision import STATE_MACHINE_NAME, LocalResources

if TYPE_CHECKING:
    import boto3
    from mypy_boto3_stepfunctions import SFNClient
    from mypy_boto3_stepfunctions.type_defs import DescribeExecutionOutputTypeDef

POLL_SECONDS = 0.1
# Row counts of the outcome line, from each task's summary in the Runs item.
COUNT_FIELDS = {
    Task.VALIDATION: ("rows", "valid_rows", "rejected_rows", *LINE_COUNTS),
    Task.TRANSFORMATION: ("rows_loaded", "held_rows"),
}


@dataclass(frozen=True)
class IngestTarget:
    """Where files go and which workflow runs them (the local stack's names by default)."""

    bucket: str
    state_machine_arn: str
    runs_table: str


def target_of(resources: LocalResources) -> IngestTarget:
    """The target of a stack running in this process."""
    return IngestTarget(resources.input_bucket, resources.state_machine_arn, resources.tables[RUNS.logical_id])


def discover(sfn: SFNClient) -> IngestTarget:
    """The local stack's target, found through the endpoint (for `shoppulse ingest`)."""
    machines = sfn.list_state_machines()["stateMachines"]
    arn = next((m["stateMachineArn"] for m in machines if m["name"] == STATE_MACHINE_NAME), None)
    if arn is None:
        raise IngestError(f"no state machine {STATE_MACHINE_NAME!r} at this endpoint: is `shoppulse up` running?")
    return IngestTarget(bucket=INPUT_BUCKET.name(), state_machine_arn=arn, runs_table=RUNS.name())


class Ingestor:
    def __init__(
        self, session: boto3.session.Session, endpoint: str | None, target: IngestTarget, timeout_seconds: float = 600.0
    ) -> None:
        self._s3 = session.client("s3", endpoint_url=endpoint)
        self._sfn = session.client("stepfunctions", endpoint_url=endpoint)
        self._runs = RunRepository(session.resource("dynamodb", endpoint_url=endpoint).Table(target.runs_table))
        self._target = target
        self._timeout = timeout_seconds

    def ingest_all(self, paths: list[Path]) -> Iterator[dict[str, Any]]:
        """Each file in the given order, the next one only after the previous run ended."""
        for path in paths:
            yield self.ingest(path)

    def ingest(self, path: Path) -> dict[str, Any]:
        if not path.is_file():
            raise IngestError(f"{path}: no such file")
        key = f"{INCOMING_PREFIX}{path.name}"
        seen = set(self._executions())
        with path.open("rb") as body:
            version = self._s3.put_object(Bucket=self._target.bucket, Key=key, Body=body).get("VersionId") or ""
        run_id = RunIdentity(self._target.bucket, key, version).run_id
        execution = self._wait(self._find_execution(seen, key, version))
        return self._result(path, key, run_id, execution)

    def _executions(self) -> list[str]:
        pages = self._sfn.get_paginator("list_executions").paginate(stateMachineArn=self._target.state_machine_arn)
        return [e["executionArn"] for page in pages for e in page["executions"]]

    def _find_execution(self, seen: set[str], key: str, version: str) -> str:
        deadline = time.monotonic() + self._timeout
        while time.monotonic() < deadline:
            for arn in self._executions():
                if arn in seen:
                    continue
                seen.add(arn)
                detail = json.loads(self._sfn.describe_execution(executionArn=arn).get("input") or "{}").get(
                    "detail", {}
                )
                obj = detail.get("object", {})
                if (
                    detail.get("bucket", {}).get("name") == self._target.bucket
                    and obj.get("key") == key
                    and (obj.get("version-id") or "") == version
                ):
                    return arn
            time.sleep(POLL_SECONDS)
        raise IngestError(f"no workflow started for s3://{self._target.bucket}/{key} within {self._timeout:.0f} s")

    def _wait(self, execution_arn: str) -> DescribeExecutionOutputTypeDef:
        deadline = time.monotonic() + self._timeout
        while time.monotonic() < deadline:
            described = self._sfn.describe_execution(executionArn=execution_arn)
            if described["status"] != "RUNNING":
                return described
            time.sleep(POLL_SECONDS)
        raise IngestError(f"workflow {execution_arn} still running after {self._timeout:.0f} s")

    def _result(self, path: Path, key: str, run_id: str, execution: DescribeExecutionOutputTypeDef) -> dict[str, Any]:
        output = json.loads(execution.get("output") or "{}")
        status = output.get("status") if execution["status"] == "SUCCEEDED" else RunStatus.FAILED.value
        run = self._runs.get(run_id) or {}
        result: dict[str, Any] = {
            "file": str(path),
            "key": key,
            "run_id": run_id,
            "status": status or RunStatus.FAILED.value,
            "execution": execution["executionArn"],
        }
        for task, names in COUNT_FIELDS.items():
            summary = run.get(task.value) or {}
            result.update({name: _number(summary[name]) for name in names if name in summary})
        reasons = (run.get(Task.VALIDATION.value) or {}).get("reasons")
        if reasons:
            result["reasons"] = {k: _number(v) for k, v in reasons.items()}
        if execution["status"] != "SUCCEEDED":
            result["error"] = {"error": execution.get("error"), "cause": execution.get("cause")}
        return result


def _number(value: Any) -> Any:
    """DynamoDB numbers (Decimal) as JSON numbers."""
    try:
        return int(value) if value == int(value) else float(value)
    except (TypeError, ValueError):
        return value
