"""Writes a day's KPIs to DynamoDB, computed from a snapshot of the curated data.

The generation of a write is the snapshot's number (`seq`): a later snapshot holds at least
what an earlier one held, and every write is guarded so that the latest snapshot wins:
- the day item is written only if its `computed_generation` is not higher than ours (equal:
  a retry, or a reconciliation, of the same snapshot writes the same values again);
- category items are written in transactions that also check the day item still carries
  our generation, so a write from an older snapshot cannot add or delete anything after a
  newer one has taken over.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from boto3.dynamodb.types import TypeSerializer
from botocore.exceptions import ClientError

from chalicelib.kpis import CATEGORY_COMPONENTS, DAILY_COMPONENTS, ITEMS_WAITING, derived_category, derived_daily
from chalicelib.tables import CATEGORY_KPIS, DAILY_KPIS

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

# TransactWriteItems takes up to 100 actions, BatchGetItem up to 100 keys:
# https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_TransactWriteItems.html
# https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_BatchGetItem.html
TRANSACTION_LIMIT = 100
# On the day item: each category item's components as written, as JSON text (one string is
# far cheaper to return than a map of maps).
WRITTEN = "category_components"
# A day item is written only if no newer snapshot wrote it (equal: a retry, a reconciliation).
NOT_NEWER = "attribute_not_exists(computed_generation) OR computed_generation <= :g"
_serialize = TypeSerializer().serialize
T = TypeVar("T")


def _typed(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _serialize(v) for k, v in item.items()}


def daily_key(label: str) -> dict[str, str]:
    return {DAILY_KPIS.partition_key: label[:4], DAILY_KPIS.range_key: label}


@dataclass(frozen=True)
class DayKpis:
    """One day's components (None: no orders), its categories' and its items waiting."""

    label: str
    daily: Mapping[str, int] | None
    categories: Mapping[str, Mapping[str, int]]
    waiting: int = 0


class KpiTables:
    def __init__(self, client: DynamoDBClient, daily_table: str, category_table: str) -> None:
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
        return bool(self.write_days(generation, [DayKpis(label, daily, categories, waiting)])[0])

    def write_days(self, generation: int, days: list[DayKpis]) -> tuple[list[str], list[str]]:
        """Store these days (written, superseded). Each day is one group of actions (its item,
        with a record of its category items, and the category items that change); groups
        share transactions of up to 100 actions, so a day is always written whole."""
        before = self._days_before([d.label for d in days])
        groups = [(d.label, self._actions(d, generation, before.get(d.label, {}))) for d in days]
        written: list[str] = []
        superseded: list[str] = []
        batch: list[tuple[str, list[TransactWriteItemTypeDef]]] = []
        for group in [*groups, ("", [])]:  # the empty group flushes the last batch
            if batch and (not group[1] or sum(len(a) for _, a in batch) + len(group[1]) > TRANSACTION_LIMIT):
                self._transact_groups(batch, written, superseded)
                batch = []
            if len(group[1]) > TRANSACTION_LIMIT:
                self._transact_large(group, generation, written, superseded)
            elif group[1]:
                batch.append(group)
        return written, superseded

    def _days_before(self, labels: list[str]) -> dict[str, dict[str, Any]]:
        """The day items as stored (typed attribute values), 100 keys per BatchGetItem."""
        found: dict[str, dict[str, Any]] = {}
        for chunk in _chunks(sorted(set(labels)), 100):
            request: dict[str, Any] = {
                self._daily: {"Keys": [_typed(daily_key(label)) for label in chunk], "ConsistentRead": True}
            }
            while request:
                out = self._db.batch_get_item(RequestItems=request)
                for item in out["Responses"].get(self._daily, []):
                    found[item[DAILY_KPIS.range_key]["S"]] = item
                request = out.get("UnprocessedKeys") or {}
        return found

    def _actions(self, day: DayKpis, generation: int, before: Mapping[str, Any]) -> list[TransactWriteItemTypeDef]:
        new = {c: {k: int(v[k]) for k in CATEGORY_COMPONENTS} for c, v in day.categories.items()}
        known = json.loads(before[WRITTEN]["S"]) if WRITTEN in before else {}
        if before.get("computed_generation") == _serialize(generation) or (before and WRITTEN not in before):
            # A retry of this snapshot, or a day last written another way: what is stored is
            # not known from the record, so everything is written and stale items looked up.
            known = dict.fromkeys(self._stored_categories(day.label))
        writes = [self._put_category(day.label, generation, c, v) for c, v in sorted(new.items()) if known.get(c) != v]
        writes += [self._delete_category(day.label, c) for c in sorted(set(known) - set(new))]
        return [self._put_day(day, generation, new), *writes]

    def _put_day(
        self, day: DayKpis, generation: int, written: Mapping[str, Mapping[str, int]]
    ) -> TransactWriteItemTypeDef:
        """The whole day item, put only if no newer snapshot wrote it. Only this class writes day
        items, so a put leaves what an update of every attribute would (a day without orders
        keeps no KPIs); it costs the same write units (item size), and the embedded AWS parses
        no update expression."""
        item: dict[str, Any] = {
            **daily_key(day.label),
            "computed_generation": generation,
            "updated_at": _now(),
            ITEMS_WAITING: day.waiting,
            WRITTEN: json.dumps(written, sort_keys=True),
        }
        if day.daily:
            item.update({k: int(day.daily[k]) for k in DAILY_COMPONENTS})
            item.update(derived_daily(day.daily))
        return {
            "Put": {
                "TableName": self._daily,
                "Item": _typed(item),
                "ConditionExpression": NOT_NEWER,
                "ExpressionAttributeValues": {":g": _serialize(generation)},
            }
        }

    def _stored_categories(self, label: str) -> set[str]:
        found: set[str] = set()
        kwargs: dict[str, Any] = {
            "TableName": self._category,
            "KeyConditionExpression": "#d = :d",
            "ExpressionAttributeNames": {"#d": CATEGORY_KPIS.partition_key, "#c": CATEGORY_KPIS.range_key},
            "ExpressionAttributeValues": {":d": {"S": label}},
            "ProjectionExpression": "#c",
            "ConsistentRead": True,
        }
        while True:
            page = self._db.query(**kwargs)
            found |= {i[CATEGORY_KPIS.range_key]["S"] for i in page.get("Items", [])}
            if "LastEvaluatedKey" not in page:
                return found
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _put_category(
        self, label: str, generation: int, category: str, c: Mapping[str, int]
    ) -> TransactWriteItemTypeDef:
        item: dict[str, Any] = {
            CATEGORY_KPIS.partition_key: label,
            CATEGORY_KPIS.range_key: category,
            **{k: int(c[k]) for k in CATEGORY_COMPONENTS},
            **derived_category(c),
            "generation": generation,
            "updated_at": _now(),
        }
        return {"Put": {"TableName": self._category, "Item": _typed(item)}}

    def _delete_category(self, label: str, category: str) -> TransactWriteItemTypeDef:
        key = {CATEGORY_KPIS.partition_key: label, CATEGORY_KPIS.range_key: category}
        return {"Delete": {"TableName": self._category, "Key": _typed(key)}}

    def _transact_groups(
        self, groups: list[tuple[str, list[TransactWriteItemTypeDef]]], written: list[str], superseded: list[str]
    ) -> None:
        """One transaction for these days; if a newer snapshot took over one of them, each day
        is tried alone, so the others are still written."""
        try:
            self._db.transact_write_items(TransactItems=[a for _, actions in groups for a in actions])
        except ClientError as err:
            if not _condition_failed(err):
                raise
            if len(groups) == 1:
                superseded.append(groups[0][0])
                return
            for group in groups:
                self._transact_groups([group], written, superseded)
            return
        written.extend(label for label, _ in groups)

    def _transact_large(
        self,
        group: tuple[str, list[TransactWriteItemTypeDef]],
        generation: int,
        written: list[str],
        superseded: list[str],
    ) -> None:
        """A day with more than 99 changed categories: its category writes first, guarded by
        the generation, and its item (and record) last, so a crash in between leaves the old
        record, which the next write diffs against."""
        label, (day, *writes) = group
        guard: TransactWriteItemTypeDef = {
            "ConditionCheck": {
                "TableName": self._daily,
                "Key": _typed(daily_key(label)),
                "ConditionExpression": NOT_NEWER,
                "ExpressionAttributeValues": {":g": _serialize(generation)},
            }
        }
        try:
            for chunk in _chunks(writes, TRANSACTION_LIMIT - 1):
                self._db.transact_write_items(TransactItems=[guard, *chunk])
            self._db.transact_write_items(TransactItems=[day])
        except ClientError as err:
            if not _condition_failed(err):
                raise
            superseded.append(label)
            return
        written.append(label)


def _condition_failed(err: ClientError) -> bool:
    reasons = err.response.get("CancellationReasons", [])
    return any(r.get("Code") == "ConditionalCheckFailed" for r in reasons)


def _chunks(items: list[T], size: int) -> Iterable[list[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")
