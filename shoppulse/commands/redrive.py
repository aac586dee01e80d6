"""`shoppulse redrive`: re-process dead-lettered or rejected order events.

    shoppulse redrive --pipe standard --all-open          # every OPEN failure of the pipe
    shoppulse redrive --failure-id 'batch#standard#...'   # one failure (see the failures table)
    shoppulse redrive --pipe standard --order-id o-1      # an order's current item (standard only)

Records come from the stream while it retains them, else from the records the handlers kept
(`--source` forces one). Prints one JSON line per failure on stdout (the handlers' logs and
metrics go to stderr); exit 1 if any still fails.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import TYPE_CHECKING, TextIO

import boto3

from chalicelib.orders.exceptions import OrderNotFound
from chalicelib.pipes import PIPES_BY_KEY
from chalicelib.streaming import services
from chalicelib.streaming.exceptions import RedriveError
from chalicelib.streaming.redrive import Redriver, RedriveResult, Source, StreamRangeReader
from shoppulse.commands import documented_parser
from shoppulse.stdout import diverted_stdout

if TYPE_CHECKING:
    from shoppulse.commands import Subparsers

LOCAL_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


def register(subparsers: Subparsers) -> None:
    parser = documented_parser(
        subparsers, "redrive", "re-process failed order events through the pipes' processing", __doc__
    )
    parser.add_argument("--pipe", choices=sorted(PIPES_BY_KEY), help="the pipe (required with --all-open / --order-id)")
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--failure-id", action="append", help="a failure to redrive (repeatable)")
    what.add_argument("--all-open", action="store_true", help="every OPEN failure of --pipe, oldest first")
    what.add_argument("--order-id", action="append", help="re-process an order's current item (repeatable)")
    parser.add_argument(
        "--source",
        choices=[s.value for s in Source if s is not Source.ORDERS],
        default=Source.AUTO.value,
        help="where a failure's records come from (default: the stream if still retained)",
    )
    parser.add_argument("--endpoint", help="an AWS endpoint, e.g. the local stack's http://127.0.0.1:4566")
    parser.set_defaults(func=run)


def _use_endpoint(endpoint: str | None) -> None:
    if endpoint:
        os.environ["AWS_ENDPOINT_URL"] = endpoint
        os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
        # botocore would send DynamoDB (Streams) calls to account-based hosts the endpoint lacks.
        os.environ["AWS_ACCOUNT_ID_ENDPOINT_MODE"] = "disabled"
        for name, value in LOCAL_CREDENTIALS.items():
            os.environ.setdefault(name, value)
    services.reset()


def redriver() -> Redriver:
    # GetRecords answers lack eventSourceARN and carry datetimes, in AWS as in moto: the same
    # conversion the local pipes use gives the wire format the handlers receive.
    from shoppulse.local.moto_fixes import wire_stream_record

    stream = StreamRangeReader(boto3.client("dynamodbstreams"), wire_stream_record)
    return Redriver(services.failure_repository(), services.batches_for, services.order_repository(), stream)


def _emit(results: TextIO, outcome: RedriveResult | Exception, target: str = "") -> bool:
    if isinstance(outcome, RedriveResult):
        print(json.dumps(outcome.as_dict()), file=results, flush=True)
        return outcome.ok
    print(json.dumps({"target": target, "status": "ERROR", "error": str(outcome)}), file=results, flush=True)
    return False


def run(args: argparse.Namespace) -> int:
    if (args.all_open or args.order_id) and not args.pipe:
        print("shoppulse redrive: --pipe is required with --all-open and --order-id", file=sys.stderr)
        return 2
    with diverted_stdout(sys.stderr) as results:
        return _redrive(args, results)


def _redrive(args: argparse.Namespace, results: TextIO) -> int:
    _use_endpoint(args.endpoint)
    tool, source = redriver(), Source(args.source)
    ok = True
    if args.all_open:
        for failure_id, outcome in tool.redrive_open(args.pipe, source):
            ok &= _emit(results, outcome, failure_id)
    for failure_id in args.failure_id or ():
        try:
            ok &= _emit(results, tool.redrive_failure(failure_id, source))
        except RedriveError as err:
            ok &= _emit(results, err, failure_id)
    for order_id in args.order_id or ():
        try:
            ok &= _emit(results, tool.redrive_order(args.pipe, order_id))
        except (RedriveError, OrderNotFound) as err:
            ok &= _emit(results, err, f"order:{order_id}")
    return 0 if ok else 1
