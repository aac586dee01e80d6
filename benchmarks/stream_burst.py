"""Local stream latency under a burst: order writes at 200/s, write -> standard handler invoked.

Runs the local stack (moto in-process, the real pipes and handlers in the stack's pipes process)
and writes qualifying orders, each one PutItem through the orders repository, as clients of
`shoppulse up` do: from `WRITER_PROCESSES` separate processes of `WRITERS` threads each, all on
one fixed schedule of `RATE_PER_S` writes a second for `BURST_S` seconds (one boto3 process does
not issue 200 calls/s on this 2-core machine: its threads share one interpreter). Each order is
timed (wall clock, the writers being other processes) from the end of its PutItem call to the
moment the standard pipe hands it to its handler (`RemotePipe.on_invoke`, told by the pipes
process). Target: p50 < 1 s at 200 writes/s (issue 12); the rate achieved is reported, and the
target is met only if the writers kept at least `KEPT_SHARE` of the rate asked.
"""

from __future__ import annotations

import multiprocessing
import os
import statistics
import tempfile
import threading
import time
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3

from chalicelib.orders.model import new_order
from chalicelib.orders.repository import OrderRepository
from chalicelib.tables import ORDERS
from shoppulse.local.pipe_process import RemotePipe
from shoppulse.local.stack import LocalStack, StackSettings

RATE_PER_S = 200
BURST_S = 2.5  # 500 writes, the burst of issue 12
KEPT_RATE_PER_S = 50
TARGET_P50_S = 1.0
KEPT_SHARE = 0.95
PIPE = "standard"
WRITER_PROCESSES = 2
WRITERS = 8  # threads per writer process


def _note_arrivals(pipe: RemotePipe, seen: dict[str, float], lock: threading.Lock) -> None:
    """Note when each order first reaches the pipe's handler (wall clock, taken by the pipes process)."""

    def arrived(keys: list[Mapping[str, Any]], at: float) -> None:
        with lock:
            for key in keys:
                seen.setdefault(key["orderId"]["S"], at)

    pipe.on_invoke(arrived)


def _burst(endpoint: str, rate_per_s: int, process: int, go: Any, start_at: Any, results: Any) -> None:
    """One writer process (a client of `shoppulse up`, not sharing its interpreter): `WRITERS`
    threads, each writing every (`WRITER_PROCESSES` x `WRITERS`)-th order of the schedule."""
    table = boto3.session.Session().resource("dynamodb", endpoint_url=endpoint).Table(ORDERS.name())
    orders = OrderRepository(table)
    written: dict[str, float] = {}
    interval = 1.0 / rate_per_s
    total = int(rate_per_s * BURST_S)
    stride = WRITER_PROCESSES * WRITERS
    results.put(None)  # ready: the clients are built
    go.wait()
    start = start_at.value

    def writer(first: int) -> None:
        for n in range(first, total, stride):
            time.sleep(max(0.0, start + n * interval - time.time()))
            order = new_order(
                order_id=f"burst-{rate_per_s}-{n:05d}",
                customer_id="burst",
                customer_email="burst@example.com",
                line_items=[{"sku": "SKU-BURST", "quantity": 1, "unitPrice": Decimal("150.00")}],
            )
            orders.create(order)
            written[order["orderId"]] = time.time()

    threads = [threading.Thread(target=writer, args=(process * WRITERS + i,)) for i in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    results.put(written)


def _write_burst(endpoint: str, rate_per_s: int) -> tuple[dict[str, float], float]:
    """The writer processes, started together once all are ready: when each order was written,
    and the seconds from the schedule's start to the last write."""
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    go = context.Event()
    start_at = context.Value("d", 0.0)
    writers = [
        context.Process(target=_burst, args=(endpoint, rate_per_s, process, go, start_at, results))
        for process in range(WRITER_PROCESSES)
    ]
    for writer in writers:
        writer.start()
    for _ in writers:
        results.get(timeout=120)
    start_at.value = time.time() + 0.05
    go.set()
    written: dict[str, float] = {}
    for _ in writers:
        written.update(results.get(timeout=600))
    for writer in writers:
        writer.join()
    return written, max(written.values()) - start_at.value


def _measure(stack: LocalStack, seen: dict[str, float], rate_per_s: int) -> dict[str, Any]:
    """One burst at `rate_per_s` for `BURST_S` s, until the pipe has caught up: its latencies."""
    load_before = os.getloadavg()[0]  # the machine is shared: say how busy it was
    written, elapsed = _write_burst(stack.endpoint, rate_per_s)
    stack.wait_for_pipes(timeout=120)
    latencies = sorted(seen[k] - t for k, t in written.items() if k in seen)
    p50 = statistics.median(latencies)
    achieved = len(written) / elapsed
    rate_kept = achieved >= KEPT_SHARE * rate_per_s
    return {
        "rate_asked_per_s": rate_per_s,
        "writes": len(written),
        "achieved_rate_per_s": round(achieved, 1),
        "rate_kept": rate_kept,
        "reached_handler": len(latencies),
        "p50_s": round(p50, 3),
        "p95_s": round(statistics.quantiles(latencies, n=20, method="inclusive")[18], 3),
        "max_s": round(latencies[-1], 3),
        "target_p50_s": TARGET_P50_S,
        "meets_target": p50 < TARGET_P50_S and rate_kept,
        "load_1m_before": round(load_before, 2),
        "load_1m_after": round(os.getloadavg()[0], 2),
        "cpus": os.cpu_count(),
    }


def run() -> dict[str, Any]:
    with (
        tempfile.TemporaryDirectory() as data_dir,
        LocalStack(StackSettings(aws_port=0, api_port=0, data_dir=Path(data_dir), serve_api=False)) as stack,
    ):
        seen: dict[str, float] = {}
        _note_arrivals(stack.pipes[PIPE], seen, threading.Lock())
        burst = _measure(stack, seen, RATE_PER_S)
        # The same burst at a rate the writers keep under any load, for comparison.
        kept = _measure(stack, seen, KEPT_RATE_PER_S)
    return {
        "title": f"Stream burst: {RATE_PER_S} order writes/s for {BURST_S} s, write -> {PIPE} handler",
        "burst": burst,
        f"burst_at_{KEPT_RATE_PER_S}_per_s": kept,
    }


if __name__ == "__main__":
    import json
    import sys

    from shoppulse.stdout import diverted_stdout

    with diverted_stdout(sys.stderr) as results:  # the functions' logs go to stderr, the result to stdout
        print(json.dumps(run(), indent=2), file=results)
