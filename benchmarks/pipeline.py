"""Our pipeline on the benchmark files: the workflow's validation and transformation steps, as
`shoppulse replay` runs them (same code as the ECS tasks, on the embedded AWS).

The base files land first (products, orders, items), then the increment files: one more
file for a day that already holds data. Each landing is a phase of its own in the report.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from shoppulse.embedded import embedded_aws
from shoppulse.replay import InProcessWorkflow

LANDING_ORDER = ("products", "orders", "order_items", "increment_orders", "increment_items")


def run(files: Mapping[str, Path]) -> dict[str, Any]:
    phases = []
    with embedded_aws() as clients:
        workflow = InProcessWorkflow(clients)
        for name in LANDING_ORDER:
            started = time.perf_counter()
            outcome = workflow.ingest(files[name])
            phases.append(
                {
                    "name": f"land {name} ({outcome['status']}, {outcome['valid_rows']:,} rows)",
                    "seconds": time.perf_counter() - started,
                }
            )
        started = time.perf_counter()
        kpis = workflow.kpis()
        phases.append({"name": "read the KPI tables", "seconds": time.perf_counter() - started})
    return {"files": list(LANDING_ORDER), "kpis": kpis, "phases": phases}
