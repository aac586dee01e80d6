"""The curated store in S3: validated rows as Parquet, laid out so a day is cheap to recompute.

Orders and items are sharded by order id (an item lives with its order), so one shard
holds every version of its orders and their items and can be folded on its own. Small
indexes answer the questions that cross shards:
- which shards hold a day's orders (`day_shards`, one object per day and file);
- where else an item id has versions (`item_versions`, sharded by item id);
- which shards reference a product (`product_shards`).
Every object is named by the file that wrote it, so a re-run overwrites instead of adding,
and with the same content: which is why a run may keep what it wrote or read (`FrameCache`)
instead of reading it again. Listings are never cached: they are how a run sees the others.
"""
from __future__ import annotations

import io
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Iterable

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from chalicelib.storage_layout import CURATED_PREFIX, INDEX_PREFIX
from containers.engine.contract import FileKind
from containers.engine.kpis import day_label

IO_THREADS = 8
_POOL = ThreadPoolExecutor(IO_THREADS, thread_name_prefix="curated-io")  # shared: threads outlive one file
LIST_EACH_SHARD_UP_TO = 16   # more shards than this: one listing of the whole prefix is cheaper
CACHE_BYTES = 192 << 20


def _shard_dir(shard: int) -> str:
    return f"shard={shard:08d}"


def to_parquet(frame: pd.DataFrame) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), sink, compression="lz4")
    return sink.getvalue().to_pybytes()


class FrameCache:
    """Decoded objects by key, least recently used out first, within a memory budget."""

    def __init__(self, budget_bytes: int = CACHE_BYTES) -> None:
        self._budget = budget_bytes
        self._frames: OrderedDict[str, tuple[pd.DataFrame, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: str) -> pd.DataFrame | None:
        with self._lock:
            if key not in self._frames:
                return None
            self._frames.move_to_end(key)
            return self._frames[key][0]

    def put(self, key: str, frame: pd.DataFrame) -> None:
        size = int(frame.memory_usage(index=False, deep=True).sum())
        with self._lock:
            if key in self._frames:
                self._bytes -= self._frames.pop(key)[1]
            if size > self._budget:
                return
            self._frames[key] = (frame, size)
            self._bytes += size
            while self._bytes > self._budget:
                self._bytes -= self._frames.popitem(last=False)[1][1]


class CuratedStore:
    def __init__(self, s3: Any, bucket: str, cache: FrameCache | None = None) -> None:
        self._s3 = s3
        self._bucket = bucket
        self._cache = cache if cache is not None else FrameCache()

    # -- plumbing ------------------------------------------------------------------------
    def _put(self, key: str, frame: pd.DataFrame) -> None:
        self._s3.put_object(Bucket=self._bucket, Key=key, Body=to_parquet(frame))
        self._cache.put(key, frame)

    def _keys(self, prefix: str) -> list[str]:
        keys: list[str] = []
        for page in self._s3.get_paginator("list_objects_v2").paginate(Bucket=self._bucket, Prefix=prefix):
            keys += [o["Key"] for o in page.get("Contents", [])]
        return keys

    def _shard_keys(self, root: str, shards: Iterable[int]) -> list[str]:
        """Keys under `root/shard=N/` for these shards."""
        wanted = sorted(set(shards))
        if len(wanted) > LIST_EACH_SHARD_UP_TO:
            dirs = {_shard_dir(s) for s in wanted}
            return [k for k in self._keys(root) if k[len(root):].split("/", 1)[0] in dirs]
        return [k for ks in _POOL.map(self._keys, [f"{root}{_shard_dir(s)}/" for s in wanted]) for k in ks]

    def _read(self, key: str) -> pd.DataFrame:
        frame = self._cache.get(key)
        if frame is None:
            body = self._s3.get_object(Bucket=self._bucket, Key=key)["Body"].read()
            frame = pd.read_parquet(io.BytesIO(body))
            self._cache.put(key, frame)
        return frame

    def _read_all(self, keys: list[str]) -> pd.DataFrame | None:
        if not keys:
            return None
        frames = list(_POOL.map(self._read, keys))
        return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]

    def put_many(self, objects: Iterable[tuple[str, pd.DataFrame]]) -> int:
        """Encode (Arrow releases the GIL: encoding runs in parallel) and store each frame."""
        return sum(1 for _ in _POOL.map(lambda kv: self._put(*kv), objects))

    # -- rows ----------------------------------------------------------------------------
    def rows_key(self, kind: FileKind, name: str, shard: int | None) -> str:
        place = f"{_shard_dir(shard)}/" if shard is not None else ""
        return f"{CURATED_PREFIX}{kind.value}/{place}{name}.parquet"

    def rows(self, kind: FileKind, shards: Iterable[int] | None = None) -> pd.DataFrame | None:
        """Every stored version in these shards (products are not sharded: all of them)."""
        root = f"{CURATED_PREFIX}{kind.value}/"
        return self._read_all(self._keys(root) if shards is None else self._shard_keys(root, shards))

    # -- indexes -------------------------------------------------------------------------
    def day_shards_key(self, day: int, name: str) -> str:
        return f"{INDEX_PREFIX}day_shards/day={day_label(day)}/{name}.parquet"

    def shards_of_days(self, days: Iterable[int]) -> dict[int, set[int]]:
        days = sorted(set(days))
        prefixes = [f"{INDEX_PREFIX}day_shards/day={day_label(d)}/" for d in days]
        keys = [k for ks in _POOL.map(self._keys, prefixes) for k in ks]
        frame = self._read_all(keys)
        found: dict[int, set[int]] = {d: set() for d in days}
        if frame is not None:
            for day, shard in frame[["day", "shard"]].drop_duplicates().itertuples(index=False):
                found.setdefault(int(day), set()).add(int(shard))
        return found

    def item_versions_key(self, shard: int, name: str) -> str:
        return f"{INDEX_PREFIX}item_versions/{_shard_dir(shard)}/{name}.parquet"

    def item_versions(self, item_shards: Iterable[int]) -> pd.DataFrame | None:
        return self._read_all(self._shard_keys(f"{INDEX_PREFIX}item_versions/", item_shards))

    def product_shards_key(self, name: str) -> str:
        return f"{INDEX_PREFIX}product_shards/{name}.parquet"

    def product_shards(self) -> pd.DataFrame | None:
        return self._read_all(self._keys(f"{INDEX_PREFIX}product_shards/"))
