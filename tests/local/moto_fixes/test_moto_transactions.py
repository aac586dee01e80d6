"""The transaction fix for moto (shoppulse/local/moto_fixes/dynamodb.py, fix 10) keeps AWS semantics:
all or nothing, a failed transaction leaves every item as it was."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from chalicelib.tables import CATEGORY_KPIS
from shoppulse.embedded import embedded_aws


def test_a_cancelled_transaction_changes_nothing_and_a_good_one_everything() -> None:
    with embedded_aws() as clients:
        db, table = clients.dynamodb, CATEGORY_KPIS.name()
        key = lambda c: {"order_date": {"S": "2025-03-01"}, "category": {"S": c}}  # noqa: E731
        db.put_item(TableName=table, Item={**key("A"), "n": {"N": "1"}})
        db.put_item(TableName=table, Item={**key("B"), "n": {"N": "1"}})
        writes = [
            {"Put": {"TableName": table, "Item": {**key("A"), "n": {"N": "2"}}}},
            {"Delete": {"TableName": table, "Key": key("B")}},
            {"Put": {"TableName": table, "Item": {**key("C"), "n": {"N": "2"}}}},
        ]
        failing = {
            "ConditionCheck": {"TableName": table, "Key": key("D"), "ConditionExpression": "attribute_exists(n)"}
        }
        with pytest.raises(ClientError, match="TransactionCanceled"):
            db.transact_write_items(TransactItems=[*writes, failing])
        items = {i["category"]["S"]: i["n"]["N"] for i in db.scan(TableName=table)["Items"]}
        assert items == {"A": "1", "B": "1"}
        db.transact_write_items(TransactItems=writes)
        items = {i["category"]["S"]: i["n"]["N"] for i in db.scan(TableName=table)["Items"]}
        assert items == {"A": "2", "C": "2"}
