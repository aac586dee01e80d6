"""Orders written to the local stack's Orders table reach exactly the right handlers.

End to end on the embedded AWS: writes go through the orders repository (and, for an item
written by another writer, a raw PutItem without the helper attributes); the local pipes read
the table's stream, filter with the pipes' own patterns, invoke the Chalice functions, and the
effects are read back through the REST API. A failing handler's batch is retried, bisected and
dead-lettered; the dead-letter handler records and alerts; `shoppulse redrive` recovers it.
"""

from __future__ import annotations

import json
import time
import urllib.request
from decimal import Decimal

from chalicelib.messaging import ALERTS_TOPIC
from chalicelib.orders.model import OrderStatus, new_order
from chalicelib.streaming.failures import FailureKind
from chalicelib.tables import ORDER_FAILURES, ORDER_PROCESSING, ORDERS
from shoppulse.cli import main as shoppulse
from shoppulse.provision import create_tables
from tests.waiting import wait_for


def api(stack, path: str) -> dict:
    with urllib.request.urlopen(stack.api_url + path) as response:
        return json.loads(response.read())


def place(orders, order_id: str, amount: str, email: str, status: OrderStatus = OrderStatus.PENDING) -> None:
    orders.create(
        new_order(
            order_id=order_id,
            customer_id="c-1",
            customer_email=email,
            status=status,
            line_items=[{"sku": "SKU-1", "quantity": 1, "unitPrice": Decimal(amount)}],
        )
    )


def standard_events(stack, order_id: str) -> list[str]:
    return sorted(
        e["event_name"] for e in api(stack, f"/orders/{order_id}/events")["items"] if e["pipeline"] == "standard"
    )


def test_each_order_event_reaches_exactly_the_handlers_its_rules_select(stack, orders):
    place(orders, "p-over-100", "150.00", "a@example.com")
    place(orders, "p-exactly-100", "100.00", "b@example.com")
    place(orders, "p-just-over-100", "100.01", "c@example.com")
    place(orders, "p-test-domain", "500.00", "d@Sub.TEST.com", OrderStatus.SHIPPED)
    place(orders, "p-processing", "500.00", "e@example.com", OrderStatus.PROCESSING)
    place(orders, "p-premium", "1500.00", "f@example.com")
    place(orders, "p-exactly-1000", "1000.00", "g@example.com")
    place(orders, "p-premium-test-domain", "2000.00", "h@test.com")
    for order_id in ("p-premium", "p-exactly-1000", "p-premium-test-domain"):
        orders.update(order_id, status=OrderStatus.SHIPPED)
    orders.delete("p-over-100")
    # Another writer: no helper attributes; the pipe passes it on and the handler decides.
    raw = stack.client("dynamodb")
    for order_id, amount in (("p-legacy-300", "300"), ("p-legacy-50", "50")):
        raw.put_item(
            TableName=ORDERS.name(),
            Item={
                "orderId": {"S": order_id},
                "status": {"S": "pending"},
                "amount": {"N": amount},
                "customerEmail": {"S": "legacy@example.com"},
                "customerId": {"S": "c-9"},
                "createdAt": {"S": "2025-03-01T10:00:00Z"},
                "updatedAt": {"S": "2025-03-01T10:00:00Z"},
                "lineItems": {"L": []},
            },
        )
    stack.wait_for_pipes()

    assert {
        order_id: standard_events(stack, order_id)
        for order_id in (
            "p-over-100",
            "p-exactly-100",
            "p-just-over-100",
            "p-test-domain",
            "p-processing",
            "p-premium",
            "p-exactly-1000",
            "p-premium-test-domain",
            "p-legacy-300",
            "p-legacy-50",
        )
    } == {
        "p-over-100": ["INSERT"],  # its REMOVE reaches no handler
        "p-exactly-100": [],
        "p-just-over-100": ["INSERT"],
        "p-test-domain": [],
        "p-processing": [],
        "p-premium": ["INSERT", "MODIFY"],
        "p-exactly-1000": ["INSERT", "MODIFY"],
        "p-premium-test-domain": [],
        "p-legacy-300": ["INSERT"],
        "p-legacy-50": [],
    }
    cases = api(stack, "/premium-cases")["items"]
    assert sorted(c["orderId"] for c in cases) == ["p-premium", "p-premium-test-domain"]


def test_the_pipes_process_reports_each_invocation_with_its_records_keys(stack, orders):
    reported: list[tuple[list[dict], float]] = []
    stack.pipes["standard"].on_invoke(lambda keys, at: reported.append((keys, at)))
    invocations, written = stack.pipes["standard"].invocations, time.time()
    place(orders, "p-reported", "150.00", "r@example.com")
    stack.wait_for_pipes()

    assert [at >= written for keys, at in reported if {"orderId": {"S": "p-reported"}} in keys] == [True]
    assert stack.pipes["standard"].invocations > invocations


def test_a_failing_handler_dead_letters_its_batch_and_redrive_recovers_it(stack, orders, capsys):
    sqs, sns = stack.client("sqs"), stack.client("sns")
    inbox = sqs.create_queue(QueueName="alerts-inbox")["QueueUrl"]
    inbox_arn = sqs.get_queue_attributes(QueueUrl=inbox, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(
        TopicArn=ALERTS_TOPIC.arn(), Protocol="sqs", Endpoint=inbox_arn, Attributes={"RawMessageDelivery": "true"}
    )
    dynamodb = stack.client("dynamodb")
    dynamodb.delete_table(TableName=ORDER_PROCESSING.name())  # the standard handler's writes now fail

    place(orders, "p-dead-lettered", "250.00", "z@example.com")
    stack.wait_for_pipes()
    [batch] = wait_for(lambda: dead_lettered_batches(dynamodb))
    assert batch["pipe"]["S"] == "standard" and batch["status"]["S"] == "OPEN"
    assert batch["batch_size"]["N"] == "1"
    alerts = wait_for(lambda: sqs.receive_message(QueueUrl=inbox, WaitTimeSeconds=1).get("Messages", []))
    assert "standard" in alerts[0]["Body"]

    create_tables(dynamodb, [ORDER_PROCESSING])
    capsys.readouterr()
    assert shoppulse(["redrive", "--pipe", "standard", "--all-open", "--endpoint", stack.endpoint]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert lines and all(line.get("status") != "FAILED" for line in lines)
    assert standard_events(stack, "p-dead-lettered") == ["INSERT"]
    [batch] = dead_lettered_batches(dynamodb)
    assert batch["status"]["S"] == "REDRIVEN"


def dead_lettered_batches(dynamodb) -> list[dict]:
    return [
        f for f in dynamodb.scan(TableName=ORDER_FAILURES.name())["Items"] if f["kind"]["S"] == FailureKind.BATCH.value
    ]
