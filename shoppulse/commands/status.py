"""`shoppulse status [--endpoint URL]`: what a running local stack holds, at a glance.

Runs by status, runs stuck RUNNING (longer than --stuck-after minutes) or FAILED with their
cause, the dead-letter queues' depth and failures still open, open premium cases, the last
file. Lines for a person on a terminal, one JSON document when piped (or with --json).
Exit 1 if anything is stuck, failed or dead-lettered, 2 if no stack answers.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import timedelta
from typing import TYPE_CHECKING

from shoppulse.commands import documented_parser

if TYPE_CHECKING:
    from shoppulse.commands import Subparsers


def register(subparsers: Subparsers) -> None:
    parser = documented_parser(
        subparsers,
        "status",
        "runs, stuck and failed work, dead letters and premium cases of a running local stack",
        __doc__,
    )
    parser.add_argument("--endpoint", default="http://127.0.0.1:4566", help="the local stack's AWS endpoint")
    parser.add_argument("--stuck-after", type=float, default=15.0, help="minutes RUNNING before a run is stuck")
    parser.add_argument("--json", action="store_true", help="one JSON document (the default when piped)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    from shoppulse.local.embedded_aws import CREDENTIALS
    from shoppulse.local.moto_fixes import CLIENT_ENVIRONMENT
    from shoppulse.local.status import gather

    for name, value in {**CREDENTIALS, **CLIENT_ENVIRONMENT}.items():
        os.environ.setdefault(name, value)
    session = boto3.session.Session(region_name=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"))
    try:
        status = gather(
            session.resource("dynamodb", endpoint_url=args.endpoint),
            session.client("sqs", endpoint_url=args.endpoint),
            timedelta(minutes=args.stuck_after),
        )
    except (ClientError, BotoCoreError) as err:
        print(json.dumps({"error": f"no local stack answers at {args.endpoint}: {err}"}), file=sys.stderr)
        return 2
    if args.json or not sys.stdout.isatty():
        print(json.dumps(status.as_dict(), indent=2))
    else:
        print("\n".join(status.lines()))
    troubled = status.stuck or status.failed or any(sum(d.values()) for d in status.dead_letters.values())
    return 1 if troubled else 0
