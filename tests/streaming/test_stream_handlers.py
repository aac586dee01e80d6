"""The pipes' Lambda functions through Chalice's test client, on moto: effects, partial
failures, idempotency, rejection, premium notifications, logs and metrics."""

from __future__ import annotations

import json

import pytest

from chalicelib.messaging import ALERTS_TOPIC, PREMIUM_TEAM_TOPIC
from chalicelib.pipes import PREMIUM_PIPE, STANDARD_PIPE
from chalicelib.streaming import services
from chalicelib.streaming.failures import FailureRepository
from chalicelib.streaming.premium import PremiumCaseRepository
from chalicelib.streaming.processing import ProcessingRepository
from chalicelib.tables import ORDER_FAILURES, ORDER_PROCESSING, PREMIUM_CASES
from tests.stream_support import OrderStream, Throttled, order_item


def invoke(client, pipe, records):
    return client.lambda_.invoke(pipe.function_name, records).payload


def emf_documents(out: str) -> list[dict]:
    docs = [json.loads(line) for line in out.splitlines() if line.startswith("{") and '"_aws"' in line]
    return docs


# --- standard processing ----------------------------------------------------------------------


def test_standard_records_each_processed_event(aws, client, capsys, caplog):
    stream = OrderStream()
    a, b = order_item(order_id="o-1", amount="150.00"), order_item(order_id="o-2", amount="2500.00", status="shipped")
    records = [stream.insert(a), stream.modify(a, {**a, "status": "shipped"}), stream.insert(b)]
    assert invoke(client, STANDARD_PIPE, records) == {"batchItemFailures": []}

    events, _ = ProcessingRepository(aws.table(ORDER_PROCESSING)).events_for_order("o-1")
    assert [(e["event_name"], e["status"], e["amount"], e["pipeline"]) for e in events] == [
        ("INSERT", "pending", 150.0, "standard"),
        ("MODIFY", "shipped", 150.0, "standard"),
    ]
    assert [e["event_id"] for e in events] == [records[0]["eventID"], records[1]["eventID"]]
    assert all(e["processed_at"] and e["stream_time"] and e["customer_id"] == "c-1" for e in events)
    assert len(aws.items(ORDER_PROCESSING)) == 3

    out = capsys.readouterr().out
    metrics = [d for d in emf_documents(out) if d.get("function") == STANDARD_PIPE.function_name]
    assert metrics and metrics[-1]["Records"] == [3.0] and metrics[-1]["RecordsProcessed"] == [3.0]
    [log] = [r for r in caplog.records if r.getMessage() == "batch processed"]
    assert (log.pipe, log.records, log.outcomes["processed"]) == ("standard", 3, 3)


def test_standard_is_idempotent(aws, client):
    stream = OrderStream()
    record = stream.insert(order_item(amount="500.00"))
    assert invoke(client, STANDARD_PIPE, [record]) == {"batchItemFailures": []}
    assert invoke(client, STANDARD_PIPE, [record, record]) == {"batchItemFailures": []}
    assert len(aws.items(ORDER_PROCESSING)) == 1


def test_standard_guard_skips_what_the_rule_refuses(aws, client):
    """Legacy items (no helpers) reach the handler; the typed rule decides."""
    stream = OrderStream()
    records = [
        stream.insert(order_item(order_id="cheap", amount="100.00", helpers=False)),
        stream.insert(order_item(order_id="tester", amount="900.00", email="x@TEST.com", helpers=False)),
        stream.insert(order_item(order_id="real", amount="100.01", helpers=False)),
    ]
    assert all(STANDARD_PIPE.accepts(r) for r in records)
    assert invoke(client, STANDARD_PIPE, records) == {"batchItemFailures": []}
    assert [i["orderId"] for i in aws.items(ORDER_PROCESSING)] == ["real"]


def test_partial_failure_reports_only_the_failed_record(aws, client, monkeypatch):
    stream = OrderStream()
    records = [stream.insert(order_item(order_id=f"o-{n}", amount="300.00")) for n in range(1, 4)]
    flaky = Throttled(aws.table(ORDER_PROCESSING), "put_item", lambda kw: kw["Item"]["orderId"] == "o-2")
    monkeypatch.setattr(services, "processing_repository", lambda: ProcessingRepository(flaky))
    services.reset()

    assert invoke(client, STANDARD_PIPE, records) == {"batchItemFailures": [{"itemIdentifier": records[1]["eventID"]}]}
    assert sorted(i["orderId"] for i in aws.items(ORDER_PROCESSING)) == ["o-1", "o-3"]
    [kept] = aws.items(ORDER_FAILURES)  # the failing record is kept, with why, for redrive
    assert (kept["kind"], kept["status"], kept["event_id"], kept["attempts"]) == (
        "RECORD",
        "RETRYING",
        records[1]["eventID"],
        1,
    )
    assert "ThrottlingException" in kept["reason"] and json.loads(kept["record"]) == records[1]

    # The pipe retries from the failed record on; once AWS recovers, one effect per event.
    monkeypatch.undo()
    services.reset()
    assert invoke(client, STANDARD_PIPE, records[1:]) == {"batchItemFailures": []}
    assert sorted(i["orderId"] for i in aws.items(ORDER_PROCESSING)) == ["o-1", "o-2", "o-3"]


def test_unreadable_records_are_rejected_kept_and_alerted(aws, client):
    stream = OrderStream()
    legacy = {**order_item(order_id="bad", helpers=False), "amount": "a lot"}  # a string amount
    good = stream.insert(order_item(order_id="good"))
    records = [stream.insert(legacy), {"eventID": "x-1", "eventName": "INSERT", "dynamodb": {}}, good]
    assert invoke(client, STANDARD_PIPE, records) == {"batchItemFailures": []}  # retrying cannot fix them
    assert [i["orderId"] for i in aws.items(ORDER_PROCESSING)] == ["good"]

    failures = {i["event_id"]: i for i in aws.items(ORDER_FAILURES)}
    assert set(failures) == {records[0]["eventID"], "x-1"}
    assert (
        failures[records[0]["eventID"]]["order_id"] == "bad" and "amount" in failures[records[0]["eventID"]]["reason"]
    )
    assert all(f["status"] == "OPEN" and f["retryable"] is False for f in failures.values())
    alerts = aws.inboxes[ALERTS_TOPIC.logical_id].messages()
    assert sorted(a["message"]["event_id"] for a in alerts) == sorted(failures)

    invoke(client, STANDARD_PIPE, records[:2])  # replayed: still one item and one alert each
    assert len(aws.items(ORDER_FAILURES)) == 2 and aws.inboxes[ALERTS_TOPIC.logical_id].messages() == []


def test_a_crashing_dependency_fails_every_record(aws, client, monkeypatch):
    stream = OrderStream()
    records = [stream.insert(order_item(order_id=f"o-{n}")) for n in range(2)]
    monkeypatch.setattr(
        services,
        "processing_repository",
        lambda: ProcessingRepository(Throttled(aws.table(ORDER_PROCESSING), "put_item")),
    )
    services.reset()
    response = invoke(client, STANDARD_PIPE, records)
    assert response["batchItemFailures"] == [{"itemIdentifier": r["eventID"]} for r in records]


# --- premium service --------------------------------------------------------------------------


def premium_record(stream, order_id="p-1", amount="1500.00"):
    before = order_item(order_id=order_id, amount=amount, email="vip@example.com")
    return stream.modify(before, {**before, "status": "shipped", "updatedAt": "2026-11-23T06:00:00.000+00:00"})


def test_premium_opens_one_case_and_notifies_the_team(aws, client):
    stream = OrderStream()
    record = premium_record(stream)
    assert invoke(client, PREMIUM_PIPE, [record]) == {"batchItemFailures": []}

    case = PremiumCaseRepository(aws.table(PREMIUM_CASES)).get("p-1")
    assert (case["customer_id"], case["customer_email"], case["amount"], case["transition"]) == (
        "c-1",
        "vip@example.com",
        1500.0,
        "pending -> shipped",
    )
    assert case["case_status"] == "OPEN" and case["notified_at"]
    [note] = aws.inboxes[PREMIUM_TEAM_TOPIC.logical_id].messages()
    assert note["message"]["type"] == "PremiumCaseOpened" and note["message"]["orderId"] == "p-1"
    assert "p-1" in note["subject"]

    # Replays, and a later pending -> shipped of the same order: still one case, one message.
    assert invoke(client, PREMIUM_PIPE, [record, record]) == {"batchItemFailures": []}
    assert invoke(client, PREMIUM_PIPE, [premium_record(stream)]) == {"batchItemFailures": []}
    assert len(aws.items(PREMIUM_CASES)) == 1
    assert aws.inboxes[PREMIUM_TEAM_TOPIC.logical_id].messages() == []


def test_premium_guard_and_case_per_order(aws, client):
    stream = OrderStream()
    legacy = order_item(order_id="l-1", amount="1000.00", helpers=False)
    records = [stream.modify(legacy, {**legacy, "status": "shipped"}), premium_record(stream, "p-2", "1000.01")]
    assert invoke(client, PREMIUM_PIPE, records) == {"batchItemFailures": []}
    assert [c["orderId"] for c in aws.items(PREMIUM_CASES)] == ["p-2"]


def test_premium_notification_retried_after_a_failed_publish(aws, client, monkeypatch):
    stream = OrderStream()
    record = premium_record(stream)
    flaky_sns = Throttled(aws.sns, "publish", times=1)
    monkeypatch.setattr(services, "_sns", lambda: flaky_sns)
    services.reset()
    assert invoke(client, PREMIUM_PIPE, [record]) == {"batchItemFailures": [{"itemIdentifier": record["eventID"]}]}
    assert len(aws.items(PREMIUM_CASES)) == 1  # the case is open, the team not told yet
    assert aws.inboxes[PREMIUM_TEAM_TOPIC.logical_id].messages() == []

    assert invoke(client, PREMIUM_PIPE, [record]) == {"batchItemFailures": []}  # the pipe's retry
    assert len(aws.inboxes[PREMIUM_TEAM_TOPIC.logical_id].messages()) == 1


def test_a_failure_that_cannot_be_kept_is_retried(aws, client, monkeypatch):
    """A rejected record whose failure item cannot be written is not lost: the pipe retries it."""
    stream = OrderStream()
    bad = stream.insert({**order_item(helpers=False), "amount": "n/a"})
    monkeypatch.setattr(
        services, "failure_repository", lambda: FailureRepository(Throttled(aws.table(ORDER_FAILURES), "put_item"))
    )
    services.reset()
    assert invoke(client, STANDARD_PIPE, [bad]) == {"batchItemFailures": [{"itemIdentifier": bad["eventID"]}]}


def test_a_pipe_payload_must_be_a_list(client):
    with pytest.raises(TypeError, match="JSON list"):
        invoke(client, STANDARD_PIPE, {"Records": []})


def test_topics_must_be_configured_in_lambda():
    assert (
        ALERTS_TOPIC.arn({"ALERTS_TOPIC_ARN": "arn:aws:sns:eu-west-1:111122223333:x"})
        == "arn:aws:sns:eu-west-1:111122223333:x"
    )
    assert ALERTS_TOPIC.arn({"AWS_REGION": "eu-west-1"}) == "arn:aws:sns:eu-west-1:123456789012:shoppulse-alerts"
    with pytest.raises(RuntimeError, match="ALERTS_TOPIC_ARN"):
        ALERTS_TOPIC.arn({"AWS_LAMBDA_FUNCTION_NAME": "shoppulse-dev-standard_order_processing"})
