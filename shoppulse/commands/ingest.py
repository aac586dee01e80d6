"""`shoppulse ingest FILE... [--endpoint URL]`: upload files to a running local stack, one by one.

Each file goes to the input bucket under incoming/, its workflow is followed to the end, and one
JSON line is printed per file: file, status (SUCCEEDED, REJECTED, FAILED or DUPLICATE), row
counts. Exit 1 if any file ended FAILED.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "ingest",
        help="upload files to the running local stack and follow their workflows",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
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

    for name, value in {**CREDENTIALS, **CLIENT_ENVIRONMENT}.items():
        os.environ.setdefault(name, value)
    session = boto3.session.Session(region_name=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"))
    failed = False
    try:
        ingestor = Ingestor(
            session, args.endpoint, discover(session.client("stepfunctions", endpoint_url=args.endpoint)), args.timeout
        )
        for path in args.files:
            result = ingestor.ingest(path)
            failed |= result["status"] == RunStatus.FAILED.value
            print(json.dumps(result), flush=True)
    except (IngestError, ClientError, BotoCoreError) as err:
        print(json.dumps({"error": str(err), "endpoint": args.endpoint}))
        return 2
    return 1 if failed else 0
