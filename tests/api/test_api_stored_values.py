"""Stored data never breaks serving: any value DynamoDB can hold is served exactly, one bad item
never fails a listing, and every error answer (the local server's own included) is JSON.

Items are put into the tables directly, as any writer with access could put them.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from decimal import Decimal
from typing import Any
from urllib.error import HTTPError
from urllib.parse import quote, urlsplit
from urllib.request import urlopen

import pytest
from boto3.dynamodb.types import Binary

from app import app
from tests.api_support import case_item, daily_item, moto_tables, serve

# DynamoDB numbers: 38 significant digits, magnitudes up to 9.99...E+125
# (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/HowItWorks.NamingRulesDataTypes.html).
AMOUNT_38 = "123456789012345678901234567890123456.78"
HUGE = Decimal("9.9999999999999999999999999999999999999E+125")


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[str, dict[str, Any]]]:
    with moto_tables() as tables, serve(app) as url:
        yield url, tables


def fetch(url: str) -> tuple[int, str, str]:
    """(status, content type, body text) of a GET."""
    try:
        with urlopen(url, timeout=10) as response:
            return response.status, response.headers["Content-Type"], response.read().decode()
    except HTTPError as err:
        return err.code, err.headers["Content-Type"], err.read().decode()


def test_a_38_digit_amount_is_served_digit_for_digit(served: tuple[str, dict[str, Any]]) -> None:
    url, tables = served
    tables["PremiumCasesTable"].put_item(Item=case_item("big-1", Decimal(AMOUNT_38), "2026-01-02T00:00:00.000Z"))
    tables["OrderProcessingTable"].put_item(
        Item={
            "orderId": "big-1",
            "event_key": "00001#ev-1",
            "pipeline": "standard",
            "event_id": "ev-1",
            "event_name": "INSERT",
            "status": "pending",
            "amount": Decimal(AMOUNT_38),
            "customer_id": "c-1",
            "stream_time": "2026-01-01T00:00:00.000Z",
            "processed_at": "2026-01-01T00:00:01.000Z",
        }
    )
    status, kind, text = fetch(f"{url}/premium-cases?status=all")
    assert status == 200 and kind == "application/json"
    assert f'"amount":{AMOUNT_38}' in text
    assert json.loads(text, parse_float=Decimal)["items"][0]["amount"] == Decimal(AMOUNT_38)

    status, _, text = fetch(f"{url}/orders/big-1/events")
    events = json.loads(text, parse_float=Decimal)["items"]
    assert status == 200 and [e["amount"] for e in events] == [Decimal(AMOUNT_38)] * 2


def test_the_largest_numbers_dynamodb_holds_serve_in_kpis_and_runs(served: tuple[str, dict[str, Any]]) -> None:
    url, tables = served
    day = {**daily_item("2026-02-01", 3, "10", 4, 1, 2), "revenue_micros": HUGE, "total_orders": HUGE}
    tables["DailyKpisTable"].put_item(Item=day)
    status, _, text = fetch(f"{url}/kpis/daily?from=2026-02-01&to=2026-02-01")
    assert status == 200
    served_day = json.loads(text, parse_float=Decimal, parse_int=Decimal)["items"][0]
    assert served_day["total_orders"] == HUGE and served_day["total_revenue"] == Decimal(
        "9.9999999999999999999999999999999999999E+119"
    )

    tables["RunsTable"].put_item(
        Item={
            "run_id": "s3://b/incoming/odd.csv?versionId=1",
            "run_kind": "FILE",
            "started_at": "2026-02-01T00:00:00.000Z",
            "status": "SUCCEEDED",
            "tiny": Decimal("1E-130"),
            "tags": {"b", "a"},
            "sizes": {Decimal(2), Decimal(1)},
            "blob": Binary(b"\x00\xff"),
        }
    )
    status, _, text = fetch(f"{url}/runs/{quote('s3://b/incoming/odd.csv?versionId=1', safe='')}")
    run = json.loads(text, parse_float=Decimal)
    assert status == 200 and run["tiny"] == Decimal("1E-130")
    assert run["tags"] == ["a", "b"] and run["sizes"] == [1, 2] and run["blob"] == "AP8="


def test_one_unreadable_case_does_not_fail_the_listing(served: tuple[str, dict[str, Any]]) -> None:
    url, tables = served
    tables["PremiumCasesTable"].put_item(Item=case_item("ok-1", Decimal("1500"), "2026-03-01T00:00:00.000Z"))
    broken = case_item("broken-1", Decimal("2000"), "2026-03-02T00:00:00.000Z")
    del broken["customer_email"]
    tables["PremiumCasesTable"].put_item(Item=broken)
    status, _, text = fetch(f"{url}/premium-cases?status=all")
    body = json.loads(text)
    assert status == 200 and "ok-1" in [c["orderId"] for c in body["items"]]
    assert "broken-1" not in [c["orderId"] for c in body["items"]]
    assert body["unreadable"] == [{"key": {"orderId": "broken-1"}, "reason": "KeyError: 'customer_email'"}]


@pytest.mark.parametrize(
    "path", ["/orders/%ZZ/events", "/kpis/categories/Tops%ZZ?from=2026-01-01&to=2026-01-02", "/runs/a%2"]
)
def test_a_broken_percent_escape_in_a_path_is_400(served: tuple[str, dict[str, Any]], path: str) -> None:
    status, kind, text = fetch(served[0] + path)
    body = json.loads(text)
    assert (status, kind, body["Code"]) == (400, "application/json", "BadRequestError")
    assert "percent-encoded" in body["Message"]


def raw_request(url: str, request: bytes) -> tuple[int, dict[str, str], Any]:
    """Send bytes as they are (no client would send them) and parse the answer."""
    host, port = urlsplit(url).hostname, urlsplit(url).port
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in header_lines)}
    return int(status_line.split()[1]), headers, json.loads(body)


@pytest.mark.parametrize(
    ("request_bytes", "status", "code"),
    [
        (b"GET /kpis/daily/2026 01 01 HTTP/1.1\r\nHost: x\r\n\r\n", 400, "BadRequestError"),
        (b"GET /health HTTP/1.1\r\nX-Big: " + b"b" * 70_000 + b"\r\n\r\n", 431, "HeadersTooLargeError"),
        (b'BREW "/" HTTP/1.1\r\nHost: x\r\n\r\n', 501, "NotImplementedError"),
        (b"GET /runs/" + b"a" * 100_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414, "UriTooLongError"),
        (b"POST /health HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", 400, "BadRequestError"),
    ],
    ids=["raw-space", "header-70KB", "unknown-method", "uri-100KB", "bad-content-length"],
)
def test_the_local_servers_own_errors_are_json(
    served: tuple[str, dict[str, Any]], request_bytes: bytes, status: int, code: str
) -> None:
    got, headers, body = raw_request(served[0], request_bytes)
    assert (got, headers["content-type"], body["Code"]) == (status, "application/json", code)
    assert body["Message"]
