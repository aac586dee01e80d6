"""What `shoppulse up` shows a person, and where everything else goes.

The console holds the addresses, one line per file that finished its workflow (however it was
uploaded), at most one line a minute of stream activity, and the dashboard link. The rest is in
files under DATA_DIR/logs: the functions' stdout (powertools JSON logs and EMF documents, what
CloudWatch Logs would get) in `lambda.jsonl`, the runtime's own log and the API's access lines
in `shoppulse-up.log`, each ECS task's output under `ecs/`.
"""

from __future__ import annotations

import io
import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import boto3

from chalicelib.runs import RunRepository, RunStatus, Task
from chalicelib.tables import RUNS

if TYPE_CHECKING:
    from shoppulse.local.stack import LocalStack

LOG = logging.getLogger(__name__)
Say = Callable[[str], None]
STREAM_INTERVAL_SECONDS = 60.0
RUNS_POLL_SECONDS = 1.0
_FINISHED = {s.value for s in RunStatus} - {RunStatus.RUNNING.value}


class LambdaOutput(io.TextIOBase):
    """The functions' stdout: every line to a file; the EMF documents' counts kept for the console.

    EMF: https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html
    (metric values are top-level members named by `_aws.CloudWatchMetrics[].Metrics[].Name`).
    """

    def __init__(self, path: Path) -> None:
        super().__init__()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = path.open("a", encoding="utf-8", buffering=1)  # line by line, as a tail -f wants
        self._pending = ""
        self._counts: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        with self._lock:
            self._file.write(text)
            self._pending += text
            *lines, self._pending = self._pending.split("\n")
            for line in lines:
                self._count(line)
        return len(text)

    def flush(self) -> None:
        with self._lock:
            if not self._file.closed:
                self._file.flush()

    def close(self) -> None:
        with self._lock:
            self._file.close()
        super().close()

    def _count(self, line: str) -> None:
        if '"_aws"' not in line:
            return
        try:
            document = json.loads(line)
            directives = document["_aws"]["CloudWatchMetrics"]
        except (ValueError, KeyError, TypeError):
            return
        function = str(document.get("function", document.get("service", "?")))
        for directive in directives:
            for metric in directive.get("Metrics", []):
                value = document.get(metric.get("Name"))
                values = value if isinstance(value, list) else [value]  # powertools writes [n]
                total = sum(v for v in values if isinstance(v, (int, float)))
                if total:
                    self._counts[(function, metric["Name"])] += int(total)

    def take(self) -> dict[str, dict[str, int]]:
        """The counts since the last take, by function then metric."""
        with self._lock:
            counts, self._counts = self._counts, Counter()
        by_function: dict[str, dict[str, int]] = {}
        for (function, name), value in sorted(counts.items()):
            by_function.setdefault(function, {})[name] = value
        return by_function


def stream_line(counts: Mapping[str, Mapping[str, int]]) -> str | None:
    """`stream: standard_order_processing 12 records (10 processed, 2 skipped); ...`, or None."""
    parts = []
    for function, metrics in counts.items():
        records = metrics.get("Records")
        details = ", ".join(
            f"{value} {name.removeprefix('Records').lower() or name}"
            for name, value in metrics.items()
            if name != "Records"
        )
        head = f"{function} {records} records" if records is not None else function
        parts.append(f"{head} ({details})" if details else head)
    return f"stream: {'; '.join(parts)}" if parts else None


def _count(summary: Mapping[str, Any] | None, name: str) -> int:
    value = (summary or {}).get(name)
    return int(value) if value is not None else 0


def run_line(run: Mapping[str, Any]) -> str:
    """One finished run: status, file, rows (rejected), held rows, or why it did not load."""
    validation, transformation = run.get(Task.VALIDATION.value), run.get(Task.TRANSFORMATION.value)
    name = str(run.get("key", run.get("run_id", "?"))).rsplit("/", 1)[-1]
    line = f"  {run['status']:<9}  {name:<38}"
    if validation:
        rejected = _count(validation, "rejected_rows")
        line += f"  {_count(validation, 'rows')} rows" + (f" ({rejected} rejected)" if rejected else "")
    if transformation:
        line += f", {_count(transformation, 'held_rows')} held"
    error = run.get("error") or {}
    reason = (validation or {}).get("reason") or error.get("reason") or error.get("cause")
    if run["status"] != RunStatus.SUCCEEDED.value and reason:
        line += f": {str(reason).splitlines()[0][:160]}"
    return line


class RunWatcher:
    """Says each run once, when it finishes; runs already finished at start are not repeated."""

    def __init__(self, runs: RunRepository, say: Say) -> None:
        self._runs = runs
        self._say = say
        self._lock = threading.Lock()
        self._seen: set[str] = {r["run_id"] for r in self._recent(None) if r.get("status") in _FINISHED}

    def _recent(self, limit: int | None) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        start = None
        while True:
            page, start = self._runs.recent(50, start)
            items += page
            if not start or (limit is not None and len(items) >= limit):
                return items

    def poll(self) -> None:
        with self._lock:
            fresh = [r for r in self._recent(50) if r.get("status") in _FINISHED and r["run_id"] not in self._seen]
            for run in sorted(fresh, key=lambda r: str(r.get("finished_at", ""))):
                self._seen.add(run["run_id"])
                self._say(run_line(run))


class HumanConsole:
    """The background half of the console: finished runs as they come, stream activity each minute."""

    def __init__(self, say: Say, watcher: RunWatcher, output: LambdaOutput) -> None:
        self._say = say
        self.watcher = watcher
        self._output = output
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="console", daemon=True)
        self._next_stream = time.monotonic() + STREAM_INTERVAL_SECONDS

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def say_stream(self) -> None:
        """The stream line of what happened since the last one (none when nothing did); the
        next one comes a minute later at the earliest."""
        self._next_stream = time.monotonic() + STREAM_INTERVAL_SECONDS
        line = stream_line(self._output.take())
        if line:
            self._say(line)

    def _loop(self) -> None:
        while not self._stop.wait(RUNS_POLL_SECONDS):
            try:
                self.watcher.poll()
                if time.monotonic() >= self._next_stream:
                    self.say_stream()
            except Exception:  # the console must never stop the stack; the log says why
                LOG.exception("console update failed")


class HumanUp:
    """The short console of `up` on a terminal (see shoppulse.local.console)."""

    def __init__(self, console: TextIO, output: LambdaOutput) -> None:
        self._console_stream = console
        self.output = output
        self.background: HumanConsole | None = None

    def say(self, message: str) -> None:
        print(message, file=self._console_stream, flush=True)

    def started(self, stack: LocalStack, data_dir: Path, seconds: float) -> None:
        assert stack.resources is not None
        (data_dir / "logs" / "startup.json").write_text(json.dumps(startup_document(stack, data_dir), indent=2))
        self.say(f"shoppulse up: ready in {seconds:.1f} s")
        self.say(f"  AWS endpoint  {stack.endpoint}   (any AWS client: --endpoint-url)")
        self.say(f"  REST API      {stack.api_url}")
        self.say(f"  logs          {shown(data_dir / 'logs')}/   (resource names: logs/startup.json)")
        if stack.restored:
            self.say(f"  restored      {sum(stack.restored.values())} items from {shown(data_dir / 'state')}")
        table = boto3.session.Session().resource("dynamodb", endpoint_url=stack.endpoint)
        runs = RunRepository(table.Table(stack.resources.tables[RUNS.logical_id]))
        self.background = HumanConsole(self.say, RunWatcher(runs, self.say), self.output)

    def runs_finished(self, _: str = "") -> None:
        """Say the runs that finished since the last look (the demo calls it after each file)."""
        assert self.background is not None
        self.background.watcher.poll()

    def stream_so_far(self) -> None:
        assert self.background is not None
        self.background.say_stream()

    def ready(self, stack: LocalStack) -> None:
        self.say(f"Dashboard: {stack.api_url}/   (Ctrl-C stops)")
        assert self.background is not None
        self.background.start()

    def stop(self) -> None:
        if self.background is not None:
            self.background.stop()


def shown(path: Path) -> str:
    """A path as a person would type it: relative to the working directory when under it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def startup_document(stack: LocalStack, data_dir: Path) -> dict[str, Any]:
    """Both addresses and every resource name (stdout with --log-console json, else logs/startup.json)."""
    assert stack.resources is not None, "the stack is started"
    return {
        "aws_endpoint": stack.endpoint,
        "api": stack.api_url,
        "data_dir": str(data_dir),
        "restored": stack.restored,
        "resources": stack.resources.summary(),
    }
