"""Narrow errors of the orders model; AWS errors are chained (`raise ... from err`)."""

from __future__ import annotations


class OrderError(Exception):
    """Base class: something about an order or an order event is wrong."""


class InvalidOrder(OrderError, ValueError):
    """An order's fields break the model (bad status, amount, email or line items)."""


class OrderNotFound(OrderError, LookupError):
    def __init__(self, order_id: str) -> None:
        super().__init__(f"order {order_id!r} does not exist")
        self.order_id = order_id


class OrderAlreadyExists(OrderError):
    def __init__(self, order_id: str) -> None:
        super().__init__(f"order {order_id!r} already exists")
        self.order_id = order_id


class InvalidTransition(OrderError):
    def __init__(self, order_id: str, current: str, wanted: str) -> None:
        super().__init__(f"order {order_id!r} cannot go from {current!r} to {wanted!r}")
        self.order_id, self.current, self.wanted = order_id, current, wanted


class InvalidOrderEvent(OrderError, ValueError):
    """A stream record that cannot be read as an order change (retrying will not fix it)."""
