"""`shoppulse deploy --stage NAME`: build and push the tasks image, deploy the merged stack.

See `infra.deployment` for the steps. Needs Docker, the AWS CLI v2 and AWS credentials
(AWS_PROFILE or the usual variables); `--dry-run` prints the commands without running them.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from infra.deployment import DeployOptions, Shell, deploy


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "deploy", help="build and push the tasks image, deploy the stack (Chalice app included), print its outputs"
    )
    parser.add_argument("--stage", required=True, help="stage to deploy (names: shoppulse-<stage>-...)")
    parser.add_argument("--artifact-bucket", required=True, help="S3 bucket for the Lambda deployment package")
    parser.add_argument("--vpc-id", required=True, help="VPC of the Fargate tasks")
    parser.add_argument("--subnet-ids", required=True, help="comma-separated subnets of the Fargate tasks")
    parser.add_argument(
        "--assign-public-ip",
        choices=["DISABLED", "ENABLED"],
        default="DISABLED",
        help="ENABLED for public subnets without a NAT gateway",
    )
    parser.add_argument(
        "--notification-email", default="", help="e-mail subscribed to the alert and premium-team topics"
    )
    parser.add_argument(
        "--region",
        default=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"),
        help="AWS region (default: $AWS_REGION)",
    )
    parser.add_argument("--image-tag", default="", help="tag of the tasks image (default: the git commit)")
    parser.add_argument("--build-dir", type=Path, default=Path("build"))
    parser.add_argument("--dry-run", action="store_true", help="print the commands instead of running them")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if not args.region:
        raise SystemExit("deploy: no region (set --region or AWS_REGION)")
    options = DeployOptions(
        stage=args.stage,
        artifact_bucket=args.artifact_bucket,
        vpc_id=args.vpc_id,
        subnet_ids=[s for s in args.subnet_ids.split(",") if s],
        region=args.region,
        assign_public_ip=args.assign_public_ip,
        notification_email=args.notification_email,
        image_tag=args.image_tag,
        build_dir=args.build_dir,
    )
    outputs = deploy(options, Shell(dry_run=args.dry_run))
    print(json.dumps(outputs, indent=2, sort_keys=True))
    return 0
