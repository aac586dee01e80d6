"""The pipes' filters, evaluated with the project's matcher in Pipes mode on wire-format records.

Two properties hold for every pipe: with the helper attributes the filter is exact (it passes
a record iff the typed rule holds), and without them nothing the rule wants is ever dropped.
"""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.event_patterns import MAX_PIPE_FILTERS, MAX_PIPE_PATTERN_CHARS, Mode, compile_pattern
from chalicelib.orders.events import parse_record
from chalicelib.orders.exceptions import InvalidOrderEvent
from chalicelib.orders.model import OrderStatus
from chalicelib.orders.routing import AMOUNT_BAND, EMAIL_CLASS
from chalicelib.orders.rules import premium_applies, standard_applies
from chalicelib.pipes import PIPES, PREMIUM_PIPE, STANDARD_PIPE
from tests.stream_support import OrderStream, order_item

STATUSES = [s.value for s in OrderStatus]


@pytest.fixture
def stream() -> OrderStream:
    return OrderStream()


# --- standard: INSERT or MODIFY, new status pending|shipped, amount > 100, e-mail not test.com ----


@pytest.mark.parametrize("helpers", [True, False], ids=["helpers", "legacy"])
@pytest.mark.parametrize(
    ("amount", "passes"),
    [("100.00", False), ("100.01", True), ("99.99", False), ("0.00", False), ("1000.00", True), ("25000.50", True)],
)
def test_standard_amount_boundary(stream, helpers, amount, passes):
    record = stream.insert(order_item(amount=amount, helpers=helpers))
    delivered = STANDARD_PIPE.accepts(record) and standard_applies(parse_record(record))
    assert delivered is passes
    if helpers:  # exact in the pipe: nothing is invoked for nothing
        assert STANDARD_PIPE.accepts(record) is passes


@pytest.mark.parametrize("helpers", [True, False], ids=["helpers", "legacy"])
@pytest.mark.parametrize(
    ("email", "passes"),
    [
        ("ann@example.com", True),
        ("ann@test.com", False),
        ("ann@TEST.COM", False),
        ("Ann@Test.Com", False),
        ("ann@shop.TeSt.CoM", False),
        ("test.com.user@example.org", False),  # contains test.com: excluded wherever it appears
        ("ann@contest.com", False),  # "contest.com" contains "test.com" too
        ("ann@test.co", True),
        ("ann@testcom.org", True),
    ],
)
def test_standard_email_any_case(stream, helpers, email, passes):
    record = stream.insert(order_item(email=email, helpers=helpers))
    assert (STANDARD_PIPE.accepts(record) and standard_applies(parse_record(record))) is passes
    if helpers:
        assert STANDARD_PIPE.accepts(record) is passes


@pytest.mark.parametrize("status", STATUSES)
def test_standard_status_and_event_kinds(stream, status):
    wanted = status in ("pending", "shipped")
    before = order_item(status="pending" if status != "pending" else "processing")
    after = order_item(status=status)
    assert STANDARD_PIPE.accepts(stream.insert(after)) is wanted
    assert STANDARD_PIPE.accepts(stream.modify(before, after)) is wanted
    assert STANDARD_PIPE.accepts(stream.remove(after)) is False  # REMOVE has no NewImage


def test_standard_ignores_the_old_image(stream):
    """A MODIFY is judged on its new image: leaving pending for cancelled does not pass."""
    assert not STANDARD_PIPE.accepts(stream.modify(order_item(status="pending"), order_item(status="cancelled")))
    assert STANDARD_PIPE.accepts(stream.modify(order_item(status="processing"), order_item(status="shipped")))


# --- premium: MODIFY pending -> shipped with new amount > 1000 -------------------------------------


@pytest.mark.parametrize("helpers", [True, False], ids=["helpers", "legacy"])
@pytest.mark.parametrize(
    ("amount", "passes"),
    [("1000.00", False), ("1000.01", True), ("999.99", False), ("100.01", False), ("98000.00", True)],
)
def test_premium_amount_boundary(stream, helpers, amount, passes):
    record = stream.modify(
        order_item(amount=amount, helpers=helpers), order_item(amount=amount, status="shipped", helpers=helpers)
    )
    assert (PREMIUM_PIPE.accepts(record) and premium_applies(parse_record(record))) is passes
    if helpers:
        assert PREMIUM_PIPE.accepts(record) is passes


def test_premium_uses_the_new_amount(stream):
    cheap_then_dear = stream.modify(order_item(amount="500.00"), order_item(amount="1500.00", status="shipped"))
    dear_then_cheap = stream.modify(order_item(amount="1500.00"), order_item(amount="500.00", status="shipped"))
    assert PREMIUM_PIPE.accepts(cheap_then_dear)
    assert not PREMIUM_PIPE.accepts(dear_then_cheap)


# Same status twice is no change, hence no stream record at all.
@pytest.mark.parametrize(
    ("old", "new"), [(o, n) for o in STATUSES for n in STATUSES if o != n and (o, n) != ("pending", "shipped")]
)
def test_premium_only_pending_to_shipped(stream, old, new):
    assert not PREMIUM_PIPE.accepts(
        stream.modify(order_item(amount="5000.00", status=old), order_item(amount="5000.00", status=new))
    )


def test_premium_never_insert_or_remove(stream):
    shipped = order_item(amount="5000.00", status="shipped")
    assert not PREMIUM_PIPE.accepts(stream.insert(shipped))
    assert not PREMIUM_PIPE.accepts(stream.remove(shipped))


def test_premium_ignores_the_email(stream):
    record = stream.modify(
        order_item(amount="5000.00", email="qa@TEST.com"),
        order_item(amount="5000.00", email="qa@TEST.com", status="shipped"),
    )
    assert PREMIUM_PIPE.accepts(record) and premium_applies(parse_record(record))


# --- missing attributes and other writers ------------------------------------------------------


@pytest.mark.parametrize("pipe", PIPES, ids=lambda p: p.key)
@pytest.mark.parametrize("missing", ["status", "amount", "customerEmail", AMOUNT_BAND, EMAIL_CLASS])
def test_missing_attributes(stream, pipe, missing):
    """Without status neither rule can hold; anything else missing goes to the handler, whose
    typed rule decides (and rejects, with a reason, what it cannot judge)."""
    old, new = order_item(amount="5000.00"), order_item(amount="5000.00", status="shipped")
    new.pop(missing)
    record = stream.modify(old, new)
    assert pipe.accepts(record) is (missing != "status")
    rule = standard_applies if pipe is STANDARD_PIPE else premium_applies
    unjudgeable = missing == "amount" or (missing == "customerEmail" and pipe is STANDARD_PIPE)
    if unjudgeable:
        with pytest.raises(InvalidOrderEvent):
            rule(parse_record(record))
    else:
        assert rule(parse_record(record)) is (missing != "status")


def test_unexpected_helper_values_reach_the_handler(stream):
    """A helper of another type or value is not a reason to drop an order: the handler judges."""
    item = order_item(amount="150.00")
    item[AMOUNT_BAND] = Decimal(1)  # a number, not the string the filters match
    assert STANDARD_PIPE.accepts(stream.insert(item))
    item[AMOUNT_BAND] = "medium"
    assert STANDARD_PIPE.accepts(stream.insert(item))


# --- the two properties, over generated orders -------------------------------------------------

amounts = st.decimals(min_value=0, max_value=20000, places=2) | st.sampled_from(
    [Decimal(100), Decimal("100.01"), Decimal(1000), Decimal("1000.01")]
)
emails = st.builds(
    lambda user, host: f"{user}@{host}",
    st.sampled_from(["ann", "Test.Com", "qa"]),
    st.sampled_from(["example.com", "test.com", "TEST.COM", "Test.Com.au", "contest.COM", "tes.com"]),
)


@settings(max_examples=300, deadline=None)
@given(
    old_status=st.sampled_from(STATUSES),
    new_status=st.sampled_from(STATUSES),
    old_amount=amounts,
    new_amount=amounts,
    email=emails,
    helpers=st.booleans(),
    kind=st.sampled_from(["INSERT", "MODIFY", "REMOVE"]),
)
def test_filters_match_the_rules(old_status, new_status, old_amount, new_amount, email, helpers, kind):
    stream = OrderStream()
    old = order_item(amount=str(old_amount), email=email, status=old_status, helpers=helpers)
    new = order_item(amount=str(new_amount), email=email, status=new_status, helpers=helpers)
    record = {
        "INSERT": lambda: stream.insert(new),
        "MODIFY": lambda: stream.modify(old, new),
        "REMOVE": lambda: stream.remove(old),
    }[kind]()
    if record is None:  # an update that changes nothing writes no stream record
        return
    change = parse_record(record)
    for pipe, rule in ((STANDARD_PIPE, standard_applies), (PREMIUM_PIPE, premium_applies)):
        wanted = rule(change)
        if wanted:
            assert pipe.accepts(record), "never drop a record the rule wants"
        if helpers:
            assert pipe.accepts(record) is wanted, "with helpers the filter is exact"


# --- what AWS would accept --------------------------------------------------------------------


@pytest.mark.parametrize("pipe", PIPES, ids=lambda p: p.key)
def test_filters_within_pipes_limits(pipe):
    criteria = pipe.filter_criteria()["Filters"]
    assert 1 <= len(criteria) <= MAX_PIPE_FILTERS
    for f in criteria:
        assert len(f["Pattern"]) <= MAX_PIPE_PATTERN_CHARS
        compile_pattern(f["Pattern"], mode=Mode.PIPES)  # raises InvalidEventPattern if Pipes would refuse it
        pattern = json.loads(f["Pattern"])
        assert set(pattern) == {"dynamodb"}, "DynamoDB stream filters can only look at the dynamodb key"
        assert "numeric" not in f["Pattern"], "numeric matching never matches DynamoDB numbers"


@pytest.mark.parametrize("pipe", PIPES, ids=lambda p: p.key)
def test_source_parameters_as_cloudformation_takes_them(pipe):
    params = pipe.source_parameters("arn:aws:sqs:us-east-1:123456789012:dlq")
    stream = params["DynamoDBStreamParameters"]
    assert stream["OnPartialBatchItemFailure"] == "AUTOMATIC_BISECT"
    assert stream["DeadLetterConfig"] == {"Arn": "arn:aws:sqs:us-east-1:123456789012:dlq"}
    assert stream["StartingPosition"] in ("TRIM_HORIZON", "LATEST")
    assert 1 <= stream["BatchSize"] <= 10000 and 0 <= stream["MaximumBatchingWindowInSeconds"] <= 300
    assert 0 <= stream["MaximumRetryAttempts"] <= 10000 and 60 <= stream["MaximumRecordAgeInSeconds"] <= 604800
    assert [json.loads(f["Pattern"]) for f in params["FilterCriteria"]["Filters"]] == list(pipe.filters)
    assert pipe.target_parameters() == {"LambdaFunctionParameters": {"InvocationType": "REQUEST_RESPONSE"}}
