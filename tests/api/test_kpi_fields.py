"""Every KPI field is defined once (chalicelib/kpi_fields.py), and each consumer follows the
definition: the engine's stored attributes, the API's bodies, the OpenAPI schemas, the
dashboard's labels and the KPI tables of docs/kpis.md."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from chalice.test import Client

from app import app
from chalicelib.api.dashboard import page
from chalicelib.api.openapi import kpi_schema, openapi_document
from chalicelib.category_registry import REGISTRY_PARTITION
from chalicelib.kpi_fields import CATEGORY_DAILY, DAILY, TABLES, Component, Field, KpiTable, Unit
from chalicelib.kpis import CategoryKpis, DailyKpis
from chalicelib.tables import CATEGORY_KPIS, DAILY_KPIS
from shoppulse.embedded import embedded_aws
from shoppulse.kpi_docs import END, KPI_DOC, START, MarkersMissing, generated, render
from shoppulse.replay import InProcessWorkflow, scan_all
from tests import reference_kpis as ref
from tests.api_support import category_item, daily_item, put_all
from tests.containers.batch_support import csv_bytes, rows_of

# A field that does not exist yet, as someone would add it to a table's definition.
UNITS_PER_ORDER = Field(
    "items_per_order",
    Unit.RATE,
    "Items per order",
    "item rows per order of the day",
    DAILY.components[2],
    DAILY.kpis[0],
)
# What the writer stores besides the KPI fields: the table's keys and its bookkeeping.
WRITER_BOOKKEEPING = {"computed_generation", "updated_at", "category_components", "generation"}


def names(table: KpiTable, always: bool | None = None) -> set[str]:
    return {f.name for f in table.fields if always is None or f.always == always}


def test_names_are_unique_and_every_definition_is_one_sentence() -> None:
    for table in TABLES:
        assert len(names(table)) == len(table.fields)
        assert len({c.name for c in (*table.components, *table.bookkeeping)}) == len(table.components) + len(
            table.bookkeeping
        )
        for f in table.fields:
            assert f.label and f.definition and not f.definition.endswith(".") and "\n" not in f.definition
            assert f.of is None or f.of in (*table.components, *table.bookkeeping)
            assert f.per is None or f.per in table.components


@pytest.mark.parametrize(
    ("unit", "of", "per", "always", "refusal"),
    [
        (Unit.COUNT, None, None, True, "a key is a date or text"),
        (Unit.RATE, DAILY.components[0], None, True, "a component served as it is must be a count"),
        (Unit.MONEY, DAILY.components[0], DAILY.components[3], True, "money comes from micro-units"),
        (Unit.COUNT, DAILY.components[3], DAILY.components[0], True, "a computed field is money or a rate"),
        (Unit.RATE, DAILY.components[3], DAILY.components[0], False, "only counts are left out when 0"),
    ],
)
def test_a_field_the_formulas_would_serve_wrongly_is_refused(
    unit: Unit, of: Component | None, per: Component | None, always: bool, refusal: str
) -> None:
    with pytest.raises(ValueError, match=refusal):
        Field(of.name if of and not per else "x", unit, "X", "a field", of, per, always)


def test_the_typed_shapes_are_the_definitions() -> None:
    assert DailyKpis.__required_keys__ == names(DAILY, always=True)
    assert DailyKpis.__optional_keys__ == names(DAILY, always=False)
    assert CategoryKpis.__required_keys__ == names(CATEGORY_DAILY) and not CategoryKpis.__optional_keys__


def test_the_openapi_schemas_are_the_definitions() -> None:
    schemas = openapi_document("none")["components"]["schemas"]
    for table in TABLES:
        schema = schemas[table.schema]
        assert list(schema["properties"]) == [f.name for f in table.fields]
        assert set(schema["required"]) == names(table, always=True)
        assert {n: (p["title"], p["description"]) for n, p in schema["properties"].items()} == {
            f.name: (f.label, f.definition) for f in table.fields
        }
    assert schemas["DailyKpis"]["properties"]["return_rate"]["maximum"] == 1
    assert schemas["DailyKpis"]["properties"]["items_waiting"]["exclusiveMinimum"] is True


def test_a_field_added_to_the_definition_reaches_openapi_and_the_docs() -> None:
    wider = replace(DAILY, kpis=(*DAILY.kpis, UNITS_PER_ORDER))
    schema = kpi_schema(wider)
    assert schema["properties"]["items_per_order"] == {
        "type": "number",
        "minimum": 0,
        "maximum": 1,
        "title": "Items per order",
        "description": "item rows per order of the day",
    }
    assert "items_per_order" in schema["required"]
    assert "items_per_order" not in kpi_schema(DAILY)["properties"]
    doc = render(KPI_DOC.read_text(encoding="utf-8"), (wider, CATEGORY_DAILY))
    row = "| `items_per_order` | Items per order | rate 0..1, 4 decimals | item rows per order of the day"
    assert f"{row} | `total_items_sold` / `total_orders` |" in doc
    assert row not in generated()


def test_the_docs_kpi_tables_are_the_generated_ones() -> None:
    """Fails when docs/kpis.md drifts from the definition: run `shoppulse docs`."""
    doc = KPI_DOC.read_text(encoding="utf-8")
    assert doc.count(START) == 1 and doc.count(END) == 1
    assert render(doc) == doc
    for table in TABLES:
        for f in table.fields:
            assert f"| `{f.name}` | {f.label} |" in doc


def test_a_doc_without_markers_is_refused() -> None:
    with pytest.raises(MarkersMissing):
        render("# KPIs\n\nno markers here\n")


def test_the_docs_command_checks_and_regenerates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from shoppulse.cli import main
    from shoppulse.commands import docs

    stale = tmp_path / "kpis.md"
    stale.write_text(f"# KPIs\n\n{START}\n| old table |\n{END}\n\nmore\n", encoding="utf-8")
    monkeypatch.setattr(docs, "KPI_DOC", stale)
    assert main(["docs", "--check"]) == 1
    assert "| old table |" in stale.read_text(encoding="utf-8")
    assert main(["docs"]) == 0
    assert stale.read_text(encoding="utf-8") == f"# KPIs\n\n{START}\n{generated()}\n{END}\n\nmore\n"
    assert main(["docs", "--check"]) == 0


def test_served_bodies_carry_exactly_the_definitions_fields(tables: dict[str, Any]) -> None:
    waiting = {**daily_item("2024-01-02", 3, "12.5", 4, 1, 2), "items_waiting": 5}
    complete = {**daily_item("2024-01-01", 6, "1234.5678", 12, 2, 5), "items_waiting": 0}
    put_all(tables["DailyKpisTable"], [complete, waiting])
    put_all(tables["CategoryKpisTable"], [category_item("2024-01-01", "Jeans", 4, "634.4428", 7, 1)])
    with Client(app) as client:
        daily = client.http.get("/kpis/daily?from=2024-01-01&to=2024-01-02").json_body["items"]
        categories = client.http.get("/kpis/categories?date=2024-01-01").json_body["items"]
        one = client.http.get("/kpis/categories/Jeans?from=2024-01-01&to=2024-01-01").json_body["items"]
    assert [list(d) for d in daily] == [
        [f.name for f in DAILY.fields if f.always],
        [f.name for f in DAILY.fields],
    ]
    assert daily[1]["items_waiting"] == 5 and daily[0]["total_revenue"] == 1234.57
    assert [list(c) for c in categories + one] == [[f.name for f in CATEGORY_DAILY.fields]] * 2


def test_the_engine_stores_the_definitions_components_and_derived_kpis(tmp_path: Path) -> None:
    files = [
        (ref.PRODUCTS, rows_of(ref.PRODUCTS, [(1, "S1", "2", "Jeans")])),
        (ref.ORDERS, [{"order_id": 10, "user_id": 7, "status": "returned", "created_at": "2025-03-01 09:00:00"}]),
        (
            ref.ITEMS,
            [
                {
                    "id": n,
                    "order_id": 10,
                    "product_id": product,
                    "status": "complete",
                    "created_at": "2025-03-01 10:00:00",
                    "sale_price": "20.5",
                }
                for n, product in ((1, 1), (2, 9))  # product 9 never arrives: its item waits
            ],
        ),
    ]
    with embedded_aws() as clients:
        flow = InProcessWorkflow(clients)
        for n, (kind, rows) in enumerate(files):
            path = tmp_path / f"{n}-{kind}.csv"
            path.write_bytes(csv_bytes(kind, rows))
            flow.ingest(path)
        db = clients.dynamodb_resource
        days = [i for i in scan_all(db.Table(DAILY_KPIS.name())) if i[DAILY_KPIS.sort_key] == "2025-03-01"]
        categories = [
            i for i in scan_all(db.Table(CATEGORY_KPIS.name())) if i[CATEGORY_KPIS.partition_key] != REGISTRY_PARTITION
        ]
    assert len(days) == 1 and len(categories) == 1
    for table, item, keys in (
        (DAILY, days[0], {DAILY_KPIS.partition_key, DAILY_KPIS.sort_key}),
        (CATEGORY_DAILY, categories[0], {CATEGORY_KPIS.partition_key, CATEGORY_KPIS.sort_key}),
    ):
        stored = {*table.components, *table.bookkeeping}
        assert set(item) - keys - WRITER_BOOKKEEPING - {"requested_generation"} == {
            *(c.name for c in stored),
            *(f.name for f in table.derived),
        }
    assert days[0]["items_waiting"] == 1 and days[0]["return_rate"] == 1


def test_the_dashboard_is_served_the_definitions_labels_and_carries_no_copy() -> None:
    html = page()
    blob = re.search(r'<script type="application/json" id="kpi-fields">(.*?)</script>', html, re.S)
    assert blob is not None
    assert json.loads(blob.group(1)) == {
        t.schema: {f.name: {"label": f.label, "unit": f.unit.value} for f in t.fields} for t in TABLES
    }
    assets = Path(__file__).resolve().parents[2] / "chalicelib" / "dashboard"
    script_and_markup = (assets / "dashboard.js").read_text() + (assets / "index.html").read_text()
    for table in TABLES:
        for f in table.kpis:
            assert f">{f.label}<" not in script_and_markup and f'"{f.label}"' not in script_and_markup, f.label


def test_a_component_is_exact_and_never_served() -> None:
    served = {f.name for t in TABLES for f in t.fields}
    stored_only = {c.name for t in TABLES for c in t.components} - served
    assert stored_only == {"revenue_micros", "returned_orders", "orders", "items_sold"}
    assert all(c.unit in (Unit.COUNT, Unit.MICROS) for t in TABLES for c in t.components)
