"""moto as released still needs fixes 21, 23 and 24 (shoppulse/local/moto_fixes/s3.py), and the
fixed ListObjectVersions, PutObject and CopyObject answer as moto's own do.

The first test runs moto's own code (`patching.upstream`) and asserts the shortcoming the fix makes
up for: when it fails, moto has caught up, and the fix can go.
"""

from __future__ import annotations

import gc
import hashlib
import itertools
import tempfile
from collections.abc import Iterator
from typing import Any
from unittest import mock

import boto3
import pytest
from moto import mock_aws
from moto.core.model_instances import model_data
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.s3 import models as s3_models
from moto.s3.models import FakeKey, S3Backend, s3_backends

from shoppulse.local.moto_fixes import s3 as s3_fixes
from shoppulse.local.moto_fixes.patching import upstream

BUCKET = "versions"
# key -> bodies of its versions, oldest first; None: a delete marker (DeleteObject).
HISTORY: dict[str, list[bytes | None]] = {
    "a/1": [b"a1-v1", b"a1-v2", b"a1-v3"],
    "a/2": [b"a2-v1", None],
    "a/b/3": [b"ab3-v1", None, b"ab3-v3"],
    "ab": [b"ab-v1"],
    "b/1": [b"b1-v1", b"b1-v2"],
    "c": [b"c-v1", None],  # its latest version is a delete marker
}


@pytest.fixture
def s3() -> Iterator[Any]:
    s3_fixes.apply()  # installed or not, upstream() below takes it away
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        client.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        for key, bodies in HISTORY.items():
            for body in bodies:
                if body is None:
                    client.delete_object(Bucket=BUCKET, Key=key)
                else:
                    client.put_object(Bucket=BUCKET, Key=key, Body=body)
        yield client


def _backend() -> S3Backend:
    backend: S3Backend = s3_backends[DEFAULT_ACCOUNT_ID]["global"]
    return backend


def _stored_versions() -> list[Any]:
    return list(
        itertools.chain.from_iterable(versions for _, versions in _backend().get_bucket(BUCKET).keys.iterlists())
    )


def _pages(s3: Any, **params: Any) -> list[dict[str, Any]]:
    """Every page of a listing, following NextKeyMarker/NextVersionIdMarker, without request metadata."""
    pages: list[dict[str, Any]] = []
    while True:
        page = s3.list_object_versions(Bucket=BUCKET, **params)
        page.pop("ResponseMetadata")
        pages.append(page)
        if not page["IsTruncated"]:
            return pages
        params = {**params, "KeyMarker": page["NextKeyMarker"]}
        params.pop("VersionIdMarker", None)
        if page.get("NextVersionIdMarker"):
            params["VersionIdMarker"] = page["NextVersionIdMarker"]


def _tracked() -> int:
    """How many moto model instances live on (`BaseModel.__new__` keeps each one until a reset)."""
    models: list[Any] = [model for service in model_data.values() for model in service.values()]
    return sum(len(model.instances_tracked) for model in models)


def test_fix_21_moto_deep_copies_every_version_of_the_bucket_for_a_prefix(s3: Any) -> None:
    s3.put_object(Bucket=BUCKET, Key="z/big", Body=b"x" * (1 << 20))
    tracked = _tracked()
    with mock.patch.object(FakeKey, "__getstate__", autospec=True, side_effect=FakeKey.__getstate__) as copied:
        with upstream():
            moto_page = s3.list_object_versions(Bucket=BUCKET, Prefix="a/1")
        moto_copied = sorted({key.name for key, *_ in (call.args for call in copied.call_args_list)})
        moto_kept = _tracked() - tracked
        copied.reset_mock()
        fixed_page = s3.list_object_versions(Bucket=BUCKET, Prefix="a/1")
    assert moto_copied == [*sorted(HISTORY), "z/big"]  # bodies included, of keys it cannot list
    assert moto_kept >= len(_stored_versions())  # and every copy (ACLs too) kept until moto's reset
    assert copied.call_count == 0
    assert _tracked() - tracked == moto_kept
    assert [v["VersionId"] for v in fixed_page["Versions"]] == [v["VersionId"] for v in moto_page["Versions"]]


@pytest.mark.parametrize("prefix", ["", "a", "a/", "a/b/", "b/1", "c", "zz"])
def test_fix_21_pages_equal_moto_field_by_field(s3: Any, prefix: str) -> None:
    for delimiter, max_keys in itertools.product([None, "/"], [1, 2, 3, 1000]):
        params: dict[str, Any] = {
            "Prefix": prefix,
            "MaxKeys": max_keys,
            **({"Delimiter": delimiter} if delimiter else {}),
        }
        with upstream():
            expected = _pages(s3, **params)
        assert _pages(s3, **params) == expected, params
    whole = _pages(s3, Prefix=prefix)
    listed = [entry for page in whole for entry in page.get("Versions", []) + page.get("DeleteMarkers", [])]
    keys = [key for key in HISTORY if key.startswith(prefix)]
    assert len(listed) == sum(len(HISTORY[key]) for key in keys)  # every version, delete markers included
    assert sorted(entry["Key"] for entry in listed if entry["IsLatest"]) == keys


def _as_listed(listing: tuple[list[Any], list[str], list[Any], str | None, str | None]) -> tuple[Any, ...]:
    versions, prefixes, markers, next_key, next_version = listing

    def fields(version: Any) -> tuple[Any, ...]:
        size_and_etag = (version.size, version.etag) if isinstance(version, FakeKey) else ()
        return (type(version).__mro__[-3:], version.name, version.version_id, version.is_latest, *size_and_etag)

    return [fields(v) for v in versions], prefixes, [fields(m) for m in markers], next_key, next_version


def test_fix_21_markers_anywhere_equal_moto(s3: Any) -> None:
    """KeyMarker/VersionIdMarker inside, before, after and outside the prefix, as the backend gets them."""
    backend = _backend()
    names = sorted(HISTORY)
    key_markers: list[str | None] = [None, "", "a", "a/0", "zzz", *names]
    for key_marker, prefix, delimiter, max_keys in itertools.product(key_markers, ["", "a/", "b"], [None, "/"], [0, 2]):
        version_markers: list[str | None] = [None]
        if key_marker in HISTORY:
            version_markers += [v.version_id for v in backend.get_bucket(BUCKET).keys.getlist(key_marker)]
        for version_marker in version_markers:
            call: dict[str, Any] = {
                "delimiter": delimiter,
                "key_marker": key_marker,
                "max_keys": max_keys,
                "prefix": prefix,
                "version_id_marker": version_marker,
            }
            with upstream():
                expected = _as_listed(backend.list_object_versions(BUCKET, **call))
            assert _as_listed(backend.list_object_versions(BUCKET, **call)) == expected, call


def test_fix_21_listing_leaves_stored_versions_as_they_were(s3: Any) -> None:
    before = [dict(vars(version)) for version in _stored_versions()]
    assert _pages(s3, MaxKeys=2)
    gc.collect()  # the listing's views are gone: the stored bodies must still be open
    assert [dict(vars(version)) for version in _stored_versions()] == before
    assert all("is_latest" not in vars(version) for version in _stored_versions())
    assert s3.get_object(Bucket=BUCKET, Key="a/1")["Body"].read() == b"a1-v3"
    first = s3.list_object_versions(Bucket=BUCKET, Prefix="a/1")["Versions"][-1]["VersionId"]
    assert s3.get_object(Bucket=BUCKET, Key="a/1", VersionId=first)["Body"].read() == b"a1-v1"


BUFFER = 1024  # MOTO_S3_DEFAULT_KEY_BUFFER_SIZE in these tests: a body of 4 KiB rolls over to a file
BODY = bytes(range(256)) * 16


def _stored(s3: Any, key: str) -> tuple[Any, ...]:
    """What a client sees of a stored object, and how moto holds it (on disk or in memory)."""
    head = s3.head_object(Bucket=BUCKET, Key=key)
    stored = _backend().get_object(BUCKET, key)
    assert stored is not None
    return (
        head["ETag"],
        head["ContentLength"],
        s3.get_object(Bucket=BUCKET, Key=key)["Body"].read(),
        stored._value_buffer._rolled,
    )


def test_fix_23_moto_copies_a_large_body_in_memory_and_reads_it_back_for_its_etag(
    s3: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MOTO_S3_DEFAULT_KEY_BUFFER_SIZE", str(BUFFER))
    rollover = tempfile.SpooledTemporaryFile.rollover
    read = tempfile.SpooledTemporaryFile.read

    def put(key: str) -> tuple[list[int], int, str]:
        """Bytes in memory at each rollover, reads of the stored body, and the PutObject's ETag."""
        held: list[int] = []

        def rolling(buffer: Any) -> None:
            held.append(buffer._file.tell())
            rollover(buffer)

        with (
            mock.patch.object(tempfile.SpooledTemporaryFile, "rollover", autospec=True, side_effect=rolling),
            mock.patch.object(tempfile.SpooledTemporaryFile, "read", autospec=True, side_effect=read) as reads,
        ):
            etag: str = s3.put_object(Bucket=BUCKET, Key=key, Body=BODY)["ETag"]
        return held, reads.call_count, etag

    with upstream():
        moto_held, moto_reads, moto_etag = put("moto")
        moto_stored = _stored(s3, "moto")
    assert moto_held == [len(BODY)] and moto_reads >= 1  # the whole body in memory, then read back for the MD5
    fixed_held, fixed_reads, fixed_etag = put("fixed")
    assert fixed_held == [0] and fixed_reads == 0
    assert fixed_etag == moto_etag == f'"{hashlib.md5(BODY).hexdigest()}"'
    assert _stored(s3, "fixed") == moto_stored == (moto_etag, len(BODY), BODY, True)
    s3.put_object(Bucket=BUCKET, Key="small", Body=b"small")  # under the buffer size: kept in memory, as by moto
    assert _stored(s3, "small")[2:] == (b"small", False)


def _copy(s3: Any, source: str, key: str) -> tuple[dict[str, Any], int]:
    """The CopyObject's result and how many MD5s moto computed for it."""
    with (
        mock.patch.object(s3_models, "md5_hash", wraps=s3_models.md5_hash) as moto_md5,
        mock.patch.object(s3_fixes, "md5_hash", wraps=s3_fixes.md5_hash) as fixed_md5,
    ):
        result: dict[str, Any] = s3.copy_object(
            Bucket=BUCKET, Key=key, CopySource={"Bucket": BUCKET, "Key": source}, MetadataDirective="COPY"
        )["CopyObjectResult"]
    return {"ETag": result["ETag"]}, moto_md5.call_count + fixed_md5.call_count


def test_fix_24_moto_hashes_a_copied_body_again(s3: Any) -> None:
    s3.put_object(Bucket=BUCKET, Key="source", Body=BODY)
    with upstream():
        moto_result, moto_hashes = _copy(s3, "source", "moto-copy")
        moto_stored = _stored(s3, "moto-copy")
    assert moto_hashes == 1
    fixed_result, fixed_hashes = _copy(s3, "source", "fixed-copy")
    assert fixed_hashes == 0
    assert fixed_result == moto_result == {"ETag": f'"{hashlib.md5(BODY).hexdigest()}"'}
    assert _stored(s3, "fixed-copy") == moto_stored


def test_fix_24_a_copy_of_a_multipart_object_keeps_moto_s_etag(s3: Any) -> None:
    """moto's ETag of such a copy is the MD5 of the body, not the source's "-N" one: moto's path."""
    upload = s3.create_multipart_upload(Bucket=BUCKET, Key="parts")["UploadId"]
    part = s3.upload_part(Bucket=BUCKET, Key="parts", UploadId=upload, PartNumber=1, Body=BODY)
    s3.complete_multipart_upload(
        Bucket=BUCKET,
        Key="parts",
        UploadId=upload,
        MultipartUpload={"Parts": [{"ETag": part["ETag"], "PartNumber": 1}]},
    )
    with upstream():
        moto_result, _ = _copy(s3, "parts", "moto-copy")
    fixed_result, _ = _copy(s3, "parts", "fixed-copy")
    assert fixed_result == moto_result == {"ETag": f'"{hashlib.md5(BODY).hexdigest()}"'}
    assert s3.head_object(Bucket=BUCKET, Key="parts")["ETag"].endswith('-1"')
