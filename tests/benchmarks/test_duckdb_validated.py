"""The fair DuckDB yardstick (validation in SQL, curated Parquet) computes the reference KPIs and
rejects exactly the rows ShopPulse's rules reject, with the same reasons."""

from __future__ import annotations

from datetime import UTC, datetime

import duckdb

from benchmarks import duckdb_validated
from containers.engine.contract import FileKind
from containers.engine.csv_source import open_source
from containers.engine.rules import Origin, validate
from shoppulse.samples import write_bench_set
from tests.reference_kpis import compute_components, landed_files, parse_csv_files

NOW = datetime(2025, 6, 1, tzinfo=UTC)
BAD_ORDERS = [
    "abc,1,complete,2025-01-02T00:00:00Z,,,,1",
    "900001,1,lost,2025-01-02T00:00:00Z,,,,1",
    "900002,1,complete,2025-01-02T00:00:00Z,,2025-01-01T00:00:00Z,,1",
    "900003,1,complete,2999-01-01T00:00:00Z,,,,1",
    "900004,,complete,2025-01-02T00:00:00Z,,,,0",
    "900005,1,complete,not a date,,,,2",
    "900006,1, Shipped ,2025-01-02 10:00:00 UTC,,,,2",  # valid: spaces, any case, BigQuery's ' UTC'
]
BAD_ITEMS = [
    "x1,1,261,45,complete,2025-01-09T20:30:43Z,,,,1.00",
    "900001,1,261,45,complete,2025-01-09T20:30:43Z,,,,-5.00",
    "900002,1,261,45,complete,2025-01-09T20:30:43Z,,,,NaN",
    "900003,1,261,45,complete,2025-01-09T20:30:43Z,,,,abc",
    "900004,1,261,,complete,2025-01-09T20:30:43Z,,2025-01-08T00:00:00Z,,1.00",
    "900005,900006,1,45,complete,2025-01-02T10:00:00Z,,,,12.3456785",  # valid: rounds half-even
]


def _rejected_by_shoppulse(path, kind):
    source = open_source(path.open("rb"))
    assert source.schema.kind is kind
    out = []
    for batch in source.batches():
        checked = validate(batch.text, source.schema, Origin(path.name, NOW), NOW)
        out += list(zip(checked.rejected["row_number"].tolist(), checked.rejected["reason"].tolist(), strict=True))
    return out


def test_fair_duckdb_validates_curates_and_equals_the_reference(tmp_path):
    files = write_bench_set(tmp_path / "in", items=3_000, seed=5)
    for name, rows in (("orders", BAD_ORDERS), ("order_items", BAD_ITEMS)):
        with files[name].open("a", encoding="utf-8") as f:
            f.write("\n".join(rows) + "\n")
    order = ("products", "orders", "order_items", "increment_orders", "increment_items")
    by_kind = {
        FileKind.PRODUCTS: [files["products"]],
        FileKind.ORDERS: [files["orders"], files["increment_orders"]],
        FileKind.ORDER_ITEMS: [files["order_items"], files["increment_items"]],
    }
    out = tmp_path / "out"
    daily, categories = duckdb_validated.load(by_kind, out, now=NOW)

    reference = compute_components(landed_files(parse_csv_files([files[n] for n in order], now=NOW)), now=NOW)
    assert daily == reference.daily
    assert categories == reference.categories
    con = duckdb.connect()
    for name, kind, n_bad in (("orders", FileKind.ORDERS, 6), ("order_items", FileKind.ORDER_ITEMS, 5)):
        expected = _rejected_by_shoppulse(files[name], kind)
        got = con.execute(f"SELECT row_number, reason FROM read_csv('{out}/rejected/valid_{kind.value}_0_{name}.csv')")
        assert [(int(n), r) for n, r in got.fetchall()] == expected
        assert len(expected) == n_bad
    curated = con.execute(
        f"SELECT order_date, count(*) FROM read_parquet('{out}/curated/orders/*/*.parquet', hive_partitioning = true) "
        "GROUP BY 1 ORDER BY 1"
    ).fetchall()
    assert {str(d): n for d, n in curated} == {d: c["total_orders"] for d, c in reference.daily.items()}
