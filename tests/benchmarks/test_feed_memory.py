"""The feed drops moto's instance tracking between files (benchmarks/feed.py): the embedded
AWS keeps everything it stores, and only the references held for moto's dashboard go."""

from __future__ import annotations

from moto.core.model_instances import reset_model_data
from moto.s3.models import FakeKey

from benchmarks.feed import _stored_mib
from chalicelib.storage_layout import INPUT_BUCKET
from chalicelib.tables import RUNS
from shoppulse.embedded import embedded_aws


def test_dropping_the_tracked_instances_keeps_every_stored_version_and_item() -> None:
    with embedded_aws() as aws:
        bucket = INPUT_BUCKET.name()
        versions = [aws.s3.put_object(Bucket=bucket, Key="k", Body=b"x" * 2**19)["VersionId"] for _ in range(4)]
        aws.s3.delete_object(Bucket=bucket, Key="k")  # a delete marker: the versions stay
        runs = aws.dynamodb_resource.Table(RUNS.name())
        runs.put_item(Item={"run_id": "r", "status": "RUNNING"})
        assert len(FakeKey.instances_tracked) >= 4  # type: ignore[attr-defined]
        reset_model_data()
        assert FakeKey.instances_tracked == []  # type: ignore[attr-defined]
        for version in versions:
            assert len(aws.s3.get_object(Bucket=bucket, Key="k", VersionId=version)["Body"].read()) == 2**19
        assert runs.get_item(Key={"run_id": "r"})["Item"]["status"] == "RUNNING"
        assert _stored_mib(aws.s3) == 2.0
