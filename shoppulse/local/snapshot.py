"""Keeps the embedded AWS's data between runs of `shoppulse up` (moto itself is in memory).

The stack writes every table's items and every bucket's current objects to `DATA_DIR/state/`
on a clean stop and every `SNAPSHOT_INTERVAL_SECONDS` while it runs (`LocalStack`), so a crash
or `kill -9` loses at most the changes of one interval (plus the save in progress); the next
start restores them right after provisioning, before any poller or the API starts.

A save is atomic: the new snapshot is written beside the current one (`state.new/`), every file
and directory fsynced, its manifest last; then `state/` becomes `state.old/`, `state.new/`
becomes `state/` (renames), the parent is fsynced and the old one removed. Whatever the point a
save is interrupted at, `recover` (run before every restore) finds one complete snapshot: a
directory counts only with its manifest. Objects whose ETag and size did not change since the
last snapshot are hard-linked from it rather than downloaded again.
What is not kept: workflow executions and their history, queue messages, topic subscriptions,
object versions other than the current one (restored objects get new version ids).
Restored Orders items are not events: the pipes start after them (see `LocalStack`).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from chalicelib.storage_layout import CURATED_LAYOUT

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef, WriteRequestUnionTypeDef
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import ObjectTypeDef

MANIFEST = "manifest.json"
_BINARY_TYPES = ("B", "BS")
# How often a running stack saves (a kill -9 loses at most this much, plus the save under way).
SNAPSHOT_INTERVAL_SECONDS = 30.0


class IncompatibleState(RuntimeError):
    """The saved state holds curated data in a layout this version cannot read."""


def check(state_dir: Path) -> None:
    """Refuse, before anything starts, a snapshot whose curated data this code would misread."""
    recover(state_dir)
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


def _scan(dynamodb: DynamoDBClient, table: str) -> Iterator[dict[str, AttributeValueTypeDef]]:
    for page in dynamodb.get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
        yield from page["Items"]


def _objects(s3: S3Client, bucket: str) -> Iterator[ObjectTypeDef]:
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        yield from page.get("Contents", [])


def _new(state_dir: Path) -> Path:
    return state_dir.with_name(state_dir.name + ".new")


def _old(state_dir: Path) -> Path:
    return state_dir.with_name(state_dir.name + ".old")


def _complete(path: Path) -> bool:
    return (path / MANIFEST).is_file()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())


def recover(state_dir: Path) -> None:
    """Finish or undo a save that was interrupted, leaving `state_dir` the newest complete snapshot."""
    new, old = _new(state_dir), _old(state_dir)
    if not _complete(state_dir):
        for candidate in (new, old):  # a finished new one, else the one it was replacing
            if _complete(candidate):
                shutil.rmtree(state_dir, ignore_errors=True)
                candidate.rename(state_dir)
                _fsync_dir(state_dir.parent)
                break
    shutil.rmtree(new, ignore_errors=True)
    shutil.rmtree(old, ignore_errors=True)


def _previous_objects(state_dir: Path) -> dict[str, Any]:
    if not _complete(state_dir):
        return {}
    objects: dict[str, Any] = json.loads((state_dir / MANIFEST).read_text()).get("objects", {})
    return objects


def save(
    state_dir: Path, dynamodb: DynamoDBClient, s3: S3Client, tables: Iterable[str], buckets: Iterable[str]
) -> Mapping[str, int]:
    """Write a complete snapshot and swap it in atomically; returns what it holds."""
    recover(state_dir)
    staging = _new(state_dir)
    shutil.rmtree(staging, ignore_errors=True)
    counts: dict[str, int] = {}
    for table in tables:
        lines = [json.dumps(_encode(item)) + "\n" for item in _scan(dynamodb, table)]
        _write(staging / "dynamodb" / f"{table}.jsonl", "".join(lines).encode())
        counts[table] = len(lines)
    previous = _previous_objects(state_dir)
    objects: dict[str, dict[str, Any]] = {}
    for bucket in buckets:
        counts[bucket] = 0
        for entry in _objects(s3, bucket):
            relative = f"{bucket}/{entry['Key']}"
            target = staging / "s3" / relative
            stamp = {"etag": entry["ETag"], "size": entry["Size"]}
            kept = state_dir / "s3" / relative
            if previous.get(relative) == stamp and kept.is_file():
                target.parent.mkdir(parents=True, exist_ok=True)
                os.link(kept, target)  # unchanged since the last snapshot: already on disk
            else:
                try:
                    body = s3.get_object(Bucket=bucket, Key=entry["Key"])["Body"].read()
                except ClientError as error:
                    if error.response.get("Error", {}).get("Code") != "NoSuchKey":
                        raise
                    continue  # deleted since the listing (a staging part, say): not in this snapshot
                _write(target, body)
            objects[relative] = stamp
            counts[bucket] += 1
    for directory in sorted({p.parent for p in staging.rglob("*") if p.is_file()} | {staging}, reverse=True):
        _fsync_dir(directory)
    manifest = {
        "saved_at": datetime.now(UTC).isoformat(),
        "curated_layout": CURATED_LAYOUT,
        "counts": counts,
        "objects": objects,
    }
    _write(staging / MANIFEST, json.dumps(manifest).encode())
    _fsync_dir(staging)
    old = _old(state_dir)
    if state_dir.exists():
        state_dir.rename(old)
    staging.rename(state_dir)
    _fsync_dir(state_dir.parent)
    shutil.rmtree(old, ignore_errors=True)
    return counts


def restore(state_dir: Path, dynamodb: DynamoDBClient, s3: S3Client) -> Mapping[str, int] | None:
    """Load a complete snapshot into freshly provisioned resources; None if there is none."""
    recover(state_dir)
    if not _complete(state_dir):
        return None
    counts: dict[str, int] = {}
    for path in sorted((state_dir / "dynamodb").glob("*.jsonl")):
        items = [_decode(json.loads(line)) for line in path.read_text().splitlines() if line]
        for start in range(0, len(items), 25):
            batch: Sequence[WriteRequestUnionTypeDef] = [
                {"PutRequest": {"Item": item}} for item in items[start : start + 25]
            ]
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
