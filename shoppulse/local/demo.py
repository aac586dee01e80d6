"""`shoppulse up --demo`: the sample files through the workflow, and orders through the pipes.

Files are ingested in name order, which is their landing order (see sample_files/README.md).
Orders are written with the orders repository, the way the app writes them: a mix that each
pipe must pass or drop (amounts around 100 and 1000, test.com e-mails, statuses), and some
pending orders shipped afterwards (the premium transition).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3

from chalicelib.orders.model import Order, OrderStatus, new_order
from chalicelib.orders.repository import OrderRepository
from chalicelib.tables import ORDERS
from shoppulse.local.functions import PROJECT_DIR
from shoppulse.local.ingest import Ingestor, IngestTarget

SAMPLE_DIR = PROJECT_DIR / "sample_files"
DEMO_ORDERS = 40
_AMOUNTS = ("25.00", "100.00", "100.01", "250.00", "999.99", "1000.00", "1000.01", "2499.90")
_DOMAINS = ("example.com", "shop.example", "test.com", "TEST.COM", "mail.example")
_STATUSES = (OrderStatus.PENDING, OrderStatus.PENDING, OrderStatus.PROCESSING, OrderStatus.SHIPPED)

Progress = Callable[[str], None]


def sample_files(directory: Path = SAMPLE_DIR) -> list[Path]:
    return sorted(directory.glob("*.csv"))


def ingest_samples(endpoint: str, target: IngestTarget, progress: Progress) -> list[dict[str, Any]]:
    files = sample_files()
    results = []
    ingestor = Ingestor(boto3.session.Session(), endpoint, target)
    for number, result in enumerate(ingestor.ingest_all(files), start=1):
        progress(f"[{number}/{len(files)}] {Path(result['file']).name}: {result['status']}")
        results.append(result)
    return results


def demo_orders(count: int = DEMO_ORDERS, seed: int = 11) -> Iterator[tuple[Order, bool]]:
    """(order, ship_later) pairs: deterministic for a seed."""
    rng = random.Random(seed)
    for number in range(1, count + 1):
        amount = Decimal(rng.choice(_AMOUNTS))
        order = new_order(
            order_id=f"demo-{number:04d}",
            customer_id=f"customer-{rng.randint(1, 15):03d}",
            customer_email=f"buyer{number}@{rng.choice(_DOMAINS)}",
            line_items=[{"sku": f"SKU-{rng.randint(1, 50):03d}", "quantity": 1, "unitPrice": amount}],
            status=rng.choice(_STATUSES),
        )
        yield order, order["status"] == OrderStatus.PENDING.value and rng.random() < 0.5


def write_demo_orders(endpoint: str, progress: Progress, count: int = DEMO_ORDERS) -> int:
    table = boto3.session.Session().resource("dynamodb", endpoint_url=endpoint).Table(ORDERS.name())
    repository = OrderRepository(table)
    to_ship = []
    for order, ship_later in demo_orders(count):
        repository.create(order)
        if ship_later:
            to_ship.append(order["orderId"])
    for order_id in to_ship:
        repository.update(order_id, status=OrderStatus.SHIPPED)
    progress(f"{count} orders written, {len(to_ship)} of them then shipped")
    return count
