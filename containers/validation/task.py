"""Validation: read one input object, keep its valid rows for the transformation, keep every
rejected row with its reasons, and reject the whole file when too much of it is bad.

Nothing of a rejected file is loaded: its staged rows are removed before the verdict.
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections import Counter
from concurrent.futures import Future
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, BinaryIO, NoReturn, cast

import pandas as pd
from botocore.exceptions import ClientError

from chalicelib.runs import LINE_COUNTS, FirstLandings, Landing
from chalicelib.storage_layout import RunIdentity
from containers.adapters.curated_store import IO_POOL
from containers.adapters.read_ahead import read_ahead
from containers.engine.contract import SCHEMAS, FileKind, Schema
from containers.engine.csv_source import CsvSource, open_source
from containers.engine.input_format import UnreadableFile
from containers.engine.rules import Origin, TimeBounds, Validated, malformed_frame, validate
from containers.tasks.outcome import DataRejected
from containers.tasks.stop_signal import TaskStopped, checkpoint
from containers.validation.original_landing import DigestingReader, manifest_landing

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import GetObjectOutputTypeDef, GetObjectRequestTypeDef

MANIFEST = "manifest.json"
# What GetObject answers for a key or version that does not exist: NoSuchKey, NoSuchVersion (both 404,
# https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html#ErrorCodeList; moto answers NoSuchKey
# for both, getmoto/moto#2710), and "404", botocore's code for a 404 without an error body.
_MISSING = frozenset({"NoSuchKey", "NoSuchVersion", "404"})
log = logging.getLogger("shoppulse.task")


class _RejectedRows:
    """Rejected rows spill to a local file: an all-bad huge file must not fill memory."""

    def __init__(self) -> None:
        self.file = tempfile.SpooledTemporaryFile(max_size=8 << 20, mode="w+b")  # noqa: SIM115 - lives with the object
        self.count = 0
        self.reasons: Counter[str] = Counter()

    def add(self, rows: pd.DataFrame) -> None:
        if rows.empty:
            return
        rows.to_csv(self.file, header=self.count == 0, index=False)
        self.count += len(rows)
        for reasons in rows["reason"]:
            self.reasons.update(reasons.split(";"))

    def upload(self, s3: S3Client, bucket: str, key: str) -> None:
        self.file.seek(0)
        s3.upload_fileobj(self.file, bucket, key, ExtraArgs={"ContentType": "text/csv"})


class _Staging:
    """Valid rows as Parquet parts for the transformation. A part is encoded and stored in the
    background (Arrow encodes without the GIL) while the next batch is validated; one part at
    a time, so memory holds at most three batches: this one, the one being stored and the next
    one being parsed (read_ahead)."""

    def __init__(self, s3: S3Client, bucket: str, prefix: str) -> None:
        self.s3, self.bucket, self.prefix = s3, bucket, prefix
        self.parts: list[str] = []
        self.rows = 0
        self._writing: Future[Any] | None = None

    def add(self, checked: Validated) -> None:
        rows = checked.valid.num_rows
        if not rows:
            return
        key = f"{self.prefix}part-{len(self.parts):05d}.parquet"
        self._wait()
        self._writing = IO_POOL.submit(self._put, key, checked)
        self.parts.append(key)
        self.rows += rows

    def _put(self, key: str, checked: Validated) -> None:
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=checked.staged_parquet())

    def _wait(self) -> None:
        writing, self._writing = self._writing, None
        if writing is not None:
            writing.result()  # a failed write raises here, in the task's own flow

    def discard(self) -> None:
        self._wait()
        for key in self.parts:
            self.s3.delete_object(Bucket=self.bucket, Key=key)
        self.parts.clear()

    def publish(self, manifest: dict[str, Any]) -> None:
        self._wait()
        body = json.dumps({**manifest, "parts": self.parts}).encode()
        self.s3.put_object(Bucket=self.bucket, Key=f"{self.prefix}{MANIFEST}", Body=body)


def _line_counts(source: CsvSource) -> dict[str, int]:
    """Where every physical line went (chalicelib.runs.LINE_COUNTS)."""
    counts = source.counts
    return dict(zip(LINE_COUNTS, (counts.lines, counts.header, counts.blank, counts.continuation), strict=True))


def validate_object(
    s3: S3Client,
    identity: RunIdentity,
    curated_bucket: str,
    max_invalid_ratio: float,
    now: datetime | None = None,
    bounds: TimeBounds | None = None,
    landings: FirstLandings | None = None,
) -> dict[str, Any]:
    """Validate one input object version; raises DataRejected (with the summary) for bad data.
    With `landings`, its bytes' first landing (a run of the same bytes, an earlier version of its
    key with them) is its place in the latest-wins order (original_landing.py)."""
    obj, identity = _get_object(s3, identity)
    landed_at: datetime = obj["LastModified"]
    identity = replace(identity, landed_at=landed_at)
    summary: dict[str, Any] = {
        "run_id": identity.run_id,
        "file_id": identity.file_id,
        "landed_at": identity.landed_at.isoformat() if identity.landed_at else None,
        "archive_key": identity.archive_key,
        "rejected_key": identity.rejected_key,
        "copy_source": identity.copy_source,
        "source_key": identity.source_key,
    }
    staging = _Staging(s3, curated_bucket, identity.staging_prefix)
    rejected = _RejectedRows()
    body = DigestingReader(obj["Body"], obj["ContentLength"])
    try:
        source = open_source(cast("BinaryIO", body))
    except UnreadableFile as err:
        _reject_file(s3, identity, summary, rejected, err.reason, err.detail)
    summary["kind"] = source.schema.kind.value
    origin = Origin(identity.source_key, landed_at)
    try:
        # The next batch is parsed while this one is validated; the source's counts are final
        # once the loop ends, and an unreadable part of the file raises at its batch, in order.
        for batch in read_ahead(source.batches()):
            checkpoint()
            checked = validate(batch.text, source.schema, origin, now, bounds)
            checked.rejected["raw"] = batch.raw_text(checked.rejected["line"].tolist())
            staging.add(checked)
            rejected.add(checked.rejected)
            rejected.add(malformed_frame(batch.malformed, source.schema))
    except TaskStopped:
        staging.discard()  # a stopped attempt keeps nothing; its retry stages the file again
        raise
    except UnreadableFile as err:
        staging.discard()
        summary.update(_line_counts(source))
        _reject_file(s3, identity, summary, rejected, err.reason, err.detail)
    first = body.first_landing(s3, identity, landings, Landing(identity.run_id, identity.source_key, landed_at))
    summary.update(content_sha256=body.digest, first_landing=first.summary())
    rows = source.rows
    summary.update(rows=rows, valid_rows=staging.rows, rejected_rows=rejected.count, reasons=dict(rejected.reasons))
    summary.update(_line_counts(source))
    if rows and rejected.count / rows > max_invalid_ratio:
        staging.discard()
        detail = f"{rejected.count} of {rows} rows are invalid, more than the {max_invalid_ratio:.1%} allowed"
        _reject_file(s3, identity, summary, rejected, "too_many_invalid_rows", detail)
    summary["rejected_rows_key"] = identity.rejected_rows_key(file_rejected=False) if rejected.count else None
    if rejected.count:
        rejected.upload(s3, identity.bucket, summary["rejected_rows_key"])
    staging.publish(
        {
            "kind": source.schema.kind.value,
            "file_id": identity.file_id,
            "rows": staging.rows,
            "landing": manifest_landing(first),
        }
    )
    summary["status"] = "VALID"
    return summary


def _get_object(s3: S3Client, identity: RunIdentity) -> tuple[GetObjectOutputTypeDef, RunIdentity]:
    """GetObject of the announced key, else of its URL-decoded form: AWS documents S3 event
    notifications' keys as URL-encoded but is silent for EventBridge events (docs/architecture.md,
    "Object keys"), so both readings must work. A key that exists as announced is never decoded."""
    try:
        return _get_version(s3, identity), identity
    except ClientError as err:
        decoded = identity.decoded()
        if decoded is None or not _missing(err):
            raise
        try:
            obj = _get_version(s3, decoded)
        except ClientError as second:
            if not _missing(second):
                raise
            raise err from None  # neither reading exists: the announced key's error names the cause
        log.info("event key was URL-encoded", extra={"fields": {"key": identity.key, "stored": decoded.source_key}})
        return obj, decoded


def _missing(err: ClientError) -> bool:
    return err.response.get("Error", {}).get("Code") in _MISSING


def _get_version(s3: S3Client, identity: RunIdentity) -> GetObjectOutputTypeDef:
    request: GetObjectRequestTypeDef = {"Bucket": identity.bucket, "Key": identity.source_key}
    if identity.version:
        request["VersionId"] = identity.version
    return s3.get_object(**request)


def _reject_file(
    s3: S3Client, identity: RunIdentity, summary: dict[str, Any], rejected: _RejectedRows, reason: str, detail: str
) -> NoReturn:
    summary.update(status="REJECTED", reason=reason, detail=detail, valid_rows=0)
    summary.setdefault("rows", rejected.count)
    summary.setdefault("rejected_rows", rejected.count)
    summary.setdefault("reasons", dict(rejected.reasons))
    summary["rejected_rows_key"] = identity.rejected_rows_key(file_rejected=True) if rejected.count else None
    if rejected.count:
        rejected.upload(s3, identity.bucket, summary["rejected_rows_key"])
    body = json.dumps({k: summary[k] for k in ("run_id", "reason", "detail", "rejected_rows", "reasons")}, default=str)
    s3.put_object(Bucket=identity.bucket, Key=identity.rejection_reason_key, Body=body.encode())
    raise DataRejected(summary)


def read_manifest(s3: S3Client, curated_bucket: str, identity: RunIdentity) -> dict[str, Any]:
    body = s3.get_object(Bucket=curated_bucket, Key=f"{identity.staging_prefix}{MANIFEST}")["Body"].read()
    manifest: dict[str, Any] = json.loads(body)
    return manifest


def schema_of(manifest: dict[str, Any]) -> Schema:
    return SCHEMAS[FileKind(manifest["kind"])]
