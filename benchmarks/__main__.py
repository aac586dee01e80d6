"""`python -m benchmarks` (`make bench`): generate the benchmark set, measure DuckDB and our
pipeline on it, run the optional latency benchmarks, and write docs/BENCHMARKS.md.

`python -m benchmarks --child module:function --files JSON` is the child side of `measure`.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import os
import shlex
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from benchmarks import (
    BASE_FILES,
    CHILD_TIMEOUT,
    REPO,
    RESULT_MARK,
    Measurement,
    available,
    machine,
    measure,
    peak_rss_bytes,
)
from benchmarks.feed import FEED_FILES, FEED_FILES_ENV

MIB = 1024 * 1024
GIB = 1024 * MIB
OPTIONAL = ("benchmarks.api_latency", "benchmarks.local_latency", "benchmarks.stream_burst")
FEED = "benchmarks.feed"
NOTES = "benchmark-notes.md"  # beside the report: hand-written, never rewritten by a run
FAIR = "benchmarks.duckdb_validated"  # DuckDB doing ShopPulse's work, not only the KPIs


def child(target: str, files_json: str) -> int:
    module, _, name = target.partition(":")
    function = getattr(importlib.import_module(module), name)
    files = {k: Path(v) for k, v in json.loads(files_json).items()}
    started = time.perf_counter()
    result = function(files) if inspect.signature(function).parameters else function()
    seconds = time.perf_counter() - started
    report = {"seconds": seconds, "peak_bytes": peak_rss_bytes(), "result": result or {}}
    print(RESULT_MARK + json.dumps(report, default=str), flush=True)
    return 0


def count_rows(path: Path) -> int:
    with path.open("rb") as f:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b"")) - 1


def files_of(m: Measurement) -> tuple[str, ...]:
    return tuple(sorted(m.result.get("files", BASE_FILES)))


def _cell(value: float | None, unit: float = 1.0, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value / unit:.{digits}f}"


def kpi_check(measurements: list[Measurement]) -> list[str]:
    """Every measurement's KPIs must equal DuckDB's for the same files."""
    notes = []
    yardsticks = {
        files_of(m): m for m in measurements if m.target.startswith("benchmarks.duckdb_kpis") and "kpis" in m.result
    }
    for m in measurements:
        other = yardsticks.get(files_of(m))
        if m.target.startswith("benchmarks.duckdb_kpis") or "kpis" not in m.result or other is None:
            continue
        same = m.result["kpis"] == other.result["kpis"]
        notes.append(
            f"{m.label}: KPIs {'equal' if same else 'DIFFER from'} DuckDB's for the same files "
            f"({len(m.result['kpis']['orders'])} days, {len(m.result['kpis']['categories'])} category-days)."
        )
    return notes


def verdicts(measurements: list[Measurement]) -> list[str]:
    """The issue's targets: ShopPulse's time less the embedded-AWS floor (same run) no slower
    than DuckDB, peak memory under 1 GiB."""
    out = []
    duck = {files_of(m): m for m in measurements if m.target.startswith("benchmarks.duckdb_kpis")}
    fair = {files_of(m): m for m in measurements if m.target.startswith(FAIR) and m.seconds}
    floors = [
        sum(p["seconds"] for p in m.result["phases"])
        for m in measurements
        if m.target.startswith("benchmarks.aws_floor") and m.result.get("phases")
    ]
    for m in measurements:
        if m.target.startswith("benchmarks.pipeline") and m.seconds is not None:
            d = duck.get(files_of(m))
            if d and d.seconds and floors:
                net = m.seconds - floors[0]
                out.append(
                    f"{m.label}: {m.seconds:.2f} s less the embedded-AWS floor {floors[0]:.2f} s = {net:.2f} s, "
                    f"{net / d.seconds:.2f}x DuckDB's {d.seconds:.2f} s "
                    f"({'meets' if net <= d.seconds else 'misses'} the target: no slower than DuckDB)."
                )
                f = fair.get(files_of(m))
                if f and f.seconds:
                    out.append(
                        f"{m.label}: {net:.2f} s net, {net / f.seconds:.2f}x the fair DuckDB's {f.seconds:.2f} s "
                        f"(same files, same rules, same curated output; "
                        f"{'no slower' if net <= f.seconds else 'slower'})."
                    )
            if m.peak_bytes is not None:
                out.append(
                    f"{m.label}: peak memory {m.peak_bytes / MIB:.0f} MiB "
                    f"({'meets' if m.peak_bytes < GIB else 'misses'} the target: under 1 GiB)."
                )
        if m.target.startswith("benchmarks.aws_floor") and m.result.get("phases"):
            d = duck.get(files_of(m))
            floor = sum(p["seconds"] for p in m.result["phases"])
            if d and d.seconds:
                out.append(
                    f"{m.label}: its phases alone take {floor:.2f} s, {floor / d.seconds:.2f}x DuckDB's whole "
                    "computation of the same files: a floor for any pipeline measured on the embedded AWS."
                )
    return out


def table(measurements: list[Measurement]) -> list[str]:
    lines = [
        "| measurement | wall time (s) | process wall time (s) | peak memory (MiB) |",
        "| --- | ---: | ---: | ---: |",
    ]
    for m in measurements:
        if m.error:
            lines.append(f"| {m.label} | failed: {m.error} | | |")
            continue
        lines.append(f"| {m.label} | {_cell(m.seconds)} | {_cell(m.process_seconds)} | {_cell(m.peak_bytes, MIB, 0)} |")
        lines.extend(f"| &nbsp;&nbsp;↳ {p['name']} | {p['seconds']:.2f} | | |" for p in m.result.get("phases", []))
    return lines


def optional_section(m: Measurement) -> list[str]:
    title = m.result.get("title", m.label)
    lines = ["", f"## {title}", ""]
    if m.error:
        return [*lines, f"Failed: {m.error}"]
    rows = list(m.result.get("rows") or [])
    extra = {k: v for k, v in m.result.items() if k not in ("title", "rows", "notes")}
    # Other keys: a mapping is one row named by its key, anything else a note.
    rows += [{"measurement": k, **v} for k, v in extra.items() if isinstance(v, dict)]
    notes = [f"{k}: {v}" for k, v in extra.items() if not isinstance(v, dict)] + list(m.result.get("notes", []))
    if rows:
        columns = list(dict.fromkeys(k for row in rows for k in row))
        lines += ["| " + " | ".join(columns) + " |", "|" + " --- |" * len(columns)]
        lines += ["| " + " | ".join(str(row.get(c, "")) for c in columns) + " |" for row in rows]
    lines += [f"- {note}" for note in notes]
    lines.append(f"- measured in a child process: {_cell(m.seconds)} s, peak memory {_cell(m.peak_bytes, MIB, 0)} MiB")
    return lines


def report(
    command: str,
    started: datetime,
    sizes: dict[str, tuple[int, int]],
    generation: float,
    measurements: list[Measurement],
    optional: list[Measurement],
    skipped: list[str],
    load: tuple[float, float],
) -> str:
    host = machine()
    lines = [
        "# Benchmarks",
        "",
        f"Produced by `{command}` on {started:%Y-%m-%d %H:%M} UTC; machine: {host['nproc']} CPUs "
        f"({host['cpu']}), {host['memory']} memory, Python {host['python']}, {host['os']}. "
        f"Load average (1 min): {load[0]:.1f} at the start, {load[1]:.1f} at the end (other work on the "
        "machine slows every row, DuckDB's included).",
        "",
        f"This page is written by `make bench`; what the figures mean, profiles and before/after "
        f"comparisons are in [benchmark-notes.md]({NOTES}).",
        "",
        "Each measurement runs in a fresh child process; *wall time* is the measured call, *process wall "
        "time* adds the interpreter start and imports, *peak memory* is the child's peak resident set "
        "(VmHWM). DuckDB computes the same KPIs from the same CSV files with the same definitions "
        "(latest wins with both tie rules, held items excluded, exact micro-unit money: "
        "`benchmarks/duckdb_kpis.py`, checked against the reference in `tests/benchmarks/test_duckdb_kpis.py`).",
        "",
        f"Input (generated in {generation:.1f} s by `shoppulse sample --bench`, all rows valid):",
        "",
        "| file | rows | size (MiB) |",
        "| --- | ---: | ---: |",
        *(f"| {name} | {rows:,} | {size / MIB:.1f} |" for name, (rows, size) in sizes.items()),
        "",
        "The increment files add orders (and their items) to a day the base files already fill: the cost "
        "of one more file for a day that holds data.",
        "",
        "## Validation + transformation, CSV to KPIs",
        "",
        *table(measurements),
        "",
        *(f"- {line}" for line in kpi_check(measurements) + verdicts(measurements)),
        *(f"- skipped: {note}" for note in skipped),
    ]
    for m in optional:
        lines += optional_section(m)
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1_000_000, help="order items in the benchmark set")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--report", type=Path, default=REPO / "docs" / "BENCHMARKS.md")
    parser.add_argument("--timeout", type=float, default=CHILD_TIMEOUT, help="seconds allowed per measurement")
    parser.add_argument("--skip-optional", action="store_true", help="leave out " + ", ".join(OPTIONAL))
    parser.add_argument(
        "--feed-files", type=int, default=FEED_FILES, help="files in the feed measurement (0: leave it out)"
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--files", default="{}", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(args.child, args.files)

    from shoppulse.samples import write_bench_set  # numpy and pyarrow: only the harness side needs them

    started = datetime.now(UTC)
    command = (
        "make bench"
        if argv is None and len(sys.argv) == 1
        else "python -m benchmarks " + shlex.join(sys.argv[1:] if argv is None else argv)
    )
    measurements, optional, skipped = [], [], []
    load_at_start = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="shoppulse-bench-") as tmp:
        t0 = time.perf_counter()
        files = write_bench_set(Path(tmp), items=args.items, seed=args.seed)
        generation = time.perf_counter() - t0
        sizes = {name: (count_rows(path), path.stat().st_size) for name, path in files.items()}
        print(f"benchmark set: {args.items:,} items in {generation:.1f} s", file=sys.stderr)
        plan = [
            ("DuckDB: base files to KPIs", "benchmarks.duckdb_kpis:run"),
            (
                "DuckDB: base + increment files to KPIs (no state: full recompute)",
                "benchmarks.duckdb_kpis:run_with_increment",
            ),
            (
                "DuckDB, fair: the same files validated by the same rules (SQL), rejected rows kept, "
                "curated Parquet written, KPIs",
                f"{FAIR}:run",
            ),
        ]
        if available("benchmarks.pipeline"):
            plan.append(("ShopPulse: validation + transformation", "benchmarks.pipeline:run"))
            plan.append(
                (
                    "Embedded AWS alone: files in and out of S3, KPI items in and out of DynamoDB",
                    "benchmarks.aws_floor:run",
                )
            )
        else:
            skipped.append("our pipeline (`benchmarks/pipeline.py` is not there yet)")
        for label, target in plan:
            print(f"measuring {label} ...", file=sys.stderr)
            measurements.append(measure(label, target, files, args.timeout))
    if args.feed_files > 0:
        print(f"measuring {FEED} ({args.feed_files} files) ...", file=sys.stderr)
        os.environ[FEED_FILES_ENV] = str(args.feed_files)  # the child inherits it
        optional.append(measure(FEED, f"{FEED}:run", timeout=args.timeout))
    else:
        skipped.append(f"`{FEED}` (--feed-files 0)")
    for module in OPTIONAL:
        if args.skip_optional:
            skipped.append(f"`{module}` (--skip-optional)")
        elif available(module):
            print(f"measuring {module} ...", file=sys.stderr)
            optional.append(measure(module, f"{module}:run", timeout=args.timeout))
        else:
            skipped.append(f"`{module}` (module not there)")
    load = (load_at_start, os.getloadavg()[0])
    text = report(command, started, sizes, generation, measurements, optional, skipped, load)
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text(text, encoding="utf-8")
    print(text)
    return 1 if any(m.error for m in measurements + optional) else 0


if __name__ == "__main__":
    sys.exit(main())
