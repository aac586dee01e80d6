"""The curated store in S3: validated rows as Parquet, partitioned by day so that a day is
recomputed from its own partition alone.

- `curated/orders/day=D/`: order versions created on D, plus copies of every other version
  of those orders (an order whose versions fall on several days is in all of them);
- `curated/order_items/day=D/`: item versions whose order has a version on D;
  `curated/order_items/pending/shard=S/`: items whose order was unknown when they arrived;
- `curated/item_markers/day=D/`: (id, order_id, version) of every version of an item whose
  versions name different orders, in each day any of those orders falls on;
- `curated/products/`: product versions (a catalogue, read whole);
- `index/order_days/shard=S/` (order id -> days), `index/item_versions/shard=S/` (item id ->
  versions) and `index/product_days/` (product id -> days): what a load needs to find the
  partitions its rows concern.

Every object is named by the run and chunk that wrote it, so a re-run overwrites instead of
adding. A run keeps what it wrote or read (`FrameCache`) instead of reading it again; before
it recomputes, it forgets what others wrote (a re-run of theirs may have rewritten it since).
Listings are never cached: they are how a run sees the others.
"""

from __future__ import annotations

import io
import threading
from collections import OrderedDict
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from chalicelib.storage_layout import CURATED_PREFIX, INDEX_PREFIX
from containers.engine.contract import FileKind
from containers.engine.kpis import day_label

# Enough to overlap S3 round trips and Arrow encoding on the tasks' 1-2 vCPUs; more threads
# only add allocator arenas and buffers in flight (measured: 8 threads peaked ~60 MiB higher).
IO_THREADS = 4
IO_POOL = ThreadPoolExecutor(IO_THREADS, thread_name_prefix="curated-io")  # shared: threads outlive one file
LIST_EACH_DIR_UP_TO = 16  # more partitions than this: one listing of the whole prefix is cheaper
CACHE_BYTES = 192 << 20
MARKERS = "item_markers"


def _shard_dir(shard: int) -> str:
    return f"shard={shard:08d}"


def _day_dir(day: int) -> str:
    return f"day={day_label(day)}"


def to_parquet(frame: pd.DataFrame) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), sink, compression="lz4")
    data: bytes = sink.getvalue().to_pybytes()
    return data


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

    def keep_only(self, keys: set[str]) -> None:
        with self._lock:
            for key in [k for k in self._frames if k not in keys]:
                self._bytes -= self._frames.pop(key)[1]

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
    def __init__(self, s3: Any, bucket: str) -> None:
        self._s3 = s3
        self._bucket = bucket
        self._cache = FrameCache()
        self._written: set[str] = set()

    # -- plumbing ------------------------------------------------------------------------
    def _put(self, key: str, frame: pd.DataFrame) -> None:
        self._s3.put_object(Bucket=self._bucket, Key=key, Body=to_parquet(frame))
        self._cache.put(key, frame)
        self._written.add(key)

    def forget_others(self) -> None:
        """Drop cached objects this run did not write: a re-run elsewhere may have rewritten them."""
        self._cache.keep_only(self._written)

    def _keys(self, prefix: str) -> list[str]:
        keys: list[str] = []
        for page in self._s3.get_paginator("list_objects_v2").paginate(Bucket=self._bucket, Prefix=prefix):
            keys += [o["Key"] for o in page.get("Contents", [])]
        return keys

    def _keys_by_dir(self, root: str, dirs: Iterable[str]) -> dict[str, list[str]]:
        """Keys under `root/<dir>/` for these partition directories, by directory."""
        wanted = sorted(set(dirs))
        if len(wanted) > LIST_EACH_DIR_UP_TO:
            found: dict[str, list[str]] = {d: [] for d in wanted}
            for key in self._keys(root):
                found.get(key[len(root) :].split("/", 1)[0], []).append(key)
            return found
        return dict(zip(wanted, IO_POOL.map(self._keys, [f"{root}{d}/" for d in wanted]), strict=False))

    def _dir_keys(self, root: str, dirs: Iterable[str]) -> list[str]:
        return [k for keys in self._keys_by_dir(root, dirs).values() for k in keys]

    def _read(self, key: str) -> pd.DataFrame:
        frame = self._cache.get(key)
        if frame is None:
            body = self._s3.get_object(Bucket=self._bucket, Key=key)["Body"].read()
            frame = pd.read_parquet(io.BytesIO(body))
            self._cache.put(key, frame)
        return frame

    def read(self, keys: list[str]) -> pd.DataFrame | None:
        if not keys:
            return None
        frames = list(IO_POOL.map(self._read, keys))
        return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]

    def put_many(self, objects: Iterable[tuple[str, pd.DataFrame]]) -> int:
        """Encode (Arrow releases the GIL: encoding runs in parallel) and store each frame."""
        return sum(1 for _ in IO_POOL.map(lambda kv: self._put(*kv), objects))

    # -- rows ----------------------------------------------------------------------------
    def rows_key(self, kind: FileKind, name: str, day: int | None) -> str:
        place = f"{_day_dir(day)}/" if day is not None else ""
        return f"{CURATED_PREFIX}{kind.value}/{place}{name}.parquet"

    def rows(self, kind: FileKind, days: Iterable[int] | None = None) -> pd.DataFrame | None:
        """Every version stored in these days' partitions (products: all of them)."""
        if days is None:
            return self.read(self._keys(f"{CURATED_PREFIX}{kind.value}/"))
        return self.read([k for keys in self.day_keys(kind.value, days).values() for k in keys])

    def day_keys(self, part: str, days: Iterable[int]) -> dict[int, list[str]]:
        """Keys of these days' partitions of `part` (a kind of rows, or `MARKERS`), by day: one
        listing for many days, so that a recompute lists each part once."""
        days = sorted(set(days))
        listed = self._keys_by_dir(f"{CURATED_PREFIX}{part}/", map(_day_dir, days))
        return {day: listed[_day_dir(day)] for day in days}

    def pending_key(self, shard: int, name: str) -> str:
        return f"{CURATED_PREFIX}{FileKind.ORDER_ITEMS.value}/pending/{_shard_dir(shard)}/{name}.parquet"

    def pending(self, order_shards: Iterable[int]) -> pd.DataFrame | None:
        root = f"{CURATED_PREFIX}{FileKind.ORDER_ITEMS.value}/pending/"
        return self.read(self._dir_keys(root, map(_shard_dir, order_shards)))

    def markers_key(self, day: int, name: str) -> str:
        return f"{CURATED_PREFIX}{MARKERS}/{_day_dir(day)}/{name}.parquet"

    # -- indexes -------------------------------------------------------------------------
    def order_days_key(self, shard: int, name: str) -> str:
        return f"{INDEX_PREFIX}order_days/{_shard_dir(shard)}/{name}.parquet"

    def order_days(self, order_shards: Iterable[int]) -> pd.DataFrame | None:
        return self.read(self._dir_keys(f"{INDEX_PREFIX}order_days/", map(_shard_dir, order_shards)))

    def item_versions_key(self, shard: int, name: str) -> str:
        return f"{INDEX_PREFIX}item_versions/{_shard_dir(shard)}/{name}.parquet"

    def item_versions(self, item_shards: Iterable[int]) -> pd.DataFrame | None:
        return self.read(self._dir_keys(f"{INDEX_PREFIX}item_versions/", map(_shard_dir, item_shards)))

    def product_days_key(self, name: str) -> str:
        return f"{INDEX_PREFIX}product_days/{name}.parquet"

    def product_days(self) -> pd.DataFrame | None:
        return self.read(self._keys(f"{INDEX_PREFIX}product_days/"))
