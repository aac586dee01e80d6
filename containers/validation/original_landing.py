"""A file's original landing: when its content (the SHA-256 of its bytes) first landed.

S3 cannot tell it: a copy of an object onto itself is a new version whose `LastModified` is
the copy's ("Amazon S3 resets the system-controlled metadata ... the creation date of the copied
object", https://docs.aws.amazon.com/AmazonS3/latest/dev/CopyingObjectsExamples.html), and the
event's `sequencer` orders the events of one key only ("used to determine event sequence",
https://docs.aws.amazon.com/AmazonS3/latest/userguide/notification-content-structure.html). So
validation digests the bytes as it reads them and keeps the first landing of each digest in the
Runs table (`chalicelib.runs.FirstLandings`), before anything can fail later.
"""

from __future__ import annotations

import hashlib
import io
from typing import Any

from chalicelib.runs import FirstLandings, Landing
from containers.engine.rules import to_micros


class DigestingReader(io.RawIOBase):
    """An object's body as read, digested on the way (the validation reads it once)."""

    def __init__(self, raw: Any, content_length: int) -> None:
        self._raw, self._length = raw, content_length
        self._sha = hashlib.sha256()
        self._size = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self._raw.read(len(buffer))
        buffer[: len(data)] = data
        self._sha.update(data)
        self._size += len(data)
        return len(data)

    @property
    def digest(self) -> str | None:
        """The SHA-256 of the bytes, once all of them were read."""
        return self._sha.hexdigest() if self._size == self._length else None

    def first_landing(self, landings: FirstLandings | None, own: Landing) -> Landing:
        """The first landing of these bytes: `own` unless the registry knows an earlier one. A body
        not read to its end has no digest to match, and keeps its own landing."""
        digest = self.digest
        if landings is None or digest is None:
            return own
        return landings.record(digest, own)


def manifest_landing(first: Landing) -> dict[str, Any]:
    """The place the staged rows take in the latest-wins order (`versions.in_original_place`)."""
    return {"version": to_micros(first.landed_at), "source_key": first.source_key, "run_id": first.run_id}
