"""Benchmarks (`make bench`): each measurement runs in a child process of its own, so its wall
time and peak memory are its alone (not the harness's, nor another measurement's).

A measurement target is `module:function`. The function gets the benchmark files
(`dict[str, Path]`, see `shoppulse.samples.write_bench_set`) if it takes an argument, and
returns a JSON-serialisable dict. Keys the report understands:

- `kpis`: KPIs in the replay JSON shape; compared across measurements that processed the
  same `files` (a list of file keys; default: the base set).
- `phases`: `[{"name": str, "seconds": float}, ...]`, timings inside the run, reported as sub-rows.
- `title`, `rows` (a list of flat dicts, rendered as a table) and `notes` (list of str): for
  optional modules such as `benchmarks.api_latency` and `benchmarks.local_latency`, whose
  `run()` takes no argument and gets a section of its own in docs/BENCHMARKS.md. Any other
  key is shown too: a mapping as a table row named by the key, anything else as a note.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import platform
import resource
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RESULT_MARK = "BENCHMARK-RESULT "
CHILD_TIMEOUT = 1800
BASE_FILES = ("products", "orders", "order_items")
REPO = Path(__file__).resolve().parents[1]


@dataclass
class Measurement:
    label: str
    target: str
    seconds: float | None = None  # the call itself, timed inside the child
    process_seconds: float | None = None  # the whole child: interpreter, imports, call
    peak_bytes: int | None = None  # the child's peak resident memory
    result: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


def available(module: str) -> bool:
    """Whether an optional benchmark module exists (it is skipped with a note if not)."""
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def status_kib(field: str) -> int | None:
    """One kB figure of this process's /proc/self/status (VmHWM, VmRSS), where /proc has it."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def peak_rss_bytes() -> int:
    """This process's peak resident set (VmHWM; getrusage where there is no /proc)."""
    peak = status_kib("VmHWM")
    return (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss if peak is None else peak) * 1024


def measure(
    label: str, target: str, files: Mapping[str, Path] | None = None, timeout: float = CHILD_TIMEOUT
) -> Measurement:
    """Run `target` in a fresh interpreter and collect what it reports."""
    m = Measurement(label, target)
    spec = json.dumps({k: str(v) for k, v in (files or {}).items()})
    started = time.perf_counter()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "benchmarks", "--child", target, "--files", spec],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=REPO,
        )
    except subprocess.TimeoutExpired:
        m.error = f"timed out after {timeout:.0f} s"
        return m
    m.process_seconds = time.perf_counter() - started
    reports = [line[len(RESULT_MARK) :] for line in done.stdout.splitlines() if line.startswith(RESULT_MARK)]
    if done.returncode or not reports:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        m.error = f"exit code {done.returncode}: " + " / ".join(tail)
        return m
    report = json.loads(reports[-1])
    m.seconds, m.peak_bytes, m.result = report["seconds"], report["peak_bytes"], report["result"]
    return m


def machine() -> dict[str, str]:
    """What the figures were measured on."""
    memory = "unknown"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError, StopIteration):
        cpu = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    return {
        "nproc": str(os.cpu_count()),
        "memory": memory,
        "cpu": cpu,
        "python": platform.python_version(),
        "os": platform.platform(),
    }
