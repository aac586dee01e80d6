"""`shoppulse deploy --stage NAME`: bootstrap, image, package, stack, outputs (see `infra.deployment`).

Needs Docker, the AWS CLI v2 and AWS credentials (AWS_PROFILE or the usual variables);
`--dry-run` prints the commands without running them.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from infra.chalice_stage import StageConfigError
from infra.deployment import APPS, MERGED, DeployError, DeployOptions, Shell, deploy
from shoppulse.commands.synth import add_api_arguments, api_from_args


def _parameter(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name, value


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "deploy", help="deploy a stage (bootstrap, tasks image, stack with the Chalice app) and print its outputs"
    )
    parser.add_argument("--stage", required=True, help="stage to deploy (names: shoppulse-<stage>-...)")
    parser.add_argument(
        "--app",
        choices=APPS,
        default=MERGED,
        help="merged: one stack holds the app (default); chalice: the troposphere stack + `chalice deploy`",
    )
    parser.add_argument("--vpc-id", default="", help="VPC of the Fargate tasks (default: the stack creates one)")
    parser.add_argument("--subnet-ids", default="", help="comma-separated subnets of the Fargate tasks")
    parser.add_argument(
        "--assign-public-ip",
        choices=["DISABLED", "ENABLED"],
        default="",
        help="ENABLED for public subnets without a NAT",
    )
    parser.add_argument("--notification-email", default="", help="e-mail subscribed to the alert and premium topics")
    parser.add_argument(
        "--parameter",
        type=_parameter,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="any other parameter of the template (repeatable); unknown names are refused",
    )
    parser.add_argument(
        "--artifact-bucket", default="", help="bucket for the packaged template and bundle (default: the bootstrap's)"
    )
    parser.add_argument(
        "--region",
        default=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"),
        help="AWS region (default: $AWS_REGION)",
    )
    parser.add_argument("--image-tag", default="", help="tag of the tasks image (default: the git commit)")
    parser.add_argument("--build-dir", type=Path, default=Path("build"))
    parser.add_argument("--dry-run", action="store_true", help="print the commands instead of running them")
    add_api_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if not args.region:
        raise SystemExit("deploy: no region (set --region or AWS_REGION)")
    options = DeployOptions(
        stage=args.stage,
        region=args.region,
        vpc_id=args.vpc_id,
        subnet_ids=[s for s in args.subnet_ids.split(",") if s],
        assign_public_ip=args.assign_public_ip,
        notification_email=args.notification_email,
        image_tag=args.image_tag,
        artifact_bucket=args.artifact_bucket,
        app=args.app,
        api=api_from_args(args),
        parameters=dict(args.parameter),
        build_dir=args.build_dir,
    )
    try:
        outputs = deploy(options, Shell(dry_run=args.dry_run))
    except (DeployError, StageConfigError) as err:
        raise SystemExit(f"deploy: {err}") from err
    print(json.dumps(outputs, indent=2, sort_keys=True))
    return 0
