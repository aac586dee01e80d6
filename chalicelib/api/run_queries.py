"""Processed files and their outcomes, as the API serves them (newest first)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chalicelib.api.dynamo import plain
from chalicelib.api.exceptions import NotFound
from chalicelib.api.pagination import bounded, decode_token, page_body
from chalicelib.api.params import MAX_ID_BYTES, PageRequest
from chalicelib.api.readable import Listing
from chalicelib.runs import RUN_KIND, RunRepository
from chalicelib.tables import RUNS, RUNS_BY_TIME

# The time index's partition holds the same value for every run: bookkeeping, not data.
_HIDDEN = {RUNS_BY_TIME.partition_key}
_TOKEN_SHAPE = {
    RUNS.partition_key: bounded(MAX_ID_BYTES),
    RUNS_BY_TIME.partition_key: RUN_KIND.__eq__,
    RUNS_BY_TIME.range_key: bounded(64),
}


class RunQueries:
    def __init__(self, repository: RunRepository) -> None:
        self._runs = repository

    def recent(self, page: PageRequest) -> dict[str, Any]:
        items, last = self._runs.recent(page.limit, decode_token(page.token, _TOKEN_SHAPE))
        listing = Listing((RUNS.partition_key,))
        return page_body(listing.convert(items, public_run), last, **listing.header())

    def get(self, run_id: str) -> dict[str, Any]:
        item = self._runs.get(run_id)
        if item is None:
            raise NotFound(f"no run {run_id!r}", "id")
        return public_run(item)


def public_run(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: plain(v) for k, v in item.items() if k not in _HIDDEN}
