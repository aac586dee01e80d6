"""Transformation: load a validated file into the curated store and refresh the KPIs of
every day it touched.

The staged rows are left in place (a lifecycle rule expires them) so that a retry after a
crash finds its input again; whatever the crash left, the retry repairs (pipeline.py).
"""

from __future__ import annotations

from typing import Any

from chalicelib.category_registry import CategoryRegistry
from chalicelib.storage_layout import RunIdentity
from containers.adapters.curated_store import CuratedStore
from containers.adapters.kpi_tables import KpiTables
from containers.adapters.read_ahead import read_ahead
from containers.adapters.writer_lease import WriterLease
from containers.engine.versions import in_original_place
from containers.tasks.config import AwsClients
from containers.transformation.pipeline import Transformer
from containers.validation.task import read_manifest, schema_of


def transform_object(
    aws: AwsClients, identity: RunIdentity, curated_bucket: str, daily_table: str, category_table: str
) -> dict[str, Any]:
    s3 = aws.s3
    manifest = read_manifest(s3, curated_bucket, identity)
    schema = schema_of(manifest)
    lease = WriterLease(aws.dynamodb, daily_table, identity.run_id)
    store = CuratedStore(s3, curated_bucket)
    transformer = Transformer(store, KpiTables(aws.dynamodb, daily_table, category_table), lease)
    # The next staged part is read (S3 and Parquet decoding off the main thread) while this one is
    # merged: at most two parts in memory; none for a file of only its header (it has no parts).
    staged = read_ahead(map(store.read, manifest["parts"]))
    chunks = (in_original_place(c, schema, manifest.get("landing")) for c in staged)
    summary = transformer.transform(identity.run_id, schema, chunks)
    CategoryRegistry(aws.dynamodb_resource.Table(category_table)).register(summary.pop("categories"))
    return {"status": "LOADED", "run_id": identity.run_id, **summary}
