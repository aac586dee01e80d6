"""`shoppulse synth`: write the CloudFormation templates of a stage to build/ and its generated
Chalice stage block (`.chalice/config.json`, policy files)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from infra.chalice_stage import ApiOptions, StageConfigError, api_options
from infra.synthesis import PROJECT_DIR, synthesize


def add_api_arguments(parser: argparse.ArgumentParser) -> None:
    """The API options of a stage (recorded in its generated block; a new stage must choose)."""
    parser.add_argument(
        "--api-auth",
        choices=["api_key", "iam", "none"],
        help="how API Gateway protects the data routes (required for a new stage; none needs --allow-unauthenticated-api)",
    )
    parser.add_argument(
        "--allow-unauthenticated-api", action="store_true", help="accept --api-auth none (anyone may read the KPIs)"
    )
    parser.add_argument(
        "--cors-origin", help="the one origin (https://host) whose pages may call the API; default: same-origin"
    )


def api_from_args(args: argparse.Namespace) -> ApiOptions:
    try:
        return api_options(args.stage, PROJECT_DIR, args.api_auth, args.cors_origin, args.allow_unauthenticated_api)
    except StageConfigError as err:
        raise SystemExit(f"{args.verb}: {err}") from err


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "synth", help="write the stack's templates (troposphere part and merged with Chalice) to build/"
    )
    parser.add_argument("--stage", default="dev", help="stage whose names the templates use (default: dev)")
    parser.add_argument("--build-dir", type=Path, default=Path("build"), help="output folder (default: build)")
    parser.add_argument("--no-package", action="store_true", help="skip `chalice package` (troposphere part only)")
    add_api_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        result = synthesize(args.stage, args.build_dir, package=not args.no_package, api=api_from_args(args))
    except (StageConfigError, ValueError) as err:
        raise SystemExit(f"synth: {err}") from err
    written = {"infra": str(result.infra_template), "merge_input": str(result.merge_template)}
    if result.merged_template:
        written["merged"] = str(result.merged_template)
    print(json.dumps(written))
    return 0
