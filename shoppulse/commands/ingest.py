"""`shoppulse ingest FILE... [--endpoint URL]`: upload files to a running local stack, one by one.

Each file goes to the input bucket under incoming/, its workflow is followed to the end, and one
JSON line is printed per file: file, status (SUCCEEDED, REJECTED, FAILED or DUPLICATE), row
counts; on a terminal a progress bar, and a one-line summary on stderr at the end. Exit 1 if
any file ended FAILED.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from shoppulse.commands import documented_parser

if TYPE_CHECKING:
    from shoppulse.commands import Subparsers


def register(subparsers: Subparsers) -> None:
    parser = documented_parser(
        subparsers, "ingest", "upload files to the running local stack and follow their workflows", __doc__
    )
    parser.add_argument("files", nargs="+", type=_existing_file, help="CSV files, uploaded in the given order")
    parser.add_argument("--endpoint", default="http://127.0.0.1:4566", help="the local stack's AWS endpoint")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for each file's workflow")
    parser.set_defaults(func=run)


def _existing_file(text: str) -> Path:
    path = Path(text)
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"no such file: {text}")
    return path


def run(args: argparse.Namespace) -> int:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    from chalicelib.runs import RunStatus
    from shoppulse.local.embedded_aws import CREDENTIALS
    from shoppulse.local.exceptions import IngestError
    from shoppulse.local.ingest import Ingestor, discover
    from shoppulse.local.moto_fixes import CLIENT_ENVIRONMENT
    from shoppulse.progress import FileProgress, summary_line

    for name, value in {**CREDENTIALS, **CLIENT_ENVIRONMENT}.items():
        os.environ.setdefault(name, value)
    session = boto3.session.Session(region_name=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"))
    started, results = time.monotonic(), []
    try:
        ingestor = Ingestor(
            session, args.endpoint, discover(session.client("stepfunctions", endpoint_url=args.endpoint)), args.timeout
        )
        with FileProgress("ingest", args.files) as progress:
            for number, path in enumerate(args.files, start=1):
                progress.starting(path)
                results.append(ingestor.ingest(path))
                print(json.dumps(results[-1]), flush=True)
                progress.done(number, results[-1])
    except (IngestError, ClientError, BotoCoreError) as err:
        print(json.dumps({"error": str(err), "endpoint": args.endpoint}))
        return 2
    finally:
        print(summary_line("ingest", results, time.monotonic() - started), file=sys.stderr)
    return 1 if any(r["status"] == RunStatus.FAILED.value for r in results) else 0
