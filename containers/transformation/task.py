"""Transformation: load a validated file into the curated store and refresh the KPIs of
every day it touched.

The staged rows are left in place (a lifecycle rule expires them) so that a re-run after a
crash finds its input again and ends in the same state.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pandas as pd

from chalicelib.category_registry import CategoryRegistry
from chalicelib.storage_layout import RunIdentity
from containers.adapters.curated_store import CuratedStore
from containers.adapters.kpi_tables import KpiTables
from containers.engine.kpis import day_label
from containers.tasks.config import AwsClients
from containers.transformation.pipeline import Transformer
from containers.validation.task import read_manifest, schema_of


def _staged(s3: Any, bucket: str, parts: list[str]) -> Iterator[pd.DataFrame]:
    for key in parts:
        yield pd.read_parquet(io.BytesIO(s3.get_object(Bucket=bucket, Key=key)["Body"].read()))


def transform_object(
    aws: AwsClients, identity: RunIdentity, curated_bucket: str, daily_table: str, category_table: str
) -> dict[str, Any]:
    s3 = aws.s3
    manifest = read_manifest(s3, curated_bucket, identity)
    schema = schema_of(manifest)
    store = CuratedStore(s3, curated_bucket)
    tables = KpiTables(aws.dynamodb, daily_table, category_table)
    transformer = Transformer(store, tables)
    loaded = transformer.load(schema, identity.file_id, _staged(s3, curated_bucket, manifest["parts"]))
    refreshed = transformer.recompute(loaded.affected_days)
    CategoryRegistry(aws.dynamodb_resource.Table(category_table)).register(refreshed.categories)
    return {
        "status": "LOADED",
        "run_id": identity.run_id,
        "kind": schema.kind.value,
        "rows_loaded": loaded.rows_loaded,
        "held_rows": loaded.held_rows,
        "affected_dates": sorted(day_label(d) for d in loaded.affected_days),
        "days_written": refreshed.days_written,
        "days_superseded": refreshed.days_superseded,
    }
