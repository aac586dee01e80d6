"""The standard handler writes a batch's effects together (TransactWriteItems, 100 a call),
yet every record keeps its own outcome: processed, duplicate, rejected or failed alone."""

from __future__ import annotations

from collections import Counter
from typing import Any

from chalicelib.pipes import STANDARD_PIPE
from chalicelib.streaming import services
from chalicelib.streaming.processing import ProcessingRepository
from chalicelib.streaming.put_once import TRANSACTION_MAX_ITEMS
from chalicelib.tables import ORDER_FAILURES, ORDER_PROCESSING
from tests.stream_support import OrderStream, Throttled, order_item


def invoke(client: Any, records: list[dict[str, Any]]) -> Any:
    return client.lambda_.invoke(STANDARD_PIPE.function_name, records).payload


def count_calls(aws: Any, monkeypatch: Any) -> Counter[str]:
    """DynamoDB operations the handler calls from now on (botocore's own event hook)."""
    calls: Counter[str] = Counter()
    table = aws.table(ORDER_PROCESSING)
    table.meta.client.meta.events.register("before-call.dynamodb.*", lambda model, **_: calls.update([model.name]))
    monkeypatch.setattr(services, "processing_repository", lambda: ProcessingRepository(table))
    services.reset()
    return calls


def orders(stream: OrderStream, count: int, prefix: str = "o") -> list[dict[str, Any]]:
    return [stream.insert(order_item(order_id=f"{prefix}-{n:03d}", amount="300.00")) for n in range(count)]


def test_a_full_batch_is_one_transaction_per_hundred_and_replays_are_duplicates(aws, client, monkeypatch):
    stream = OrderStream()
    records = orders(stream, 150)
    repository = ProcessingRepository(aws.table(ORDER_PROCESSING))
    calls = count_calls(aws, monkeypatch)
    assert invoke(client, records[:40]) == {"batchItemFailures": []}
    assert calls["TransactWriteItems"] == 1 and calls["PutItem"] == 0

    calls.clear()  # the pipe replays the first 40 among 150: each of them a duplicate, not a second effect
    report = services.standard_batches().run(records)
    assert [o.value for _, o in report.outcomes] == ["duplicate"] * 40 + ["processed"] * 110
    # 2 transactions of 100 + 50, each cancelled once for its duplicates, then retried without them
    assert calls["TransactWriteItems"] == 3 and calls["PutItem"] == 0
    assert TRANSACTION_MAX_ITEMS == 100
    assert len(aws.items(ORDER_PROCESSING)) == 150
    [event], _ = repository.events_for_order("o-000")
    assert event["event_id"] == records[0]["eventID"]


def test_in_one_transaction_a_throttled_put_fails_alone_and_the_rest_is_written(aws, client, monkeypatch):
    stream = OrderStream()
    records = orders(stream, 6)
    invoke(client, records[:1])  # o-000 already processed: its replay is a duplicate
    legacy = {**order_item(order_id="bad", helpers=False), "amount": "a lot"}
    records.insert(3, stream.insert(legacy))  # unreadable amount: rejected, kept, never retried
    throttled = {"o-002", "o-004"}
    flaky = Throttled(aws.table(ORDER_PROCESSING), "put_item", lambda kw: kw["Item"]["orderId"] in throttled)
    monkeypatch.setattr(services, "processing_repository", lambda: ProcessingRepository(flaky))
    services.reset()

    report = services.standard_batches().run(records)
    assert [o.value for _, o in report.outcomes] == [
        "duplicate",
        "processed",
        "failed",
        "rejected",
        "processed",
        "failed",
        "processed",
    ]
    failed = [records[2]["eventID"], records[5]["eventID"]]
    assert report.response == {"batchItemFailures": [{"itemIdentifier": i} for i in failed]}
    assert sorted(i["orderId"] for i in aws.items(ORDER_PROCESSING)) == ["o-000", "o-001", "o-003", "o-005"]
    kept = {i["event_id"]: i for i in aws.items(ORDER_FAILURES)}
    assert {kept[i]["status"] for i in failed} == {"RETRYING"}
    assert all("ThrottlingException" in kept[i]["reason"] for i in failed)
    assert kept[records[3]["eventID"]]["status"] == "OPEN"

    # The pipe retries from the first failed record on: once AWS recovers, one effect per event.
    monkeypatch.undo()
    services.reset()
    assert invoke(client, records[2:]) == {"batchItemFailures": []}
    assert len(aws.items(ORDER_PROCESSING)) == 6


def test_one_key_twice_in_a_batch_is_written_once(aws, monkeypatch):
    """AWS refuses two actions on one item in a transaction: each is then put alone."""
    stream = OrderStream()
    [record] = orders(stream, 1)
    calls = count_calls(aws, monkeypatch)
    report = services.standard_batches().run([record, dict(record)])
    assert [o.value for _, o in report.outcomes] == ["processed", "duplicate"]
    assert calls["TransactWriteItems"] == 1 and calls["PutItem"] == 2
    assert len(aws.items(ORDER_PROCESSING)) == 1
