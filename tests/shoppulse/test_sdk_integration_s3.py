"""`as_sdk_integration_s3`: the one rule both workflow interpreters call S3 with."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from chalicelib.storage_layout import RunIdentity
from shoppulse.local.moto_fixes.stepfunctions import as_sdk_integration_s3


@mock_aws
def test_copy_source_is_passed_as_given_as_the_workflow_encodes_it() -> None:
    s3 = as_sdk_integration_s3(boto3.client("s3", region_name="us-east-1"))
    s3.create_bucket(Bucket="copies")
    s3.put_bucket_versioning(Bucket="copies", VersioningConfiguration={"Status": "Enabled"})
    version = s3.put_object(Bucket="copies", Key="incoming/a b+c.csv", Body=b"x")["VersionId"]
    source = RunIdentity("copies", "incoming/a b+c.csv", version).copy_source
    s3.copy_object(Bucket="copies", Key="archive/a b+c.csv", CopySource=source)
    assert s3.get_object(Bucket="copies", Key="archive/a b+c.csv")["Body"].read() == b"x"


@mock_aws
def test_a_plain_client_encodes_the_copy_source_a_second_time() -> None:
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="copies")
    s3.put_object(Bucket="copies", Key="incoming/a b.csv", Body=b"x")
    with pytest.raises(s3.exceptions.NoSuchKey):
        s3.copy_object(Bucket="copies", Key="archive/a b.csv", CopySource="copies/incoming/a%20b.csv")


def test_only_an_s3_client_is_accepted() -> None:
    with pytest.raises(ValueError, match="not an S3 client"):
        as_sdk_integration_s3(boto3.client("sqs", region_name="us-east-1"))
