"""The DuckDB yardstick of the benchmark computes exactly the reference KPIs (apples to apples)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from benchmarks import duckdb_kpis
from shoppulse.samples import write_bench_set
from tests.reference_kpis import (
    HEADERS,
    compute_components,
    compute_kpis,
    landed_files,
    parse_csv_files,
    parse_number,
    to_micros,
)

SAMPLES = Path(__file__).resolve().parents[2] / "sample_files"


def _by_kind(parsed, paths):
    kinds = {"orders": [], "order_items": [], "products": []}
    for p, path in zip(parsed, paths, strict=False):
        if p.kind and not p.rejected:
            kinds[p.kind].append(path)
    return kinds


def _assert_same(paths, parsed):
    reference = compute_components(landed_files(parsed))
    kinds = _by_kind(parsed, paths)
    daily, categories = duckdb_kpis.components(kinds["orders"], kinds["order_items"], kinds["products"], threads=2)
    assert daily == reference.daily
    assert categories == reference.categories
    assert duckdb_kpis.public(daily, categories) == compute_kpis(landed_files(parsed))


def test_duckdb_equals_the_reference_on_a_bench_set(tmp_path):
    files = write_bench_set(tmp_path, items=3_000, seed=5)
    paths = [files[k] for k in ("products", "orders", "order_items", "increment_orders", "increment_items")]
    _assert_same(paths, parse_csv_files(paths))


def test_duckdb_equals_the_reference_on_the_valid_rows_of_the_sample_files(tmp_path):
    """Every version, tie, late reference and spelling of the sample set, invalid rows left out."""
    parsed = parse_csv_files(sorted(SAMPLES.glob("*.csv")))
    paths = []
    for n, p in enumerate(parsed):
        path = tmp_path / f"{n:03d}_{p.name}"
        if p.kind:
            with path.open("w", newline="", encoding="utf-8") as out:
                writer = csv.DictWriter(out, HEADERS[p.kind])
                writer.writeheader()
                writer.writerows(p.valid)
        paths.append(path)
    assert any(p.rejected for p in parsed)
    _assert_same(paths, parsed)


@pytest.mark.parametrize(
    "price, micros",
    [
        ("12.3456785", 12_345_678),
        ("12.3456775", 12_345_678),
        ("0.0000025", 2),
        ("15.9899997711182", 15_990_000),
        ("2.5E-6", 2),
        ("1.5e-6", 2),
        ("49.99", 49_990_000),
        ("7", 7_000_000),
    ],
)
def test_duckdb_rounds_micro_units_half_even(tmp_path, price, micros):
    (tmp_path / "p.csv").write_text("id,sku,cost,category,name,brand,retail_price,department\n1,,,Jeans,,,,\n")
    (tmp_path / "o.csv").write_text(f"{','.join(HEADERS['orders'])}\n1,1,complete,2025-03-01T00:00:00Z,,,,\n")
    (tmp_path / "i.csv").write_text(
        f"{','.join(HEADERS['order_items'])}\n1,1,,1,complete,2025-03-01T00:00:00Z,,,,{price}\n"
    )
    daily, _ = duckdb_kpis.components([tmp_path / "o.csv"], [tmp_path / "i.csv"], [tmp_path / "p.csv"])
    assert daily["2025-03-01"]["revenue_micros"] == micros == to_micros(parse_number(price))
