"""Buckets, prefixes and the keys derived from one input object: defined once for all.

An input object version is one *run*. Everything a run writes is placed under keys derived
here, so the workflow, the containers, the API and the tests agree on where things are.
"""

from __future__ import annotations

import hashlib
import posixpath
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from urllib.parse import quote, unquote_plus

from chalicelib.resource_spec import ResourceSpec


class BucketSpec(ResourceSpec):
    """An S3 bucket."""


# Landing zone: new files under incoming/, processed files archived, rejected files kept.
INPUT_BUCKET = BucketSpec("InputBucket", "shoppulse-input", "INPUT_BUCKET")
# Curated data: validated rows (Parquet), indexes, staging between the two tasks.
CURATED_BUCKET = BucketSpec("CuratedBucket", "shoppulse-curated", "CURATED_BUCKET")
BUCKETS: tuple[BucketSpec, ...] = (INPUT_BUCKET, CURATED_BUCKET)

INCOMING_PREFIX = "incoming/"
ARCHIVE_PREFIX = "archive/"
REJECTED_PREFIX = "rejected/"
STAGING_PREFIX = "staging/"
CURATED_PREFIX = "curated/"
INDEX_PREFIX = "index/"
# The curated layout's version (docs/batch-storage.md): 3 = one writer, current state per day. Data written in
# another layout cannot be read by this code.
CURATED_LAYOUT = 3


@dataclass(frozen=True)
class RunIdentity:
    """One version of one input object, and every key derived from it.

    `key` is the key the event announced: it names the run (`run_id`, `file_id`). `stored_key`
    is set only when the object turned out to be stored under the announced key's URL-decoded
    form (docs/architecture.md, "Object keys"); `source_key` is the key that addresses it."""

    bucket: str
    key: str
    version: str = ""
    landed_at: datetime | None = None
    stored_key: str = ""

    @property
    def source_key(self) -> str:
        """The object's real key: what GetObject, CopyObject and DeleteObject address."""
        return self.stored_key or self.key

    def decoded(self) -> RunIdentity | None:
        """The same run, addressing the announced key's form-decoded reading (`+` is a space), or
        None when decoding changes nothing."""
        decoded = unquote_plus(self.key)
        return replace(self, stored_key=decoded) if decoded != self.key else None

    @property
    def run_id(self) -> str:
        """Human-readable and unique per object version: the Runs table key."""
        suffix = f"?versionId={self.version}" if self.version else ""
        return f"s3://{self.bucket}/{self.key}{suffix}"

    @property
    def file_id(self) -> str:
        """A fixed-length, key-safe name for what this run writes: re-runs overwrite, never add.

        The SHA-256 of the run id in hex, which the workflow computes too (`States.Hash`)."""
        return hashlib.sha256(self.run_id.encode()).hexdigest()

    @property
    def copy_source(self) -> str:
        """This version as CopyObject's `CopySource`: `bucket/key[?versionId=...]`, URL-encoded.

        S3 requires the value URL-encoded ("The value must be URL-encoded",
        https://docs.aws.amazon.com/AmazonS3/latest/API/API_CopyObject.html); encoded as boto3
        encodes it (botocore.handlers, `_quote_source_header_from_dict`): all but `-._~/`."""
        source = quote(f"{self.bucket}/{self.source_key}", safe="-._~/")
        return f"{source}?versionId={quote(self.version, safe='')}" if self.version else source

    @property
    def file_name(self) -> str:
        return posixpath.basename(self.source_key) or "file"

    @property
    def _dated(self) -> str:
        day = (self.landed_at or datetime.now(UTC)).astimezone(UTC)
        return f"{day:%Y/%m/%d}/{self.file_id}"

    @property
    def archive_key(self) -> str:
        return f"{ARCHIVE_PREFIX}{self._dated}/{self.file_name}"

    @property
    def rejected_key(self) -> str:
        return f"{REJECTED_PREFIX}{self._dated}/{self.file_name}"

    def rejected_rows_key(self, file_rejected: bool) -> str:
        """Rejected rows lie next to where the original file ends up."""
        base = self.rejected_key if file_rejected else self.archive_key
        return f"{base}.rejected-rows.csv"

    @property
    def rejection_reason_key(self) -> str:
        return f"{self.rejected_key}.reason.json"

    @property
    def staging_prefix(self) -> str:
        return f"{STAGING_PREFIX}{self.file_id}/"
