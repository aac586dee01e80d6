"""Runs, order events and premium cases over moto, written by their own repositories."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import pytest
from chalice.test import Client

from app import app
from chalicelib.orders.events import EventName, OrderChange
from chalicelib.orders.model import new_order
from chalicelib.orders.repository import OrderRepository
from chalicelib.runs import RunRepository, RunStatus, Task
from chalicelib.storage_layout import RunIdentity
from chalicelib.streaming.premium import PremiumCaseRepository
from chalicelib.streaming.processing import ProcessingRepository

ODD_KEY = "incoming/2024 orders & items, part?1.csv"


@pytest.fixture
def client(tables: dict[str, Any]) -> Client:
    with Client(app) as test_client:
        yield test_client


def get(client: Client, path: str) -> tuple[int, Any]:
    response = client.http.get(path)
    return response.status_code, response.json_body


def test_runs_newest_first_paged_and_one_run_by_its_encoded_id(tables: dict[str, Any], client: Client) -> None:
    runs = RunRepository(tables["RunsTable"])
    identities = [RunIdentity("shoppulse-input", f"incoming/f{i}.csv", version=f"v{i}") for i in range(3)]
    identities.append(RunIdentity("shoppulse-input", ODD_KEY, version="3/x"))
    for identity in identities:
        assert runs.start(identity, execution=f"arn:exec:{identity.file_id}")
    odd = identities[-1].run_id
    runs.record_task(odd, Task.VALIDATION, {"rows": 10, "rejected_rows": 1, "held_rows": 2})
    runs.finish(odd, RunStatus.SUCCEEDED)

    status, first = get(client, "/runs?limit=3")
    assert status == 200 and len(first["items"]) == 3 and "run_kind" not in first["items"][0]
    _, second = get(client, f"/runs?limit=3&next_token={first['next_token']}")
    listed = [r["run_id"] for r in first["items"] + second["items"]]
    assert sorted(listed) == sorted(i.run_id for i in identities)
    started = [r["started_at"] for r in first["items"] + second["items"]]
    assert started == sorted(started, reverse=True)

    status, run = get(client, f"/runs/{quote(odd, safe='')}")
    assert status == 200
    assert run["run_id"] == odd and run["status"] == "SUCCEEDED" and run["key"] == ODD_KEY
    assert run["validation"] == {"rows": 10, "rejected_rows": 1, "held_rows": 2}
    assert run["execution"] == f"arn:exec:{identities[-1].file_id}"


def test_unknown_run_is_404_and_bad_paging_is_400(client: Client) -> None:
    status, body = get(client, f"/runs/{quote('s3://shoppulse-input/incoming/nope.csv', safe='')}")
    assert status == 404 and body["Code"] == "NotFoundError" and "nope.csv" in body["Message"]
    assert get(client, "/runs?limit=201")[1]["parameter"] == "limit"
    assert get(client, "/runs?next_token=eyJhIjoiYiJ9")[1]["parameter"] == "next_token"


def change(
    order: dict[str, Any], name: EventName, at: int, old_status: str | None, new_status: str, event_id: str
) -> OrderChange:
    new = {**order, "status": new_status}
    return OrderChange(
        event_id=event_id,
        event_name=name,
        sequence_number=str(at),
        stream_time=datetime.fromtimestamp(1_700_000_000 + at, tz=UTC),
        order_id=order["orderId"],
        old={**order, "status": old_status} if old_status else None,
        new=new,
    )


@pytest.fixture
def orders(tables: dict[str, Any]) -> dict[str, dict[str, Any]]:
    repo = OrderRepository(tables["OrdersTable"])
    premium = repo.create(
        new_order(
            order_id="order/1 & co",
            customer_id="c1",
            customer_email="a@shop.example",
            line_items=[{"sku": "p", "quantity": 1, "unitPrice": "1500"}],
        )
    )
    plain = repo.create(
        new_order(
            order_id="o-2",
            customer_id="c2",
            customer_email="b@shop.example",
            line_items=[{"sku": "p", "quantity": 1, "unitPrice": "150"}],
        )
    )
    quiet = repo.create(
        new_order(
            order_id="o-3",
            customer_id="c3",
            customer_email="c@shop.example",
            line_items=[{"sku": "p", "quantity": 1, "unitPrice": "5"}],
        )
    )
    processing = ProcessingRepository(tables["OrderProcessingTable"])
    processing.record(change(premium, EventName.INSERT, 0, None, "pending", "e1"))
    processing.record(change(premium, EventName.MODIFY, 60, "pending", "shipped", "e2"))
    processing.record(change(plain, EventName.INSERT, 5, None, "pending", "e3"))
    PremiumCaseRepository(tables["PremiumCasesTable"]).open(
        change(premium, EventName.MODIFY, 60, "pending", "shipped", "e2")
    )
    return {"premium": premium, "plain": plain, "quiet": quiet}


def test_an_orders_events_from_both_pipelines_oldest_first(client: Client, orders: dict[str, Any]) -> None:
    status, body = get(client, f"/orders/{quote('order/1 & co', safe='')}/events")
    assert status == 200 and body["orderId"] == "order/1 & co"
    assert [(e["pipeline"], e["event_id"], e["event_name"], e["status"], e["amount"]) for e in body["items"]] == [
        ("standard", "e1", "INSERT", "pending", 1500.0),
        ("standard", "e2", "MODIFY", "shipped", 1500.0),
        ("premium", "e2", "MODIFY", "shipped", 1500.0),
    ]
    assert all(e["time"] for e in body["items"])


def test_an_order_without_events_is_empty_and_an_unknown_order_404(client: Client, orders: dict[str, Any]) -> None:
    assert get(client, "/orders/o-3/events") == (200, {"orderId": "o-3", "items": []})
    status, body = get(client, "/orders/o-404/events")
    assert status == 404 and body["parameter"] == "orderId"


def test_open_premium_cases(client: Client, orders: dict[str, Any]) -> None:
    status, body = get(client, "/premium-cases")
    assert status == 200 and body["status"] == "open"
    assert [(c["orderId"], c["case_status"], c["amount"], c["customer_email"]) for c in body["items"]] == [
        ("order/1 & co", "OPEN", 1500.0, "a@shop.example")
    ]
    assert get(client, "/premium-cases?status=all")[1]["items"] == body["items"]
    assert get(client, "/premium-cases?status=closed")[1]["parameter"] == "status"
    assert get(client, "/premium-cases?limit=-1")[1]["parameter"] == "limit"
