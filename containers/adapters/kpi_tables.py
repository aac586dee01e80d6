"""Writes a day's KPIs to DynamoDB, computed from a snapshot of the curated data.

The generation of a write is the snapshot's number (`seq`): a later snapshot holds at least
what an earlier one held, and every write is guarded so that the latest snapshot wins:
- the day item is updated only if its `computed_generation` is not higher than ours (equal:
  a retry, or a reconciliation, of the same snapshot writes the same values again);
- category items are written in transactions that also check the day item still carries
  our generation, so a write from an older snapshot cannot add or delete anything after a
  newer one has taken over.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from boto3.dynamodb.types import TypeSerializer
from botocore.exceptions import ClientError

from chalicelib.kpis import CATEGORY_COMPONENTS, DAILY_COMPONENTS, ITEMS_WAITING, derived_category, derived_daily
from chalicelib.tables import CATEGORY_KPIS, DAILY_KPIS

TRANSACTION_LIMIT = 100
# On the day item: each category item's components as written, as JSON text (one string is
# far cheaper to return than a map of maps).
WRITTEN = "category_components"
_serialize = TypeSerializer().serialize


def _typed(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _serialize(v) for k, v in item.items()}


def daily_key(label: str) -> dict[str, str]:
    return {DAILY_KPIS.partition_key: label[:4], DAILY_KPIS.sort_key: label}


class Superseded(Exception):
    """A newer recomputation of the day has written (or is writing) its result."""


class KpiTables:
    def __init__(self, client: Any, daily_table: str, category_table: str) -> None:
        self._db = client
        self._daily = daily_table
        self._category = category_table

    def write_day(
        self,
        label: str,
        generation: int,
        daily: Mapping[str, int] | None,
        categories: Mapping[str, Mapping[str, int]],
        waiting: int = 0,
    ) -> bool:
        """Store one day's components and its items waiting for a reference; False when a
        newer snapshot already took over."""
        new = {c: {k: int(v[k]) for k in CATEGORY_COMPONENTS} for c, v in categories.items()}
        try:
            old = self._update_day(label, generation, daily, waiting)
            known = json.loads(old[WRITTEN]["S"]) if WRITTEN in old else {}
            if old.get("computed_generation") == _serialize(generation) or (old and WRITTEN not in old):
                # A retry of this snapshot may have stopped between transactions: what is
                # stored is unknown, so everything is written and stale items are looked up.
                known = dict.fromkeys(self._stored_categories(label))
            writes = [self._put_category(label, generation, c, v) for c, v in sorted(new.items()) if known.get(c) != v]
            writes += [self._delete_category(label, c) for c in sorted(set(known) - set(new))]
            self._transact(label, generation, writes, new)
        except Superseded:
            return False
        return True

    def _update_day(self, label: str, generation: int, daily: Mapping[str, int] | None, waiting: int) -> dict[str, Any]:
        """The day item as it was (typed attribute values; empty for a new day)."""
        values: dict[str, Any] = {"computed_generation": generation, "updated_at": _now(), ITEMS_WAITING: waiting}
        removed: list[str] = []
        if daily:
            values.update({k: int(daily[k]) for k in DAILY_COMPONENTS})
            values.update(derived_daily(daily))
        else:
            removed = [*DAILY_COMPONENTS, *derived_daily(dict.fromkeys(DAILY_COMPONENTS, 0))]
        names = {f"#a{i}": k for i, k in enumerate([*values, *removed])}
        index = {v: k for k, v in names.items()}
        expression = "SET " + ", ".join(f"{index[k]} = :v{i}" for i, k in enumerate(values))
        if removed:
            expression += " REMOVE " + ", ".join(index[k] for k in removed)
        try:
            out = self._db.update_item(
                TableName=self._daily,
                Key=_typed(daily_key(label)),
                UpdateExpression=expression,
                ReturnValues="ALL_OLD",
                ConditionExpression="attribute_not_exists(computed_generation) OR computed_generation <= :g",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues={
                    **{f":v{i}": _serialize(v) for i, v in enumerate(values.values())},
                    ":g": _serialize(generation),
                },
            )
        except ClientError as err:
            if err.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise Superseded(label) from err
            raise
        return dict(out.get("Attributes", {}))

    def _stored_categories(self, label: str) -> set[str]:
        found: set[str] = set()
        kwargs: dict[str, Any] = {
            "TableName": self._category,
            "KeyConditionExpression": "#d = :d",
            "ExpressionAttributeNames": {"#d": CATEGORY_KPIS.partition_key, "#c": CATEGORY_KPIS.sort_key},
            "ExpressionAttributeValues": {":d": {"S": label}},
            "ProjectionExpression": "#c",
            "ConsistentRead": True,
        }
        while True:
            page = self._db.query(**kwargs)
            found |= {i[CATEGORY_KPIS.sort_key]["S"] for i in page.get("Items", [])}
            if "LastEvaluatedKey" not in page:
                return found
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _put_category(self, label: str, generation: int, category: str, c: Mapping[str, int]) -> dict[str, Any]:
        item: dict[str, Any] = {
            CATEGORY_KPIS.partition_key: label,
            CATEGORY_KPIS.sort_key: category,
            **{k: int(c[k]) for k in CATEGORY_COMPONENTS},
            **derived_category(c),
            "generation": generation,
            "updated_at": _now(),
        }
        return {"Put": {"TableName": self._category, "Item": _typed(item)}}

    def _delete_category(self, label: str, category: str) -> dict[str, Any]:
        key = {CATEGORY_KPIS.partition_key: label, CATEGORY_KPIS.sort_key: category}
        return {"Delete": {"TableName": self._category, "Key": _typed(key)}}

    def _transact(
        self, label: str, generation: int, writes: list[dict[str, Any]], written: Mapping[str, Mapping[str, int]]
    ) -> None:
        """Category writes guarded by the day's generation; the last transaction also records
        on the day item what the category items now hold, so the next write can skip those
        that do not change."""
        key = _typed(daily_key(label))
        guard_values = {":g": _serialize(generation)}
        guard = {"TableName": self._daily, "Key": key, "ConditionExpression": "computed_generation = :g"}
        record = {
            "Update": {
                **guard,
                "UpdateExpression": "SET #w = :w",
                "ExpressionAttributeNames": {"#w": WRITTEN},
                "ExpressionAttributeValues": {**guard_values, ":w": {"S": json.dumps(written, sort_keys=True)}},
            }
        }
        chunks = list(_chunks(writes, TRANSACTION_LIMIT - 1)) or [[]]
        for n, chunk in enumerate(chunks):
            first = (
                record
                if n == len(chunks) - 1
                else {"ConditionCheck": {**guard, "ExpressionAttributeValues": guard_values}}
            )
            try:
                self._db.transact_write_items(TransactItems=[first, *chunk])
            except ClientError as err:
                reasons = err.response.get("CancellationReasons", [])
                if reasons and reasons[0].get("Code") == "ConditionalCheckFailed":
                    raise Superseded(label) from err
                raise


def _chunks(items: list[Any], size: int) -> Iterable[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")
