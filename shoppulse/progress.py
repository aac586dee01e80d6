"""Progress and summaries of the long verbs (`replay`, `ingest`, `sample`), for a person.

On a terminal (stderr is a TTY) a rich progress bar shows files done/total, rows/s, elapsed and
the estimate (from the bytes done, as files differ in size; from the files done where their
sizes are not known up front); piped, nothing is drawn. stdout
keeps the JSON lines whatever happens; the closing summary goes to stderr.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


def on_terminal(stream: TextIO) -> bool:
    return bool(getattr(stream, "isatty", None)) and stream.isatty()


class FileProgress:
    """`with FileProgress(verb, paths) as progress: ... progress.done(result)`."""

    def __init__(self, verb: str, paths: Iterable[Path], stream: TextIO | None = None) -> None:
        self._stream = stream or sys.stderr
        self._sizes = [p.stat().st_size if p.is_file() else 0 for p in paths]
        self._verb = verb
        self._rows = 0
        self._started = time.monotonic()
        self._bar: Progress | None = None
        self._task: TaskID | None = None

    def __enter__(self) -> FileProgress:
        self._started = time.monotonic()
        if on_terminal(self._stream):
            self._bar = Progress(
                TextColumn(f"{self._verb} [progress.description]{{task.description}}"),
                BarColumn(),
                TextColumn("{task.fields[files]}  {task.fields[rate]}"),
                TimeElapsedColumn(),
                TextColumn("eta"),
                TimeRemainingColumn(),
                console=Console(file=self._stream, soft_wrap=True),
                transient=True,
            )
            self._bar.start()
            self._task = self._bar.add_task("", total=sum(self._sizes) or 1, files=self._files(0), rate="")
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        if self._bar is not None:
            self._bar.stop()

    def expect(self, files: int) -> None:
        """For work that learns its file count only as it goes (`sample`): `files` files, each
        weighing the same in the estimate."""
        if files != len(self._sizes):
            self._sizes = [1] * files
            if self._bar is not None and self._task is not None:
                self._bar.update(self._task, total=files)

    def _files(self, done: int) -> str:
        return f"{done}/{len(self._sizes) or '?'} files"

    def starting(self, path: Path) -> None:
        if self._bar is not None and self._task is not None:
            self._bar.update(self._task, description=path.name)

    def done(self, number: int, result: Mapping[str, Any]) -> None:
        """File `number` (1-based) ended with `result` (its outcome line)."""
        self._rows += int(result.get("rows") or 0)
        if self._bar is not None and self._task is not None:
            elapsed = max(time.monotonic() - self._started, 1e-9)
            self._bar.update(
                self._task,
                completed=sum(self._sizes[:number]),
                files=self._files(number),
                rate=f"{self._rows / elapsed:,.0f} rows/s",
            )


def summary_line(verb: str, results: Iterable[Mapping[str, Any]], seconds: float) -> str:
    """One line: files by status, rows, held rows, wall time."""
    results = list(results)
    statuses = Counter(str(r.get("status")) for r in results)
    by_status = ", ".join(f"{n} {status}" for status, n in sorted(statuses.items()))
    rows = sum(int(r.get("rows") or 0) for r in results)
    held = sum(int(r.get("held_rows") or 0) for r in results)
    files = f"{len(results)} file{'s' if len(results) != 1 else ''}"
    return f"{verb}: {files} ({by_status or 'none'}), {rows:,} rows, {held:,} held, {seconds:.1f} s"


@contextmanager
def working(message: str, stream: TextIO | None = None) -> Iterator[None]:
    """A spinner with the elapsed time while one long step runs (on a terminal only)."""
    stream = stream or sys.stderr
    if not on_terminal(stream):
        yield
        return
    bar = Progress(
        SpinnerColumn(), TextColumn(message), TimeElapsedColumn(), console=Console(file=stream), transient=True
    )
    with bar:
        bar.add_task("", total=None)
        yield
