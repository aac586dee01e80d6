"""Premium customer service: one case per order that ships over 1000, and the team notified once."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypedDict

from chalicelib.dynamo_pages import newest_first
from chalicelib.kpis import round_money
from chalicelib.orders.events import OrderChange
from chalicelib.orders.rules import premium_applies
from chalicelib.runs import utc_now
from chalicelib.streaming.notify import NOTIFIED_AT, OnceNotifier
from chalicelib.streaming.outcomes import Outcome
from chalicelib.streaming.put_once import put_once
from chalicelib.tables import PREMIUM_CASES, PREMIUM_CASES_BY_TIME

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table

CASE_KIND = "PREMIUM"
CASE_OPEN = "OPEN"


class PremiumCase(TypedDict):
    """A premium case as API clients and the premium team see it."""

    orderId: str
    customer_id: str
    customer_email: str
    amount: float | Decimal
    transition: str
    case_status: str
    opened_at: str
    event_id: str
    notified_at: str | None


def public_case(item: Mapping[str, Any]) -> PremiumCase:
    return PremiumCase(
        orderId=str(item[PREMIUM_CASES.partition_key]),
        customer_id=str(item["customer_id"]),
        customer_email=str(item["customer_email"]),
        amount=round_money(item["amount"]),
        transition=f"{item['from_status']} -> {item['to_status']}",
        case_status=str(item["case_status"]),
        opened_at=str(item[PREMIUM_CASES_BY_TIME.range_key]),
        event_id=str(item["event_id"]),
        notified_at=item.get(NOTIFIED_AT),
    )


class PremiumCaseRepository:
    def __init__(self, table: Table) -> None:
        self._table = table

    def open(self, change: OrderChange) -> tuple[dict[str, Any], bool]:
        """Open the order's case; (the case, opened now?). The order key allows one case."""
        item = {
            PREMIUM_CASES.partition_key: change.order_id,
            PREMIUM_CASES_BY_TIME.partition_key: CASE_KIND,
            PREMIUM_CASES_BY_TIME.range_key: utc_now(),
            "case_status": CASE_OPEN,
            "customer_id": str(change.new_value("customerId") or ""),
            "customer_email": str(change.new_value("customerEmail") or ""),
            "amount": change.new_amount(),
            "from_status": str(change.old_value("status")),
            "to_status": str(change.new_value("status")),
            "event_id": change.event_id,
            "stream_time": change.stream_time.isoformat(timespec="milliseconds"),
        }
        return put_once(self._table, item, (PREMIUM_CASES.partition_key,))

    def get(self, order_id: str) -> PremiumCase | None:
        item = self.get_item(order_id)
        return public_case(item) if item else None

    def get_item(self, order_id: str) -> dict[str, Any] | None:
        """The case as stored (the API converts it with `public_case`, item by item)."""
        item: dict[str, Any] | None = self._table.get_item(
            Key={PREMIUM_CASES.partition_key: order_id}, ConsistentRead=True
        ).get("Item")
        return item

    def recent(
        self, limit: int = 50, start_key: Mapping[str, Any] | None = None
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        """Newest cases first as stored, a page at a time (a Query on the index, never a Scan)."""
        return newest_first(self._table, PREMIUM_CASES_BY_TIME, CASE_KIND, limit, start_key)


class PremiumService:
    """The premium pipe's per-record work: the rule as last guard, the case, the notification."""

    def __init__(self, cases: PremiumCaseRepository, notifier: OnceNotifier) -> None:
        self._cases = cases
        self._notifier = notifier

    def __call__(self, change: OrderChange) -> Outcome:
        if not premium_applies(change):
            return Outcome.SKIPPED
        case, opened = self._cases.open(change)
        if case["event_id"] != change.event_id:
            return Outcome.DUPLICATE  # the order's case was opened by an earlier transition
        message = {"type": "PremiumCaseOpened", **public_case(case)}
        subject = f"Premium case: order {change.order_id} shipped ({case['amount']})"
        key = {PREMIUM_CASES.partition_key: change.order_id}
        # A retry after a failed publish finds its own case unmarked and publishes now.
        notified = self._notifier.notify(case, key, subject, message)
        return Outcome.PROCESSED if opened or notified else Outcome.DUPLICATE
