"""`shoppulse up`: the whole pipeline on this machine, on an embedded AWS, until Ctrl-C.

    shoppulse up [--aws-port 4566] [--api-port 8000] [--data-dir DIR] [--demo] [--fresh]
                 [--log-console human|json]

On a terminal the console is short: both addresses, one line per file that finished its
workflow, at most one line a minute of stream activity, the dashboard link; logs and metrics go
to DIR/logs. `--log-console json` (the default when stdout is not a terminal) prints the startup
document (addresses and every resource name) and the functions' JSON logs on stdout instead.
The tables and buckets are saved to DIR/state on stop and restored on the next start (--fresh:
start empty).
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from shoppulse.local import DEFAULT_DATA_DIR

HUMAN, JSON = "human", "json"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "up",
        help="run the whole pipeline locally (embedded AWS, workflow, pipes, API)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--aws-port", type=int, default=4566, help="port of the embedded AWS endpoint (default 4566)")
    parser.add_argument("--api-port", type=int, default=8000, help="port of the REST API and dashboard (default 8000)")
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=DEFAULT_DATA_DIR,
        help=f"where task logs and the saved tables and buckets live (default {DEFAULT_DATA_DIR})",
    )
    parser.add_argument(
        "--demo", action="store_true", help="ingest sample_files/ and write sample orders, then keep serving"
    )
    parser.add_argument(
        "--fresh",
        action="store_true",
        help="start from an empty account: discard the tables and buckets saved by the last run",
    )
    parser.add_argument(
        "--log-console",
        choices=[HUMAN, JSON],
        default=HUMAN if sys.stdout.isatty() else JSON,
        help="human: a short console, logs to DATA_DIR/logs (default on a terminal); json: the startup "
        "document and the functions' JSON logs on stdout (default when piped)",
    )
    parser.set_defaults(func=run)


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _configure_logging(log_dir: Path) -> None:
    from containers.tasks.outcome import JsonFormatter

    log_dir.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(log_dir / "shoppulse-up.log")
    handler.setFormatter(JsonFormatter())
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)


def run(args: argparse.Namespace) -> int:
    data_dir = args.data_dir.resolve()
    _configure_logging(data_dir / "logs")
    if args.log_console == JSON:
        return _serve(args, data_dir, None)
    from shoppulse.local.console import LambdaOutput
    from shoppulse.stdout import diverted_stdout

    output = LambdaOutput(data_dir / "logs" / "lambda.jsonl")
    try:
        with diverted_stdout(output) as console:
            return _serve(args, data_dir, _HumanUp(console, output))
    finally:
        output.close()


class _HumanUp:
    """The short console of `up` on a terminal (see shoppulse.local.console)."""

    def __init__(self, console: Any, output: Any) -> None:
        self._console_stream = console
        self.output = output
        self.background: Any = None

    def say(self, message: str) -> None:
        print(message, file=self._console_stream, flush=True)

    def started(self, stack: Any, data_dir: Path, seconds: float) -> None:
        import boto3

        from chalicelib.runs import RunRepository
        from chalicelib.tables import RUNS
        from shoppulse.local.console import HumanConsole, RunWatcher

        assert stack.resources is not None
        (data_dir / "logs" / "startup.json").write_text(json.dumps(_startup_document(stack, data_dir), indent=2))
        self.say(f"shoppulse up: ready in {seconds:.1f} s")
        self.say(f"  AWS endpoint  {stack.endpoint}   (any AWS client: --endpoint-url)")
        self.say(f"  REST API      {stack.api_url}")
        self.say(f"  logs          {data_dir / 'logs'}/   (resource names: logs/startup.json)")
        if stack.restored:
            self.say(f"  restored      {sum(stack.restored.values())} items from {data_dir / 'state'}")
        table = boto3.session.Session().resource("dynamodb", endpoint_url=stack.endpoint)
        runs = RunRepository(table.Table(stack.resources.tables[RUNS.logical_id]))
        self.background = HumanConsole(self.say, RunWatcher(runs, self.say), self.output)

    def ready(self, stack: Any) -> None:
        self.say(f"Dashboard: {stack.api_url}/   (Ctrl-C stops)")
        self.background.start()

    def stop(self) -> None:
        if self.background is not None:
            self.background.stop()


def _startup_document(stack: Any, data_dir: Path) -> dict[str, Any]:
    return {
        "aws_endpoint": stack.endpoint,
        "api": stack.api_url,
        "data_dir": str(data_dir),
        "restored": stack.restored,
        "resources": stack.resources.summary(),
    }


def _serve(args: argparse.Namespace, data_dir: Path, human: _HumanUp | None) -> int:
    from shoppulse.local.snapshot import IncompatibleState
    from shoppulse.local.stack import LocalStack, StackSettings  # moto is heavy: only for this verb

    say = human.say if human else _say
    started = time.monotonic()
    if args.fresh:
        shutil.rmtree(data_dir / "state", ignore_errors=True)
    settings = StackSettings(aws_port=args.aws_port, api_port=args.api_port, data_dir=data_dir, persist=True)
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    try:
        stack = LocalStack(settings).start()
    except (OSError, IncompatibleState) as err:
        say(f"shoppulse up: {err}")
        return 1
    except KeyboardInterrupt:  # Ctrl-C while starting: start() has cleaned up
        return 130
    try:
        assert stack.resources is not None
        if human:
            human.started(stack, data_dir, time.monotonic() - started)
        else:
            print(json.dumps(_startup_document(stack, data_dir), indent=2), flush=True)
            _say(f"Embedded AWS: {stack.endpoint}   API and dashboard: {stack.api_url}   (Ctrl-C stops)")
        if args.demo and stack.restored:
            say(f"demo: data restored from {data_dir / 'state'} (use --fresh to start over)")
        elif args.demo:
            _demo(stack, human)
        if human:
            human.ready(stack)
        stopping.wait()
    except KeyboardInterrupt:
        pass
    finally:
        say("shoppulse up: stopping")
        if human:
            human.stop()
        stack.stop()
    return 0


def _demo(stack: Any, human: _HumanUp | None) -> None:
    from shoppulse.local.demo import ingest_samples, sample_files, write_demo_orders
    from shoppulse.local.ingest import target_of
    from shoppulse.progress import summary_line

    assert stack.resources is not None
    say = human.say if human else _say
    say(f"demo: ingesting the {len(sample_files())} files of sample_files/, one after the other ...")
    # On the human console each file's line comes from the run watcher, in the order they end.
    progress = (lambda _: human.background.watcher.poll()) if human else _say
    started = time.monotonic()
    results = ingest_samples(stack.endpoint, target_of(stack.resources), progress)
    say(summary_line("demo", results, time.monotonic() - started))
    write_demo_orders(stack.endpoint, lambda line: say(f"demo: {line}"))
    if human:
        stack.wait_for_pipes()
        human.background.say_stream()
    else:
        _say(f"demo: done; try {stack.api_url}/kpis/daily?from=2025-03-01&to=2025-03-07")
