"""What happened to one stream record: the handlers' vocabulary for logs, metrics and retries."""

from __future__ import annotations

from enum import Enum


class Outcome(str, Enum):
    PROCESSED = "processed"  # the effect was written by this delivery
    DUPLICATE = "duplicate"  # the effect was already there: a replayed delivery
    SKIPPED = "skipped"  # the typed rule says no (a legacy item let through by the filters)
    REJECTED = "rejected"  # unreadable: kept in the failures table with its reason, not retried
    FAILED = "failed"  # an error: reported in batchItemFailures, so the pipe retries it
