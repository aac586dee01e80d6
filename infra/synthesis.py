"""`shoppulse synth`: render the stack of a stage and package it with Chalice's resources.

Writes, for stage S:
- `build/S/infra.json`: the troposphere stack alone;
- `build/S/merge.json`: the same plus the Chalice overlay (`infra.functions`, `infra.api`);
- `.chalice/config.json` stage S and `.chalice/policy-S-<function>.json`: generated from the
  overlay (`infra.chalice_stage.offline`: the names, what `chalice package` reads at import);
- `build/S/package/sam.json` and `deployment.zip`: `chalice package --merge-template`, the one
  stack `shoppulse deploy` deploys (a SAM template: CloudFormation expands it at deploy time).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra import chalice_stage
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


def chalice_executable() -> str:
    """The `chalice` of the running interpreter's environment (the project venv)."""
    candidate = Path(sys.executable).with_name("chalice")
    return str(candidate) if candidate.exists() else "chalice"


def chalice_package(
    stage: str, out_dir: Path, project_dir: Path, merge_template: Path | None = None, pkg_format: str = "cloudformation"
) -> Path:
    """Run `chalice package` for the stage (with `--merge-template`: the one merged stack).

    Chalice imports app.py with the stage's `environment_variables` set, so the generated block
    in `project_dir/.chalice/config.json` decides the queue names and the API's auth."""
    env = dict(os.environ)
    env.setdefault("AWS_DEFAULT_REGION", PACKAGING_REGION)
    merge = ["--merge-template", str(merge_template)] if merge_template else []
    command = [
        chalice_executable(),
        "--project-dir",
        str(project_dir),
        "package",
        "--stage",
        stage,
        "--pkg-format",
        pkg_format,
        *merge,
        str(out_dir),
    ]
    subprocess.run(command, check=True, env=env, cwd=project_dir)
    return out_dir / ("sam.json" if pkg_format == "cloudformation" else "chalice.tf.json")


def synthesize(
    stage: str,
    build_dir: Path,
    package: bool = True,
    write_config: bool = True,
    project_dir: Path = PROJECT_DIR,
    api: chalice_stage.ApiOptions | None = None,
    rendered: Rendered | None = None,
) -> Synthesized:
    """Write the stage's templates and (unless told not to) its generated `.chalice` stage block.

    `api`: the API options; by default the ones the stage's block recorded (a new stage must choose)."""
    rendered = rendered or render(stage)
    stage_dir = build_dir / stage
    infra_template = write_json(stage_dir / "infra.json", rendered.infra)
    merge_template = write_json(stage_dir / "merge.json", rendered.merge)
    if write_config:
        chalice_stage.check_shipping(stage, project_dir, chalice_stage.MERGED_STACK)
        options = api or chalice_stage.api_options(stage, project_dir)
        chalice_stage.write(chalice_stage.offline(stage, rendered.merge, options), project_dir)
    merged = chalice_package(stage, stage_dir / "package", project_dir, merge_template) if package else None
    return Synthesized(rendered, infra_template, merge_template, merged)
