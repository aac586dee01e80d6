"""Streaming CSV reading: bounded memory whatever the file size.

The header is peeked to pick the schema before parsing, so every contract column is read as
text (validation decides what a value means, not the CSV parser) and extra columns are
never materialised. Rows with the wrong number of fields are captured, not lost.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, BinaryIO

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from containers.engine.contract import Schema, UnknownHeader, detect_schema

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

BOM = b"\xef\xbb\xbf"
BLOCK_SIZE = 16 << 20
HEADER_PEEK = 1 << 16


class UnreadableFile(ValueError):
    """The file cannot be read as CSV at all: rejected whole, with this reason."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass
class MalformedRow:
    line: int | None
    text: str


class _Joined(io.RawIOBase):
    """The peeked bytes followed by the rest of the stream (boto3 bodies cannot seek)."""

    def __init__(self, head: bytes, rest: BinaryIO) -> None:
        self._head = head
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        view = memoryview(buffer)
        if self._head:
            n = min(len(view), len(self._head))
            view[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = self._rest.read(len(view))
        view[: len(data)] = data
        return len(data)


@dataclass
class CsvSource:
    """A parsed stream of string batches for one schema."""

    schema: Schema
    stream: io.RawIOBase
    malformed: list[MalformedRow] = field(default_factory=list)
    rows_read: int = 0

    def batches(self) -> Iterator[pd.DataFrame]:
        """DataFrames of text (empty field = empty string) with a 1-based `row_number`."""
        parse = pacsv.ParseOptions(newlines_in_values=True, invalid_row_handler=self._on_invalid)
        convert = pacsv.ConvertOptions(
            include_columns=list(self.schema.names),
            column_types={n: pa.string() for n in self.schema.names},
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        )
        try:
            reader = pacsv.open_csv(
                pa.PythonFile(io.BufferedReader(self.stream, BLOCK_SIZE), mode="r"),
                read_options=pacsv.ReadOptions(block_size=BLOCK_SIZE),
                parse_options=parse,
                convert_options=convert,
            )
            for batch in reader:
                frame = batch.to_pandas()
                frame.insert(0, "row_number", range(self.rows_read + 1, self.rows_read + 1 + len(frame)))
                self.rows_read += len(frame)
                yield frame
        except pa.ArrowInvalid as err:
            message = str(err)
            if "UTF8" in message or "utf8" in message.lower():
                raise UnreadableFile("not_utf8", "the file is not valid UTF-8") from err
            raise UnreadableFile("unparseable_csv", message) from err

    def _on_invalid(self, row: pacsv.InvalidRow) -> str:
        self.malformed.append(MalformedRow(row.number, row.text))
        return "skip"


def open_source(stream: BinaryIO) -> CsvSource:
    """Strip a UTF-8 BOM, read the header, pick the schema; the body is parsed lazily."""
    head = stream.read(HEADER_PEEK)
    if head.startswith(BOM):
        head = head[len(BOM) :]
    first_line = head.split(b"\n", 1)[0].rstrip(b"\r")
    if not first_line.strip():
        raise UnreadableFile("empty_file", "the file has no header line")
    try:
        header = next(csv.reader([first_line.decode("utf-8")]))
    except UnicodeDecodeError as err:
        raise UnreadableFile("not_utf8", "the header is not valid UTF-8") from err
    try:
        schema = detect_schema(header)
    except UnknownHeader as err:
        raise UnreadableFile("unknown_header", str(err)) from err
    return CsvSource(schema, _Joined(head, stream))
