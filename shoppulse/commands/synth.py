"""`shoppulse synth`: write the CloudFormation templates of a stage to build/."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from infra.synthesis import synthesize


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "synth", help="write the stack's templates (troposphere part and merged with Chalice) to build/"
    )
    parser.add_argument("--stage", default="dev", help="stage whose names the templates use (default: dev)")
    parser.add_argument("--build-dir", type=Path, default=Path("build"), help="output folder (default: build)")
    parser.add_argument("--no-package", action="store_true", help="skip `chalice package` (troposphere part only)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    result = synthesize(args.stage, args.build_dir, package=not args.no_package)
    written = {"infra": str(result.infra_template), "merge_input": str(result.merge_template)}
    if result.merged_template:
        written["merged"] = str(result.merged_template)
    print(json.dumps(written))
    return 0
