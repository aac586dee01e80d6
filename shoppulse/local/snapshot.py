"""Keeps the embedded AWS's data between runs of `shoppulse up` (moto itself is in memory).

On a clean stop the stack writes every table's items and every bucket's current objects to
`DATA_DIR/state/`; the next start restores them right after provisioning, before any poller
or the API starts. A snapshot is complete only once its manifest is written (written last).
What is not kept: workflow executions and their history, queue messages, topic subscriptions,
object versions other than the current one (restored objects get new version ids).
Restored Orders items are not events: the pipes start after them (see `LocalStack`).
"""

from __future__ import annotations

import base64
import json
import shutil
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from chalicelib.storage_layout import CURATED_LAYOUT

MANIFEST = "manifest.json"
_BINARY_TYPES = ("B", "BS")


class IncompatibleState(RuntimeError):
    """The saved state holds curated data in a layout this version cannot read."""


def check(state_dir: Path) -> None:
    """Refuse, before anything starts, a snapshot whose curated data this code would misread."""
    manifest = state_dir / MANIFEST
    if not manifest.is_file():
        return
    saved = json.loads(manifest.read_text()).get("curated_layout", 1)
    if saved != CURATED_LAYOUT:
        raise IncompatibleState(
            f"the saved local state in {state_dir} holds curated data in layout {saved}, and this version "
            f"reads layout {CURATED_LAYOUT}: start with --fresh (which deletes that state) or choose another "
            "--data-dir (which keeps it)"
        )


def _encode(value: Any) -> Any:
    """Typed DynamoDB values as JSON (binary as base64)."""
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode()
    if isinstance(value, dict):
        return {k: _encode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_encode(v) for v in value]
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: (_binary(v) if k in _BINARY_TYPES else _decode(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


def _binary(value: Any) -> Any:
    return [base64.b64decode(v) for v in value] if isinstance(value, list) else base64.b64decode(value)


def _scan(dynamodb: Any, table: str) -> Iterator[dict[str, Any]]:
    for page in dynamodb.get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
        yield from page["Items"]


def _objects(s3: Any, bucket: str) -> Iterator[str]:
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for entry in page.get("Contents", []):
            yield entry["Key"]


def save(state_dir: Path, dynamodb: Any, s3: Any, tables: Iterable[str], buckets: Iterable[str]) -> Mapping[str, int]:
    """Write a complete snapshot (replacing the previous one); returns what it holds."""
    staging = state_dir.with_name(state_dir.name + ".new")
    shutil.rmtree(staging, ignore_errors=True)
    counts: dict[str, int] = {}
    for table in tables:
        path = staging / "dynamodb" / f"{table}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        counts[table] = 0
        with path.open("w") as out:
            for item in _scan(dynamodb, table):
                out.write(json.dumps(_encode(item)) + "\n")
                counts[table] += 1
    for bucket in buckets:
        keys = list(_objects(s3, bucket))
        for key in keys:
            target = staging / "s3" / bucket / key
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        counts[bucket] = len(keys)
    manifest = {"saved_at": datetime.now(UTC).isoformat(), "curated_layout": CURATED_LAYOUT, "counts": counts}
    (staging / MANIFEST).write_text(json.dumps(manifest))
    shutil.rmtree(state_dir, ignore_errors=True)
    staging.rename(state_dir)
    return counts


def restore(state_dir: Path, dynamodb: Any, s3: Any) -> Mapping[str, int] | None:
    """Load a complete snapshot into freshly provisioned resources; None if there is none."""
    if not (state_dir / MANIFEST).is_file():
        return None
    counts: dict[str, int] = {}
    for path in sorted((state_dir / "dynamodb").glob("*.jsonl")):
        items = [_decode(json.loads(line)) for line in path.read_text().splitlines() if line]
        for start in range(0, len(items), 25):
            batch = [{"PutRequest": {"Item": item}} for item in items[start : start + 25]]
            while batch:
                unprocessed = dynamodb.batch_write_item(RequestItems={path.stem: batch}).get("UnprocessedItems", {})
                batch = unprocessed.get(path.stem, [])
        counts[path.stem] = len(items)
    for bucket_dir in sorted(p for p in (state_dir / "s3").glob("*") if p.is_dir()):
        files = [p for p in sorted(bucket_dir.rglob("*")) if p.is_file()]
        for path in files:
            s3.put_object(Bucket=bucket_dir.name, Key=path.relative_to(bucket_dir).as_posix(), Body=path.read_bytes())
        counts[bucket_dir.name] = len(files)
    return counts
