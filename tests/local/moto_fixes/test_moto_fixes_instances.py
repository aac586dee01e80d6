"""moto as released still needs fix 22 (shoppulse/local/moto_fixes/instances.py): it keeps every
model instance it made. With the fix nothing is tracked and every stored version and item stays.

The upstream part runs moto's own code (`patching.upstream`) and fails, saying the fix can go,
once moto stops tracking instances.
"""

from __future__ import annotations

from moto.s3.models import FakeKey

from benchmarks.feed import _stored_mib
from chalicelib.storage_layout import INPUT_BUCKET
from chalicelib.tables import RUNS
from shoppulse.embedded import embedded_aws
from shoppulse.local.moto_fixes.patching import upstream


def _tracked() -> int:
    return len(FakeKey.instances_tracked)  # type: ignore[attr-defined]


def test_fix_22_moto_tracks_every_object_version_it_made() -> None:
    with embedded_aws() as aws:
        bucket = INPUT_BUCKET.name()
        with upstream():
            before = _tracked()
            for _ in range(3):
                aws.s3.put_object(Bucket=bucket, Key="tracked", Body=b"x")
            assert _tracked() >= before + 3


def test_with_the_fix_nothing_is_tracked_and_everything_stored_stays() -> None:
    with embedded_aws() as aws:
        bucket = INPUT_BUCKET.name()
        before = _tracked()
        versions = [aws.s3.put_object(Bucket=bucket, Key="k", Body=b"x" * 2**19)["VersionId"] for _ in range(4)]
        aws.s3.delete_object(Bucket=bucket, Key="k")  # a delete marker: the versions stay
        runs = aws.dynamodb_resource.Table(RUNS.name())
        runs.put_item(Item={"run_id": "r", "status": "RUNNING"})
        assert _tracked() == before == 0
        for version in versions:
            assert len(aws.s3.get_object(Bucket=bucket, Key="k", VersionId=version)["Body"].read()) == 2**19
        assert runs.get_item(Key={"run_id": "r"})["Item"]["status"] == "RUNNING"
        assert _stored_mib(aws.s3) == 2.0
