"""API latency: p50/p95 of a one-year daily range and of a one-day category breakdown.

The API is served over HTTP on 127.0.0.1 exactly as `shoppulse up` serves it (chalice.local),
with moto in-process holding a year of KPIs in the writer's shapes (14 categories a day).
Absolute numbers are those of this laptop stack, not of API Gateway + Lambda + DynamoDB; they
compare versions of the API and catch regressions (e.g. a Query turning into many).
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any
from urllib.parse import quote

import requests

from tests.api_support import CATEGORIES, moto_tables, put_all, serve, synthetic_kpis

FIRST, DAYS = date(2024, 7, 1), 366  # 2024-07-01 .. 2025-07-01: two year partitions
WARMUP, SAMPLES = 5, 100


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def _measure(session: requests.Session, url_for: Callable[[int], str]) -> dict[str, Any]:
    """Latency of SAMPLES sequential GETs (after WARMUP), in milliseconds."""
    times, items = [], 0
    for n in range(WARMUP + SAMPLES):
        started = time.perf_counter()
        response = session.get(url_for(n), timeout=30)
        elapsed = time.perf_counter() - started
        response.raise_for_status()
        if n >= WARMUP:
            times.append(elapsed * 1000)
            items = len(response.json()["items"])
    return {
        "requests": SAMPLES,
        "items_per_response": items,
        "p50_ms": round(statistics.median(times), 2),
        "p95_ms": round(_percentile(times, 0.95), 2),
        "mean_ms": round(statistics.fmean(times), 2),
        "max_ms": round(max(times), 2),
    }


def run() -> dict[str, Any]:
    from app import app  # after moto is up: the app's clients are built lazily, inside it

    rng = random.Random(11)
    days = [(FIRST + timedelta(days=n)).isoformat() for n in range(DAYS)]
    with moto_tables() as tables:
        daily, categories = synthetic_kpis(FIRST, DAYS)
        put_all(tables["DailyKpisTable"], daily)
        put_all(tables["CategoryKpisTable"], categories)
        with serve(app) as base, requests.Session() as session:
            scenarios = {
                "daily KPIs, one year (366 days over 2 year partitions)": lambda n: (
                    f"{base}/kpis/daily?from=2024-07-01&to=2025-07-01"
                ),
                f"category breakdown of one day ({len(CATEGORIES)} categories)": lambda n: (
                    f"{base}/kpis/categories?date={rng.choice(days)}"
                ),
                "one category over 90 days (by_category index)": lambda n: (
                    f"{base}/kpis/categories/{quote(rng.choice(CATEGORIES), safe='')}?from=2025-01-01&to=2025-03-31"
                ),
            }
            rows = [{"scenario": name, **_measure(session, url_for)} for name, url_for in scenarios.items()]
    return {
        "title": "API latency (local stack)",
        "rows": rows,
        "notes": [
            f"{SAMPLES} sequential requests per scenario after {WARMUP} warm-up requests, over HTTP to the app served by chalice.local on 127.0.0.1.",
            f"moto in-process holds {DAYS} days of daily KPIs and {DAYS * len(CATEGORIES)} category items; every response is served by DynamoDB Query/GetItem (no Scan).",
            "Laptop numbers: they include moto's DynamoDB, whose Query walks the whole table in Python (so latency grows with the table, unlike DynamoDB's), and chalice.local's server; not API Gateway, Lambda or DynamoDB latency.",
        ],
    }


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
