"""The Runs table: one item per input object version, its outcome and each task's summary
(and the digest of its bytes, to find where they first landed).

The workflow writes the guard item and the final status; the tasks add their summaries;
the API reads. Attribute names are fixed here; what the writers write is typed (`NewRun`,
`RunError`, `TaskFailure`; closed sets as Enums), the way Powertools types its event shapes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from enum import Enum, IntEnum
from typing import TYPE_CHECKING, Any, TypedDict

from botocore.exceptions import ClientError

from chalicelib.dynamo_pages import newest_first
from chalicelib.storage_layout import RunIdentity
from chalicelib.tables import RUNS, RUNS_BY_CONTENT, RUNS_BY_TIME

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table

RUN_KIND = "FILE"
LANDED_AT_TEXT = "%Y-%m-%dT%H:%M:%S.%fZ"
# Runs of one content read to find its first landing: the earliest come first, so ties beyond this are moot.
FIRST_LANDINGS_READ = 20


class RunStatus(str, Enum):
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    REJECTED = "REJECTED"
    FAILED = "FAILED"
    DUPLICATE = "DUPLICATE"


class TaskFailureStatus(str, Enum):
    """The status of a task whose body raised (containers/tasks/outcome.py)."""

    TRANSIENT_FAILURE = "TRANSIENT_FAILURE"
    FAILED = "FAILED"


class Task(str, Enum):
    VALIDATION = "validation"
    TRANSFORMATION = "transformation"


class ExitCode(IntEnum):
    """How a task tells the workflow what happened (the state machine branches on it)."""

    OK = 0
    FAILED = 1  # a bug or a permanent fault: fails the workflow without retry
    REJECTED = 65  # EX_DATAERR: the data is bad; retrying cannot help
    TRANSIENT = 75  # EX_TEMPFAIL: try again later


# Where the physical lines of a validated file went (its validation summary):
# lines = header_lines + rows + blank_lines + continuation_lines, rows = valid + rejected.
LINE_COUNTS = ("lines", "header_lines", "blank_lines", "continuation_lines")


# A task's own summary (containers/validation, containers/transformation), stored as given.
TaskSummary = dict[str, Any]


class TaskFailure(TypedDict):
    """The summary of a task whose body raised: its class of fault, the exception and its text."""

    status: TaskFailureStatus
    error: str
    reason: str


class RunError(TypedDict):
    """Why a run FAILED: an error name and a sentence (the workflow, its closer, a local stop)."""

    error: str
    cause: str


class NewRun(TypedDict):
    """The guard item that starts a run (`RunRepository.start`, and the workflow's putItem)."""

    run_id: str  # RUNS.partition_key
    run_kind: str  # RUNS_BY_TIME.partition_key: RUN_KIND
    started_at: str  # RUNS_BY_TIME.range_key
    bucket: str
    key: str
    version: str
    file_id: str
    status: RunStatus
    execution: str


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def to_dynamo(value: Any) -> Any:
    """JSON-like data as DynamoDB accepts it (numbers as Decimal)."""
    return json.loads(json.dumps(value, default=str), parse_float=Decimal)


class RunRepository:
    def __init__(self, table: Table) -> None:
        self._table = table

    def start(self, identity: RunIdentity, execution: str = "") -> bool:
        """Record a new run; False when this object version was already taken (a duplicate)."""
        item: NewRun = {
            "run_id": identity.run_id,
            "run_kind": RUN_KIND,
            "started_at": utc_now(),
            "bucket": identity.bucket,
            "key": identity.key,
            "version": identity.version,
            "file_id": identity.file_id,
            "status": RunStatus.RUNNING,
            "execution": execution,
        }
        try:
            self._table.put_item(Item=to_dynamo(item), ConditionExpression="attribute_not_exists(run_id)")
        except ClientError as err:
            if err.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def record_task(self, run_id: str, task: Task, summary: TaskSummary | TaskFailure) -> None:
        self._table.update_item(
            Key={RUNS.partition_key: run_id},
            UpdateExpression="SET #t = :s",
            ExpressionAttributeNames={"#t": task.value},
            ExpressionAttributeValues={":s": to_dynamo(summary)},
        )

    def finish(self, run_id: str, status: RunStatus, error: RunError | None = None) -> None:
        names = {"#st": "status", "#f": "finished_at"}
        values: dict[str, Any] = {":st": status.value, ":f": utc_now()}
        expression = "SET #st = :st, #f = :f"
        if error:
            names["#e"] = "error"
            values[":e"] = to_dynamo(error)
            expression += ", #e = :e"
        self._table.update_item(
            Key={RUNS.partition_key: run_id},
            UpdateExpression=expression,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )

    def get(self, run_id: str) -> dict[str, Any] | None:
        item: dict[str, Any] | None = self._table.get_item(Key={RUNS.partition_key: run_id}, ConsistentRead=True).get(
            "Item"
        )
        return item

    def recent(
        self, limit: int = 50, start_key: Mapping[str, Any] | None = None
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        """Newest runs first, one page at a time (a Query on the time index, never a Scan)."""
        return newest_first(self._table, RUNS_BY_TIME, RUN_KIND, limit, start_key)


@dataclass(frozen=True)
class Landing:
    """Where and when a file content landed: the run of that object version, its key, its S3
    `LastModified`."""

    run_id: str
    source_key: str
    landed_at: datetime

    @property
    def sort_text(self) -> str:
        """The landing time as the index sorts it: UTC, fixed width."""
        return self.landed_at.astimezone(UTC).strftime(LANDED_AT_TEXT)

    @property
    def rank(self) -> tuple[str, str]:
        """Earlier first; on equal times the smaller run id, so every replica picks the same one."""
        return self.sort_text, self.run_id

    def summary(self) -> dict[str, str]:
        return {"run_id": self.run_id, "source_key": self.source_key, "landed_at": self.landed_at.isoformat()}


class FirstLandings:
    """The first landing of each file content, whatever became of its run (docs/batch-storage.md,
    "Recovery keeps history's order"). Each run item records its content's digest and its landing;
    the `by_content` index lists a digest's runs by landing. A content re-landed after a failed run
    (copied onto itself, uploaded again) takes the first landing as its place in the latest-wins
    order: S3 cannot tell, since a copy is a new object version with its own `LastModified`."""

    def __init__(self, table: Table) -> None:
        self._table = table

    def record(self, digest: str, landing: Landing) -> Landing:
        """Note the digest and landing on this landing's run item (which the workflow created);
        return the first landing of the digest, this one unless an earlier run had the same bytes
        (on equal times the smaller run id). The index is eventually consistent: a run that landed
        the same bytes at the very same moment may be missed."""
        try:
            self._table.update_item(
                Key={RUNS.partition_key: landing.run_id},
                UpdateExpression="SET #c = :c, #l = :l, #s = :s",
                ConditionExpression=f"attribute_exists({RUNS.partition_key})",
                ExpressionAttributeNames={
                    "#c": RUNS_BY_CONTENT.partition_key,
                    "#l": RUNS_BY_CONTENT.range_key,
                    "#s": "source_key",
                },
                ExpressionAttributeValues={":c": digest, ":l": landing.sort_text, ":s": landing.source_key},
            )
        except ClientError as err:
            if err.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            return landing  # no run item (a task run by hand): nothing to compare with
        page = self._table.query(
            IndexName=RUNS_BY_CONTENT.name,
            KeyConditionExpression="#c = :c",
            ExpressionAttributeNames={"#c": RUNS_BY_CONTENT.partition_key},
            ExpressionAttributeValues={":c": digest},
            ScanIndexForward=True,
            Limit=FIRST_LANDINGS_READ,
        )
        earlier = [
            Landing(
                str(i[RUNS.partition_key]),
                str(i.get("source_key") or i["key"]),
                datetime.strptime(str(i[RUNS_BY_CONTENT.range_key]), LANDED_AT_TEXT).replace(tzinfo=UTC),
            )
            for i in page.get("Items", [])
        ]
        return min([landing, *earlier], key=lambda f: f.rank)
