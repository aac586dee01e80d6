"""`shoppulse status`: what a running stack holds, read through its AWS endpoint.

Runs by status, runs stuck RUNNING or FAILED with their cause, the dead-letter queues' depth and
the failures still OPEN, open premium cases, and the time of the last file. Every read is a
Query or a page of one (the time indexes), plus one GetQueueAttributes per dead-letter queue.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from chalicelib.pipes import PIPES
from chalicelib.runs import RunRepository, RunStatus, Task
from chalicelib.streaming.failures import FailureRepository, FailureStatus
from chalicelib.streaming.premium import CASE_OPEN, PremiumCaseRepository
from chalicelib.tables import ORDER_FAILURES, PREMIUM_CASES, RUNS

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBServiceResource
    from mypy_boto3_sqs import SQSClient

CAUSE_CHARS = 200


@dataclass
class StackStatus:
    runs_by_status: dict[str, int] = field(default_factory=dict)
    stuck: list[dict[str, Any]] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)
    dead_letters: dict[str, dict[str, int]] = field(default_factory=dict)
    open_premium_cases: int = 0
    last_file_at: str | None = None
    last_file: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return dict(vars(self))

    def lines(self) -> list[str]:
        """The same, for a person."""
        runs = ", ".join(f"{n} {s}" for s, n in sorted(self.runs_by_status.items())) or "none"
        out = [f"runs: {runs}"]
        out += [f"  stuck   {r['file']}: RUNNING since {r['started_at']}" for r in self.stuck]
        out += [f"  failed  {r['file']}: {r['cause']}" for r in self.failed]
        for pipe, depth in self.dead_letters.items():
            out.append(f"dead letters ({pipe}): {depth['queued']} queued, {depth['open_failures']} failures open")
        out.append(f"premium cases open: {self.open_premium_cases}")
        out.append(f"last file: {self.last_file} at {self.last_file_at}" if self.last_file else "last file: none yet")
        return out


def cause_of(run: Mapping[str, Any]) -> str:
    """Why a run did not succeed, in one line."""
    error = run.get("error") or {}
    validation = run.get(Task.VALIDATION.value) or {}
    cause = validation.get("reason") or error.get("reason") or error.get("cause") or error.get("error") or "unknown"
    first = str(cause).strip().splitlines()[0] if str(cause).strip() else "unknown"
    return first[:CAUSE_CHARS]


def _all_runs(runs: RunRepository) -> Iterator[dict[str, Any]]:
    start = None
    while True:
        page, start = runs.recent(200, start)
        yield from page
        if not start:
            return


def _file(run: Mapping[str, Any]) -> str:
    return str(run.get("key", run.get("run_id", "?"))).rsplit("/", 1)[-1]


def _time(value: Any, default: datetime) -> datetime:
    """A stored ISO time (`+00:00` or `Z`), or `default` when it cannot be read."""
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        return default
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def gather(
    dynamodb: DynamoDBServiceResource,
    sqs: SQSClient,
    stuck_after: timedelta = timedelta(minutes=15),
    now: datetime | None = None,
) -> StackStatus:
    """The status of the stack behind these clients (a boto3 DynamoDB resource, an SQS client)."""
    now = now or datetime.now(UTC)
    status = StackStatus()
    counts: Counter[str] = Counter()
    for number, run in enumerate(_all_runs(RunRepository(dynamodb.Table(RUNS.name())))):
        state = str(run.get("status"))
        counts[state] += 1
        if number == 0:  # newest first
            status.last_file, status.last_file_at = _file(run), str(run.get("started_at"))
        if state == RunStatus.RUNNING.value and now - _time(run.get("started_at"), now) > stuck_after:
            status.stuck.append({"file": _file(run), "run_id": run["run_id"], "started_at": run.get("started_at")})
        elif state == RunStatus.FAILED.value:
            status.failed.append({"file": _file(run), "run_id": run["run_id"], "cause": cause_of(run)})
    status.runs_by_status = dict(counts)
    failures = FailureRepository(dynamodb.Table(ORDER_FAILURES.name()))
    for pipe in PIPES:
        url = sqs.get_queue_url(QueueName=pipe.dead_letter_queue.name())["QueueUrl"]
        attributes = sqs.get_queue_attributes(
            QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        )["Attributes"]
        status.dead_letters[pipe.key] = {
            "queued": sum(int(v) for v in attributes.values()),
            "open_failures": sum(1 for _ in failures.for_pipe(pipe.key, FailureStatus.OPEN)),
        }
    cases = PremiumCaseRepository(dynamodb.Table(PREMIUM_CASES.name()))
    start = None
    while True:
        page, start = cases.recent(200, start)
        status.open_premium_cases += sum(1 for c in page if c.get("case_status") == CASE_OPEN)
        if not start:
            return status
