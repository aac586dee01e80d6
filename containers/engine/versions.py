"""Latest wins: which version of a key counts, whatever order the files arrived in.

A version is dated by VERSION (the newest lifecycle timestamp; for products, when their file
landed). Equal dates are broken by the row's values in header order (nulls lowest); for
products, which carry no timestamps, first by their file's key, then by position in the file. The rule only needs the
rows themselves, so every replica of the computation picks the same winner.
"""
from __future__ import annotations

import pandas as pd

from containers.engine.contract import FileKind, Schema
from containers.engine.rules import ROW, SOURCE, VERSION


def tie_columns(schema: Schema) -> list[str]:
    columns = list(schema.tie_columns)
    return [SOURCE, ROW, *columns] if schema.kind is FileKind.PRODUCTS else columns


def latest(rows: pd.DataFrame, schema: Schema) -> pd.DataFrame:
    """One row per key: the winning version."""
    if rows.empty:
        return rows
    key = schema.key
    newest = rows[VERSION].eq(rows.groupby(key, sort=False)[VERSION].transform("max"))
    rows = rows[newest]
    tied = rows[key].duplicated(keep=False)
    if not tied.any():
        return rows.reset_index(drop=True)
    resolved = (
        rows[tied]
        .sort_values([key, *tie_columns(schema)], na_position="first", kind="stable")
        .drop_duplicates(key, keep="last")
    )
    return pd.concat([rows[~tied], resolved], ignore_index=True)


def globally_latest(candidates: pd.DataFrame, versions: pd.DataFrame, key: str, first_tie: str) -> pd.DataFrame:
    """Keep the candidates that also win against versions stored elsewhere.

    `versions` holds (key, first_tie, VERSION) of every version of those keys anywhere; since
    `first_tie` is the first column compared on equal dates, it settles which place wins.
    """
    if candidates.empty or versions.empty:
        return candidates
    best = (
        versions.sort_values([key, VERSION, first_tie], kind="stable")
        .drop_duplicates(key, keep="last")
        .rename(columns={VERSION: "_best_version", first_tie: "_best_tie"})
    )
    merged = candidates.merge(best[[key, "_best_version", "_best_tie"]], on=key, how="left")
    wins = merged["_best_version"].isna() | (
        merged[VERSION].eq(merged["_best_version"]) & merged[first_tie].eq(merged["_best_tie"])
    )
    return merged.loc[wins.fillna(False).astype(bool), candidates.columns].reset_index(drop=True)
