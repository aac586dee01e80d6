"""`shoppulse up`: the whole pipeline on this machine, on an embedded AWS, until Ctrl-C.

    shoppulse up [--aws-port 4566] [--api-port 8000] [--data-dir DIR] [--demo] [--fresh] [--snapshot-interval S]

Prints both addresses and every resource name (JSON) on stdout; the tables and buckets are
saved to DIR/state on stop and every --snapshot-interval seconds (30) while running, and
restored on the next start (--fresh: start empty).
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import signal
import sys
import threading
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

from shoppulse.local import DEFAULT_DATA_DIR


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
        "--snapshot-interval",
        type=float,
        default=None,
        metavar="SECONDS",
        help="save the tables and buckets this often while running (default 30; a kill -9 loses at most that)",
    )
    parser.set_defaults(func=run)


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _configure_logging(data_dir: Path) -> None:
    from containers.tasks.outcome import JsonFormatter

    data_dir.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(data_dir / "shoppulse-up.log")
    handler.setFormatter(JsonFormatter())
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)


def run(args: argparse.Namespace) -> int:
    from shoppulse.local.snapshot import IncompatibleState
    from shoppulse.local.stack import LocalStack, StackSettings  # moto is heavy: only for this verb

    data_dir = args.data_dir.resolve()
    _configure_logging(data_dir)
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
        _say(f"shoppulse up: {err}")
        return 1
    except KeyboardInterrupt:  # Ctrl-C while starting: start() has cleaned up
        return 130
    try:
        assert stack.resources is not None
        print(
            json.dumps(
                {
                    "aws_endpoint": stack.endpoint,
                    "api": stack.api_url,
                    "data_dir": str(data_dir),
                    "restored": stack.restored,
                    "resources": stack.resources.summary(),
                },
                indent=2,
            ),
            flush=True,
        )
        _say(f"Embedded AWS: {stack.endpoint}   API and dashboard: {stack.api_url}   (Ctrl-C stops)")
        if args.demo and stack.restored:
            _say(f"demo: data restored from {data_dir / 'state'} (use --fresh to start over)")
        elif args.demo:
            _demo(stack)
        stopping.wait()
    except KeyboardInterrupt:
        pass
    finally:
        _say("shoppulse up: stopping")
        stack.stop()
    return 0


def _demo(stack: Any) -> None:
    from shoppulse.local.demo import ingest_samples, write_demo_orders
    from shoppulse.local.ingest import target_of

    assert stack.resources is not None
    _say("demo: ingesting sample_files/ ...")
    results = ingest_samples(stack.endpoint, target_of(stack.resources), _say)
    _say(f"demo: files done {dict(Counter(r['status'] for r in results))}")
    _say("demo: writing sample orders ...")
    write_demo_orders(stack.endpoint, _say)
    _say(f"demo: done; try {stack.api_url}/kpis/daily?from=2025-03-01&to=2025-03-07")
