"""The business thresholds, and the helper attributes that let the pipes filter on them exactly.

Pipes cannot filter these rules on the raw attributes: numeric matching never matches a
DynamoDB number (it reaches the filter as the string in {"N": "100.5"}), and "does not contain
test.com" needs a wildcard inside anything-but, which Pipes reject. So every write through
OrderRepository also stores two string facts derived from the raw values, which the filters
match with plain equality:

- amountBand: "le100" (amount <= 100), "gt100le1000" (100 < amount <= 1000), "gt1000";
- emailClass: "test" when the e-mail contains "test.com" in any case, else "customer".

An item without them (written by another writer) is let through the pipes and judged by the
handlers on its typed values (chalicelib/orders/rules.py), so it is never silently dropped.
A writer that changes amount or customerEmail without recomputing these must remove them.
"""

from __future__ import annotations

from decimal import Decimal
from enum import Enum
from typing import TypedDict

STANDARD_MIN_AMOUNT = Decimal(100)  # standard processing: amount strictly greater
PREMIUM_MIN_AMOUNT = Decimal(1000)  # premium service: amount strictly greater
TEST_EMAIL_MARKER = "test.com"  # orders from such e-mails are test traffic (case-insensitive)

AMOUNT_BAND = "amountBand"
EMAIL_CLASS = "emailClass"


class AmountBand(str, Enum):
    UP_TO_100 = "le100"
    OVER_100 = "gt100le1000"
    OVER_1000 = "gt1000"


class EmailClass(str, Enum):
    TEST = "test"
    CUSTOMER = "customer"


class RoutingAttributes(TypedDict):
    amountBand: str
    emailClass: str


def amount_band(amount: Decimal) -> AmountBand:
    if amount > PREMIUM_MIN_AMOUNT:
        return AmountBand.OVER_1000
    if amount > STANDARD_MIN_AMOUNT:
        return AmountBand.OVER_100
    return AmountBand.UP_TO_100


def is_test_email(email: str) -> bool:
    # casefold: "TEST.COM", "Test.Com" and Unicode case variants all count.
    return TEST_EMAIL_MARKER in email.casefold()


def email_class(email: str) -> EmailClass:
    return EmailClass.TEST if is_test_email(email) else EmailClass.CUSTOMER


def routing_attributes(*, amount: Decimal, email: str) -> RoutingAttributes:
    return RoutingAttributes(amountBand=amount_band(amount).value, emailClass=email_class(email).value)
