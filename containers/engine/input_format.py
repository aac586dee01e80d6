"""What an input object is, by its first bytes (whatever its key says): gzip is opened as a
stream, other compressions and encodings are rejected with a reason that names them.

Magic numbers: gzip RFC 1952 §2.3.1, zip (PKWARE APPNOTE §4.3.7), bzip2, xz, zstd (RFC 8878
§3.1.1); byte-order marks: Unicode 15 §23.8, Table 23-5.
"""

from __future__ import annotations

import io
import zlib
from typing import BinaryIO, cast

GZIP = b"\x1f\x8b"
READ_BYTES = 1 << 20
UTF8_BOM = b"\xef\xbb\xbf"

# Longest first: the UTF-32 LE mark begins with the UTF-16 LE one.
BYTE_ORDER_MARKS = (
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be"),
)
COMPRESSIONS = (
    (b"PK\x03\x04", "zip"),
    (b"BZh", "bzip2"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
    (b"7z\xbc\xaf\x27\x1c", "7z"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "ole2 (legacy Excel)"),
    (b"PAR1", "parquet"),
)


class UnreadableFile(ValueError):
    """The file cannot be read as CSV at all: rejected whole, with this reason."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class GzipStream(io.RawIOBase):
    """A gzip stream decompressed as it is read (one or more members, RFC 1952 §2.2): memory
    stays at one read's worth whatever the ratio. A read returns all the bytes asked for
    unless the stream ends first."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self._inflate = zlib.decompressobj(wbits=zlib.MAX_WBITS | 16)
        self._pending = b""  # compressed bytes not yet inflated
        self._done = False

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        parts: list[bytes] = []
        left = size  # negative: to the end
        while left:
            out = self._next(max(left, 0))  # 0: no limit
            if not out:
                break
            parts.append(out)
            left -= len(out) if left > 0 else 0
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def _next(self, size: int) -> bytes:
        while not self._done:
            if not self._pending:
                self._pending = self._raw.read(READ_BYTES)
                if not self._pending:
                    if not self._inflate.eof:
                        raise UnreadableFile("corrupt_gzip", "the gzip stream ends before its last member is complete")
                    self._done = True
                    break
            try:
                out = self._inflate.decompress(self._pending, size)
            except zlib.error as err:
                raise UnreadableFile("corrupt_gzip", f"the gzip stream cannot be decompressed ({err})") from err
            self._pending = self._inflate.unconsumed_tail or self._inflate.unused_data
            if self._inflate.eof and self._pending:  # another member follows
                if not self._pending.startswith(GZIP):
                    raise UnreadableFile("corrupt_gzip", "bytes that are not gzip follow the gzip stream")
                self._inflate = zlib.decompressobj(wbits=zlib.MAX_WBITS | 16)
            if out:
                return out
        return b""


def _read_exactly(stream: BinaryIO, size: int) -> bytes:
    """`size` bytes (fewer only at the end of the stream; all of it for a negative size); the
    stream's own bytes object, not a copy, when one read gives them."""
    first = stream.read(size)
    if size < 0 or len(first) >= size or not first:
        return first
    parts, total = [first], len(first)
    while total < size:
        part = stream.read(size - total)
        if not part:
            break
        parts.append(part)
        total += len(part)
    return b"".join(parts)


class _Prefixed(io.RawIOBase):
    """Bytes already read, then the rest of the stream (S3 bodies cannot seek). A read returns
    all the bytes asked for unless the stream ends first, without copying the stream's bytes
    again: a chunk of the body is read once, by the caller's read."""

    def __init__(self, head: bytes, rest: BinaryIO) -> None:
        self._head = head
        self._rest = rest

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if not self._head:
            return _read_exactly(self._rest, size)
        cut = len(self._head) if size < 0 else min(size, len(self._head))
        head, self._head = self._head[:cut], self._head[cut:]
        if 0 <= size == cut:
            return head
        return head + _read_exactly(self._rest, size - cut if size >= 0 else -1)


def _guess_wide_encoding(head: bytes) -> str | None:
    """UTF-16/32 without a byte-order mark: ASCII text with NUL bytes in fixed positions."""
    sample = head[:4096]
    if len(sample) < 4 or b"\x00" not in sample:
        return None
    zeros = [sample[i::4].count(0) / len(sample[i::4]) for i in range(4)]
    if zeros[1] > 0.9 and zeros[2] > 0.9 and zeros[3] > 0.9:
        return "utf-32-le"
    if zeros[0] > 0.9 and zeros[1] > 0.9 and zeros[2] > 0.9:
        return "utf-32-be"
    odd, even = sample[1::2].count(0) / len(sample[1::2]), sample[0::2].count(0) / len(sample[0::2])
    if odd > 0.9:
        return "utf-16-le"
    if even > 0.9:
        return "utf-16-be"
    return "binary" if sample.count(0) > len(sample) // 10 else None  # a stray NUL is a row's problem


def open_text(stream: BinaryIO) -> BinaryIO:
    """The object's UTF-8 bytes as a stream, without its byte-order mark (gzip inflated);
    raises UnreadableFile naming what the object is when it is something else."""
    head = _read_exactly(stream, 8)
    if head.startswith(GZIP):
        stream = cast(
            "BinaryIO", GzipStream(cast("BinaryIO", _Prefixed(head, stream)))
        )  # raw streams, read as any other
        head = _read_exactly(stream, 8)
        if head.startswith(GZIP):
            raise UnreadableFile("unsupported_compression:gzip-in-gzip", "the file is gzip inside gzip")
    for magic, name in COMPRESSIONS:
        if head.startswith(magic):
            raise UnreadableFile(f"unsupported_compression:{name}", f"the file is {name}, not CSV (gzip is accepted)")
    for mark, name in BYTE_ORDER_MARKS:
        if head.startswith(mark):
            raise UnreadableFile(
                f"unsupported_encoding:{name}", f"the file is {name.upper()} (byte-order mark); use UTF-8"
            )
    if head.startswith(UTF8_BOM):
        head = head[len(UTF8_BOM) :]
    more = _read_exactly(stream, 4096)
    wide = _guess_wide_encoding(head + more)
    if wide is not None:
        raise UnreadableFile(f"unsupported_encoding:{wide}", f"the file looks like {wide.upper()}; use UTF-8")
    return cast("BinaryIO", _Prefixed(head + more, stream))


def describe_bad_utf8(data: bytes | bytearray, first_line: int = 1) -> str:
    """Where the first byte that is not UTF-8 is, and what the text probably is instead."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = first_line + data.count(b"\n", 0, err.start)
        guess = "Windows-1252/ISO-8859-1" if _decodes(data, "cp1252") else "an unknown encoding"
        column = err.start - (data.rfind(b"\n", 0, err.start) + 1) + 1
        return f"line {line}, byte {column}: {data[err.start]:#04x} is not UTF-8 (the text looks like {guess})"
    return "the file is not valid UTF-8"


def _decodes(data: bytes | bytearray, encoding: str) -> bool:
    try:
        data.decode(encoding)
    except UnicodeDecodeError:
        return False
    return True
