"""The committed sample set: regenerated identically, and every fault it claims is really there."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from shoppulse.cli import main
from shoppulse.samples import SampleSet, write_sample_set
from tests.reference_kpis import compute_components, landed_files, parse_csv, parse_csv_files

SAMPLES = Path(__file__).resolve().parents[2] / "sample_files"
COMMAND = "shoppulse sample --orders 300 --days 5 --start 2025-03-01 --seed 7 --out sample_files"


@pytest.fixture(scope="module")
def sample_set() -> SampleSet:
    built = SampleSet(300, 5)
    built.build()
    return built


@pytest.fixture(scope="module")
def parsed():
    return parse_csv_files(sorted(SAMPLES.glob("*.csv")))


def test_committed_files_are_what_the_generator_writes(tmp_path):
    write_sample_set(tmp_path, 300, 5, command=COMMAND)
    committed = sorted(p.name for p in SAMPLES.iterdir())
    assert sorted(p.name for p in tmp_path.iterdir()) == committed
    for name in committed:
        assert (tmp_path / name).read_bytes() == (SAMPLES / name).read_bytes(), name


def test_same_seed_same_files_other_seed_other_files():
    def render(seed: int) -> list[bytes]:
        return [f.render() for f in SampleSet(120, 3, seed=seed).build()]

    assert render(3) == render(3)
    assert render(3) != render(4)


def test_landing_order_starts_with_the_catalogue_and_the_set_stays_small(sample_set):
    names = [f.name for f in sample_set.files]
    assert names == sorted(names) and names[0].endswith("_products.csv")
    assert sum(p.stat().st_size for p in SAMPLES.iterdir()) < 300 * 1024
    days = {name[:10] for name in names}
    assert len(days) >= 5 and all(sum(n.startswith(d) for n in names) >= 2 for d in days)


def test_every_invalid_row_and_the_one_rejected_file_are_as_declared(sample_set, parsed):
    assert [p.name for p in parsed] == [f.name for f in sample_set.files]
    for declared, found in zip(sample_set.files, parsed, strict=False):
        assert [n for n, _ in found.invalid] == [n for n, _ in declared.invalid], found.name
        assert bool(found.rejected) == bool(declared.rejected), found.name
    assert [p.name for p in parsed if p.rejected] == ["2025-03-03T1300_items_marketplace.csv"]
    reasons = {reason.split(":")[0] for p in parsed if not p.rejected for _, reason in p.invalid}
    assert reasons >= {
        "bad_status",
        "missing",
        "negative",
        "not_integer",
        "before_created",
        "wrong_field_count",
        "bad_timestamp",
        "delivered_before_shipped",
    }
    for p in parsed:
        if not p.rejected:
            assert len(p.invalid) <= 0.04 * p.total_rows, p.name


def test_every_simulated_order_and_item_counts_and_only_the_orphans_stay_held(sample_set, parsed):
    components = compute_components(landed_files(parsed))
    assert sum(d["total_orders"] for d in components.daily.values()) == len(sample_set.orders)
    assert sum(d["total_items_sold"] for d in components.daily.values()) == sum(len(o.items) for o in sample_set.orders)
    assert [str(i) for i in components.held_items] == sample_set.still_held and len(sample_set.still_held) == 2
    held_on_landing = {f.name: f.held for f in sample_set.files}
    assert all(held_on_landing[p.name] == 0 for p in parsed if p.kind != "order_items")
    assert sum(held_on_landing.values()) > len(sample_set.still_held)  # some held rows were released


def test_returns_and_categories_are_represented(parsed):
    components = compute_components(landed_files(parsed))
    assert all(d["returned_orders"] for d in list(components.daily.values())[:3])
    categories = {c for c, _ in components.categories}
    assert {"Shirts, Polos & Henleys", "Rainwear", "Fashion Hoodies & Sweatshirts"} & categories
    assert "Rainwear" in categories  # the late products' items were released


def test_the_formats_the_contract_allows_are_all_exercised():
    data = {p.name: p.read_bytes() for p in SAMPLES.glob("*.csv")}
    assert any(b.startswith(b"\xef\xbb\xbf") for b in data.values())
    assert any(b"\r\n" in b for b in data.values()) and any(b"\r\n" not in b for b in data.values())
    text = b"".join(data.values()).decode("utf-8-sig")
    for needle in (
        '"Shirts, Polos & Henleys"',
        '""',
        "+02:00",
        "-05:00",
        "Z,",
        ".000000+00:00",
        "gender",
        "inventory_item_id",
        "distribution_center_id",
        "Shipped",
        "shipped",
        "SHIPPED",
    ):
        assert needle in text, needle
    for spelling in (r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,", r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3},"):
        assert re.search(spelling, text), spelling  # space or T, naive (UTC)


def test_cli_writes_refuses_to_mix_and_overwrites(tmp_path, capsys):
    assert main(["sample", "--orders", "40", "--days", "2", "--out", str(tmp_path)]) == 0
    first = sorted(tmp_path.glob("*.csv"))
    assert first and (tmp_path / "README.md").exists()
    assert main(["sample", "--orders", "40", "--days", "2", "--out", str(tmp_path)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main(["sample", "--orders", "40", "--days", "3", "--out", str(tmp_path), "--overwrite"]) == 0
    assert all(parse_csv(p.name, p.read_bytes()).kind for p in tmp_path.glob("*.csv"))
    assert main(["sample", "--out", str(tmp_path / "x")]) == 2


def test_tiny_sets_never_reject_more_than_the_one_file(tmp_path):
    for orders, days in ((1, 1), (5, 1), (30, 2)):
        out = tmp_path / f"{orders}-{days}"
        write_sample_set(out, orders, days)
        rejected = [p.name for p in parse_csv_files(sorted(out.glob("*.csv"))) if p.rejected]
        assert len(rejected) == 1 and rejected[0].endswith("_items_marketplace.csv")
