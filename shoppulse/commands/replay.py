"""`shoppulse replay [--kpis-json OUT] FILE...`: run the batch workflow over files, in order,
on an embedded AWS, and print each file's outcome as a JSON line (progress and the closing
summary on stderr)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from shoppulse.embedded import embedded_aws
from shoppulse.progress import FileProgress, summary_line
from shoppulse.replay import InProcessWorkflow


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("replay", help="validate and transform files in-process on an embedded AWS")
    parser.add_argument("files", nargs="+", type=Path, help="CSV files, processed in the given order")
    parser.add_argument("--kpis-json", type=Path, help="write the final KPIs to this JSON file")
    parser.add_argument(
        "--max-invalid-ratio", type=float, default=0.05, help="reject a file above this share of bad rows"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    missing = [str(f) for f in args.files if not f.is_file()]
    if missing:
        print(json.dumps({"error": "no such file", "files": missing}))
        return 2
    started, results = time.monotonic(), []
    with embedded_aws() as clients, FileProgress("replay", args.files) as progress:
        workflow = InProcessWorkflow(clients, args.max_invalid_ratio)
        waiting = {"waiting_for_order": 0, "waiting_for_product": 0}
        for number, path in enumerate(args.files, start=1):
            progress.starting(path)
            outcome = workflow.ingest(path)
            results.append(outcome)
            print(json.dumps(outcome), flush=True)
            progress.done(number, outcome)
            if outcome["status"] == "SUCCEEDED":  # each transformation counts what the whole store holds
                waiting = {k: outcome[k] for k in waiting}
        print(json.dumps({"summary": {"files": len(args.files), "items_still_held": waiting}}), flush=True)
        if args.kpis_json:
            args.kpis_json.parent.mkdir(parents=True, exist_ok=True)
            args.kpis_json.write_text(json.dumps(workflow.kpis(), indent=2) + "\n")
    print(summary_line("replay", results, time.monotonic() - started), file=sys.stderr)
    return 0
