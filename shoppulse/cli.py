"""The `shoppulse` command: one entry point, one module per verb.

Each verb module exposes `register(subparsers)`, which adds its parser and sets `func`
(a callable taking the parsed arguments and returning an exit code).
"""
from __future__ import annotations

import argparse
import importlib
import sys

VERB_MODULES = (
    "shoppulse.commands.replay",
    "shoppulse.commands.sample",
    "shoppulse.commands.redrive",
    "shoppulse.commands.up",
    "shoppulse.commands.ingest",
    "shoppulse.commands.synth",
    "shoppulse.commands.deploy",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="shoppulse", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="verb", required=True)
    for name in VERB_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
