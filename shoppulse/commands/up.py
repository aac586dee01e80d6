"""`shoppulse up`: the whole pipeline on this machine, on an embedded AWS, until Ctrl-C.

    shoppulse up [--aws-port 4566] [--api-port 8000] [--data-dir DIR] [--demo] [--fresh]
                 [--log-console human|json] [--snapshot-interval S]

On a terminal the console is short: both addresses, one line per file that finished its
workflow, at most one line a minute of stream activity, the dashboard link; logs and metrics go
to DIR/logs. `--log-console json` (the default when stdout is not a terminal) prints the startup
document (addresses and every resource name) and the functions' JSON logs on stdout instead.
The tables and buckets are saved to DIR/state on stop and every --snapshot-interval seconds (30)
while running, and restored on the next start (--fresh: start empty).
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
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from shoppulse.commands import documented_parser
from shoppulse.local import DEFAULT_DATA_DIR

if TYPE_CHECKING:
    from shoppulse.commands import Subparsers
    from shoppulse.local.console import HumanUp
    from shoppulse.local.stack import LocalStack

HUMAN, JSON = "human", "json"


def register(subparsers: Subparsers) -> None:
    parser = documented_parser(
        subparsers, "up", "run the whole pipeline locally (embedded AWS, workflow, pipes, API)", __doc__
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
    parser.add_argument(
        "--snapshot-interval",
        type=float,
        default=None,
        metavar="SECONDS",
        help="save the tables and buckets this often while running (default 30; a kill -9 loses at most that)",
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
    from shoppulse.local.console import HumanUp, LambdaOutput
    from shoppulse.stdout import diverted_stdout

    logging.captureWarnings(True)  # to the log file, not the console
    output = LambdaOutput(data_dir / "logs" / "lambda.jsonl")
    try:
        with diverted_stdout(output) as console:
            return _serve(args, data_dir, HumanUp(console, output))
    finally:
        output.close()


def _serve(args: argparse.Namespace, data_dir: Path, human: HumanUp | None) -> int:
    from shoppulse.local.console import startup_document
    from shoppulse.local.snapshot import IncompatibleState
    from shoppulse.local.stack import LocalStack, StackSettings  # moto is heavy: only for this verb

    say = human.say if human else _say
    started = time.monotonic()
    if args.fresh:
        shutil.rmtree(data_dir / "state", ignore_errors=True)
    settings = StackSettings(aws_port=args.aws_port, api_port=args.api_port, data_dir=data_dir, persist=True)
    if args.snapshot_interval is not None:
        settings = replace(settings, snapshot_interval_seconds=args.snapshot_interval)
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
            print(json.dumps(startup_document(stack, data_dir), indent=2), flush=True)
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


def _demo(stack: LocalStack, human: HumanUp | None) -> None:
    from shoppulse.local.demo import ingest_samples, sample_files, write_demo_orders
    from shoppulse.local.ingest import target_of
    from shoppulse.progress import summary_line

    assert stack.resources is not None
    say = human.say if human else _say
    say(f"demo: ingesting the {len(sample_files())} files of sample_files/, one after the other ...")
    # On the human console each file's line comes from the run watcher, in the order they end.
    progress = human.runs_finished if human else _say
    started = time.monotonic()
    results = ingest_samples(stack.endpoint, target_of(stack.resources), progress)
    say(summary_line("demo", results, time.monotonic() - started))
    write_demo_orders(stack.endpoint, lambda line: say(f"demo: {line}"))
    if human:
        stack.wait_for_pipes()
        human.stream_so_far()
    else:
        _say(f"demo: done; try {stack.api_url}/kpis/daily?from=2025-03-01&to=2025-03-07")
