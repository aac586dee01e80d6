"""`shoppulse docs [--check]`: regenerate the KPI tables of docs/kpis.md from the one KPI
definition (chalicelib/kpi_fields.py); `--check` only says whether the doc is up to date."""

from __future__ import annotations

import argparse
import sys

from shoppulse.kpi_docs import KPI_DOC, render


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("docs", help="regenerate the KPI tables of docs/kpis.md from the KPI definition")
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 when the doc is out of date")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    current = KPI_DOC.read_text(encoding="utf-8")
    wanted = render(current)
    if wanted == current:
        print(f"{KPI_DOC.name}: up to date")
        return 0
    if args.check:
        print(f"{KPI_DOC.name}: out of date, run `shoppulse docs`", file=sys.stderr)
        return 1
    KPI_DOC.write_text(wanted, encoding="utf-8")
    print(f"{KPI_DOC.name}: KPI tables regenerated")
    return 0
