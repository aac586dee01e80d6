"""Transformation: load a validated file into the curated store and refresh the KPIs of
every day it touched.

The staged rows are left in place (a lifecycle rule expires them) so that a retry after a
crash finds its input again; whatever the crash left, the retry repairs (pipeline.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pyarrow as pa

from chalicelib.category_registry import CategoryRegistry
from chalicelib.storage_layout import RunIdentity
from containers.adapters.curated_store import IO_POOL, CuratedStore
from containers.adapters.kpi_tables import KpiTables
from containers.adapters.writer_lease import WriterLease
from containers.engine.versions import in_original_place
from containers.tasks.config import AwsClients
from containers.transformation.pipeline import Transformer
from containers.validation.task import read_manifest, schema_of


def _staged(store: CuratedStore, parts: list[str]) -> Iterator[pa.Table]:
    """The staged parts in order, the next one read (S3 and Parquet decoding off the main
    thread) while this one is merged: at most two parts in memory."""
    reading = [IO_POOL.submit(store.read, key) for key in parts[:1]]
    for following in parts[1:]:
        table = reading.pop().result()
        reading.append(IO_POOL.submit(store.read, following))
        yield table
    yield from (future.result() for future in reading)  # the last part; none for a file of only its header


def transform_object(
    aws: AwsClients, identity: RunIdentity, curated_bucket: str, daily_table: str, category_table: str
) -> dict[str, Any]:
    s3 = aws.s3
    manifest = read_manifest(s3, curated_bucket, identity)
    schema = schema_of(manifest)
    lease = WriterLease(aws.dynamodb, daily_table, identity.run_id)
    store = CuratedStore(s3, curated_bucket)
    transformer = Transformer(store, KpiTables(aws.dynamodb, daily_table, category_table), lease)
    chunks = (in_original_place(c, schema, manifest.get("landing")) for c in _staged(store, manifest["parts"]))
    summary = transformer.transform(identity.run_id, schema, chunks)
    CategoryRegistry(aws.dynamodb_resource.Table(category_table)).register(summary.pop("categories"))
    return {"status": "LOADED", "run_id": identity.run_id, **summary}
