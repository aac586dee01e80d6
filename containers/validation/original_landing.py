"""A file's original landing: when its content (the SHA-256 of its bytes) first landed.

S3 cannot tell it: a copy of an object onto itself is a new version whose `LastModified` is
the copy's ("Amazon S3 resets the system-controlled metadata ... the creation date of the copied
object", https://docs.aws.amazon.com/AmazonS3/latest/dev/CopyingObjectsExamples.html), and the
event's `sequencer` orders the events of one key only ("used to determine event sequence",
https://docs.aws.amazon.com/AmazonS3/latest/userguide/notification-content-structure.html). So
validation digests the bytes as it reads them, and the first landing is the earliest of
- the runs that read the same bytes, under any key (the Runs table, `chalicelib.runs.FirstLandings`);
- the earlier versions of the same key holding the same bytes (the input bucket is versioned and
  keeps noncurrent versions for a while): they cover a first run that failed before its validation
  read the file, and an event that never started a run (the trigger's dead letters).
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from dataclasses import replace
from typing import TYPE_CHECKING

from chalicelib.runs import FirstLandings, Landing
from chalicelib.storage_layout import RunIdentity
from containers.engine.rules import to_micros

if TYPE_CHECKING:
    from botocore.response import StreamingBody
    from mypy_boto3_s3 import S3Client

# Earlier versions of a key, of the same size, read to compare their bytes (newest first).
HISTORY_READS = 8


class DigestingReader(io.RawIOBase):
    """An object's body as read, digested on the way (the validation reads it once; each read's
    bytes are the body's own, not copied)."""

    def __init__(self, raw: StreamingBody, content_length: int) -> None:
        self._raw, self._length = raw, content_length
        self._sha = hashlib.sha256()
        self._size = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        data: bytes = self._raw.read(size if size >= 0 else None)
        self._sha.update(data)
        self._size += len(data)
        return data

    @property
    def digest(self) -> str | None:
        """The SHA-256 of the bytes, once all of them were read."""
        return self._sha.hexdigest() if self._size == self._length else None

    def first_landing(
        self, s3: S3Client, identity: RunIdentity, landings: FirstLandings | None, own: Landing
    ) -> Landing:
        """The first landing of these bytes: `own` unless the Runs table or the key's earlier
        versions know an earlier one. A body not read to its end has no digest to match, and keeps
        its own landing."""
        digest = self.digest
        if landings is None or digest is None:
            return own
        known = [landings.record(digest, own), *_same_bytes_before(s3, identity, own, self._length, digest)]
        return min(known, key=lambda f: f.rank)


def _same_bytes_before(s3: S3Client, identity: RunIdentity, own: Landing, size: int, digest: str) -> Iterator[Landing]:
    """The earlier versions of this key whose bytes are these (ListObjectVersions needs
    s3:ListBucketVersions, https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectVersions.html)."""
    if not identity.version:
        return  # an unversioned bucket keeps no history
    key = identity.source_key
    pages = s3.get_paginator("list_object_versions").paginate(Bucket=identity.bucket, Prefix=key)
    older = [
        v
        for page in pages
        for v in page.get("Versions", [])
        if v["Key"] == key
        and v["VersionId"] != identity.version
        and v["Size"] == size
        and v["LastModified"] <= own.landed_at
    ]
    for version in sorted(older, key=lambda v: v["LastModified"], reverse=True)[:HISTORY_READS]:
        body = s3.get_object(Bucket=identity.bucket, Key=key, VersionId=version["VersionId"])["Body"]
        sha = hashlib.sha256()
        while chunk := body.read(1 << 20):
            sha.update(chunk)
        if sha.hexdigest() == digest:
            run_id = replace(identity, version=version["VersionId"]).run_id
            yield Landing(run_id, key, version["LastModified"])


def manifest_landing(first: Landing) -> dict[str, int | str]:
    """The place the staged rows take in the latest-wins order (`versions.in_original_place`)."""
    return {"version": to_micros(first.landed_at), "source_key": first.source_key, "run_id": first.run_id}
