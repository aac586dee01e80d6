"""`shoppulse synth`: render the stack of a stage and package it with Chalice's resources.

Writes, for stage S:
- `build/S/infra.json`: the troposphere stack alone;
- `build/S/merge.json`: the same plus the Chalice overlay (`infra.functions`, `infra.api`);
- `build/S/package/sam.json` and `deployment.zip`: `chalice package --merge-template`, the one
  stack `shoppulse deploy` deploys (a SAM template: CloudFormation expands it at deploy time);
- `.chalice/policy-S-<function>.json`: the functions' policies for plain `chalice deploy`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra.template import Rendered, render

PROJECT_DIR = Path(__file__).resolve().parents[1]
# `chalice package` needs a region to start; the template it writes uses ${AWS::Region}.
PACKAGING_REGION = "us-east-1"


@dataclass(frozen=True)
class Synthesized:
    rendered: Rendered
    infra_template: Path
    merge_template: Path
    merged_template: Path | None


def write_json(path: Path, document: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
    return path


def write_policy_files(rendered: Rendered, project_dir: Path = PROJECT_DIR) -> list[Path]:
    return [write_json(project_dir / ".chalice" / name, doc) for name, doc in rendered.policy_files.items()]


def chalice_executable() -> str:
    """The `chalice` of the running interpreter's environment (the project venv)."""
    candidate = Path(sys.executable).with_name("chalice")
    return str(candidate) if candidate.exists() else "chalice"


def chalice_package(rendered: Rendered, merge_template: Path, out_dir: Path, project_dir: Path = PROJECT_DIR) -> Path:
    """Run `chalice package --merge-template`; the app is imported with the stage's names."""
    env = {**os.environ, **rendered.environment}
    env.setdefault("AWS_DEFAULT_REGION", PACKAGING_REGION)
    command = [
        chalice_executable(),
        "--project-dir",
        str(project_dir),
        "package",
        "--stage",
        rendered.stage,
        "--pkg-format",
        "cloudformation",
        "--merge-template",
        str(merge_template),
        str(out_dir),
    ]
    subprocess.run(command, check=True, env=env, cwd=project_dir)
    return out_dir / "sam.json"


def synthesize(
    stage: str, build_dir: Path, package: bool = True, write_policies: bool = True, project_dir: Path = PROJECT_DIR
) -> Synthesized:
    """Write the stage's templates (and, unless told not to, its `.chalice` policy files)."""
    rendered = render(stage)
    stage_dir = build_dir / stage
    infra_template = write_json(stage_dir / "infra.json", rendered.infra)
    merge_template = write_json(stage_dir / "merge.json", rendered.merge)
    if write_policies:
        write_policy_files(rendered, project_dir)
    merged = chalice_package(rendered, merge_template, stage_dir / "package", project_dir) if package else None
    return Synthesized(rendered, infra_template, merge_template, merged)
