"""The typed run records (chalicelib/runs.py) store the attribute names and values the readers,
the workflow and the API know."""

from __future__ import annotations

from typing import Any

from chalicelib.runs import NewRun, RunRepository, RunStatus, Task, TaskFailure, TaskFailureStatus
from chalicelib.storage_layout import RunIdentity
from chalicelib.tables import RUNS, RUNS_BY_TIME
from containers.tasks.outcome import complete_task


def test_a_new_run_has_the_table_and_index_keys() -> None:
    assert {RUNS.partition_key, RUNS_BY_TIME.partition_key, RUNS_BY_TIME.range_key} <= NewRun.__required_keys__


def test_a_started_run_is_stored_with_its_status_as_text(tables: dict[str, Any]) -> None:
    runs = RunRepository(tables["RunsTable"])
    identity = RunIdentity("shoppulse-input", "incoming/a.csv", "v1")
    assert runs.start(identity, execution="arn:exec")
    stored = runs.get(identity.run_id)
    assert stored is not None
    assert stored["status"] == "RUNNING" and type(stored["status"]) is str
    assert set(stored) == set(NewRun.__required_keys__)


def test_a_failed_task_records_a_typed_failure_summary(tables: dict[str, Any]) -> None:
    runs = RunRepository(tables["RunsTable"])
    identity = RunIdentity("shoppulse-input", "incoming/b.csv", "v1")
    runs.start(identity)

    def body() -> dict[str, Any]:
        raise TimeoutError("DynamoDB did not answer")

    summary, code = complete_task("validation", body, lambda s: runs.record_task(identity.run_id, Task.VALIDATION, s))
    expected = TaskFailure(
        status=TaskFailureStatus.TRANSIENT_FAILURE, error="TimeoutError", reason="DynamoDB did not answer"
    )
    assert (summary, int(code)) == (expected, 75)
    stored = runs.get(identity.run_id)
    assert stored is not None
    assert stored[Task.VALIDATION.value] == {
        "status": "TRANSIENT_FAILURE",
        "error": "TimeoutError",
        "reason": "DynamoDB did not answer",
    }
    runs.finish(identity.run_id, RunStatus.FAILED, {"error": "Task.Failed", "cause": "The validation task failed."})
    stored = runs.get(identity.run_id)
    assert stored is not None
    assert (stored["status"], stored["error"]) == (
        "FAILED",
        {"error": "Task.Failed", "cause": "The validation task failed."},
    )
