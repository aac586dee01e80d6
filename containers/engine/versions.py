"""Latest wins: which version of a key counts, whatever order the files arrived in.

A version is dated by VERSION (the newest lifecycle timestamp; for products, when their file
landed). Equal dates are settled by a rule that needs only the rows themselves, so every
replica of the computation picks the same winner:
- orders and items: the greatest row compared as text, column by column in header order,
  each value normalised (integers in base 10, statuses lower case, timestamps as
  `YYYY-MM-DDTHH:MM:SS.ffffffZ` in UTC, money in integer micro-units, null as "");
- products: the file with the greater key, then the later row of the file.

A products file's landing is its content's *original* landing: re-landed after a failed run
(copied onto itself, uploaded again), the same bytes keep the place of their first landing
(`in_original_place`; docs/batch-storage.md, "Recovery keeps history's order").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd
import pyarrow as pa

from containers.engine.contract import FileKind, Role, Schema
from containers.engine.rules import ROW, SOURCE, VERSION

TIMESTAMP_TEXT = "%Y-%m-%dT%H:%M:%S.%fZ"
_INT64_AS_NULLABLE = {pa.int64(): pd.Int64Dtype()}  # ids beyond 2**53 stay exact


def as_text(values: pd.Series, role: Role) -> pd.Series:
    """A column's normalised text, the form in which equal-date versions are compared."""
    if role is Role.TIMESTAMP:
        text = pd.to_datetime(values.astype("Int64"), unit="us", utc=True).dt.strftime(TIMESTAMP_TEXT)
    elif role in (Role.ID, Role.COUNT, Role.MONEY):
        text = values.astype("Int64").astype("str")
    else:
        text = values.astype("str")
    return text.where(values.notna(), "")


def in_original_place(rows: pa.Table, schema: Schema, landing: Mapping[str, Any] | None) -> pa.Table:
    """Staged products dated by their content's first landing (the staging manifest's `landing`),
    not by this object version's. Orders and items are dated by their own timestamps: unchanged."""
    if schema.kind is not FileKind.PRODUCTS or not landing:
        return rows
    for name, value in ((VERSION, landing["version"]), (SOURCE, landing["source_key"])):
        column = rows.schema.get_field_index(name)
        constant = pa.repeat(pa.scalar(value, type=rows.schema.field(column).type), rows.num_rows)
        rows = rows.set_column(column, name, constant)
    return rows


def _tie_order(rows: pd.DataFrame, schema: Schema) -> pd.DataFrame:
    """Sort keys that put the winner of each tie last."""
    if schema.kind is FileKind.PRODUCTS:
        return rows[[schema.key, SOURCE, ROW]]
    return pd.DataFrame({c.name: as_text(rows[c.name], c.role) for c in schema.columns})


def _winners(rows: pd.DataFrame, schema: Schema) -> pd.DataFrame:
    """The winning version of each key among rows that all share their key with another."""
    key = schema.key
    newest = rows[VERSION].eq(rows.groupby(key, sort=False)[VERSION].transform("max"))
    rows = rows[newest]
    tied = rows[key].duplicated(keep=False)
    if not tied.any():
        return rows
    contenders = rows[tied]
    order = _tie_order(contenders, schema)
    winners = order.sort_values([key, *order.columns.drop(key)], kind="stable").drop_duplicates(key, keep="last")
    return pd.concat([rows[~tied], contenders.loc[winners.index]])


def latest(rows: pa.Table, schema: Schema) -> pa.Table:
    """One row per key: the winning version. Only the rows of keys with several versions are
    ranked (in pandas, where the tie rules' normalised text is built); a key with one version
    (every key, on a first load) keeps its row as it is."""
    if not rows.num_rows:
        return rows
    keys = rows.column(schema.key).to_numpy()
    if pd.Index(keys).is_unique:  # cheap when the keys come sorted, as a file's ids usually do
        return rows
    contested = pd.Series(keys).duplicated(keep=False).to_numpy()
    frame = rows.filter(pa.array(contested)).to_pandas(types_mapper=_INT64_AS_NULLABLE.get)
    won = pa.Table.from_pandas(_winners(frame, schema), schema=rows.schema, preserve_index=False)
    return pa.concat_tables([rows.filter(pa.array(~contested)), won.replace_schema_metadata(rows.schema.metadata)])
