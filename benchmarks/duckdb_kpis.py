"""The batch KPIs in DuckDB SQL, from the same CSV files: the benchmark's yardstick.

It implements issue 2's definitions in full, so the comparison is apples to apples: latest wins
per key by lifecycle timestamp, tie rule (a) on the normalised row text in header order, tie
rule (b) for products (last landed file, then last row), held items excluded, money in exact
micro-units rounded half-even at the 6th decimal. It does not validate: it is given valid files
(the benchmark set is all valid; `tests/benchmarks/test_duckdb_kpis.py` checks it against the reference).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import duckdb

from chalicelib.kpis import public_category, public_daily
from containers.engine.contract import SCHEMAS, FileKind, Role

TIMESTAMP_TEXT = "%Y-%m-%dT%H:%M:%S.%fZ"
LIFECYCLE = ("created_at", "shipped_at", "delivered_at", "returned_at")


def literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _read(paths: Sequence[Path]) -> str:
    files = ", ".join(literal(str(p)) for p in paths)
    return f"read_csv([{files}], header = true, all_varchar = true, union_by_name = true)"


def typed_value(name: str, role: Role, cast: str = "CAST") -> str:
    """A contract column from text to its type (nulls for empty fields); `cast` TRY_CAST gives
    null instead of an error for text that is not of the type."""
    text = f"NULLIF(trim({name}), '')"
    if role in (Role.ID, Role.COUNT):
        return f"{cast}({text} AS BIGINT)"
    if role is Role.STATUS:
        return f"lower({text})"
    if role is Role.TIMESTAMP:
        return f"{cast}({text} AS TIMESTAMPTZ)"  # DuckDB also reads TheLook's ' UTC' suffix
    if role is Role.MONEY:  # exact micro-units; half-even at the 6th decimal when there are more
        scaled = f"({cast}({text} AS DECIMAL(38, 12)) * 1000000)"
        half_even = (
            f"floor({scaled}) + CASE WHEN {scaled} - floor({scaled}) > 0.5 THEN 1 "
            f"WHEN {scaled} - floor({scaled}) < 0.5 THEN 0 ELSE CAST(floor({scaled}) AS HUGEINT) % 2 END"
        )
        exact = f"{cast}({text} AS DECIMAL(18, 6)) * 1000000"
        return (
            f"{cast}(CASE WHEN length(split_part(lower({text}), '.', 2)) > 6 OR {text} ILIKE '%e%' "
            f"THEN {half_even} ELSE {exact} END AS BIGINT)"
        )
    return text


def _typed(name: str, role: Role) -> str:
    return f"{typed_value(name, role)} AS {name}"


def _tie_text(name: str, role: Role) -> str:
    """Tie rule (a): the column's normalised text, null as ''."""
    value = f"strftime({name}, '{TIMESTAMP_TEXT}')" if role is Role.TIMESTAMP else f"CAST({name} AS VARCHAR)"
    return f"coalesce({value}, '') DESC"


def _latest(kind: FileKind, paths: Sequence[Path]) -> str:
    columns = ", ".join(_typed(c.name, c.role) for c in SCHEMAS[kind].columns)
    return latest_of(kind, f"SELECT {columns} FROM {_read(paths)}")


def latest_of(kind: FileKind, typed: str) -> str:
    """One row per key of the typed rows: the newest lifecycle, then the greatest normalised
    row. Only keys seen more than once need the ranking (a sort); the others pass straight through."""
    schema = SCHEMAS[kind]
    key = schema.key
    ties = ", ".join(_tie_text(c.name, c.role) for c in schema.columns)
    return f"""
        WITH typed AS ({typed}),
             repeated AS (SELECT {key} FROM typed GROUP BY {key} HAVING count(*) > 1)
        SELECT * FROM typed WHERE {key} NOT IN (SELECT {key} FROM repeated)
        UNION ALL
        SELECT * EXCLUDE (rn) FROM (
            SELECT *, row_number() OVER (
                PARTITION BY {key} ORDER BY greatest({", ".join(LIFECYCLE)}) DESC, {ties}) AS rn
            FROM typed WHERE {key} IN (SELECT {key} FROM repeated)
        ) WHERE rn = 1"""


def _latest_products(paths: Sequence[Path]) -> str:
    """Tie rule (b): the last landed file's row, then the last row of that file."""
    schema = SCHEMAS[FileKind.PRODUCTS]
    columns = ", ".join(_typed(c.name, c.role) for c in schema.columns)
    per_file = (
        " UNION ALL ".join(
            f"SELECT {n} AS landed, row_number() OVER () AS line, * FROM (SELECT {columns} FROM {_read([p])})"
            for n, p in enumerate(paths)
        )
        or "SELECT NULL::BIGINT AS landed, NULL::BIGINT AS line, NULL::BIGINT AS id, NULL::VARCHAR AS category LIMIT 0"
    )
    return f"""
        SELECT id, category FROM (
            SELECT id, category, row_number() OVER (PARTITION BY id ORDER BY landed DESC, line DESC) AS rn
            FROM ({per_file})
        ) WHERE rn = 1"""


def components(
    orders: Sequence[Path], items: Sequence[Path], products: Sequence[Path], threads: int | None = None
) -> tuple[dict[str, dict[str, int]], dict[tuple[str, str], dict[str, int]]]:
    """Exact KPI components (as the KPI tables name them) from files listed in landing order."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    con.execute(f"CREATE TEMP TABLE o AS {_latest(FileKind.ORDERS, orders)}")
    con.execute(f"CREATE TEMP TABLE p AS {_latest_products(products)}")
    con.execute(f"CREATE TEMP VIEW i AS {_latest(FileKind.ORDER_ITEMS, items)}")
    out = kpi_components(con)
    con.close()
    return out


def kpi_components(
    con: duckdb.DuckDBPyConnection,
) -> tuple[dict[str, dict[str, int]], dict[tuple[str, str], dict[str, int]]]:
    """The components from the winning orders `o`, items `i` and products `p` (id, category)."""
    con.execute("""
        CREATE TEMP TABLE counted AS
        SELECT i.order_id, i.sale_price, p.category, CAST(CAST(o.created_at AS DATE) AS VARCHAR) AS order_date,
               (i.status = 'returned' OR i.returned_at IS NOT NULL) AS returned
        FROM i
        JOIN o ON o.order_id = i.order_id
        JOIN p ON p.id = i.product_id""")
    daily = con.execute("""
        SELECT d.order_date, d.total_orders, coalesce(s.revenue_micros, 0), coalesce(s.items, 0),
               d.returned_orders, d.unique_customers
        FROM (SELECT CAST(CAST(created_at AS DATE) AS VARCHAR) AS order_date, count(*) AS total_orders,
                     count(*) FILTER (WHERE status = 'returned' OR returned_at IS NOT NULL) AS returned_orders,
                     count(DISTINCT user_id) AS unique_customers
              FROM o GROUP BY 1) AS d
        LEFT JOIN (SELECT order_date, sum(sale_price) AS revenue_micros, count(*) AS items
                   FROM counted GROUP BY 1) AS s USING (order_date)
        ORDER BY 1""").fetchall()
    categories = con.execute("""
        SELECT category, order_date, count(DISTINCT order_id), sum(sale_price), count(*),
               count(DISTINCT order_id) FILTER (WHERE returned)
        FROM counted GROUP BY 1, 2 ORDER BY 2, 1""").fetchall()
    return (
        {
            d: {
                "total_orders": n,
                "revenue_micros": int(r),
                "total_items_sold": i,
                "returned_orders": ret,
                "unique_customers": u,
            }
            for d, n, r, i, ret, u in daily
        },
        {
            (c, d): {"orders": n, "revenue_micros": int(r), "items_sold": i, "returned_orders": ret}
            for c, d, n, r, i, ret in categories
        },
    )


def public(
    daily: Mapping[str, Mapping[str, Any]], categories: Mapping[tuple[str, str], Mapping[str, Any]]
) -> dict[str, list[dict[str, Any]]]:
    """The replay JSON shape, rounded by the project's one KPI formula module."""
    return {
        "orders": [dict(public_daily({"order_date": d, **c})) for d, c in sorted(daily.items())],
        "categories": [
            dict(public_category({"category": cat, "order_date": d, **c}))
            for (cat, d), c in sorted(categories.items(), key=lambda kv: (kv[0][1], kv[0][0]))
        ],
    }


def run(files: Mapping[str, Path]) -> dict[str, Any]:
    """Benchmark entry: the base bench files (see `shoppulse.samples.write_bench_set`) to KPIs."""
    daily, categories = components([files["orders"]], [files["order_items"]], [files["products"]])
    return {"files": ["products", "orders", "order_items"], "kpis": public(daily, categories)}


def run_with_increment(files: Mapping[str, Path]) -> dict[str, Any]:
    """DuckDB keeps no state: adding one file to a day means computing everything again."""
    daily, categories = components(
        [files["orders"], files["increment_orders"]],
        [files["order_items"], files["increment_items"]],
        [files["products"]],
    )
    return {
        "files": ["products", "orders", "order_items", "increment_orders", "increment_items"],
        "kpis": public(daily, categories),
    }
