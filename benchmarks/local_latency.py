"""Local stack latency: a small file's upload to its KPIs served, an order write to its effect.

Runs the whole local stack (`shoppulse up` minus the terminal): moto in-process, the real state
machine and containers (warm-started processes), the pipes, the REST API over HTTP.
- file -> KPIs: put a one-order file for a day nobody else touches into incoming/, then poll
  `GET /kpis/daily/{day}` until the day is served; the clock runs from the PutObject call.
- order -> effect: write a qualifying order with the orders repository, then poll
  `GET /orders/{id}/events` until the standard pipe's handler has recorded it.
Medians and 95th percentiles over many sequential runs (targets: < 2 s and < 1 s).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
import requests

from chalicelib.orders.model import new_order
from chalicelib.orders.repository import OrderRepository
from chalicelib.storage_layout import INCOMING_PREFIX
from chalicelib.tables import ORDERS
from shoppulse.local.stack import LocalStack, StackSettings

FILE_RUNS, ORDER_RUNS = 20, 50
FILE_TARGET_S, ORDER_TARGET_S = 2.0, 1.0
POLL_S = 0.02
TIMEOUT_S = 60.0
FIRST_DAY = date(2020, 1, 1)
HEADER = "order_id,user_id,status,created_at,returned_at,shipped_at,delivered_at,num_of_item\n"


def _wait(ready: Callable[[], bool]) -> None:
    deadline = time.perf_counter() + TIMEOUT_S
    while not ready():
        if time.perf_counter() > deadline:
            raise TimeoutError("no effect within the benchmark's timeout")
        time.sleep(POLL_S)


def _stats(seconds: list[float], target: float) -> dict[str, Any]:
    p95 = statistics.quantiles(seconds, n=20, method="inclusive")[18]
    return {
        "runs": len(seconds),
        "median_s": round(statistics.median(seconds), 3),
        "p95_s": round(p95, 3),
        "max_s": round(max(seconds), 3),
        "target_s": target,
        "meets_target": p95 < target,
    }


def _file_to_kpis(stack: LocalStack, http: requests.Session) -> dict[str, Any]:
    s3 = stack.client("s3")
    assert stack.resources is not None, "the stack is started"
    bucket = stack.resources.input_bucket
    seconds = []
    for n in range(FILE_RUNS):
        day = FIRST_DAY + timedelta(days=n)
        body = HEADER + f"{900000 + n},{7000 + n},complete,{day.isoformat()}T09:30:00Z,,,,1\n"
        url = f"{stack.api_url}/kpis/daily/{day.isoformat()}"
        started = time.perf_counter()
        s3.put_object(Bucket=bucket, Key=f"{INCOMING_PREFIX}bench-{n:03d}_orders.csv", Body=body.encode())
        _wait(lambda: http.get(url, timeout=10).status_code == 200)  # noqa: B023 - called within the iteration
        seconds.append(time.perf_counter() - started)
    return _stats(seconds, FILE_TARGET_S)


def _order_to_effect(stack: LocalStack, http: requests.Session) -> dict[str, Any]:
    table = boto3.session.Session().resource("dynamodb", endpoint_url=stack.endpoint).Table(ORDERS.name())
    orders = OrderRepository(table)
    seconds = []
    for n in range(ORDER_RUNS):
        order = new_order(
            order_id=f"bench-{n:04d}",
            customer_id="bench",
            customer_email="bench@example.com",
            line_items=[{"sku": "SKU-BENCH", "quantity": 1, "unitPrice": Decimal("150.00")}],
        )
        url = f"{stack.api_url}/orders/{order['orderId']}/events"
        started = time.perf_counter()
        orders.create(order)
        _wait(lambda: bool(http.get(url, timeout=10).json().get("items")))  # noqa: B023 - called within the iteration
        seconds.append(time.perf_counter() - started)
    return _stats(seconds, ORDER_TARGET_S)


def run() -> dict[str, Any]:
    with (
        tempfile.TemporaryDirectory() as data_dir,
        LocalStack(StackSettings(aws_port=0, api_port=0, data_dir=Path(data_dir))) as stack,
        requests.Session() as http,
    ):
        return {
            "file_upload_to_kpis_served": _file_to_kpis(stack, http),
            "order_write_to_handler_effect": _order_to_effect(stack, http),
        }


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
