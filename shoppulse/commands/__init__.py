"""One module per `shoppulse` verb."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]


def documented_parser(subparsers: Subparsers, name: str, summary: str, doc: str | None) -> argparse.ArgumentParser:
    """A verb's parser whose `--help` prints the verb module's docstring as written."""
    return subparsers.add_parser(
        name, help=summary, description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
