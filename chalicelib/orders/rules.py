"""The two pipes' business rules on typed values: the handlers' last guard behind the filters.

The pipes' filters (chalicelib/pipes.py) express the same rules on the stream's JSON; these are
the reference the pattern tests compare the filters with.
"""

from __future__ import annotations

from chalicelib.orders.events import EventName, OrderChange
from chalicelib.orders.model import OrderStatus
from chalicelib.orders.routing import PREMIUM_MIN_AMOUNT, STANDARD_MIN_AMOUNT, is_test_email

STANDARD_EVENTS = frozenset({EventName.INSERT, EventName.MODIFY})
STANDARD_STATUSES = (OrderStatus.PENDING, OrderStatus.SHIPPED)
PREMIUM_FROM, PREMIUM_TO = OrderStatus.PENDING, OrderStatus.SHIPPED


def standard_applies(change: OrderChange) -> bool:
    """INSERT or MODIFY whose new image is pending or shipped, amount > 100, not a test e-mail."""
    if change.event_name not in STANDARD_EVENTS or change.new is None:
        return False
    if change.new_value("status") not in {s.value for s in STANDARD_STATUSES}:
        return False
    return change.new_amount() > STANDARD_MIN_AMOUNT and not is_test_email(change.new_email())


def premium_applies(change: OrderChange) -> bool:
    """MODIFY from pending (old image) to shipped (new image) with new amount > 1000."""
    if change.event_name is not EventName.MODIFY or change.old is None or change.new is None:
        return False
    if change.old_value("status") != PREMIUM_FROM.value or change.new_value("status") != PREMIUM_TO.value:
        return False
    return change.new_amount() > PREMIUM_MIN_AMOUNT
