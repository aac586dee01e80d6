"""Helpers for the validation tests: one file through the validation task on an embedded AWS."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from chalicelib.storage_layout import CURATED_BUCKET, INCOMING_PREFIX, INPUT_BUCKET, RunIdentity
from containers.tasks.outcome import DataRejected
from containers.validation.task import validate_object

NOW = datetime(2025, 3, 10, tzinfo=UTC)


def validated(clients: Any, body: bytes, name: str = "file.csv") -> dict[str, Any]:
    """The validation summary of `body` landed as `incoming/<name>` (VALID or REJECTED)."""
    key = f"{INCOMING_PREFIX}{name}"
    put = clients.s3.put_object(Bucket=INPUT_BUCKET.name(), Key=key, Body=body)
    identity = RunIdentity(INPUT_BUCKET.name(), key, put.get("VersionId", ""))
    try:
        return validate_object(clients.s3, identity, CURATED_BUCKET.name(), 0.05, now=NOW)
    except DataRejected as rejected:
        return rejected.summary
