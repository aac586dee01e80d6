"""Curated data on S3: hive-partitioned Parquet, one object per partition, and a manifest
per committed snapshot naming each partition's object.

Objects are never rewritten in place: a run writes each partition it changes as a new object
named after the snapshot it prepares (`part-<seq>.parquet`), then the manifest of that
snapshot; the writer lease's pointer (`writer_lease.py`) makes it current. What a crashed
attempt wrote is named in the lease item and deleted by the next attempt; what a commit
superseded is deleted right after it. So, between runs, each partition holds one object and
the prefixes can be read by any engine (DuckDB, Athena, Spark) without the manifest.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.parquet as pq

from chalicelib.storage_layout import INDEX_PREFIX

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import ObjectIdentifierTypeDef

# Enough to overlap S3 round trips and Arrow encoding on the tasks' 1-2 vCPUs; more threads
# only add allocator arenas and buffers in flight (measured: 8 threads peaked ~60 MiB higher).
IO_THREADS = 4
IO_POOL = ThreadPoolExecutor(IO_THREADS, thread_name_prefix="curated-io")  # shared: threads outlive one file
MANIFEST_PREFIX = f"{INDEX_PREFIX}manifest/"
# Arrow's default allocator in these wheels (mimalloc) is slow to hand out fresh memory on this
# machine (a Firecracker VM): a take of 1 M item rows cost 0.36 s of CPU the first two times and
# 0.13 s after; 0.15 s every time with jemalloc. With jemalloc the bulk benchmark's process uses
# ~7 % less CPU and its peak memory is ~100 MiB lower; the system allocator saves a little more CPU
# but raises the peak to ~900 MiB, too close to the 1 GiB target (docs/benchmark-notes.md,
# 2026-12-02). Process-wide: each task's process holds only its own work. Wheels built without
# jemalloc (some macOS builds) keep their default.
with contextlib.suppress(NotImplementedError):  # pyarrow's ArrowNotImplementedError
    pa.set_memory_pool(pa.jemalloc_memory_pool())


def table_to_parquet(table: pa.Table) -> bytes:
    """Snappy; integers delta-encoded (ids, days and timestamps come nearly sorted or in a small
    range), text dictionary-encoded. Measured on the bench month (docs/benchmark-notes.md,
    "Transformation: second pass"): a day of 33 k items 0.68 MB, 8.6 ms to write and 4.7 ms of
    CPU to read, against 1.01 MB, 11.5 ms and 10.2 ms with plain integers; the 1 M-entry item
    index 2.6 MB against 8.9 MB. Both are standard Parquet encodings
    (https://parquet.apache.org/docs/file-format/data-pages/encodings/); DuckDB reads them
    (tests/containers/test_curated_layout.py)."""
    text = [f.name for f in table.schema if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)]
    integers = {f.name: "DELTA_BINARY_PACKED" for f in table.schema if pa.types.is_integer(f.type)}
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="snappy", use_dictionary=text, column_encoding=integers)
    data: bytes = sink.getvalue().to_pybytes()
    return data


def object_key(partition: str, seq: int) -> str:
    return f"{partition}part-{seq:010d}.parquet"


def manifest_key(seq: int) -> str:
    return f"{MANIFEST_PREFIX}{seq:010d}.json"


@dataclass
class Snapshot:
    """A committed state: each partition (a prefix ending in `/`) and its one object."""

    seq: int = 0
    objects: dict[str, str] = field(default_factory=dict)


class CuratedStore:
    def __init__(self, s3: S3Client, bucket: str) -> None:
        self._s3 = s3
        self._bucket = bucket

    def snapshot(self, seq: int) -> Snapshot:
        if seq == 0:
            return Snapshot()
        body = self._s3.get_object(Bucket=self._bucket, Key=manifest_key(seq))["Body"].read()
        return Snapshot(seq, json.loads(body)["objects"])

    def read(self, key: str) -> pa.Table:
        body = self._s3.get_object(Bucket=self._bucket, Key=key)["Body"].read()
        table: pa.Table = pq.read_table(pa.BufferReader(body))
        return table

    def reading(self, key: str) -> Future[pa.Table]:
        """An object read in the background (S3 round trip and Parquet decoding off the caller)."""
        return IO_POOL.submit(self.read, key)

    def write(self, snapshot: Snapshot, tables: dict[str, pa.Table]) -> None:
        """Store the changed partitions' objects (encoding runs in parallel: Arrow releases
        the GIL), then the snapshot's manifest. A failed upload fails the write only once no
        other is in flight: the caller then releases the lease, and the next holder deletes
        what the lease item names, which an upload still running could recreate after it."""

        def put(key: str, table: pa.Table) -> None:
            self._s3.put_object(Bucket=self._bucket, Key=key, Body=table_to_parquet(table))

        uploads = [IO_POOL.submit(put, snapshot.objects[p], t) for p, t in tables.items()]
        wait(uploads)
        for upload in uploads:
            upload.result()  # the first failure, if any
        body = json.dumps({"seq": snapshot.seq, "objects": snapshot.objects}, sort_keys=True).encode()
        self._s3.put_object(Bucket=self._bucket, Key=manifest_key(snapshot.seq), Body=body)

    def delete(self, keys: Iterable[str]) -> None:
        keys = sorted(set(keys))
        # DeleteObjects takes at most 1 000 keys: https://docs.aws.amazon.com/AmazonS3/latest/API/API_DeleteObjects.html
        for start in range(0, len(keys), 1000):
            batch: list[ObjectIdentifierTypeDef] = [{"Key": k} for k in keys[start : start + 1000]]
            self._s3.delete_objects(Bucket=self._bucket, Delete={"Objects": batch, "Quiet": True})
