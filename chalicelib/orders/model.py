"""The Orders item: attribute names, statuses and their transitions, and how a new order is built.

Attribute names are camelCase because other writers and the stream filters see them as-is.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from enum import Enum
from typing import Any, TypedDict

from chalicelib.orders.exceptions import InvalidOrder
from chalicelib.orders.routing import routing_attributes
from chalicelib.runs import utc_now


class OrderStatus(str, Enum):
    PENDING = "pending"
    PROCESSING = "processing"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"
    RETURNED = "returned"


# Where each status may go next. pending -> shipped is allowed directly (orders picked and
# shipped in one step): it is the transition the premium service watches.
TRANSITIONS: Mapping[OrderStatus, frozenset[OrderStatus]] = {
    OrderStatus.PENDING: frozenset({OrderStatus.PROCESSING, OrderStatus.SHIPPED, OrderStatus.CANCELLED}),
    OrderStatus.PROCESSING: frozenset({OrderStatus.SHIPPED, OrderStatus.CANCELLED}),
    OrderStatus.SHIPPED: frozenset({OrderStatus.DELIVERED, OrderStatus.RETURNED}),
    OrderStatus.DELIVERED: frozenset({OrderStatus.RETURNED}),
    OrderStatus.CANCELLED: frozenset(),
    OrderStatus.RETURNED: frozenset(),
}


def predecessors(status: OrderStatus) -> list[OrderStatus]:
    """The statuses an order may be in for `status` to be its next one."""
    return [s for s, nexts in TRANSITIONS.items() if status in nexts]


class LineItem(TypedDict):
    sku: str
    quantity: int
    unitPrice: Decimal


class Order(TypedDict):
    orderId: str
    status: str
    amount: Decimal
    customerEmail: str
    customerId: str
    createdAt: str
    updatedAt: str
    lineItems: list[LineItem]
    # Helper attributes for the pipes' filters (see chalicelib/orders/routing.py).
    amountBand: str
    emailClass: str


def parse_status(value: Any) -> OrderStatus:
    try:
        return OrderStatus(value)
    except ValueError as err:
        allowed = ", ".join(s.value for s in OrderStatus)
        raise InvalidOrder(f"status {value!r} is not one of: {allowed}") from err


def parse_amount(value: Any) -> Decimal:
    """A finite, non-negative amount with at most cent precision."""
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError) as err:
        raise InvalidOrder(f"amount {value!r} is not a number") from err
    if not amount.is_finite() or amount < 0:
        raise InvalidOrder(f"amount {value!r} must be a finite number >= 0")
    if amount != amount.quantize(Decimal("0.01")):
        raise InvalidOrder(f"amount {value!r} has more than 2 decimals")
    return amount


def parse_email(value: Any) -> str:
    email = value.strip() if isinstance(value, str) else ""
    local, _, domain = email.partition("@")
    if not local or not domain or "@" in domain or any(c.isspace() for c in email):
        raise InvalidOrder(f"customerEmail {value!r} is not an e-mail address")
    return email


def parse_line_items(items: Iterable[Mapping[str, Any]]) -> list[LineItem]:
    parsed: list[LineItem] = []
    for position, item in enumerate(items, start=1):
        sku, quantity = item.get("sku"), item.get("quantity")
        if not isinstance(sku, str) or not sku:
            raise InvalidOrder(f"line item {position}: sku is required")
        if (
            isinstance(quantity, bool)
            or not isinstance(quantity, (int, Decimal))
            or int(quantity) != quantity
            or quantity < 1
        ):
            raise InvalidOrder(f"line item {position}: quantity must be a whole number >= 1")
        parsed.append(LineItem(sku=sku, quantity=int(quantity), unitPrice=parse_amount(item.get("unitPrice"))))
    if not parsed:
        raise InvalidOrder("an order needs at least one line item")
    return parsed


def line_items_total(items: Iterable[LineItem]) -> Decimal:
    return sum((i["unitPrice"] * i["quantity"] for i in items), Decimal(0))


def new_order(
    *,
    customer_id: str,
    customer_email: str,
    line_items: Iterable[Mapping[str, Any]],
    amount: Any = None,
    status: OrderStatus | str = OrderStatus.PENDING,
    order_id: str | None = None,
    now: str | None = None,
) -> Order:
    """A validated Orders item. `amount` (the charged total) defaults to the line items' sum."""
    if not customer_id:
        raise InvalidOrder("customerId is required")
    lines = parse_line_items(line_items)
    total = parse_amount(line_items_total(lines) if amount is None else amount)
    email = parse_email(customer_email)
    timestamp = now or utc_now()
    return Order(
        orderId=order_id or str(uuid.uuid4()),
        status=parse_status(status).value,
        amount=total,
        customerEmail=email,
        customerId=customer_id,
        createdAt=timestamp,
        updatedAt=timestamp,
        lineItems=lines,
        **routing_attributes(amount=total, email=email),
    )
