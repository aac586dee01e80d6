"""The order model and repository on moto: items, helper attributes, transitions, errors."""

from __future__ import annotations

from decimal import Decimal

import pytest

from chalicelib.orders.exceptions import InvalidOrder, InvalidTransition, OrderAlreadyExists, OrderNotFound
from chalicelib.orders.model import OrderStatus, new_order
from chalicelib.orders.repository import OrderRepository
from chalicelib.tables import ORDERS
from tests.stream_support import stream_aws

LINES = [
    {"sku": "sku-1", "quantity": 2, "unitPrice": Decimal("60.00")},
    {"sku": "sku-2", "quantity": 1, "unitPrice": "5.5"},
]


@pytest.fixture
def repo():
    with stream_aws() as aws:
        yield OrderRepository(aws.table(ORDERS))


def test_new_order_item_shape():
    order = new_order(
        customer_id="c-1", customer_email="Ann@Example.com", line_items=LINES, now="2026-11-23T05:00:00.000+00:00"
    )
    assert order["amount"] == Decimal("125.50")  # the line items' total by default
    assert order["status"] == "pending" and order["createdAt"] == order["updatedAt"]
    assert (order["amountBand"], order["emailClass"]) == ("gt100le1000", "customer")
    assert order["lineItems"][1] == {"sku": "sku-2", "quantity": 1, "unitPrice": Decimal("5.50")}
    assert order["orderId"]


@pytest.mark.parametrize(
    ("amount", "band"),
    [("0", "le100"), ("100", "le100"), ("100.01", "gt100le1000"), ("1000", "gt100le1000"), ("1000.01", "gt1000")],
)
def test_amount_bands_at_the_boundaries(amount, band):
    assert new_order(customer_id="c", customer_email="a@b.c", line_items=LINES, amount=amount)["amountBand"] == band


@pytest.mark.parametrize("email", ["x@TEST.COM", "x@sub.Test.com", "test.com@example.org", "x@contest.com"])
def test_test_emails_in_any_case(email):
    assert new_order(customer_id="c", customer_email=email, line_items=LINES)["emailClass"] == "test"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"amount": "-1"}, "amount"),
        ({"amount": "1.001"}, "2 decimals"),
        ({"amount": "NaN"}, "amount"),
        ({"customer_email": "nobody"}, "e-mail"),
        ({"status": "lost"}, "status"),
        ({"line_items": []}, "line item"),
        ({"line_items": [{"sku": "s", "quantity": 0, "unitPrice": "1"}]}, "quantity"),
        ({"customer_id": ""}, "customerId"),
    ],
)
def test_invalid_orders_say_why(kwargs, message):
    args = {"customer_id": "c", "customer_email": "a@b.c", "line_items": LINES, **kwargs}
    with pytest.raises(InvalidOrder, match=message):
        new_order(**args)


def test_create_get_and_duplicate(repo):
    order = repo.create(new_order(customer_id="c-1", customer_email="a@example.com", line_items=LINES, order_id="o-1"))
    assert repo.get("o-1") == order
    with pytest.raises(OrderAlreadyExists):
        repo.create(order)
    assert repo.get("missing") is None


def test_update_recomputes_helpers(repo):
    repo.create(new_order(customer_id="c-1", customer_email="a@example.com", line_items=LINES, order_id="o-1"))
    item = repo.update("o-1", amount="1500.00", customer_email="qa@Test.com", now="2026-11-23T06:00:00.000+00:00")
    assert (item["amount"], item["amountBand"], item["emailClass"]) == (Decimal("1500.00"), "gt1000", "test")
    assert item["updatedAt"] == "2026-11-23T06:00:00.000+00:00" and item["createdAt"] != item["updatedAt"]
    item = repo.update("o-1", line_items=[{"sku": "s", "quantity": 1, "unitPrice": "50"}])
    assert (item["amount"], item["amountBand"]) == (Decimal("50.00"), "le100")


def test_status_transitions_are_enforced(repo):
    repo.create(new_order(customer_id="c-1", customer_email="a@example.com", line_items=LINES, order_id="o-1"))
    assert repo.update("o-1", status=OrderStatus.SHIPPED)["status"] == "shipped"  # pending -> shipped directly
    with pytest.raises(InvalidTransition) as err:
        repo.update("o-1", status="processing")
    assert (err.value.current, err.value.wanted) == ("shipped", "processing")
    assert repo.get("o-1")["status"] == "shipped"
    with pytest.raises(InvalidTransition):
        repo.update("o-1", status="pending")  # nothing leads back to pending
    for status in ("delivered", "returned"):
        assert repo.update("o-1", status=status)["status"] == status


def test_missing_orders(repo):
    with pytest.raises(OrderNotFound):
        repo.update("nope", status="shipped")
    with pytest.raises(OrderNotFound):
        repo.delete("nope")
    repo.create(new_order(customer_id="c-1", customer_email="a@example.com", line_items=LINES, order_id="o-1"))
    repo.delete("o-1")
    assert repo.get("o-1") is None
