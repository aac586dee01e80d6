"""What the stream handlers did for an order, and the premium cases, as the API serves them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chalicelib.api.exceptions import BadRequest, NotFound
from chalicelib.api.pagination import bounded, decode_token, page_body
from chalicelib.api.params import MAX_ID_BYTES, PageRequest
from chalicelib.api.readable import Listing
from chalicelib.orders.events import EventName
from chalicelib.orders.repository import OrderRepository
from chalicelib.orders.rules import PREMIUM_TO
from chalicelib.pipes import PREMIUM_PIPE
from chalicelib.streaming.premium import CASE_KIND, CASE_OPEN, PremiumCaseRepository, public_case
from chalicelib.streaming.processing import ProcessingRepository, public_event
from chalicelib.tables import ORDER_PROCESSING, PREMIUM_CASES, PREMIUM_CASES_BY_TIME

CASE_FILTERS = {"open": {CASE_OPEN}, "all": None}
_CASE_TOKEN = {
    PREMIUM_CASES.partition_key: bounded(MAX_ID_BYTES),
    PREMIUM_CASES_BY_TIME.partition_key: CASE_KIND.__eq__,
    PREMIUM_CASES_BY_TIME.range_key: bounded(64),
}
_EVENTS_PAGE = 100


class OrderQueries:
    def __init__(self, orders: OrderRepository, processing: ProcessingRepository, cases: PremiumCaseRepository) -> None:
        self._orders = orders
        self._processing = processing
        self._cases = cases

    def events(self, order_id: str) -> dict[str, Any]:
        """Both pipelines' effects for one order, oldest first: 404 only for an unknown order."""
        listing = Listing((ORDER_PROCESSING.partition_key, ORDER_PROCESSING.sort_key))
        stored = self._standard_items(order_id)
        events = listing.convert(stored, _standard_event)
        case = self._cases.get_item(order_id)
        if case:
            events += listing.convert([case], _premium_event)
        if not (stored or case) and self._orders.get(order_id) is None:
            raise NotFound(f"no order {order_id!r}", "orderId")
        events.sort(key=lambda e: (e["time"], e["event_id"]))
        return {"orderId": order_id, "items": events, **listing.header()}

    def premium_cases(self, status: str, page: PageRequest) -> dict[str, Any]:
        if status not in CASE_FILTERS:
            raise BadRequest(f"'status' must be one of {sorted(CASE_FILTERS)}, got {status[:40]!r}", "status")
        wanted = CASE_FILTERS[status]
        items, last = self._cases.recent(page.limit, decode_token(page.token, _CASE_TOKEN))
        listing = Listing((PREMIUM_CASES.partition_key,))
        cases = listing.convert(items, public_case)
        body = page_body([c for c in cases if wanted is None or c["case_status"] in wanted], last, status=status)
        return {**body, **listing.header()}

    def _standard_items(self, order_id: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        start = None
        while True:
            page, start = self._processing.items_for_order(order_id, _EVENTS_PAGE, start)
            items += page
            if not start:
                return items


def _standard_event(item: Mapping[str, Any]) -> dict[str, Any]:
    event = public_event(item)
    return {**event, "time": event["stream_time"]}


def _premium_event(item: Mapping[str, Any]) -> dict[str, Any]:
    """The premium pipe reacts to one kind of change only: its rule names it."""
    case = public_case(item)
    return {
        "orderId": case["orderId"],
        "pipeline": PREMIUM_PIPE.key,
        "event_id": case["event_id"],
        "event_name": EventName.MODIFY.value,
        "status": PREMIUM_TO.value,
        "amount": case["amount"],
        "time": case["opened_at"],
        "case_status": case["case_status"],
        "notified_at": case["notified_at"],
    }
