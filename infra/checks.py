"""The stack's static checks, shared by `make lint` and the tests: SAM translation, cfn-lint,
deployment rules, checkov, ASL.

- SAM translation (`infra.sam_translation`, aws-sam-translator): the merged template expanded
  offline into the plain CloudFormation that a deployment creates (`package/translated.json`).
- cfn-lint (project venv): no error and no warning on the troposphere, merged and translated templates.
- `infra.template_rules` on the translated template: no violation (IAM, retention, tagging, tracing).
- checkov (its own venv, `.venv/tools/checkov`): no failed check; every skip carries a reason
  in the template's `Metadata.checkov.skip`.
- asl-validator (npm, `.venv/tools/asl-validator`): the state machine definition.
`python -m infra.checks [--stage S]` synthesizes the stage and runs all three.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra import template_rules
from infra.sam_translation import write_translated
from infra.synthesis import PROJECT_DIR, synthesize

TOOLS = PROJECT_DIR / ".venv" / "tools"
CHECKOV = TOOLS / "checkov" / "bin" / "checkov"
ASL_VALIDATOR = TOOLS / "asl-validator" / "node_modules" / ".bin" / "asl-validator"


@dataclass(frozen=True)
class CheckovResult:
    passed: int
    skipped: list[dict[str, Any]]
    failed: list[dict[str, Any]]


def cfn_lint(templates: Sequence[Path]) -> list[str]:
    """Every cfn-lint finding (errors, warnings and informational) as text."""
    command = [str(Path(sys.executable).with_name("cfn-lint")), "--format", "parseable", *map(str, templates)]
    done = subprocess.run(command, capture_output=True, text=True)
    return [line for line in done.stdout.splitlines() if line.strip()]


def checkov(templates: Sequence[Path]) -> CheckovResult:
    files = [arg for template in templates for arg in ("--file", str(template.resolve()))]
    command = [
        str(CHECKOV),
        *files,
        "--framework",
        "cloudformation",
        "--output",
        "json",
        "--skip-download",
        "--compact",
    ]
    # checkov exits 1 when a check fails; the JSON report says which.
    done = subprocess.run(command, capture_output=True, text=True, cwd=tempfile.gettempdir())
    reports = json.loads(done.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    if sum(r["summary"]["resource_count"] for r in reports) == 0 or any(
        r["summary"]["parsing_errors"] for r in reports
    ):
        raise RuntimeError(f"checkov did not read the templates: {[r['summary'] for r in reports]}")
    results = [r["results"] for r in reports]
    return CheckovResult(
        passed=sum(r["summary"]["passed"] for r in reports),
        skipped=[c for r in results for c in r.get("skipped_checks", [])],
        failed=[c for r in results for c in r.get("failed_checks", [])],
    )


def asl_validate(definition: dict[str, Any]) -> tuple[bool, str]:
    """(valid, the validator's report) for one ASL document."""
    done = subprocess.run(
        [str(ASL_VALIDATOR), "--json-definition", json.dumps(definition)], capture_output=True, text=True
    )
    return done.returncode == 0, (done.stdout + done.stderr).strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.checks", description=__doc__.splitlines()[0])
    parser.add_argument("--stage", default="dev")
    parser.add_argument("--build-dir", type=Path, default=Path("build"))
    args = parser.parse_args(argv)
    result = synthesize(args.stage, args.build_dir)
    if result.merged_template is None:
        raise RuntimeError("synth did not produce the merged template")
    translated = write_translated(result.merged_template)
    templates = [result.infra_template, result.merged_template]
    failures = 0
    findings = cfn_lint([*templates, translated])
    print(f"cfn-lint: {len(findings)} finding(s)", *findings, sep="\n  ")
    failures += bool(findings)
    violations = template_rules.check(json.loads(translated.read_text()))
    print(f"deployment rules: {len(violations)} violation(s)", *violations, sep="\n  ")
    failures += bool(violations)
    report = checkov(templates)
    print(f"checkov: {report.passed} passed, {len(report.skipped)} skipped (with reasons), {len(report.failed)} failed")
    for check in report.failed:
        print(f"  {check['check_id']} {check['resource']}: {check['check_name']}")
    failures += bool(report.failed)
    machine = result.rendered.infra["Resources"]["BatchWorkflow"]["Properties"]["Definition"]
    valid, text = asl_validate(machine)
    print(f"asl-validator: {text}")
    failures += not valid
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
