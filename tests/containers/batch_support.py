"""Helpers for the batch tests: CSV text from rows, and the KPI components stored in DynamoDB."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from chalicelib.category_registry import REGISTRY_PARTITION
from chalicelib.kpis import CATEGORY_COMPONENTS, DAILY_COMPONENTS, has_kpis
from chalicelib.tables import CATEGORY_KPIS, DAILY_KPIS
from shoppulse.replay import scan_all
from tests.reference_kpis import HEADERS


def csv_bytes(kind: str, rows: Iterable[Mapping[str, Any]], line_end: str = "\n") -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=HEADERS[kind], lineterminator=line_end, extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if row.get(k) is None else row.get(k) for k in HEADERS[kind]})
    return out.getvalue().encode()


def stored_components(resource: Any) -> tuple[dict[str, dict[str, int]], dict[tuple[str, str], dict[str, int]]]:
    """(daily components by date, category components by (category, date)), as stored."""
    daily = {
        str(i[DAILY_KPIS.sort_key]): {k: int(i[k]) for k in DAILY_COMPONENTS}
        for i in scan_all(resource.Table(DAILY_KPIS.name()))
        if has_kpis(i)
    }
    categories = {
        (str(i[CATEGORY_KPIS.sort_key]), str(i[CATEGORY_KPIS.partition_key])): {
            k: int(i[k]) for k in CATEGORY_COMPONENTS
        }
        for i in scan_all(resource.Table(CATEGORY_KPIS.name()))
        if i[CATEGORY_KPIS.partition_key] != REGISTRY_PARTITION
    }
    return daily, categories


def rows_of(kind: str, values: Sequence[Sequence[Any]]) -> list[dict[str, Any]]:
    return [dict(zip(HEADERS[kind], v, strict=False)) for v in values]
