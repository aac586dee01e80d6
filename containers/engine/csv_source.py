"""Streaming CSV reading: bounded memory whatever the file size, and every physical line
accounted for.

The body is read in chunks of whole lines. Each chunk is first parsed by Arrow (fast); that
parse is kept only when it yields one record per non-blank line with the header's number of
fields, which is what a well-formed file without multi-line values gives.
Otherwise Arrow retries the chunk in pieces, and the pieces it declines are split line by
line with Python's `csv` (same quoting rules): a quoted value may span lines, but a record
that a quote stretches over several lines without being one well-formed record of the
header's width is taken for a stray quote — its first line is rejected (`unclosed_quote`)
and the lines after it are parsed again, so nothing is swallowed.

Every contract column is read as text (validation decides what a value means), optional
columns absent from the header are empty, and extra columns are never materialised.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from containers.engine.contract import Schema, UnknownHeader, detect_schema, header_name
from containers.engine.input_format import UnreadableFile, describe_bad_utf8, open_text

CHUNK_BYTES = 16 << 20
PIECE_BYTES = 256 << 10  # what Arrow retries on when it declines a chunk
MAX_RECORD_BYTES = 1 << 20  # a header, line or quoted record longer than this is not data
MALFORMED = "malformed_row"
WRONG_FIELDS = f"{MALFORMED}:fields"
UNCLOSED_QUOTE = f"{MALFORMED}:unclosed_quote"
UNSPLITTABLE = f"{MALFORMED}:unparseable"

csv.field_size_limit(MAX_RECORD_BYTES)  # the stdlib default (128 KiB) is below our record limit


@dataclass
class LineCounts:
    """Where the physical lines of a file went: lines = header + records' first lines
    (valid + rejected) + continuation + blank."""

    lines: int = 0
    header: int = 0
    blank: int = 0
    continuation: int = 0  # lines after the first of records whose quoted values span lines


@dataclass
class MalformedRow:
    row_number: int
    line: int
    reason: str
    text: str


@dataclass
class Batch:
    """Text rows (`row_number`, `line`, the schema's columns) and the records that are not rows."""

    text: pa.Table
    malformed: list[MalformedRow]
    _raw: dict[int, str]

    def raw_text(self, lines: Sequence[int]) -> list[str]:
        """The original text of the rows starting on these lines."""
        return [self._raw[int(n)] for n in lines]


class _RawLines(dict[int, str]):
    """Raw text of single-line rows, cut from the chunk only when asked for."""

    def __init__(self, body: bytes | bytearray, index: _LineIndex | None, first_line: int) -> None:
        super().__init__()
        self._body, self._index, self._first = body, index, first_line

    def __missing__(self, line: int) -> str:
        if self._index is None:
            self._index = _LineIndex.of(self._body)
        i = line - self._first
        return self._body[self._index.starts[i] : self._index.stops[i]].decode("utf-8", "backslashreplace")


@dataclass
class _LineIndex:
    """Physical lines of a chunk (ends: LF, CRLF or a lone CR, as Arrow and `csv` read them)."""

    starts: np.ndarray  # first byte
    stops: np.ndarray  # end of the content, terminator excluded
    nexts: np.ndarray  # first byte of the next line

    @classmethod
    def of(cls, body: bytes | bytearray) -> _LineIndex:
        data = np.frombuffer(body, np.uint8)
        size = len(data)
        ends = np.flatnonzero(data == 10)  # the last byte of each terminator
        crs = np.flatnonzero(data == 13)
        if crs.size:
            inside = crs + 1 < size
            followed = np.zeros(crs.size, dtype=bool)
            followed[inside] = data[crs[inside] + 1] == 10
            if not followed.all():
                ends = np.union1d(ends, crs[~followed])
        stops = ends.copy()
        if crs.size:
            stops[(data[ends] == 10) & (ends > 0) & (data[np.maximum(ends - 1, 0)] == 13)] -= 1
        nexts = ends + 1
        if size and (not ends.size or ends[-1] != size - 1):  # a last line without a terminator
            stops = np.append(stops, size)
            nexts = np.append(nexts, size)
        starts = np.concatenate(([0], nexts[:-1])).astype(np.int64)
        return cls(starts, stops, nexts)

    def __len__(self) -> int:
        return len(self.starts)

    def line_after(self, lo: int, size: int) -> int:
        """The first line from which lines [lo, that) hold at least `size` bytes (or the end)."""
        return max(lo + 1, int(np.searchsorted(self.starts, self.starts[lo] + size)))

    @property
    def blank(self) -> np.ndarray:
        blank: np.ndarray = self.stops == self.starts
        return blank


def _plain_lines(body: bytes | bytearray) -> int | None:
    """How many lines a chunk has if they all end in LF or CRLF (None if some end in a lone
    CR), counted by bytes methods without indexing them."""
    if b"\r" in body and body.count(b"\r") != body.count(b"\r\n"):
        return None
    return body.count(b"\n") + (not body.endswith(b"\n"))


def _last_line_end(buffer: bytes | bytearray) -> int:
    """Where the last complete line of a buffer ends (0: none yet); a CR at the very end may
    be the first half of a CRLF, so it waits for the next read."""
    cut = buffer.rfind(b"\n") + 1
    cr = buffer.rfind(b"\r", 0, len(buffer) - 1) + 1
    return max(cut, cr if cr and buffer[cr : cr + 1] != b"\n" else 0)


class _Unclosed(Exception):
    """A quoted value runs past the end of the file or the record size limit."""


class _NeedMore(Exception):
    """A quoted value runs past the end of the chunk: the next read may close it."""


class _Feed:
    """A chunk's lines for `csv.reader`, one at a time, knowing where the current record began."""

    def __init__(self, lines: list[str], final: bool) -> None:
        self.lines, self.final = lines, final
        self.pos = self.record_start = 0
        self.record_size = 0

    def __iter__(self) -> _Feed:
        return self

    def __next__(self) -> str:
        within = self.pos > self.record_start
        if self.pos >= len(self.lines):
            if within:
                raise _Unclosed() if self.final else _NeedMore()
            raise StopIteration
        line = self.lines[self.pos]
        self.record_size = self.record_size + len(line) if within else len(line)
        if within and self.record_size > MAX_RECORD_BYTES:
            raise _Unclosed()
        self.pos += 1
        return line


@dataclass
class _Split:
    rows: list[tuple[int, list[str]]] = field(default_factory=list)  # (line index, fields)
    raw: dict[int, str] = field(default_factory=dict)  # line index -> text of multi-line rows
    malformed: list[tuple[int, str, str]] = field(default_factory=list)  # (line index, reason, text)
    order: list[tuple[bool, int]] = field(default_factory=list)  # (is a row, position) in file order
    consumed: int = 0
    blank: int = 0
    continuation: int = 0


def _one_record(lines: list[str], width: int) -> bool:
    """Whether lines that `csv` joined into one record of the header's width are really one:
    its quotes are strict (a closing quote is followed by a delimiter or the line end) and
    no line inside it would be a whole record on its own. Two stray quotes pair up into such
    a record far more often than a value holds a line that looks like a row; when in doubt,
    the first line is rejected and the others parsed again, which loses nothing."""
    try:
        fields = next(csv.reader(iter(lines), strict=True))
    except csv.Error:
        return False
    return len(fields) == width and not any(len(next(csv.reader([line]))) == width for line in lines[1:-1])


def _split_lines(lines: list[str], width: int, final: bool) -> _Split:
    """Records of a chunk's lines, recovering from stray quotes (see the module docstring)."""
    out = _Split()
    feed = _Feed(lines, final)
    reader = csv.reader(feed)

    def reject(start: int, reason: str) -> None:
        out.order.append((False, len(out.malformed)))
        out.malformed.append((start, reason, lines[start].rstrip("\r\n")))

    while feed.pos < len(lines):
        start = feed.record_start = feed.pos
        try:
            fields = next(reader)
        except StopIteration:
            break
        except _NeedMore:
            feed.pos = start
            break
        except (_Unclosed, csv.Error) as err:
            reject(start, UNCLOSED_QUOTE if isinstance(err, _Unclosed) else UNSPLITTABLE)
            feed.pos = start + 1
            reader = csv.reader(feed)
            continue
        spans = feed.pos - start
        if not fields:
            out.blank += 1
        elif len(fields) != width or (spans > 1 and not _one_record(lines[start : feed.pos], width)):
            reject(start, UNCLOSED_QUOTE if spans > 1 else WRONG_FIELDS)
            if spans > 1:  # parse the lines the quote swallowed again
                feed.pos = start + 1
                reader = csv.reader(feed)
        else:
            out.order.append((True, len(out.rows)))
            out.rows.append((start, fields))
            out.continuation += spans - 1
            out.raw[start] = "".join(lines[start : feed.pos]).rstrip("\r\n")
    out.consumed = feed.pos
    return out


@dataclass
class _Pieces:
    """What the pieces of a chunk gave, in file order."""

    frames: list[pa.Table]
    malformed: list[MalformedRow]
    raw: _RawLines


@dataclass
class CsvSource:
    """A parsed stream of text batches for one schema."""

    schema: Schema
    header: list[str]  # the header's cells, as matched (trimmed, lower case)
    stream: BinaryIO
    rest: bytes  # what was read after the header line
    counts: LineCounts = field(default_factory=LineCounts)
    rows: int = 0  # records read so far: rows and malformed rows

    def __post_init__(self) -> None:
        self._positions = {name: self.header.index(name) for name in self.schema.names if name in self.header}
        self._names = [f"c{i}" for i in range(len(self.header))]

    def batches(self) -> Iterator[Batch]:
        """One batch per chunk of whole lines (at most CHUNK_BYTES plus one record)."""
        carry = self.rest
        first_line = self.counts.lines + 1
        final = False
        while not final:
            data = self.stream.read(CHUNK_BYTES)
            final = not data
            # One copy of the chunk: the open line before it, then the chunk, cut after its last line.
            body = bytearray(carry)
            body += data
            cut = len(body) if final else _last_line_end(body)
            if not cut:
                if len(body) > MAX_RECORD_BYTES:
                    raise UnreadableFile("line_too_long", f"line {first_line} is longer than {MAX_RECORD_BYTES} bytes")
                carry = bytes(body)
                continue
            carry = bytes(body[cut:])
            del body[cut:]
            batch, used, lines = self._parse(body, first_line, final)
            carry = bytes(body[used:]) + carry
            first_line += lines
            if batch is not None:
                yield batch

    def _parse(self, body: bytes | bytearray, first_line: int, final: bool) -> tuple[Batch | None, int, int]:
        """A chunk's batch, and how many of its bytes and lines it used (the rest is an open
        quoted record, read again with the next chunk).

        Arrow first takes the whole chunk; if it declines, pieces of PIECE_BYTES (growing
        while Arrow takes them) so that only the pieces around a problem are split slowly.
        """
        whole = self._arrow_table(memoryview(body))
        # As many records as lines: no blank line, no multi-line value (each record takes a
        # line or more, blank lines none), so record i is line i, without indexing the lines.
        plain = _plain_lines(body)
        if whole is not None and plain is not None and whole.num_rows == plain:
            out = _Pieces(frames=[], malformed=[], raw=_RawLines(body, None, first_line))
            self._take(whole, first_line + np.arange(plain), 0, out)
            return Batch(out.frames[0], [], out.raw), len(body), plain
        index = _LineIndex.of(body)
        blank = index.blank
        out = _Pieces(frames=[], malformed=[], raw=_RawLines(body, index, first_line))
        nonblank = np.flatnonzero(~blank)
        if whole is not None and whole.num_rows == len(nonblank):  # blank lines only
            self._take(whole, first_line + nonblank, len(index) - len(nonblank), out)
            return Batch(out.frames[0], [], out.raw), len(body), len(index)
        lo, size = 0, PIECE_BYTES
        while lo < len(index):
            hi = index.line_after(lo, size)
            if self._arrow_piece(body, index, blank, lo, hi, first_line, out):
                lo, size = hi, size * 2
                continue
            if size > PIECE_BYTES:
                size = PIECE_BYTES
                continue
            consumed = self._careful_piece(body, index, lo, hi, first_line, final, out)
            while not consumed and hi < len(index):  # a quoted value runs past the piece: widen it
                hi = index.line_after(lo, 2 * int(index.starts[hi] - index.starts[lo]))
                consumed = self._careful_piece(body, index, lo, hi, first_line, final, out)
            if not consumed:
                break  # an open quoted record up to the chunk's end: it starts the next chunk
            lo, size = lo + consumed, PIECE_BYTES
        used = int(index.starts[lo]) if lo < len(index) else len(body)
        if not out.frames and not out.malformed:
            return None, used, lo
        if not out.frames:  # malformed rows only
            nothing = np.array([], dtype=np.int64)
            out.frames.append(self._text({}, nothing, nothing))
        frame = out.frames[0] if len(out.frames) == 1 else pa.concat_tables(out.frames)
        return Batch(frame, out.malformed, out.raw), used, lo

    def _arrow_piece(
        self,
        body: bytes | bytearray,
        index: _LineIndex,
        blank: np.ndarray,
        lo: int,
        hi: int,
        first_line: int,
        out: _Pieces,
    ) -> bool:
        """Lines [lo, hi) through Arrow, if it gives one record per non-blank line."""
        blanks = blank[lo:hi]
        nonblank = np.flatnonzero(~blanks) if blanks.any() else np.arange(hi - lo)
        table = self._arrow_table(memoryview(body)[int(index.starts[lo]) : int(index.nexts[hi - 1])])
        if table is None or table.num_rows != len(nonblank):
            return False
        self._take(table, first_line + lo + nonblank, hi - lo - len(nonblank), out)
        return True

    def _arrow_table(self, piece: memoryview) -> pa.Table | None:
        """Arrow's parse of a piece in which every record has the header's width; None
        otherwise, and for anything Arrow declines (e.g. bad UTF-8)."""
        try:  # without an invalid-row handler, a row of the wrong width raises: the careful path takes over
            return pacsv.read_csv(
                pa.py_buffer(piece),
                # One block, one thread: measured faster than parallel blocks with quoted newlines
                # allowed (16 MiB of items: 40-50 ms serial, 50-120 ms in 1-4 MiB blocks).
                read_options=pacsv.ReadOptions(column_names=self._names, block_size=len(piece) + 1, use_threads=False),
                parse_options=pacsv.ParseOptions(newlines_in_values=True),
                convert_options=pacsv.ConvertOptions(
                    include_columns=[self._names[p] for p in self._positions.values()],
                    column_types={self._names[p]: pa.string() for p in self._positions.values()},
                    strings_can_be_null=False,
                    quoted_strings_can_be_null=False,
                ),
            )
        except (pa.ArrowInvalid, pa.ArrowKeyError):
            return None

    def _take(self, table: pa.Table, lines: np.ndarray, blank: int, out: _Pieces) -> None:
        """Arrow's records (columns in `_positions` order) as text rows."""
        size = table.num_rows
        numbers = np.arange(self.rows + 1, self.rows + 1 + size)
        out.frames.append(self._text(dict(zip(self._positions, table.columns, strict=True)), lines, numbers))
        self.rows += size
        self.counts.lines += size + blank
        self.counts.blank += blank

    def _text(self, columns: dict[str, pa.Array | pa.ChunkedArray], lines: np.ndarray, numbers: np.ndarray) -> pa.Table:
        size = len(lines)
        nothing = pa.repeat(pa.scalar("", pa.string()), size)  # an optional column the header does not have
        text = {name: columns.get(name, nothing) for name in self.schema.names}
        return pa.table({"row_number": numbers.astype("int64"), "line": lines.astype("int64"), **text})

    def _careful_piece(
        self, body: bytes | bytearray, index: _LineIndex, lo: int, hi: int, first_line: int, final: bool, out: _Pieces
    ) -> int:
        """Lines [lo, hi) split with `csv`; returns how many lines it used (fewer when a
        quoted value is still open at the piece's end and more lines may close it)."""
        lines = []
        for i in range(lo, hi):
            start, end = int(index.starts[i]), int(index.nexts[i])
            try:
                lines.append(body[start:end].decode("utf-8"))
            except UnicodeDecodeError as err:
                raise UnreadableFile("not_utf8", describe_bad_utf8(body[start:end], first_line + i)) from err
        split = _split_lines(lines, len(self.header), final and hi == len(index))
        if not split.consumed:
            return 0
        self.counts.lines += split.consumed
        self.counts.blank += split.blank
        self.counts.continuation += split.continuation
        row_numbers = []
        for number, (is_row, k) in enumerate(split.order, start=self.rows + 1):
            if is_row:
                row_numbers.append(number)
            else:
                i, reason, text = split.malformed[k]
                out.malformed.append(MalformedRow(number, first_line + lo + i, reason, text))
        self.rows += len(split.order)
        if split.rows:
            columns = {
                name: pa.array([fields[p] for _, fields in split.rows], pa.string())
                for name, p in self._positions.items()
            }
            lines_of = np.array([first_line + lo + i for i, _ in split.rows], dtype=np.int64)
            out.frames.append(self._text(columns, lines_of, np.array(row_numbers)))
        out.raw.update({first_line + lo + i: text for i, text in split.raw.items()})
        return split.consumed


def _header(first: bytes) -> list[str]:
    if not first.strip():
        raise UnreadableFile("empty_file", "the file has no header line")
    try:
        text = first.decode("utf-8")
    except UnicodeDecodeError as err:
        raise UnreadableFile("not_utf8", describe_bad_utf8(first)) from err
    try:
        cells = next(csv.reader([text]))
    except csv.Error as err:
        raise UnreadableFile("unknown_header", f"the header line cannot be split ({err})") from err
    return [header_name(c) for c in cells]


def open_source(stream: BinaryIO) -> CsvSource:
    """Recognise the bytes (gzip, encodings), read the header, pick the schema; the body is
    parsed lazily."""
    text = open_text(stream)
    head = text.read(MAX_RECORD_BYTES)
    ends = [i for i in (head.find(b"\n"), head.find(b"\r")) if i >= 0]
    if not ends and len(head) == MAX_RECORD_BYTES:
        raise UnreadableFile("unknown_header", f"the header line is longer than {MAX_RECORD_BYTES} bytes")
    first_end = min(ends, default=len(head))
    header = _header(head[:first_end])
    rest = head[first_end:]
    rest = rest[2:] if rest.startswith(b"\r\n") else rest[1:]
    try:
        schema = detect_schema(header)
    except UnknownHeader as err:
        raise UnreadableFile("unknown_header", str(err)) from err
    return CsvSource(schema, header, text, rest, LineCounts(lines=1, header=1))
