"""The fair yardstick: DuckDB doing what ShopPulse does with the same files, not just the KPIs.

`benchmarks.duckdb_kpis` is handed valid files and only computes. Here DuckDB also applies the
row rules of `containers.engine.rules` (as SQL, every reason a row breaks, same names), keeps
the rejected rows with their row numbers and reasons (a CSV file per input file), writes the
curated layout as Parquet (orders and items hive-partitioned by `order_date`, held items, the
product catalogue; timestamps as UTC micros, money as micro-units, `_version_ts`) and computes
the KPIs from the winning rows. Files are taken one at a time in landing order, as the
workflow gets them. `tests/benchmarks/test_duckdb_validated.py` checks it against the reference (invalid rows
included) and its rejected rows and reasons against `rules.validate`'s.

What it does not do: line accounting and stray-quote recovery (DuckDB's CSV reader either
reads a file or fails it), the per-file outcome records and the KPI tables in DynamoDB.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from benchmarks.duckdb_kpis import kpi_components, latest_of, literal, public, typed_value
from benchmarks.pipeline import LANDING_ORDER
from containers.engine import rules
from containers.engine.contract import LIFECYCLE, SCHEMAS, STATUSES, Column, FileKind, Role, Schema

WHITESPACE = "' \t\n\r\x0b\x0c'"  # the ASCII white space `str.strip` removes (\x1c-\x1f aside)
Files = Mapping[FileKind, Sequence[Path]]


def _value(c: Column) -> str:
    """The trimmed text, null when empty; `trim` with characters only where an end is white
    space (it is several times slower than a look at both ends)."""
    x = c.name
    return f"CASE WHEN {x} = '' THEN NULL WHEN ord({x}[1]) > 32 AND ord({x}[-1]) > 32 THEN {x} ELSE NULLIF(trim({x}, {WHITESPACE}), '') END"


def _typed(c: Column) -> str:
    """The column's typed value from its trimmed text `v_<name>` (null where it is not of the type)."""
    v = f"v_{c.name}"
    if c.role is Role.TIMESTAMP:  # the regex only for BigQuery's " UTC", as `rules` does
        unsuffixed = f"CASE WHEN suffix({v}, 'UTC') THEN regexp_replace({v}, '{rules.TRAILING_UTC}', '') ELSE {v} END"
        return f"TRY_CAST({unsuffixed} AS TIMESTAMPTZ)"
    if c.role in (Role.ID, Role.COUNT):
        return f"TRY_CAST(ltrim({v}, '+') AS BIGINT)"
    if c.role is Role.MONEY:  # the usual price (no exponent, at most 6 decimals) needs no rounding
        usual = f"NOT contains(lower({v}), 'e') AND length(split_part({v}, '.', 2)) <= 6"
        exact = f"TRY_CAST(TRY_CAST({v} AS DECIMAL(18, 6)) * 1000000 AS BIGINT)"
        return f"CASE WHEN {usual} THEN {exact} ELSE {typed_value(v, c.role, cast='TRY_CAST')} END"
    return typed_value(v, c.role, cast="TRY_CAST")


def _checks(c: Column, now: datetime, bounds: rules.TimeBounds) -> list[tuple[str, str]]:
    """(condition, reason) for one column, in the order `rules._Checker` flags them; `t_<name>`
    is the typed value."""
    v, t = f"v_{c.name}", f"t_{c.name}"
    out = [(f"{v} IS NULL", f"{rules.MISSING}:{c.name}")] if c.required else []
    if c.role in (Role.ID, Role.COUNT):
        out.append((f"NOT regexp_full_match({v}, '{rules.INTEGER}')", f"{rules.NOT_INTEGER}:{c.name}"))
        if c.role is Role.COUNT:
            out.append((f"{t} < 1", f"{rules.BAD_COUNT}:{c.name}"))
    elif c.role is Role.STATUS:
        statuses = ", ".join(literal(s) for s in STATUSES)
        out.append((f"{t} NOT IN ({statuses})", f"{rules.BAD_STATUS}:{c.name}"))
    elif c.role is Role.TIMESTAMP:
        out += [
            (f"{v} IS NOT NULL AND {t} IS NULL", f"{rules.BAD_TIMESTAMP}:{c.name}"),
            (f"{t} > TIMESTAMPTZ {literal((now + bounds.tolerance).isoformat())}", f"{rules.FUTURE}:{c.name}"),
            (f"{t} < TIMESTAMPTZ {literal(bounds.earliest.isoformat())}", f"{rules.TOO_EARLY}:{c.name}"),
        ]
    elif c.role is Role.MONEY:
        numeric = f"regexp_full_match({v}, '{rules.NUMBER}')"
        out += [
            (f"NOT {numeric}", f"{rules.NOT_NUMBER}:{c.name}"),
            (f"{numeric} AND ({t} IS NULL OR abs({t}) > {rules.MAX_MICROS})", f"{rules.TOO_LARGE}:{c.name}"),
            (f"{t} < 0", f"{rules.NEGATIVE}:{c.name}"),
        ]
    return out


def _reason(schema: Schema, now: datetime, bounds: rules.TimeBounds) -> str:
    """Every rule a row breaks, `;`-separated, as `rules.validate` names them ('' when valid)."""
    checks = [check for c in schema.columns for check in _checks(c, now, bounds)]
    if schema.kind is not FileKind.PRODUCTS:
        checks += [(f"t_{n} < t_created_at", f"{rules.BEFORE_CREATED}:{n}") for n in LIFECYCLE[1:]]
        checks.append(("t_delivered_at < t_shipped_at", f"{rules.DELIVERED_BEFORE_SHIPPED}:delivered_at"))
    cases = ", ".join(f"CASE WHEN coalesce({cond}, false) THEN '{name}' END" for cond, name in checks)
    return f"concat_ws(';', {cases})"


def _check_file(
    con: duckdb.DuckDBPyConnection, table: str, schema: Schema, path: Path, out: Path, checking: tuple[datetime, Any]
) -> None:
    """Validate one file into `table` (typed rows and `_row`, the row's number in its file);
    its rejected rows (number, reasons, text as written) go to a CSV file under `out`."""
    source = f"read_csv({literal(str(path))}, header = true, all_varchar = true)"
    present = {name.strip().lower(): name for name in con.sql(f"SELECT * FROM {source} LIMIT 0").columns}
    columns = ", ".join(
        f'"{present[c.name]}" AS {c.name}' if c.name in present else f"NULL::VARCHAR AS {c.name}"
        for c in schema.columns
    )
    trimmed = ", ".join(f"{_value(c)} AS v_{c.name}" for c in schema.columns)
    typed = ", ".join(f"{_typed(c)} AS t_{c.name}" for c in schema.columns)
    con.execute(f"""
        CREATE TEMP TABLE checked AS
        SELECT *, {_reason(schema, *checking)} AS reason
        FROM (SELECT *, {typed} FROM (
            SELECT *, {trimmed} FROM (SELECT row_number() OVER () AS row_number, {columns} FROM {source})))""")
    rejected = out / "rejected" / f"{table}_{path.stem}.csv"
    rejected.parent.mkdir(parents=True, exist_ok=True)
    raw = ", ".join(schema.names)
    con.execute(f"""COPY (SELECT row_number, reason, {raw} FROM checked WHERE reason <> '' ORDER BY row_number)
                    TO {literal(str(rejected))}""")
    named = ", ".join(f"t_{n} AS {n}" for n in schema.names)
    con.execute(f"CREATE TEMP TABLE {table} AS SELECT {named}, row_number AS _row FROM checked WHERE reason = ''")
    con.execute("DROP TABLE checked")


def _stored(schema: Schema, prefix: str = "") -> str:
    """The curated columns: timestamps as UTC micros, the version as the newest lifecycle one."""
    cols = [
        f"epoch_us({prefix}{c.name}) AS {c.name}" if c.role is Role.TIMESTAMP else f"{prefix}{c.name}"
        for c in schema.columns
    ]
    lifecycle = ", ".join(prefix + n for n in LIFECYCLE)
    return ", ".join([*cols, f"epoch_us(greatest({lifecycle})) AS {rules.VERSION}"])


def _copy(con: duckdb.DuckDBPyConnection, query: str, target: Path, partitioned: bool = False) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    options = "FORMAT parquet, COMPRESSION snappy" + (", PARTITION_BY (order_date)" if partitioned else "")
    con.execute(f"COPY ({query}) TO {literal(str(target))} ({options})")


def _versions(con: duckdb.DuckDBPyConnection, kind: FileKind, paths: Sequence[Path], out: Path, checking: Any) -> str:
    """Every valid row of the files of one kind, with its file's landing position `_file`."""
    schema = SCHEMAS[kind]
    selects = []
    for n, path in enumerate(paths):
        table = f"valid_{kind.value}_{n}"
        _check_file(con, table, schema, path, out, checking)
        selects.append(f"SELECT *, {n} AS _file FROM {table}")
    if not selects:
        typed = ", ".join(f"NULL::{_sql_type(c)} AS {c.name}" for c in schema.columns)
        selects.append(f"SELECT {typed}, 0 AS _row, 0 AS _file LIMIT 0")
    return " UNION ALL ".join(selects)


def load(
    files: Files, out: Path, now: datetime | None = None, bounds: rules.TimeBounds | None = None
) -> tuple[dict[str, dict[str, int]], dict[tuple[str, str], dict[str, int]]]:
    """Validate, merge (latest wins), write the curated layout under `out`; the KPI components.
    Each kind's files are listed in landing order (products are versioned by it, then by row)."""
    checking = (now or datetime.now(UTC), bounds or rules.TimeBounds())
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    versions = {kind: _versions(con, kind, files.get(kind, ()), out, checking) for kind in FileKind}
    for kind, table in ((FileKind.ORDERS, "o"), (FileKind.ORDER_ITEMS, "i")):
        columns = ", ".join(SCHEMAS[kind].names)
        con.execute(f"CREATE TEMP TABLE {table} AS {latest_of(kind, f'SELECT {columns} FROM ({versions[kind]})')}")
    con.execute(f"""
        CREATE TEMP TABLE catalogue AS SELECT * EXCLUDE (rn, _file) FROM (
            SELECT *, row_number() OVER (PARTITION BY id ORDER BY _file DESC, _row DESC) AS rn
            FROM ({versions[FileKind.PRODUCTS]})) WHERE rn = 1""")
    con.execute("CREATE TEMP VIEW p AS SELECT id, category FROM catalogue")
    curated = out / "curated"
    day = "CAST(CAST(o.created_at AS DATE) AS VARCHAR) AS order_date"
    orders, items = SCHEMAS[FileKind.ORDERS], SCHEMAS[FileKind.ORDER_ITEMS]
    _copy(con, f"SELECT {_stored(orders)}, {day} FROM o", curated / "orders", partitioned=True)
    placed = f"SELECT {_stored(items, 'i.')}, {day} FROM i JOIN o ON o.order_id = i.order_id"
    _copy(con, placed, curated / "order_items", partitioned=True)
    _copy(con, f"SELECT {_stored(items)} FROM i ANTI JOIN o USING (order_id)", curated / "held_items" / "part.parquet")
    _copy(con, "SELECT * FROM catalogue", curated / "products" / "part.parquet")
    result = kpi_components(con)
    con.close()
    return result


def _sql_type(c: Column) -> str:
    return {Role.STATUS: "VARCHAR", Role.TEXT: "VARCHAR", Role.TIMESTAMP: "TIMESTAMPTZ"}.get(c.role, "BIGINT")


def run(files: Mapping[str, Path]) -> dict[str, Any]:
    """Benchmark entry: the five bench files in ShopPulse's landing order, validated and curated."""
    by_kind: dict[FileKind, list[Path]] = {k: [] for k in FileKind}
    for name in LANDING_ORDER:
        by_kind[_kind(name)].append(files[name])
    with tempfile.TemporaryDirectory(prefix="shoppulse-duckdb-") as out:
        daily, categories = load(by_kind, Path(out))
    return {"files": list(LANDING_ORDER), "kpis": public(daily, categories)}


def _kind(name: str) -> FileKind:
    return FileKind.ORDER_ITEMS if name.endswith("items") else FileKind(name.removeprefix("increment_"))
