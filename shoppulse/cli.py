"""The `shoppulse` command: one entry point, one module per verb.

Each verb module exposes `register(subparsers)`, which adds its parser and sets `func`
(a callable taking the parsed arguments and returning an exit code). Only the chosen verb's
module is imported, so one verb's heavy dependencies never slow down another.
"""

from __future__ import annotations

import argparse
import importlib
import sys

VERBS = {
    "replay": "shoppulse.commands.replay",
    "reconcile": "shoppulse.commands.reconcile",
    "sample": "shoppulse.commands.sample",
    "redrive": "shoppulse.commands.redrive",
    "up": "shoppulse.commands.up",
    "ingest": "shoppulse.commands.ingest",
    "status": "shoppulse.commands.status",
    "synth": "shoppulse.commands.synth",
    "deploy": "shoppulse.commands.deploy",
    "docs": "shoppulse.commands.docs",
}


def build_parser(verb: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="shoppulse", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="verb", required=True)
    for name, module in VERBS.items():
        if verb in (None, name):
            importlib.import_module(module).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    chosen = argv[0] if argv and argv[0] in VERBS else None
    args = build_parser(chosen).parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
