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

from containers.engine.contract import FileKind, Role, Schema
from containers.engine.rules import ROW, SOURCE, VERSION

TIMESTAMP_TEXT = "%Y-%m-%dT%H:%M:%S.%fZ"


def as_text(values: pd.Series, role: Role) -> pd.Series:
    """A column's normalised text, the form in which equal-date versions are compared."""
    if role is Role.TIMESTAMP:
        text = pd.to_datetime(values.astype("Int64"), unit="us", utc=True).dt.strftime(TIMESTAMP_TEXT)
    elif role in (Role.ID, Role.COUNT, Role.MONEY):
        text = values.astype("Int64").astype("str")
    else:
        text = values.astype("str")
    return text.where(values.notna(), "")


def in_original_place(rows: pd.DataFrame, schema: Schema, landing: Mapping[str, Any] | None) -> pd.DataFrame:
    """Staged products dated by their content's first landing (the staging manifest's `landing`),
    not by this object version's. Orders and items are dated by their own timestamps: unchanged."""
    if schema.kind is not FileKind.PRODUCTS or not landing:
        return rows
    return rows.assign(
        **{
            VERSION: pd.Series(landing["version"], index=rows.index, dtype=rows[VERSION].dtype),
            SOURCE: pd.Series(landing["source_key"], index=rows.index, dtype=rows[SOURCE].dtype),
        }
    )


def _tie_order(rows: pd.DataFrame, schema: Schema) -> pd.DataFrame:
    """Sort keys that put the winner of each tie last."""
    if schema.kind is FileKind.PRODUCTS:
        return rows[[schema.key, SOURCE, ROW]]
    return pd.DataFrame({c.name: as_text(rows[c.name], c.role) for c in schema.columns})


def latest(rows: pd.DataFrame, schema: Schema) -> pd.DataFrame:
    """One row per key: the winning version."""
    if rows.empty:
        return rows
    key = schema.key
    if not rows[key].duplicated().any():  # one version per key (a first load): nothing to rank
        return rows.reset_index(drop=True)
    newest = rows[VERSION].eq(rows.groupby(key, sort=False)[VERSION].transform("max"))
    rows = rows[newest]
    tied = rows[key].duplicated(keep=False)
    if not tied.any():
        return rows.reset_index(drop=True)
    contenders = rows[tied]
    order = _tie_order(contenders, schema)
    winners = order.sort_values([key, *order.columns.drop(key)], kind="stable").drop_duplicates(key, keep="last")
    return pd.concat([rows[~tied], contenders.loc[winners.index]], ignore_index=True)


def globally_latest(candidates: pd.DataFrame, versions: pd.DataFrame, key: str, first_tie: str) -> pd.DataFrame:
    """Keep the candidates that also win against versions stored elsewhere.

    `versions` holds (key, first_tie, VERSION) of every version, wherever stored, of the keys
    that have versions elsewhere (the item markers); a candidate without any is the winner.
    On equal dates `first_tie` (an integer column) is the first value compared, as text.
    """
    # A key with one version has only the candidate itself: it wins without comparing.
    versions = versions[versions[key].duplicated(keep=False)]
    if candidates.empty or versions.empty:
        return candidates
    ranked = versions.assign(_tie_text=as_text(versions[first_tie], Role.ID))
    best = (
        ranked.sort_values([key, VERSION, "_tie_text"], kind="stable")
        .drop_duplicates(key, keep="last")
        .rename(columns={VERSION: "_best_version", first_tie: "_best_tie"})
    )
    merged = candidates.merge(best[[key, "_best_version", "_best_tie"]], on=key, how="left")
    wins = merged["_best_version"].isna() | (
        merged[VERSION].eq(merged["_best_version"]) & merged[first_tie].eq(merged["_best_tie"])
    )
    return merged.loc[wins.fillna(False).astype(bool), candidates.columns].reset_index(drop=True)
