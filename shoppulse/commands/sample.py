"""`shoppulse sample`: write a realistic sample set, or a large one for benchmarks."""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date
from pathlib import Path


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "sample",
        help="generate sample CSV files",
        description="Write a TheLook-like set of order, item and product files with the faults real feeds "
        "have (see the README it writes beside them), or with --bench a large all-valid set.",
    )
    parser.add_argument("--out", type=Path, required=True, help="directory to write to")
    parser.add_argument("--orders", type=int, help="number of orders (realistic set)")
    parser.add_argument("--days", type=int, default=5, help="days the orders span (default 5)")
    parser.add_argument(
        "--start", type=date.fromisoformat, default=date(2025, 3, 1), help="first day, YYYY-MM-DD (default 2025-03-01)"
    )
    parser.add_argument("--seed", type=int, default=7, help="random seed: same seed, same files (default 7)")
    parser.add_argument("--overwrite", action="store_true", help="replace CSV files already in --out")
    parser.add_argument("--bench", action="store_true", help="write the benchmark set instead")
    parser.add_argument("--items", type=int, default=1_000_000, help="order items of the benchmark set")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # Imported here: numpy and pyarrow are not needed by the other verbs.
    from shoppulse.progress import FileProgress
    from shoppulse.samples import OutputNotEmpty, Written, write_bench_set, write_sample_set

    if not args.bench and args.orders is None:
        print("shoppulse sample: --orders N is required (or --bench)", file=sys.stderr)
        return 2
    started = time.perf_counter()
    rows = 0
    with FileProgress("sample", []) as progress:

        def written(file: Written) -> None:
            nonlocal rows
            rows += file.rows
            progress.expect(file.total)
            progress.done(file.number, {"rows": file.rows})

        if args.bench:
            paths = list(write_bench_set(args.out, items=args.items, seed=args.seed, on_written=written).values())
        else:
            try:
                paths = write_sample_set(
                    args.out, args.orders, args.days, args.start, args.seed, args.overwrite, on_written=written
                )
            except (OutputNotEmpty, ValueError) as err:
                print(f"shoppulse sample: {err}", file=sys.stderr)
                return 2
    seconds = time.perf_counter() - started
    size = sum(p.stat().st_size for p in paths)
    lines = sum(_lines(p) for p in paths)
    print(
        f"wrote {len(paths)} files ({size / 1024:.0f} KiB, {lines:,} lines) to {args.out} in {seconds:.1f} s"
        f" ({lines / max(seconds, 1e-9):,.0f} lines/s)"
    )
    print(
        f"sample: {len(paths)} files, {rows:,} rows, {seconds:.1f} s ({rows / max(seconds, 1e-9):,.0f} rows/s)",
        file=sys.stderr,
    )
    return 0


def _lines(path: Path) -> int:
    with path.open("rb") as f:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))
