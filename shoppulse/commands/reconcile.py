"""`shoppulse reconcile [--from D] [--to D]`: recompute days from the curated data, report every
difference from the stored KPIs as JSON, and fix them.

It talks to the AWS that boto3's default session reaches: the deployed stack with your
credentials, or the local stack of `shoppulse up` with `AWS_ENDPOINT_URL` set."""

from __future__ import annotations

import argparse
import json
from datetime import date


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("reconcile", help="recompute days from the curated data and fix the stored KPIs")
    parser.add_argument("--from", dest="first", type=date.fromisoformat, default=date(1970, 1, 1))
    parser.add_argument("--to", dest="last", type=date.fromisoformat, default=date(9999, 12, 31))
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from containers.transformation.reconcile import reconcile_stack  # pandas: only this verb needs it

    report = reconcile_stack(args.first.isoformat(), args.last.isoformat())
    print(json.dumps(report, default=str))
    return 1 if report["differences"] and len(report["fixed"]) < len(report["differences"]) else 0
