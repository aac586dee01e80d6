"""The benchmark set: valid through and through, and the increment lands on a day already filled."""

from __future__ import annotations

from shoppulse.cli import main
from shoppulse.samples import write_bench_set
from tests.reference_kpis import compute_components, landed_files, parse_csv_files


def test_bench_set_is_all_valid_and_complete(tmp_path):
    files = write_bench_set(tmp_path, items=2_000, seed=1)
    assert sorted(files) == ["increment_items", "increment_orders", "order_items", "orders", "products"]
    parsed = parse_csv_files([files["products"], files["orders"], files["order_items"]])
    assert [p.invalid for p in parsed] == [[], [], []]
    assert [p.total_rows for p in parsed] == [100, 500, 2_000]
    base = compute_components(landed_files(parsed))
    assert base.held_items == []
    assert sum(d["total_items_sold"] for d in base.daily.values()) == 2_000
    assert sum(d["returned_orders"] for d in base.daily.values()) > 0

    more = parse_csv_files([files["increment_orders"], files["increment_items"]])
    assert [p.invalid for p in more] == [[], []]
    grown = compute_components(landed_files(parsed + more))
    changed = [d for d in grown.daily if grown.daily[d] != base.daily.get(d)]
    assert len(changed) == 1 and changed[0] in base.daily
    assert grown.daily[changed[0]]["total_orders"] == base.daily[changed[0]]["total_orders"] + 500


def test_bench_cli(tmp_path):
    assert main(["sample", "--bench", "--items", "400", "--out", str(tmp_path)]) == 0
    assert len(list(tmp_path.glob("*.csv"))) == 5


def test_the_benchmark_measurements_run_and_agree_on_a_small_set(tmp_path):
    from benchmarks import aws_floor, duckdb_kpis, pipeline

    files = write_bench_set(tmp_path, items=2_000, seed=1)
    ours = pipeline.run(files)
    assert ours["kpis"] == duckdb_kpis.run_with_increment(files)["kpis"]
    assert [p["name"].split(" (")[0] for p in ours["phases"]] == [
        "land products",
        "land orders",
        "land order_items",
        "land increment_orders",
        "land increment_items",
        "read the KPI tables",
    ]
    floor = aws_floor.run(files)
    days, categories = len(ours["kpis"]["orders"]), len({c["category"] for c in ours["kpis"]["categories"]})
    assert [p["name"].split(" (")[0] for p in floor["phases"]] == [
        "start the embedded AWS",
        "land the files in S3",
        "read each file once",
        "store the KPIs",
        "read the KPI tables",
        "stop the embedded AWS",
    ]
    assert floor["phases"][3]["name"] == f"store the KPIs ({days} days, {days * categories} category-days)"
