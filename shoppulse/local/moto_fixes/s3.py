"""S3: fixes 21 (ListObjectVersions without a deep copy of the bucket), 23 (an object's body
stored and hashed once), 24 (CopyObject keeps the source's ETag).

21. moto's `S3Backend.list_object_versions` deep-copies every version of every key of the bucket,
   bodies included and whatever the Prefix, on every call, only to set `is_latest` on what it
   lists (~0.4 s CPU per call on the bulk benchmark's input bucket, growing with the bucket),
   and keeps every copy, a spooled file per body, until moto's reset (`BaseModel.__new__` tracks
   each instance for moto's dashboard).
   In AWS a listing holds only keys that begin with the prefix, and IsLatest marks the newest of
   a key's own versions (https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectVersions.html).
   The fix hands moto's own listing only the keys it can show, plus the one its KeyMarker
   pagination looks at, each version as a view that reads the stored version and keeps the
   listing's `is_latest` to itself: the answer is moto's own, field by field; no body is copied
   and no stored version changes. No upstream issue found.
23. moto stores an object's body (`FakeKey.value`) in a `SpooledTemporaryFile` that keeps up to
   MOTO_S3_DEFAULT_KEY_BUFFER_SIZE (~5 MiB) in memory: a larger body is first written to the
   in-memory buffer, then copied to the file it rolls over to; and the ETag, the MD5 of the body,
   is computed by reading the body back from that file. The fix rolls over to the file before
   writing a body that moto would roll over, and hashes the body it is given as it stores it
   (moto sets a body only when it makes a key: the MD5 is of the same bytes). Same bytes stored,
   same ETag. No upstream issue found.
24. moto's CopyObject stores the copy through `put_object` without an ETag, so the copy's MD5 is
   computed again over the whole body. For a source that moto did not assemble from parts
   (`multipart` is None), the source's ETag is the MD5 of the very bytes copied, as AWS documents
   for objects created by PUT or Copy ("an MD5 digest of their object data",
   https://docs.aws.amazon.com/AmazonS3/latest/API/API_Object.html): the copy is given it. A copy
   of an object moto assembled from parts keeps moto's own path (its copy's ETag is the MD5 of the
   body, not the source's "-N" one). No upstream issue found.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from moto.s3.models import DEFAULT_TEXT_ENCODING, FakeBucket, FakeDeleteMarker, FakeKey, S3Backend
from moto.utilities.utils import md5_hash

from shoppulse.local.moto_fixes.patching import ORIGINALS, replace

Version = FakeKey | FakeDeleteMarker
Listing = tuple[list[FakeKey], list[str], list[FakeDeleteMarker], str | None, str | None]


class _StoredVersionView:
    """One stored version as one listing sees it: what the listing sets (`is_latest`) stays on the
    view; everything else is read from the stored version, whose body is never copied."""

    def __new__(cls, stored: Version) -> _StoredVersionView:
        """Not `BaseModel.__new__`, which keeps every instance (until moto's reset) for its dashboard:
        a view lives as long as the listing's answer."""
        return object.__new__(cls)

    def __init__(self, stored: Version) -> None:
        self.stored = stored

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stored, name)

    def __deepcopy__(self, memo: dict[int, Any]) -> _StoredVersionView:
        """moto's listing deep-copies what it is given: the copy of a view is another view."""
        return type(self)(self.stored)


# moto tells keys from delete markers by `isinstance(version, FakeKey)`: each view is one.
class _KeyView(_StoredVersionView, FakeKey):
    def dispose(self, garbage: bool = False) -> None:
        """A view owns no buffer: disposing of it (`FakeKey.__del__`) leaves the stored key's open."""


class _DeleteMarkerView(_StoredVersionView, FakeDeleteMarker):
    pass


def _view(version: Version) -> _StoredVersionView:
    return _KeyView(version) if isinstance(version, FakeKey) else _DeleteMarkerView(version)


@dataclass(frozen=True)
class _Listable:
    """All moto's listing reads of its backend (`get_bucket(name).keys.iterlists()`), holding only
    the versions the listing may show or page past."""

    versions_by_key: list[tuple[str, list[_StoredVersionView]]]

    def get_bucket(self, bucket_name: str) -> _Listable:
        return self

    @property
    def keys(self) -> _Listable:
        return self

    def iterlists(self) -> Iterator[tuple[str, list[_StoredVersionView]]]:
        return iter(self.versions_by_key)


def _listable(bucket: FakeBucket, prefix: str, key_marker: str | None) -> _Listable:
    """The keys with the prefix and, outside it, the first key from KeyMarker on: moto pages from
    there (it is the marker's key, or the key moto skips when VersionIdMarker is absent)."""
    versions_by_key: list[tuple[str, list[Version]]] = list(bucket.keys.iterlists())
    paged_from = (
        None if key_marker is None else min((name for name, _ in versions_by_key if name >= key_marker), default=None)
    )
    return _Listable(
        [
            (name, [_view(version) for version in versions])
            for name, versions in versions_by_key
            if name.startswith(prefix) or name == paged_from
        ]
    )


def list_object_versions(
    self: S3Backend,
    bucket_name: str,
    delimiter: str | None = None,
    key_marker: str | None = None,
    max_keys: int | None = 1000,
    prefix: str = "",
    version_id_marker: str | None = None,
) -> Listing:
    """`S3Backend.list_object_versions`: moto's own listing, over views of the keys it can show."""
    moto_list = ORIGINALS[(S3Backend, "list_object_versions")]
    listing: Listing = moto_list(
        _listable(self.get_bucket(bucket_name), prefix, key_marker),
        bucket_name,
        delimiter,
        key_marker,
        max_keys,
        prefix,
        version_id_marker,
    )
    return listing


def store_value(self: FakeKey, value: bytes | str) -> None:
    """`FakeKey.value`'s setter: moto's, without the in-memory copy of a body the buffer rolls over,
    and with the ETag hashed from the bytes given rather than read back."""
    body = value.encode(DEFAULT_TEXT_ENCODING) if isinstance(value, str) else value
    buffer = self._value_buffer
    buffer.seek(0)
    buffer.truncate()
    if self._max_buffer_size and len(body) > self._max_buffer_size:  # when moto's write would roll it over
        buffer.rollover()
    buffer.write(body)
    self.contentsize = len(body)
    if self._etag is None:  # the ETag moto's `etag` computes: the MD5 of the stored body
        self._etag = md5_hash(body).hexdigest()


class _CopyTarget:
    """The backend as moto's `copy_object` uses it, whose `put_object` stores the copy with the
    source's ETag."""

    def __init__(self, backend: S3Backend, etag: str) -> None:
        self._backend = backend
        self._etag = etag

    def __getattr__(self, name: str) -> Any:
        return getattr(self._backend, name)

    def put_object(self, *args: Any, **kwargs: Any) -> FakeKey:
        return self._backend.put_object(*args, **{**kwargs, "etag": self._etag})


def copy_object(self: S3Backend, src_key: FakeKey, *args: Any, **kwargs: Any) -> None:
    """`S3Backend.copy_object`: moto's own, the copy given the source's ETag (the MD5 of its body)."""
    moto_copy = ORIGINALS[(S3Backend, "copy_object")]
    if src_key.multipart is not None:
        moto_copy(self, src_key, *args, **kwargs)
        return
    moto_copy(_CopyTarget(self, src_key.etag.strip('"')), src_key, *args, **kwargs)


def apply() -> None:
    replace(S3Backend, "list_object_versions", list_object_versions)
    moto_value: property = vars(FakeKey)["value"]
    replace(FakeKey, "value", property(moto_value.fget, store_value))
    replace(S3Backend, "copy_object", copy_object)
