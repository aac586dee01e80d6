"""`shoppulse sample` progress: the generators' hook hears of every file with its rows and
changes no byte, and on a terminal the verb draws files done/total and rows/s on stderr while
stdout keeps its one plain line."""

from __future__ import annotations

import csv
import os
import pty
import re
import subprocess
import sys
from pathlib import Path

from shoppulse.samples import Written, write_bench_set, write_sample_set
from shoppulse.samples.bench import BENCH_FILES
from tests.shoppulse.test_sample_files import COMMAND, SAMPLES

PROJECT = Path(__file__).resolve().parents[2]


def data_rows(path: Path) -> int:
    """CSV records after the header, read independently of the generator."""
    with path.open(newline="", encoding="utf-8-sig") as f:
        return sum(1 for _ in csv.reader(f)) - 1


def assert_heard_every_file(heard: list[Written], paths: list[Path]) -> None:
    assert [w.path for w in heard] == paths
    assert [w.number for w in heard] == list(range(1, len(paths) + 1))
    assert {w.total for w in heard} == {len(paths)}
    assert [w.rows for w in heard] == [data_rows(p) for p in paths]


def test_sample_set_hook_reports_every_file_and_the_files_stay_the_committed_ones(tmp_path: Path) -> None:
    heard: list[Written] = []
    paths = write_sample_set(tmp_path, 300, 5, command=COMMAND, on_written=heard.append)
    assert len(paths) == len(list(SAMPLES.glob("*.csv"))) > 20
    assert_heard_every_file(heard, paths)
    for path in paths:
        assert path.read_bytes() == (SAMPLES / path.name).read_bytes(), path.name


def test_bench_hook_reports_every_file_in_order_and_changes_no_byte(tmp_path: Path) -> None:
    heard: list[Written] = []
    files = write_bench_set(tmp_path / "hooked", items=2_000, seed=1, on_written=heard.append)
    plain = write_bench_set(tmp_path / "plain", items=2_000, seed=1)
    assert list(files) == list(BENCH_FILES)
    assert_heard_every_file(heard, list(files.values()))
    assert [w.rows for w in heard][:3] == [100, 500, 2_000]
    assert {k: p.read_bytes() for k, p in files.items()} == {k: p.read_bytes() for k, p in plain.items()}


def test_on_a_terminal_sample_shows_progress_on_stderr_and_stdout_stays_plain(tmp_path: Path) -> None:
    master, slave = pty.openpty()
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "160"}
    try:
        done = subprocess.run(
            [sys.executable, "-m", "shoppulse.cli", "sample", "--orders", "300", "--out", str(tmp_path)],
            stdout=subprocess.PIPE,
            stderr=slave,
            cwd=PROJECT,
            env=env,
            timeout=120,
            check=False,
        )
        os.close(slave)
        stderr = b""
        while chunk := _read(master):
            stderr += chunk
    finally:
        os.close(master)
    assert done.returncode == 0
    files = len(list(SAMPLES.glob("*.csv")))
    [line] = done.stdout.decode().splitlines()
    written = re.fullmatch(
        rf"wrote {files} files \(\d+ KiB, ([\d,]+) lines\) to \S+ in [\d.]+ s \([\d,]+ lines/s\)", line
    )
    assert written, line
    shown = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", stderr.decode(errors="replace"))  # rich's cursor moves
    assert f"{files}/{files} files" in shown and "rows/s" in shown and "eta" in shown
    rows = int(written.group(1).replace(",", "")) - files  # a header line per file
    assert shown.replace("\r", "").strip().splitlines()[-1].startswith(f"sample: {files} files, {rows:,} rows, ")


def _read(fd: int) -> bytes:
    try:
        return os.read(fd, 65536)
    except OSError:  # the writer side has closed
        return b""
