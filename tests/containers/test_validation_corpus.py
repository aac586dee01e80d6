"""The bad-input corpus: each kind of bad file through the validation task on an embedded AWS,
with its expected status, reasons and the lines of its rejected rows (and their raw text)."""

from __future__ import annotations

import bz2
import csv
import gzip
import io
import lzma
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from chalicelib.storage_layout import INPUT_BUCKET
from shoppulse.embedded import embedded_aws
from shoppulse.replay import InProcessWorkflow
from tests.containers.validation_support import validated

ORDERS = "order_id,user_id,status,created_at,returned_at,shipped_at,delivered_at,num_of_item"
ITEMS = "id,order_id,user_id,product_id,status,created_at,shipped_at,delivered_at,returned_at,sale_price"
PRODUCTS = "id,sku,cost,category,name,brand,retail_price,department"
GOOD = {
    ORDERS: "{i},7,pending,2025-03-01 10:00:00,,,,1",
    ITEMS: "{i},1,7,1,complete,2025-03-01T10:00:00Z,,,,19.99",
    PRODUCTS: "{i},S{i},1.5,Jeans,Name {i},Brand,3.0,Men",
}
GOOD_ROWS = 39  # one bad row among 40 stays under the 5 % that rejects a file


@dataclass
class Case:
    name: str
    body: bytes
    status: str = "VALID"
    reason: str | None = None  # why the whole file is rejected
    rejected: dict[int, str] = field(default_factory=dict)  # line -> reasons
    raw: dict[int, str] = field(default_factory=dict)  # line -> raw text (checked when given)
    counts: dict[str, int] = field(default_factory=dict)  # expected line counts of the outcome


def good(header: str, n: int = GOOD_ROWS, start: int = 1) -> list[str]:
    return [GOOD[header].format(i=i) for i in range(start, start + n)]


def with_bad(header: str, bad: str, at: int = 20) -> bytes:
    """The header, GOOD_ROWS good rows and `bad` as data row `at` (so on line at + 1)."""
    rows = good(header)
    rows.insert(at - 1, bad)
    return (header + "\n" + "\n".join(rows) + "\n").encode()


def row_case(name: str, header: str, bad: str, reasons: str) -> Case:
    return Case(name, with_bad(header, bad), rejected={21: reasons}, raw={21: bad})


def text(header: str, rows: list[str], end: str = "\n") -> bytes:
    return (end.join([header, *rows]) + end).encode()


def zipped(data: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("orders.csv", data)
    return out.getvalue()


VALID_ORDERS = text(ORDERS, good(ORDERS))
STRAY_AT_END = [*good(ORDERS), '40,7,"pending,2025-03-01,,,,1']

CORPUS = [
    # ---- whole files
    Case("empty", b"", "REJECTED", "empty_file"),
    Case("blank first line", b"\n\n" + VALID_ORDERS, "REJECTED", "empty_file"),
    Case("unknown header", b"foo,bar\n1,2\n", "REJECTED", "unknown_header"),
    Case("duplicate column", text(ORDERS + ",STATUS", []), "REJECTED", "unknown_header"),
    Case("items header missing sale_price", text(ITEMS.replace(",sale_price", ""), []), "REJECTED", "unknown_header"),
    Case("orders header with an id column", text("id," + ORDERS, []), "REJECTED", "unknown_header"),
    Case("header longer than 1 MiB", b"a," * (1 << 20), "REJECTED", "unknown_header"),
    Case("utf-16-le with BOM", VALID_ORDERS.decode().encode("utf-16"), "REJECTED", "unsupported_encoding:utf-16-le"),
    Case(
        "utf-16-be with BOM",
        b"\xfe\xff" + VALID_ORDERS.decode().encode("utf-16-be"),
        "REJECTED",
        "unsupported_encoding:utf-16-be",
    ),
    Case("utf-16-le, no BOM", VALID_ORDERS.decode().encode("utf-16-le"), "REJECTED", "unsupported_encoding:utf-16-le"),
    Case("utf-32 with BOM", VALID_ORDERS.decode().encode("utf-32"), "REJECTED", "unsupported_encoding:utf-32-le"),
    Case(
        "latin-1 row",
        with_bad(ORDERS, "40,7,p\xe9nding,2025-03-01,,,,1").decode().encode("latin-1"),
        "REJECTED",
        "not_utf8",
    ),
    Case("latin-1 header", "order_id,user_id,st\xe4tus\n".encode("latin-1"), "REJECTED", "not_utf8"),
    Case("zip", zipped(VALID_ORDERS), "REJECTED", "unsupported_compression:zip"),
    Case("bzip2", bz2.compress(VALID_ORDERS), "REJECTED", "unsupported_compression:bzip2"),
    Case("xz", lzma.compress(VALID_ORDERS), "REJECTED", "unsupported_compression:xz"),
    Case("truncated gzip", gzip.compress(VALID_ORDERS)[:-12], "REJECTED", "corrupt_gzip"),
    Case("gzip after gzip's end: junk", gzip.compress(VALID_ORDERS) + b"junk", "REJECTED", "corrupt_gzip"),
    Case(
        "too many invalid rows",
        text(ORDERS, [*good(ORDERS, 9), "x,7,pending,,,,,1"]),
        "REJECTED",
        "too_many_invalid_rows",
    ),
    # ---- accepted forms
    Case("gzip", gzip.compress(VALID_ORDERS), counts={"lines": 40}),
    Case(
        "gzip, two members",
        gzip.compress(text(ORDERS, good(ORDERS, 2))) + gzip.compress(b"3,7,pending,2025-03-01,,,,1\n"),
    ),
    Case(
        "header names padded and in capitals",
        text(" Order_ID , USER_ID,Status ,created_at", ["1,7,pending,2025-03-01"]),
    ),
    Case("optional columns absent", text("created_at,status,user_id,order_id", ["2025-03-01,shipped,7,1"])),
    Case("BOM and CRLF", b"\xef\xbb\xbf" + text(ORDERS, good(ORDERS, 3), "\r\n")),
    Case("CR line ends", text(ORDERS, good(ORDERS, 3), "\r"), counts={"lines": 4}),
    Case("no final line end", text(ORDERS, good(ORDERS, 3))[:-1], counts={"lines": 4}),
    Case("blank lines", text(ORDERS, ["", *good(ORDERS, 2), "", ""]), counts={"lines": 6, "blank_lines": 3}),
    Case(
        "a quoted name over two lines",
        text(PRODUCTS, ['1,S1,1.5,Jeans,"Slim\nFit",Brand,3.0,Men', *good(PRODUCTS, 2, start=2)]),
        counts={"lines": 5, "continuation_lines": 1},
    ),
    Case("the smallest DynamoDB number as a price", text(ITEMS, ["1,1,7,1,complete,2025-03-01,,,,1E-130"])),
    Case("a date alone", text(ORDERS, ["1,7,pending,2025-03-01,,,,1"])),
    # ---- rows
    Case(
        "stray quote opening mid-file",
        with_bad(ORDERS, '40,7,"pending,2025-03-01,,,,1'),
        rejected={21: "malformed_row:unclosed_quote"},
        raw={21: '40,7,"pending,2025-03-01,,,,1'},
        counts={"lines": 41},
    ),
    Case("stray quote on the last line", text(ORDERS, STRAY_AT_END), rejected={41: "malformed_row:unclosed_quote"}),
    Case(
        "two stray quotes",
        text(ORDERS, [*good(ORDERS, 10), '90,7,"pending,,,,,1', *good(ORDERS, 30, 11), '91,"7,pending,,,,,1']),
        rejected={12: "malformed_row:unclosed_quote", 43: "malformed_row:unclosed_quote"},
    ),
    Case(
        "two stray quotes pairing into a record of the header's width",
        with_bad(PRODUCTS, '40,"S,1.5,Jeans,N,B,3.0,Men\n41,"S,1.5,Jeans,N,B,3.0,Men'),
        rejected={21: "malformed_row:unclosed_quote", 22: "malformed_row:unclosed_quote"},
    ),
    row_case("quote inside a value", ORDERS, '40,7,pen"ding,2025-03-01,,,,1', "unknown_status:status"),
    row_case("an extra field", ORDERS, "40,7,pending,2025-03-01,,,,1,extra", "malformed_row:fields"),
    row_case("too few fields", ORDERS, "40,7,pending", "malformed_row:fields"),
    row_case("white space only", ORDERS, "   ", "malformed_row:fields"),
    row_case("Arabic-Indic digits", ORDERS, "٤٠,7,pending,2025-03-01,,,,1", "not_a_non_negative_integer:order_id"),
    row_case("full-width digits", ORDERS, "40,７,pending,2025-03-01,,,,1", "not_a_non_negative_integer:user_id"),
    row_case(
        "19-digit id", ORDERS, "1234567890123456789,7,pending,2025-03-01,,,,1", "not_a_non_negative_integer:order_id"
    ),
    row_case("zero items", ORDERS, "40,7,pending,2025-03-01,,,,0", "count_below_one:num_of_item"),
    row_case("unknown status", ORDERS, "40,7,lost,2025-03-01,,,,1", "unknown_status:status"),
    row_case("NUL in a status", ORDERS, "40,7,pend\x00ing,2025-03-01,,,,1", "unknown_status:status"),
    row_case("missing user", ORDERS, "40,,pending,2025-03-01,,,,1", "missing_value:user_id"),
    row_case("year 1", ORDERS, "40,7,pending,0001-01-01T00:00:00Z,,,,1", "timestamp_before_minimum:created_at"),
    row_case("year 1899", ORDERS, "40,7,pending,1899-12-31 23:59:59,,,,1", "timestamp_before_minimum:created_at"),
    row_case("year 9999", ORDERS, "40,7,pending,9999-12-31T23:59:59Z,,,,1", "timestamp_in_future:created_at"),
    row_case(
        "shipped in 1999",
        ORDERS,
        "40,7,shipped,2025-03-01,,1999-12-31,,1",
        "timestamp_before_minimum:shipped_at;before_created_at:shipped_at",
    ),
    row_case("impossible date", ORDERS, "40,7,pending,2025-02-30,,,,1", "invalid_timestamp:created_at"),
    row_case("1e999999", ITEMS, "40,1,7,1,complete,2025-03-01,,,,1e999999", "amount_out_of_range:sale_price"),
    row_case("38 nines", ITEMS, f"40,1,7,1,complete,2025-03-01,,,,{'9' * 38}", "amount_out_of_range:sale_price"),
    row_case(
        "DynamoDB's largest number",
        ITEMS,
        "40,1,7,1,complete,2025-03-01,,,,9.9999999999999999999999999999999999999E+125",
        "amount_out_of_range:sale_price",
    ),
    row_case("NaN price", ITEMS, "40,1,7,1,complete,2025-03-01,,,,NaN", "not_a_number:sale_price"),
    row_case("full-width price", ITEMS, "40,1,7,1,complete,2025-03-01,,,,１９.９９", "not_a_number:sale_price"),
    row_case("negative price", ITEMS, "40,1,7,1,complete,2025-03-01,,,,-0.01", "negative_amount:sale_price"),
    row_case("empty category", PRODUCTS, "40,S,1.5,,N,B,3.0,Men", "missing_value:category"),
]


def test_the_corpus_has_at_least_forty_kinds() -> None:
    assert len(CORPUS) >= 40
    assert len({c.name for c in CORPUS}) == len(CORPUS)


@pytest.fixture(scope="module")
def aws() -> Iterator[Any]:
    with embedded_aws() as clients:
        yield clients


def rejected_rows(aws: Any, summary: dict[str, Any]) -> list[dict[str, str]]:
    if not summary.get("rejected_rows_key"):
        return []
    body = aws.s3.get_object(Bucket=INPUT_BUCKET.name(), Key=summary["rejected_rows_key"])["Body"].read()
    return list(csv.DictReader(io.StringIO(body.decode())))


@pytest.mark.parametrize("case", CORPUS, ids=[c.name for c in CORPUS])
def test_each_bad_input_gets_its_status_reasons_and_lines(aws: Any, case: Case) -> None:
    summary = validated(aws, case.body)
    assert (summary["status"], summary.get("reason")) == (case.status, case.reason), summary.get("detail")
    rows = rejected_rows(aws, summary)
    if case.reason != "too_many_invalid_rows":
        assert {int(r["line"]): r["reason"] for r in rows} == case.rejected
        assert {int(r["line"]): r["raw"] for r in rows if int(r["line"]) in case.raw} == case.raw
    if "lines" in summary:
        accounted = ("header_lines", "rows", "blank_lines", "continuation_lines")
        assert summary["lines"] == sum(summary[k] for k in accounted)
    assert {k: summary[k] for k in case.counts} == case.counts


def test_a_stray_quote_in_a_4437_row_orders_file_loses_nothing(tmp_path: Path) -> None:
    rows = [f"{i},{i % 97},shipped,2025-03-0{1 + i % 5} 10:00:00,,,,1" for i in range(1, 4438)]
    rows[2200] = '2201,7,"shipped,2025-03-01 10:00:00,,,,1'
    path = tmp_path / "orders.csv"
    path.write_bytes(text(ORDERS, rows))
    with embedded_aws() as clients:
        flow = InProcessWorkflow(clients)
        outcome = flow.ingest(path)
        kpis = flow.kpis()
    assert (outcome["status"], outcome["valid_rows"], outcome["rejected_rows"]) == ("SUCCEEDED", 4436, 1)
    assert outcome["reasons"] == {"malformed_row:unclosed_quote": 1}
    assert sum(day["total_orders"] for day in kpis["orders"]) == 4436


@pytest.mark.parametrize("header", [ORDERS, ITEMS, PRODUCTS], ids=["orders", "items", "products"])
def test_a_file_of_only_its_header_loads_as_empty_and_changes_no_kpi(tmp_path: Path, header: str) -> None:
    loaded = tmp_path / "loaded.csv"
    loaded.write_bytes(text(ORDERS, good(ORDERS)))
    empty = tmp_path / "empty.csv"
    empty.write_bytes(text(header, []))
    with embedded_aws() as clients:
        flow = InProcessWorkflow(clients)
        assert flow.ingest(loaded)["status"] == "SUCCEEDED"
        before = flow.kpis()
        outcome = flow.ingest(empty)
        assert (outcome["status"], outcome["valid_rows"], outcome["rejected_rows"]) == ("SUCCEEDED", 0, 0), outcome
        assert flow.kpis() == before
