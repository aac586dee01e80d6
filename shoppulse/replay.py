"""The batch workflow's steps run in this process, one file after another.

This is `shoppulse replay`: the same validation and transformation code as the ECS tasks,
the same Runs records and the same archive layout, without Step Functions in between. The
deployed order of steps is the state machine's (infra/state_machine.py); this mirrors it
for a quick, deterministic run on an embedded AWS.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from chalicelib.category_registry import REGISTRY_PARTITION
from chalicelib.kpis import CategoryKpis, DailyKpis, has_kpis, public_category, public_daily
from chalicelib.runs import LINE_COUNTS, RunRepository, RunStatus, Task
from chalicelib.storage_layout import CURATED_BUCKET, INCOMING_PREFIX, INPUT_BUCKET, RunIdentity
from chalicelib.tables import CATEGORY_KPIS, DAILY_KPIS, RUNS
from containers.tasks.config import DEFAULT_MAX_INVALID_RATIO, AwsClients
from containers.tasks.outcome import DataRejected
from containers.transformation.task import transform_object
from containers.validation.task import validate_object

if TYPE_CHECKING:
    from mypy_boto3_s3.type_defs import CopySourceTypeDef

# What a transformation outcome says about rows waiting for a reference (pipeline.Outcome).
HELD_COUNTS = (
    "held_rows",
    "held_by_order",
    "held_by_product",
    "released_rows",
    "waiting_for_order",
    "waiting_for_product",
)


class InProcessWorkflow:
    def __init__(self, clients: AwsClients, max_invalid_ratio: float = DEFAULT_MAX_INVALID_RATIO) -> None:
        self._c = clients
        self._input = INPUT_BUCKET.name()
        self._curated = CURATED_BUCKET.name()
        self._runs = RunRepository(clients.dynamodb_resource.Table(RUNS.name()))
        self._max_invalid_ratio = max_invalid_ratio

    def ingest(self, path: Path) -> dict[str, Any]:
        """Land one file in the input bucket and run the workflow on it; returns its outcome."""
        key = f"{INCOMING_PREFIX}{path.name}"
        put = self._c.s3.put_object(Bucket=self._input, Key=key, Body=path.read_bytes())
        return self.process(RunIdentity(self._input, key, put.get("VersionId", "")), path.name)

    def process(self, identity: RunIdentity, label: str) -> dict[str, Any]:
        if not self._runs.start(identity, execution="replay"):
            return {"file": label, "status": RunStatus.DUPLICATE.value}
        try:
            checked = validate_object(self._c.s3, identity, self._curated, self._max_invalid_ratio)
        except DataRejected as rejected:
            self._runs.record_task(identity.run_id, Task.VALIDATION, rejected.summary)
            self._move(identity, rejected.summary["rejected_key"])
            self._runs.finish(identity.run_id, RunStatus.REJECTED, {"reason": rejected.summary["reason"]})
            return _outcome(label, RunStatus.REJECTED, rejected.summary, {})
        self._runs.record_task(identity.run_id, Task.VALIDATION, checked)
        loaded = transform_object(self._c, identity, self._curated, DAILY_KPIS.name(), CATEGORY_KPIS.name())
        self._runs.record_task(identity.run_id, Task.TRANSFORMATION, loaded)
        self._move(identity, checked["archive_key"])
        self._runs.finish(identity.run_id, RunStatus.SUCCEEDED)
        return _outcome(label, RunStatus.SUCCEEDED, checked, loaded)

    def _move(self, identity: RunIdentity, target: str) -> None:
        source: CopySourceTypeDef = {"Bucket": identity.bucket, "Key": identity.key}
        if identity.version:
            source["VersionId"] = identity.version
        self._c.s3.copy_object(Bucket=identity.bucket, Key=target, CopySource=source)
        self._c.s3.delete_object(Bucket=identity.bucket, Key=identity.key)

    def kpis(self) -> dict[str, list[DailyKpis] | list[CategoryKpis]]:
        """Every stored KPI in its public form (a full export, so a Scan is the right read)."""
        tables = self._c.dynamodb_resource
        daily = [public_daily(i) for i in scan_all(tables.Table(DAILY_KPIS.name())) if has_kpis(i)]
        categories = [
            public_category(i)
            for i in scan_all(tables.Table(CATEGORY_KPIS.name()))
            if i[CATEGORY_KPIS.partition_key] != REGISTRY_PARTITION
        ]
        return {
            "orders": sorted(daily, key=lambda r: r["order_date"]),
            "categories": sorted(categories, key=lambda r: (r["order_date"], r["category"])),
        }


def scan_all(table: Any) -> list[dict[str, Any]]:
    """Every item of a table: for full exports only; serving paths Query."""
    page = table.scan()
    items: list[dict[str, Any]] = page["Items"]
    while "LastEvaluatedKey" in page:
        page = table.scan(ExclusiveStartKey=page["LastEvaluatedKey"])
        items += page["Items"]
    return items


def _outcome(label: str, status: RunStatus, checked: dict[str, Any], loaded: dict[str, Any]) -> dict[str, Any]:
    return {
        "file": label,
        "status": status.value,
        "kind": checked.get("kind"),
        "rows": checked.get("rows", 0),
        "valid_rows": checked.get("valid_rows", 0),
        "rejected_rows": checked.get("rejected_rows", 0),
        **{name: checked[name] for name in LINE_COUNTS if name in checked},
        "reasons": checked.get("reasons", {}),
        "reason": checked.get("reason"),
        "affected_dates": loaded.get("affected_dates", []),
        "duplicate_of": loaded.get("duplicate_of"),
        **{k: loaded.get(k, 0) for k in HELD_COUNTS},
    }
