"""Validation of input files: the data contract, the row rules, and where rejected data goes."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest

from chalicelib.runs import RunRepository
from chalicelib.storage_layout import INPUT_BUCKET
from chalicelib.tables import RUNS
from containers.engine.csv_source import open_source
from containers.engine.rules import Origin, TimeBounds, _iso8601, validate
from shoppulse.embedded import embedded_aws
from shoppulse.replay import InProcessWorkflow

ORDERS_HEADER = "order_id,user_id,status,created_at,returned_at,shipped_at,delivered_at,num_of_item"
NOW = datetime(2025, 3, 10, tzinfo=UTC)
ORIGIN = Origin("incoming/x.csv", NOW)


def check(text: bytes) -> tuple[Any, Any, list[Any]]:
    source = open_source(io.BytesIO(text))
    batches = list(source.batches())
    results = [validate(batch.text, source.schema, ORIGIN, NOW) for batch in batches]
    valid = [r.valid.to_pandas() for r in results]
    rejected = [r.rejected for r in results]
    malformed = [m for batch in batches for m in batch.malformed]
    return (valid[0] if valid else None), (rejected[0] if rejected else None), malformed


def reasons_of(rejected: Any) -> dict[int, str]:
    return dict(zip(rejected["row_number"], rejected["reason"], strict=False))


def test_formats_bom_crlf_quotes_extra_columns_and_mixed_timestamps() -> None:
    text = (
        "\ufeffgender,order_id,user_id,status,created_at,returned_at,shipped_at,delivered_at,num_of_item\r\n"
        'F,1,7,"Shipped",2025-03-01T10:00:00Z,,2025-03-02 10:00:00+02:00,,"2"\r\n'
        "M,2,8,COMPLETE,2025-03-01 23:30:00-02:00,,,,\r\n"
        "M,3,8,pending,2025-03-01 10:00:00 UTC,,,,1\r\n"
    ).encode()
    valid, rejected, malformed = check(text)
    assert rejected.empty and not malformed
    assert valid["status"].tolist() == ["shipped", "complete", "pending"]
    created = valid["created_at"].tolist()
    assert created[1] - created[0] == (15 * 3600 + 30 * 60) * 1_000_000  # offsets applied, naive = UTC
    assert "gender" not in valid.columns


def test_each_broken_rule_is_named_for_each_row() -> None:
    rows = [
        "x,7,pending,2025-03-01 10:00:00,,,,1",  # 1 not an integer id
        "2,,pending,2025-03-01 10:00:00,,,,1",  # 2 missing user
        "3,7,lost,2025-03-01 10:00:00,,,,1",  # 3 unknown status
        "4,7,pending,,,,,1",  # 4 missing created_at
        "5,7,pending,2025-02-30 10:00:00,,,,1",  # 5 impossible date
        "6,7,pending,2025-03-20 10:00:00,,,,1",  # 6 in the future
        "7,7,returned,2025-03-01 10:00:00,2025-02-01,,,1",  # 7 returned before created
        "8,7,delivered,2025-03-01,,2025-03-03,2025-03-02,1",  # 8 delivered before shipped
        "9,7,pending,2025-03-01 10:00:00,,,,0",  # 9 zero items
        "10,7,pending,2025-03-01 10:00:00,,,,2",  # 10 valid
    ]
    valid, rejected, _ = check((ORDERS_HEADER + "\n" + "\n".join(rows) + "\n").encode())
    assert valid["order_id"].tolist() == [10]
    assert reasons_of(rejected) == {
        1: "not_a_non_negative_integer:order_id",
        2: "missing_value:user_id",
        3: "unknown_status:status",
        4: "missing_value:created_at",
        5: "invalid_timestamp:created_at",
        6: "timestamp_in_future:created_at",
        7: "before_created_at:returned_at",
        8: "delivered_before_shipped:delivered_at",
        9: "count_below_one:num_of_item",
    }


TIMESTAMP_FORMS = [
    "2025-01-01T00:00:00Z",
    "2025-01-01 00:00:00",
    "2025-01-01T00:00:00+02:00",
    "2025-01-01T00:00:00+0200",
    "2025-01-01T00:00:00-05",
    "2025-01-01T00:00:00.123Z",
    "2025-01-01T00:00:00.1234567Z",
    "2025-01-01",
    "2025-01-01T00:00",
    "2025-01-01T10",
    "2025-01-01T24:00:00",
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59Z",
    "2025-1-1",
    "2025-01-01t00:00:00z",
    "2025-01-01T00:00:00 +02:00",
    "20250101T000000Z",
    "2025-02-30",
    "2025-01-01T00:00:60Z",
    "2025-01-01T00:00:00-00:00",
    "2025-W01",
    "2025-01-01T00:00:00,5Z",
    "+2025-01-01",
]


@pytest.mark.parametrize("text", TIMESTAMP_FORMS)
def test_the_fast_timestamp_parser_agrees_with_pandas(text: str) -> None:
    """Arrow parses a column when it can; whichever parser runs, the instant is pandas'."""
    alone = _iso8601(pa.array([text])).to_pylist()[0]
    with_bad_neighbour = _iso8601(pa.array([text, "not a time"])).to_pylist()[0]  # pandas' path
    expected = pd.to_datetime(pd.Series([text], dtype="str"), format="ISO8601", utc=True, errors="coerce").iloc[0]
    want = None if pd.isna(expected) else int(expected.as_unit("us").asm8.view("int64"))
    assert alone == want
    assert with_bad_neighbour == want


def test_a_column_mixing_zones_offsets_naive_times_and_nulls_parses_like_pandas() -> None:
    texts = ["2025-01-01T00:00:00Z", None, "2025-01-01 10:00:00", "2025-01-01T00:00:00+02:00", "2025-01-01"]
    expected = pd.to_datetime(pd.Series(texts, dtype="str"), format="ISO8601", utc=True, errors="coerce")
    want = [None if pd.isna(t) else int(t.as_unit("us").asm8.view("int64")) for t in expected]
    assert _iso8601(pa.array(texts, pa.string())).to_pylist() == want


def test_money_is_exact_and_checked() -> None:
    header = "id,order_id,user_id,product_id,status,created_at,shipped_at,delivered_at,returned_at,sale_price\n"
    rows = [
        "1,1,1,1,complete,2025-03-01,,,,19.99",
        "2,1,1,1,complete,2025-03-01,,,,0.0000005",
        "3,1,1,1,complete,2025-03-01,,,,-1",
        "4,1,1,1,complete,2025-03-01,,,,abc",
        "5,1,1,1,complete,2025-03-01,,,,",
    ]
    valid, rejected, _ = check((header + "\n".join(rows) + "\n").encode())
    assert valid["sale_price"].tolist() == [19_990_000, 0]  # half-even at the sixth decimal
    assert reasons_of(rejected) == {
        3: "negative_amount:sale_price",
        4: "not_a_number:sale_price",
        5: "missing_value:sale_price",
    }


def test_a_row_with_the_wrong_number_of_fields_is_kept_verbatim() -> None:
    _, _, malformed = check((ORDERS_HEADER + "\n1,7,pending,2025-03-01,,,,1,extra\n").encode())
    assert [m.text for m in malformed] == ["1,7,pending,2025-03-01,,,,1,extra"]


@pytest.fixture()
def flow(tmp_path: Path) -> Any:
    with embedded_aws() as clients:
        flow = InProcessWorkflow(clients)
        flow.clients = clients
        flow.dir = tmp_path
        yield flow


def land(flow: Any, name: str, body: bytes) -> dict[str, Any]:
    path = flow.dir / name
    path.write_bytes(body)
    return flow.ingest(path)


def object_text(flow: Any, key: str) -> str:
    return flow.clients.s3.get_object(Bucket=INPUT_BUCKET.name(), Key=key)["Body"].read().decode()


def run_of(flow: Any, name: str) -> dict[str, Any]:
    items = flow.clients.dynamodb_resource.Table(RUNS.name()).scan()["Items"]
    return next(i for i in items if i["key"].endswith(name))


def test_rejected_rows_lie_next_to_the_archived_file(flow: Any) -> None:
    good = [f"{i},7,pending,2025-03-01 10:00:00,,,,1" for i in range(1, 40)]
    outcome = land(
        flow, "orders.csv", (ORDERS_HEADER + "\n" + "\n".join([*good, "bad,7,pending,2025-03-01,,,,1"]) + "\n").encode()
    )
    assert outcome["status"] == "SUCCEEDED" and outcome["rejected_rows"] == 1
    validation = run_of(flow, "orders.csv")["validation"]
    assert object_text(flow, validation["archive_key"]).count("\n") == 41
    rows = list(csv.DictReader(io.StringIO(object_text(flow, validation["rejected_rows_key"]))))
    assert validation["rejected_rows_key"] == validation["archive_key"] + ".rejected-rows.csv"
    assert [(r["row_number"], r["reason"], r["order_id"]) for r in rows] == [
        ("40", "not_a_non_negative_integer:order_id", "bad")
    ]


def test_a_file_over_the_invalid_share_is_rejected_whole_and_nothing_loads(flow: Any) -> None:
    rows = [f"{i},7,pending,2025-03-01 10:00:00,,,,1" for i in range(1, 10)] + ["x,7,pending,,,,,1"]
    outcome = land(flow, "orders.csv", (ORDERS_HEADER + "\n" + "\n".join(rows) + "\n").encode())
    assert outcome["status"] == "REJECTED" and outcome["reason"] == "too_many_invalid_rows"
    run = run_of(flow, "orders.csv")
    assert run["status"] == "REJECTED"
    rejected_key = run["validation"]["rejected_key"]
    assert object_text(flow, rejected_key).startswith(ORDERS_HEADER)
    assert json.loads(object_text(flow, rejected_key + ".reason.json"))["reason"] == "too_many_invalid_rows"
    assert "missing_value:created_at" in object_text(flow, rejected_key + ".rejected-rows.csv")
    assert flow.kpis() == {"orders": [], "categories": []}


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "empty_file"),
        (b"foo,bar\n1,2\n", "unknown_header"),
        ((ORDERS_HEADER + "\n1,7,p\xe9nding,2025-03-01,,,,1\n").encode("latin-1"), "not_utf8"),
    ],
)
def test_unreadable_files_are_rejected_with_their_reason(flow: Any, body: bytes, reason: str) -> None:
    outcome = land(flow, "file.csv", body)
    assert (outcome["status"], outcome["reason"]) == ("REJECTED", reason)
    assert (
        RunRepository(flow.clients.dynamodb_resource.Table(RUNS.name())).get(run_of(flow, "file.csv")["run_id"])[
            "status"
        ]
        == "REJECTED"
    )


def test_the_timestamp_bounds_come_from_the_environment() -> None:
    bounds = TimeBounds.from_env({"MIN_TIMESTAMP": "2025-03-01", "MAX_FUTURE_HOURS": "1"})
    assert (bounds.earliest, bounds.tolerance) == (datetime(2025, 3, 1, tzinfo=UTC), timedelta(hours=1))
    rows = [
        "1,7,pending,2025-02-28T23:59:59Z,,,,1",
        "2,7,pending,2025-03-01T00:00:00Z,,,,1",
        "3,7,pending,2025-03-10T02:00:00Z,,,,1",
    ]
    source = open_source(io.BytesIO((ORDERS_HEADER + "\n" + "\n".join(rows) + "\n").encode()))
    checked = validate(next(source.batches()).text, source.schema, ORIGIN, NOW, bounds)
    assert checked.valid["order_id"].to_pylist() == [2]
    assert reasons_of(checked.rejected) == {
        1: "timestamp_before_minimum:created_at",
        3: "timestamp_in_future:created_at",
    }
    assert TimeBounds.from_env({}) == TimeBounds(datetime(2000, 1, 1, tzinfo=UTC), timedelta(days=1))
