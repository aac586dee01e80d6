"""The dead-letter functions (SQS, through Chalice's test client) and `shoppulse redrive`, on moto:
orders written to the table, read back from its stream, failed, dead-lettered, recovered."""

from __future__ import annotations

import json

import boto3
import pytest

from chalicelib.messaging import ALERTS_TOPIC
from chalicelib.orders.model import new_order
from chalicelib.orders.repository import OrderRepository
from chalicelib.pipes import PREMIUM_PIPE, STANDARD_PIPE
from chalicelib.streaming import services
from chalicelib.streaming.exceptions import StreamDataGone
from chalicelib.streaming.failures import FailureRepository
from chalicelib.streaming.processing import ProcessingRepository
from chalicelib.streaming.redrive import Redriver, Source, StreamRangeReader
from chalicelib.tables import ORDER_FAILURES, ORDER_PROCESSING, ORDERS, PREMIUM_CASES
from shoppulse import cli
from shoppulse.local.moto_fixes import wire_stream_record
from tests.stream_support import OrderStream, Throttled, order_item


def dead_letter_body(records: list[dict], shard_id: str, pipe: str = "shoppulse-dev-standard-orders") -> str:
    """What Pipes put in a stream source's DLQ: the batch's coordinates, never its records."""
    return json.dumps(
        {
            "context": {
                "partnerResourceArn": f"arn:aws:pipes:us-east-1:123456789012:pipe/{pipe}",
                "condition": "RetryAttemptsExhausted",
            },
            "version": "1.0",
            "timestamp": "2026-11-23T06:00:00Z",
            "DDBStreamBatchInfo": {
                "shardId": shard_id,
                "startSequenceNumber": records[0]["dynamodb"]["SequenceNumber"],
                "endSequenceNumber": records[-1]["dynamodb"]["SequenceNumber"],
                "approximateArrivalOfFirstRecord": "2026-11-23T05:59:00Z",
                "approximateArrivalOfLastRecord": "2026-11-23T05:59:01Z",
                "batchSize": len(records),
                "streamArn": records[0]["eventSourceARN"],
            },
        }
    )


def sqs_event(client, bodies: list[str], ids: list[str] | None = None) -> dict:
    event = client.events.generate_sqs_event(message_bodies=bodies, queue_name="dlq")
    for record, message_id in zip(event["Records"], ids or [f"m-{n}" for n in range(len(bodies))], strict=False):
        record["messageId"] = message_id
    return event


def write_orders(aws, amounts: list[str]) -> tuple[list[dict], str]:
    """Orders written through the repository, as the stream hands them to the pipes."""
    repo = OrderRepository(aws.table(ORDERS))
    for n, amount in enumerate(amounts):
        repo.create(
            new_order(
                customer_id=f"c-{n}",
                customer_email=f"c{n}@example.com",
                order_id=f"o-{n}",
                amount=amount,
                line_items=[{"sku": "s", "quantity": 1, "unitPrice": amount}],
            )
        )
    streams = boto3.client("dynamodbstreams")
    arn = aws.table(ORDERS).latest_stream_arn
    shard_id = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON")[
        "ShardIterator"
    ]
    return [wire_stream_record(r, arn) for r in streams.get_records(ShardIterator=iterator)["Records"]], shard_id


def test_dead_letter_recorded_queryable_and_alerted_once(aws, client, capsys):
    records, shard_id = write_orders(aws, ["150.00", "250.00"])
    body = dead_letter_body(records, shard_id)
    response = client.lambda_.invoke(
        STANDARD_PIPE.dead_letter_function_name, sqs_event(client, [body, body], ["m-1", "m-2"])
    )
    assert response.payload == {"batchItemFailures": []}

    [failure] = FailureRepository(aws.table(ORDER_FAILURES)).for_pipe("standard")
    assert (failure["kind"], failure["status"], failure["shard_id"], failure["batch_size"]) == (
        "BATCH",
        "OPEN",
        shard_id,
        2,
    )
    assert failure["start_sequence_number"] == records[0]["dynamodb"]["SequenceNumber"]
    assert failure["end_sequence_number"] == records[1]["dynamodb"]["SequenceNumber"]
    assert failure["condition"] == "RetryAttemptsExhausted" and failure["pipe_arn"].endswith("standard-orders")
    [alert] = aws.inboxes[ALERTS_TOPIC.logical_id].messages()  # the same batch twice: one alert
    assert alert["message"]["failure_id"] == failure["failure_id"] and "standard" in alert["subject"]
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"DeadLettersRecorded"' in line]
    assert emf[-1]["DeadLettersRecorded"] == [2.0]


def test_unreadable_dead_letters_are_kept_verbatim(aws, client):
    response = client.lambda_.invoke(
        PREMIUM_PIPE.dead_letter_function_name, sqs_event(client, ["not json", '{"a": 1}'])
    )
    assert response.payload == {"batchItemFailures": []}
    kept = {f["message_id"]: f for f in FailureRepository(aws.table(ORDER_FAILURES)).for_pipe("premium")}
    assert kept["m-0"]["message"] == "not json" and "not JSON" in kept["m-0"]["reason"]
    assert kept["m-1"]["kind"] == "MESSAGE" and "DDBStreamBatchInfo" in kept["m-1"]["reason"]
    assert len(aws.inboxes[ALERTS_TOPIC.logical_id].messages()) == 2


def test_dead_letter_partial_failure(aws, client, monkeypatch):
    records, shard_id = write_orders(aws, ["150.00"])
    good, unlucky = dead_letter_body(records, shard_id), dead_letter_body(records, "shardId-other")
    table = Throttled(aws.table(ORDER_FAILURES), "put_item", lambda kw: kw["Item"].get("shard_id") == "shardId-other")
    monkeypatch.setattr(services, "failure_repository", lambda: FailureRepository(table))
    services.reset()
    response = client.lambda_.invoke(STANDARD_PIPE.dead_letter_function_name, sqs_event(client, [good, unlucky]))
    assert response.payload == {"batchItemFailures": [{"itemIdentifier": "m-1"}]}
    assert [f["shard_id"] for f in aws.items(ORDER_FAILURES)] == [shard_id]


def fail_then_dead_letter(aws, client, monkeypatch, amounts: list[str]) -> tuple[list[dict], str]:
    """The pipe's story: every attempt fails (throttling), the batch is dead-lettered."""
    records, shard_id = write_orders(aws, amounts)
    monkeypatch.setattr(
        services,
        "processing_repository",
        lambda: ProcessingRepository(Throttled(aws.table(ORDER_PROCESSING), "put_item")),
    )
    services.reset()
    delivered = [r for r in records if STANDARD_PIPE.accepts(r)]
    response = client.lambda_.invoke(STANDARD_PIPE.function_name, delivered).payload
    assert len(response["batchItemFailures"]) == len(delivered)
    monkeypatch.undo()
    services.reset()
    client.lambda_.invoke(
        STANDARD_PIPE.dead_letter_function_name, sqs_event(client, [dead_letter_body(delivered, shard_id)])
    )
    [batch] = [f for f in aws.items(ORDER_FAILURES) if f["kind"] == "BATCH"]
    return records, batch["failure_id"]


@pytest.mark.parametrize("source", ["auto", "failures"])
def test_redrive_recovers_a_dead_lettered_batch(aws, client, monkeypatch, capsys, source):
    _records, failure_id = fail_then_dead_letter(aws, client, monkeypatch, ["150.00", "50.00", "900.00"])
    capsys.readouterr()

    assert cli.main(["redrive", "--failure-id", failure_id, "--source", source]) == 0
    [line] = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"target"')]
    assert line["status"] == "REDRIVEN" and line["source"] == ("stream" if source == "auto" else "failures")
    # The 50.00 order is filtered out again (the pipe never delivered it; the handler kept nothing).
    assert (line["records"], line["passed_filters"]) == ((3, 2) if source == "auto" else (2, 2))
    assert sorted(i["orderId"] for i in aws.items(ORDER_PROCESSING)) == ["o-0", "o-2"]
    assert {f["status"] for f in aws.items(ORDER_FAILURES)} == {"REDRIVEN"}

    assert cli.main(["redrive", "--failure-id", failure_id]) == 0  # again: still one effect per event
    assert len(aws.items(ORDER_PROCESSING)) == 2


def test_redrive_reports_what_still_fails(aws, client, monkeypatch, capsys):
    _, _failure_id = fail_then_dead_letter(aws, client, monkeypatch, ["150.00"])
    monkeypatch.setattr(
        services,
        "processing_repository",
        lambda: ProcessingRepository(Throttled(aws.table(ORDER_PROCESSING), "put_item")),
    )
    capsys.readouterr()
    assert cli.main(["redrive", "--pipe", "standard", "--all-open"]) == 1
    line = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert line["status"] == "STILL_FAILING" and len(line["still_failing"]) == 1
    [batch] = [f for f in aws.items(ORDER_FAILURES) if f["kind"] == "BATCH"]
    assert batch["status"] == "OPEN"


def test_redrive_from_the_orders_table(aws, capsys):
    write_orders(aws, ["120.00"])
    assert cli.main(["redrive", "--pipe", "standard", "--order-id", "o-0", "--order-id", "missing"]) == 1
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"target"')]
    assert [(line["target"], line["status"]) for line in lines] == [
        ("order:o-0", "REDRIVEN"),
        ("order:missing", "ERROR"),
    ]
    [item] = aws.items(ORDER_PROCESSING)
    assert (item["orderId"], item["status"], item["event_name"]) == ("o-0", "pending", "MODIFY")
    assert item["event_id"].startswith("redrive:o-0:")

    assert cli.main(["redrive", "--pipe", "premium", "--order-id", "o-0"]) == 1  # needs the old image
    assert "old image" in capsys.readouterr().out
    assert aws.items(PREMIUM_CASES) == []


def test_redrive_needs_a_pipe_for_bulk_work(aws, capsys):
    assert cli.main(["redrive", "--all-open"]) == 2
    assert "--pipe is required" in capsys.readouterr().err


def test_redrive_leaves_what_still_cannot_be_processed_open(aws, client, capsys):
    bad = OrderStream().insert({**order_item(order_id="bad", helpers=False), "amount": "n/a"})
    assert client.lambda_.invoke(STANDARD_PIPE.function_name, [bad]).payload == {"batchItemFailures": []}
    client.lambda_.invoke(STANDARD_PIPE.dead_letter_function_name, sqs_event(client, ["garbage"]))
    capsys.readouterr()

    assert cli.main(["redrive", "--pipe", "standard", "--all-open"]) == 1
    lines = {row["target"]: row for row in map(json.loads, capsys.readouterr().out.splitlines()) if "target" in row}
    assert lines[f"record#standard#{bad['eventID']}"]["status"] == "STILL_FAILING"  # rejected again
    assert lines["message#standard#m-0"]["status"] == "ERROR"  # names no records
    assert {f["status"] for f in aws.items(ORDER_FAILURES)} == {"OPEN"}
    assert aws.items(ORDER_PROCESSING) == []


def test_redrive_falls_back_to_the_kept_records_once_the_stream_dropped_them(aws, client, monkeypatch):
    _, failure_id = fail_then_dead_letter(aws, client, monkeypatch, ["150.00", "700.00"])
    trimmed = Throttled(boto3.client("dynamodbstreams"), "get_shard_iterator", code="TrimmedDataAccessException")
    tool = Redriver(
        services.failure_repository(),
        services.batches_for,
        services.order_repository(),
        StreamRangeReader(trimmed, wire_stream_record),
    )
    with pytest.raises(StreamDataGone):
        tool.redrive_failure(failure_id, Source.STREAM)
    result = tool.redrive_failure(failure_id)
    assert (result.source, result.records, result.ok) == ("failures", 2, True)
    assert sorted(i["orderId"] for i in aws.items(ORDER_PROCESSING)) == ["o-0", "o-1"]
