"""Creates tables and buckets from their one definition (chalicelib), on any endpoint.

Used wherever we stand up AWS without CloudFormation: the embedded AWS of `replay`, the
local stack and the tests.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, cast

from chalicelib.storage_layout import INPUT_BUCKET, BucketSpec
from chalicelib.tables import TableSpec

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.literals import BucketLocationConstraintType


def create_tables(dynamodb: DynamoDBClient, specs: Iterable[TableSpec]) -> dict[str, str]:
    """Create each table (if absent) under its configured name; returns spec id -> name."""
    existing = set(dynamodb.list_tables().get("TableNames", []))
    names = {}
    for spec in specs:
        name = spec.name()
        if name not in existing:
            dynamodb.create_table(**spec.create_table_kwargs(name))
        names[spec.logical_id] = name
    return names


def create_buckets(s3: S3Client, specs: Iterable[BucketSpec]) -> dict[str, str]:
    """Create each bucket (if absent); the input bucket is versioned, as in the cloud."""
    existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    names = {}
    for spec in specs:
        name = spec.name()
        if name not in existing:
            region = s3.meta.region_name
            if region == "us-east-1":
                s3.create_bucket(Bucket=name)
            else:  # a region's name is its location constraint
                constraint = cast("BucketLocationConstraintType", region)
                s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": constraint})
        if spec is INPUT_BUCKET:
            s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        names[spec.logical_id] = name
    return names
