"""`shoppulse deploy`: image, package, one CloudFormation stack, outputs.

Steps (each a plain `docker` / `aws` command, printed before it runs):
1. `shoppulse synth` for the stage (templates, policy files, `chalice package`).
2. If the ECR repository does not exist yet (first deployment), deploy the stack once so that
   it does (the task definitions name an image tag that is pushed right after; no task runs
   before a file lands).
3. Build the tasks image (`containers/Dockerfile`, linux/amd64) and push it with an immutable
   tag (the git commit, plus `-dirty-<time>` for uncommitted trees).
4. `aws cloudformation package` (uploads the Lambda bundle) and `aws cloudformation deploy`.
5. Print the stack's outputs as JSON.
It needs Docker, the AWS CLI v2 and credentials; nothing here runs in tests except `--dry-run`.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from infra.context import APP
from infra.synthesis import PROJECT_DIR, synthesize

CAPABILITIES = ("CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND")
PLATFORM = "linux/amd64"  # matches the task definitions' RuntimePlatform (X86_64)


@dataclass(frozen=True)
class DeployOptions:
    stage: str
    artifact_bucket: str
    vpc_id: str
    subnet_ids: Sequence[str]
    region: str
    assign_public_ip: str = "DISABLED"
    notification_email: str = ""
    image_tag: str = ""
    build_dir: Path = Path("build")

    @property
    def stack_name(self) -> str:
        return f"{APP}-{self.stage}"

    @property
    def repository(self) -> str:
        return f"{APP}-{self.stage}-tasks"


@dataclass
class Shell:
    """Runs (or, dry, only prints) commands; `capture` returns stdout."""

    dry_run: bool = False
    echo: Callable[[str], None] = print
    log: list[list[str]] = field(default_factory=list)

    def run(self, command: list[str], capture: bool = False, check: bool = True) -> str:
        self.log.append(command)
        self.echo("+ " + shlex.join(command))
        if self.dry_run:
            return ""
        done = subprocess.run(command, check=check, text=True, capture_output=capture, cwd=PROJECT_DIR)
        return done.stdout if capture else ""

    def succeeds(self, command: list[str]) -> bool:
        self.log.append(command)
        if self.dry_run:
            return True
        return subprocess.run(command, capture_output=True, cwd=PROJECT_DIR).returncode == 0


def default_image_tag() -> str:
    commit = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True, cwd=PROJECT_DIR)
    dirty = subprocess.run(["git", "status", "--porcelain"], capture_output=True, text=True, cwd=PROJECT_DIR)
    tag = commit.stdout.strip() or "untracked"
    return f"{tag}-dirty-{int(time.time())}" if dirty.stdout.strip() else tag


def _aws(options: DeployOptions, *args: str) -> list[str]:
    return ["aws", "--region", options.region, *args]


def _deploy_stack(shell: Shell, options: DeployOptions, template: Path, image_tag: str) -> None:
    parameters = [
        f"VpcId={options.vpc_id}",
        f"SubnetIds={','.join(options.subnet_ids)}",
        f"AssignPublicIp={options.assign_public_ip}",
        f"ImageTag={image_tag}",
        f"NotificationEmail={options.notification_email}",
    ]
    shell.run(
        _aws(
            options,
            "cloudformation",
            "deploy",
            "--stack-name",
            options.stack_name,
            "--template-file",
            str(template),
            "--capabilities",
            *CAPABILITIES,
            "--parameter-overrides",
            *parameters,
            "--no-fail-on-empty-changeset",
        )
    )


def _push_image(shell: Shell, options: DeployOptions, account: str, image_tag: str) -> str:
    registry = f"{account}.dkr.ecr.{options.region}.amazonaws.com"
    image = f"{registry}/{options.repository}:{image_tag}"
    password = shell.run(_aws(options, "ecr", "get-login-password"), capture=True)
    shell.echo(f"+ docker login --username AWS --password-stdin {registry}")
    if not shell.dry_run:
        subprocess.run(
            ["docker", "login", "--username", "AWS", "--password-stdin", registry],
            input=password,
            text=True,
            check=True,
        )
    shell.run(["docker", "build", "--platform", PLATFORM, "--file", "containers/Dockerfile", "--tag", image, "."])
    shell.run(["docker", "push", image])
    return image


def deploy(options: DeployOptions, shell: Shell) -> dict[str, str]:
    image_tag = options.image_tag or default_image_tag()
    merged = synthesize(options.stage, options.build_dir, write_policies=False).merged_template
    if merged is None:
        raise RuntimeError("synth did not produce the merged template")
    packaged = merged.parent.parent / "packaged.json"
    shell.run(
        _aws(
            options,
            "cloudformation",
            "package",
            "--template-file",
            str(merged),
            "--s3-bucket",
            options.artifact_bucket,
            "--s3-prefix",
            options.stack_name,
            "--output-template-file",
            str(packaged),
        )
    )
    account = (
        shell.run(
            _aws(options, "sts", "get-caller-identity", "--query", "Account", "--output", "text"), capture=True
        ).strip()
        or "<account>"
    )
    if not shell.succeeds(_aws(options, "ecr", "describe-repositories", "--repository-names", options.repository)):
        _deploy_stack(shell, options, packaged, image_tag)  # first deployment: creates the repository
    _push_image(shell, options, account, image_tag)
    _deploy_stack(shell, options, packaged, image_tag)
    described = shell.run(
        _aws(
            options,
            "cloudformation",
            "describe-stacks",
            "--stack-name",
            options.stack_name,
            "--query",
            "Stacks[0].Outputs",
            "--output",
            "json",
        ),
        capture=True,
    )
    outputs = json.loads(described) if described.strip() else []
    return {o["OutputKey"]: o["OutputValue"] for o in outputs}
