"""Sample data for ShopPulse: a small realistic set with every fault the pipeline must survive
(`write_sample_set`), and a large valid set for benchmarks (`write_bench_set`).

Not on the Lambda path: the CLI and the benchmarks import it.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from shoppulse.samples.bench import write_bench_set
from shoppulse.samples.readme import render
from shoppulse.samples.story import SampleSet
from shoppulse.samples.written import OnWritten, Written

__all__ = ["OnWritten", "SampleSet", "Written", "write_bench_set", "write_sample_set"]


class OutputNotEmpty(FileExistsError):
    """The output directory already holds CSV files that are not ours to replace."""


def write_sample_set(
    out_dir: Path,
    orders: int,
    days: int = 5,
    start: date = date(2025, 3, 1),
    seed: int = 7,
    overwrite: bool = False,
    command: str | None = None,
    on_written: OnWritten | None = None,
) -> list[Path]:
    """Write the files and their README; CSV files already in `out_dir` are replaced only when
    `overwrite` (a stale file left beside a new set would be replayed with it). The files are
    all built before the first is written (later faults edit earlier files); `on_written` hears
    of each as it lands."""
    out_dir.mkdir(parents=True, exist_ok=True)
    existing = sorted(out_dir.glob("*.csv"))
    if existing and not overwrite:
        raise OutputNotEmpty(f"{out_dir} already holds {len(existing)} CSV files; pass --overwrite to replace them")
    for path in existing:
        path.unlink()
    sample = SampleSet(orders, days, start, seed)
    files = sample.build()
    command = command or (
        f"shoppulse sample --orders {orders} --days {days} --start {start.isoformat()} --seed {seed} --out {out_dir}"
    )
    (out_dir / "README.md").write_text(render(files, command, sample.still_held), encoding="utf-8")
    paths = []
    for number, f in enumerate(files, start=1):
        paths.append(f.write(out_dir))
        if on_written is not None:
            on_written(Written(paths[-1], len(f.rows), number, len(files)))
    return paths
