"""Writes and reads the Orders table. Every write keeps the pipes' helper attributes in step.

Status changes are checked in DynamoDB (a condition on the current status), so two writers
racing cannot make an order jump along a transition the model forbids.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from chalicelib.orders.exceptions import InvalidTransition, OrderAlreadyExists, OrderNotFound
from chalicelib.orders.model import (
    Order,
    OrderStatus,
    line_items_total,
    parse_amount,
    parse_email,
    parse_line_items,
    parse_status,
    predecessors,
)
from chalicelib.orders.routing import AMOUNT_BAND, EMAIL_CLASS, amount_band, email_class
from chalicelib.runs import utc_now
from chalicelib.tables import ORDERS

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table

KEY = ORDERS.partition_key


def _condition_failed(err: ClientError) -> bool:
    return err.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


class OrderRepository:
    def __init__(self, table: Table) -> None:
        self._table = table

    def create(self, order: Order) -> Order:
        item: dict[str, Any] = dict(order)  # a TypedDict's values are `object` to mypy
        try:
            self._table.put_item(
                Item=item, ConditionExpression="attribute_not_exists(#k)", ExpressionAttributeNames={"#k": KEY}
            )
        except ClientError as err:
            if _condition_failed(err):
                raise OrderAlreadyExists(order["orderId"]) from err
            raise
        return order

    def get(self, order_id: str) -> dict[str, Any] | None:
        item: dict[str, Any] | None = self._table.get_item(Key={KEY: order_id}, ConsistentRead=True).get("Item")
        return item

    def update(
        self,
        order_id: str,
        *,
        status: OrderStatus | str | None = None,
        amount: Any = None,
        customer_email: str | None = None,
        line_items: Iterable[Mapping[str, Any]] | None = None,
        now: str | None = None,
    ) -> dict[str, Any]:
        """Change some fields; new line items without an amount re-total the order."""
        values: dict[str, Any] = {"updatedAt": now or utc_now()}
        if line_items is not None:
            values["lineItems"] = parse_line_items(line_items)
            if amount is None:
                amount = line_items_total(values["lineItems"])
        if amount is not None:
            values["amount"] = parse_amount(amount)
            values[AMOUNT_BAND] = amount_band(values["amount"]).value
        if customer_email is not None:
            values["customerEmail"] = parse_email(customer_email)
            values[EMAIL_CLASS] = email_class(values["customerEmail"]).value
        names = {f"#a{i}": name for i, name in enumerate(values)}
        expression_values = {f":a{i}": value for i, value in enumerate(values.values())}
        names["#k"] = KEY
        condition = "attribute_exists(#k)"
        wanted = parse_status(status) if status is not None else None
        if wanted is not None:
            allowed = {f":from{i}": s.value for i, s in enumerate(predecessors(wanted))}
            if not allowed:  # e.g. back to pending: no status leads there
                raise InvalidTransition(order_id, "any status", wanted.value)
            names["#st"] = "status"
            expression_values[":st"] = wanted.value
            expression_values.update(allowed)
            condition += f" AND #st IN ({', '.join(allowed)})"
        updates = [f"#a{i} = :a{i}" for i in range(len(values))] + (["#st = :st"] if wanted is not None else [])
        try:
            updated: dict[str, Any] = self._table.update_item(
                Key={KEY: order_id},
                UpdateExpression="SET " + ", ".join(updates),
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=expression_values,
                ReturnValues="ALL_NEW",
            )["Attributes"]
        except ClientError as err:
            if not _condition_failed(err):
                raise
            current = self.get(order_id)
            if current is None:
                raise OrderNotFound(order_id) from err
            raise InvalidTransition(order_id, str(current.get("status")), wanted.value if wanted else "") from err
        return updated

    def delete(self, order_id: str) -> None:
        try:
            self._table.delete_item(
                Key={KEY: order_id}, ConditionExpression="attribute_exists(#k)", ExpressionAttributeNames={"#k": KEY}
            )
        except ClientError as err:
            if _condition_failed(err):
                raise OrderNotFound(order_id) from err
            raise
