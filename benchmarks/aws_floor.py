"""What the embedded AWS (moto) alone costs any S3 + DynamoDB pipeline on the benchmark files:
land the CSV files in S3, read each back once, store one KPI item per day and per (day,
category) with the conditional writes and transactions our pipeline uses, and read the KPI
tables, and start and stop the embedded AWS (as `benchmarks.pipeline` does inside its timed call).
No validation, no Parquet, no computation: a floor on this machine for any pipeline measured the
way `benchmarks.pipeline` is, reported beside DuckDB's whole computation.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import pyarrow.csv as pacsv

from benchmarks.pipeline import LANDING_ORDER
from chalicelib.kpis import CATEGORY_COMPONENTS, DAILY_COMPONENTS
from chalicelib.storage_layout import INCOMING_PREFIX, INPUT_BUCKET
from chalicelib.tables import CATEGORY_KPIS, DAILY_KPIS
from containers.adapters.kpi_tables import KpiTables
from shoppulse.embedded import embedded_aws
from shoppulse.replay import InProcessWorkflow


def run(files: Mapping[str, Path]) -> dict[str, Any]:
    days = sorted(set().union(*(_days(files[n]) for n in ("orders", "increment_orders"))))
    categories = _column(files["products"], "category").unique().to_pylist()
    phases = []
    started = time.perf_counter()
    with embedded_aws() as clients:
        # `benchmarks.pipeline` starts and stops the embedded AWS inside its timed call: so does the floor.
        phases.append({"name": "start the embedded AWS (tables, buckets)", "seconds": time.perf_counter() - started})

        def timed(name: str, step: Any) -> None:
            started = time.perf_counter()
            step()
            phases.append({"name": name, "seconds": time.perf_counter() - started})

        keys = {name: f"{INCOMING_PREFIX}{name}.csv" for name in LANDING_ORDER}
        bucket = INPUT_BUCKET.name()
        timed(
            "land the files in S3",
            lambda: [
                clients.s3.put_object(Bucket=bucket, Key=keys[n], Body=files[n].read_bytes()) for n in LANDING_ORDER
            ],
        )
        timed(
            "read each file once",
            lambda: [clients.s3.get_object(Bucket=bucket, Key=keys[n])["Body"].read() for n in LANDING_ORDER],
        )
        tables = KpiTables(clients.dynamodb, DAILY_KPIS.name(), CATEGORY_KPIS.name())
        daily = dict.fromkeys(DAILY_COMPONENTS, 1)
        per_category = {c: dict.fromkeys(CATEGORY_COMPONENTS, 1) for c in categories}
        timed(
            f"store the KPIs ({len(days)} days, {len(days) * len(categories)} category-days)",
            lambda: [tables.write_day(day, 1, daily, per_category) for day in days],
        )
        timed("read the KPI tables", InProcessWorkflow(clients).kpis)
        stopping = time.perf_counter()
    phases.append({"name": "stop the embedded AWS (drop what it holds)", "seconds": time.perf_counter() - stopping})
    return {"files": list(LANDING_ORDER), "phases": phases}


def _column(path: Path, name: str) -> Any:
    options = pacsv.ConvertOptions(include_columns=[name])
    return pacsv.read_csv(path, convert_options=options).column(name)


def _days(path: Path) -> set[str]:
    """The order dates in an orders file (the days a pipeline stores KPIs for)."""
    created = pc.cast(_column(path, "created_at"), "string")
    return set(pc.utf8_slice_codeunits(created, 0, 10).unique().to_pylist())
