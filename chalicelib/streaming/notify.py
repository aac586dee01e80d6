"""Publish one SNS message per table item, however often the item's event is replayed.

The item is written first (a conditional put: the idempotency guard), then published, then
marked. A replay finds the mark and publishes nothing; a crash between publish and mark
publishes again on the retry: notifications are at least once, effects exactly once.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from chalicelib.runs import utc_now

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table
    from mypy_boto3_dynamodb.type_defs import TableAttributeValueTypeDef
    from mypy_boto3_sns import SNSClient

NOTIFIED_AT = "notified_at"
SNS_SUBJECT_MAX = 100


class OnceNotifier:
    def __init__(self, table: Table, sns: SNSClient, topic_arn: str) -> None:
        self._table = table
        self._sns = sns
        self._topic_arn = topic_arn

    def notify(
        self,
        item: Mapping[str, object],
        key: Mapping[str, TableAttributeValueTypeDef],
        subject: str,
        message: Mapping[str, object],
    ) -> bool:
        """Publish unless `item` is already marked; True when this call published."""
        if NOTIFIED_AT in item:
            return False
        response = self._sns.publish(
            TopicArn=self._topic_arn,
            Subject=subject[:SNS_SUBJECT_MAX],
            Message=json.dumps(message, default=str, sort_keys=True),
        )
        try:
            self._table.update_item(
                Key=dict(key),
                UpdateExpression="SET #n = :n, #m = :m",
                ConditionExpression="attribute_not_exists(#n)",
                ExpressionAttributeNames={"#n": NOTIFIED_AT, "#m": "notification_id"},
                ExpressionAttributeValues={":n": utc_now(), ":m": response["MessageId"]},
            )
        except ClientError as err:
            # A concurrent delivery of the same event marked it first: both published.
            if err.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
        return True
