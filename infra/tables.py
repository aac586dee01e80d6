"""DynamoDB: every table of `chalicelib.tables`, rendered from its TableSpec (never redefined).

On-demand billing (traffic is bursty: a file a few times a day, orders in waves), point-in-time
recovery, retained on stack deletion (not on a failed create), encryption with the stack's KMS key, streams where the spec asks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from troposphere import GetAtt, Join
from troposphere.dynamodb import (
    AttributeDefinition,
    GlobalSecondaryIndex,
    KeySchema,
    PointInTimeRecoverySpecification,
    Projection,
    SSESpecification,
    StreamSpecification,
    Table,
    TimeToLiveSpecification,
)

from chalicelib.tables import ALL_TABLES, TableSpec
from infra.context import RETAINED_DATA, Stack
from infra.encryption import Encryption


@dataclass(frozen=True)
class Tables:
    by_spec: dict[str, Table]

    def __getitem__(self, spec: TableSpec) -> Table:
        return self.by_spec[spec.logical_id]

    def arn(self, spec: TableSpec) -> GetAtt:
        return GetAtt(self[spec], "Arn")

    def arns_with_indexes(self, spec: TableSpec) -> list[Any]:
        arns = [self.arn(spec)]
        if spec.indexes:
            arns.append(Join("", [self.arn(spec), "/index/*"]))
        return arns


def _table(stack: Stack, spec: TableSpec, encryption: Encryption) -> Table:
    kwargs = spec.create_table_kwargs(stack.name(spec.default_name))
    props: dict[str, Any] = {
        "TableName": kwargs["TableName"],
        "BillingMode": kwargs["BillingMode"],
        "KeySchema": [KeySchema(**k) for k in kwargs["KeySchema"]],
        "AttributeDefinitions": [AttributeDefinition(**a) for a in kwargs["AttributeDefinitions"]],
        "PointInTimeRecoverySpecification": PointInTimeRecoverySpecification(PointInTimeRecoveryEnabled=True),
        # No DeletionProtectionEnabled: a protected table cannot be deleted by anyone, CloudFormation
        # included, so the rollback of a failed first create would leave it behind and the next
        # create would fail on its name. RETAINED_DATA keeps it from stack deletes instead, and
        # deleting a table with PITR on leaves a 35-day system backup.
        # https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/PointInTimeRecovery_Howitworks.html#howitworks-pitr-deleting-table
        "SSESpecification": SSESpecification(SSEEnabled=True, SSEType="KMS", KMSMasterKeyId=encryption.key_arn),
        "Tags": stack.tags("tables"),
    }
    for index in kwargs.get("GlobalSecondaryIndexes", []):
        props.setdefault("GlobalSecondaryIndexes", []).append(
            GlobalSecondaryIndex(
                IndexName=index["IndexName"],
                KeySchema=[KeySchema(**k) for k in index["KeySchema"]],
                Projection=Projection(**index["Projection"]),
            )
        )
    if "StreamSpecification" in kwargs:
        props["StreamSpecification"] = StreamSpecification(
            StreamViewType=kwargs["StreamSpecification"]["StreamViewType"]
        )
    if spec.ttl_attribute:
        props["TimeToLiveSpecification"] = TimeToLiveSpecification(AttributeName=spec.ttl_attribute, Enabled=True)
    table = Table(spec.logical_id, **RETAINED_DATA, **props)
    stack.add(table, f"{spec.default_name}: table name ({spec.env_var})")
    stack.output(f"{spec.logical_id}Arn", GetAtt(table, "Arn"), f"{spec.default_name}: table ARN")
    if spec.stream_view_type:
        stack.output(f"{spec.logical_id}StreamArn", GetAtt(table, "StreamArn"), f"{spec.default_name}: stream ARN")
    return table


def build(stack: Stack, encryption: Encryption) -> Tables:
    return Tables({spec.logical_id: _table(stack, spec, encryption) for spec in ALL_TABLES})
