"""`shoppulse deploy`: bootstrap, image, package, stack(s), outputs — the same sequence for an
empty account and for an update. Each step is a plain `aws` / `docker` / `chalice` command,
printed before it runs; `--dry-run` prints the same commands and runs none (values only known
at run time are shown as `<Name>`; the two probes answer "absent", i.e. a first deployment).

Both ways to ship a stage (docs/deployment.md; one stage uses one of them):

`--app merged` (default): one CloudFormation stack `shoppulse-<stage>` holding the app too.
1. `shoppulse synth` (in-process): templates, the generated `.chalice` stage block, `chalice package`.
2. Deploy the bootstrap stack (`infra.bootstrap`: ECR repository, artifact bucket), read its outputs.
3. Probe the image tag; if absent, build the tasks image (linux/amd64) and push it.
4. `aws cloudformation package` (Lambda bundle to the artifact bucket), then
   `aws cloudformation deploy --s3-bucket`: the merged template is over 51,200 bytes, and the CLI
   refuses such a template without a bucket ("--s3-bucket: ... This is required the deployments of
   templates sized greater than 51,200 bytes",
   https://docs.aws.amazon.com/cli/latest/reference/cloudformation/deploy/index.html; the CLI
   raises DeployBucketRequiredError, awscli/customizations/cloudformation/deploy.py). The CLI
   also drops, silently, an override that names no template parameter and keeps the previous
   value of one not given on an update: `parameter_overrides` refuses unknown names instead.
5. Print the stack's outputs.

`--app chalice`: the troposphere stack `shoppulse-<stage>` + `chalice deploy --stage <stage>`.
1-3. As above (synth writes `infra.json`; no `chalice package`).
4. Probe the pipes' function; deploy the stack with `CreatePipes=false` if it does not exist yet
   (a pipe's target must exist), `true` on an update (pipes are never removed by an update).
5. Read the stack's outputs and write the stage block and policy files from them (`infra.chalice_stage`).
6. `chalice deploy --stage <stage>`; give the dead-letter handlers' event source mappings
   `ReportBatchItemFailures` (Chalice 1.34 cannot), then deploy the stack with `CreatePipes=true`.
7. Print the stack's outputs. From then on, plain `chalice deploy --stage <stage>` redeploys the app.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infra import bootstrap, chalice_stage
from infra.context import APP, Stack
from infra.functions import FUNCTIONS, FunctionAccess
from infra.synthesis import PROJECT_DIR, chalice_executable, synthesize, write_json
from infra.template import PIPES_CONDITION, Rendered, render

CAPABILITIES = ("CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND")
PLATFORM = "linux/amd64"  # matches the task definitions' RuntimePlatform (X86_64)
MERGED = "merged"
CHALICE = "chalice"
APPS = (MERGED, CHALICE)


class DeployError(ValueError):
    """The deployment cannot start as asked (a parameter the template lacks or needs)."""


@dataclass(frozen=True)
class DeployOptions:
    stage: str
    region: str
    vpc_id: str = ""
    subnet_ids: Sequence[str] = ()
    assign_public_ip: str = ""
    notification_email: str = ""
    image_tag: str = ""
    artifact_bucket: str = ""  # default: the bootstrap stack's
    app: str = MERGED
    api: chalice_stage.ApiOptions | None = None  # default: the stage's recorded options
    parameters: Mapping[str, str] = field(default_factory=dict)  # further template parameters
    build_dir: Path = Path("build")
    project_dir: Path = PROJECT_DIR

    @property
    def stack_name(self) -> str:
        return f"{APP}-{self.stage}"


@dataclass
class Shell:
    """Runs (or, dry, only prints) commands; `log` holds every command in order."""

    dry_run: bool = False
    echo: Callable[[str], None] = print
    log: list[list[str]] = field(default_factory=list)
    cwd: Path = PROJECT_DIR

    def run(
        self, command: list[str], capture: bool = False, stdin: str | None = None, env: Mapping[str, str] | None = None
    ) -> str:
        """`env`: variables added for this command (printed in front of it)."""
        self.log.append(command)
        prefix = "".join(f"{k}={shlex.quote(v)} " for k, v in (env or {}).items())
        self.echo("+ " + prefix + shlex.join(command))
        if self.dry_run:
            return ""
        environment = {**os.environ, **env} if env else None
        done = subprocess.run(
            command, check=True, text=True, capture_output=capture, input=stdin, cwd=self.cwd, env=environment
        )
        return done.stdout if capture else ""

    def probe(self, command: list[str]) -> bool:
        """A read-only question answered by the exit status; dry: "no" (a first deployment)."""
        self.log.append(command)
        self.echo("+ " + shlex.join(command) + "  # probe")
        if self.dry_run:
            return False
        return subprocess.run(command, check=False, capture_output=True, cwd=self.cwd).returncode == 0

    def note(self, text: str) -> None:
        self.echo(f"# {text}")


def default_image_tag() -> str:
    commit = subprocess.run(
        ["git", "rev-parse", "--short=12", "HEAD"], check=False, capture_output=True, text=True, cwd=PROJECT_DIR
    )
    dirty = subprocess.run(
        ["git", "status", "--porcelain"], check=False, capture_output=True, text=True, cwd=PROJECT_DIR
    )
    tag = commit.stdout.strip() or "untracked"
    return f"{tag}-dirty-{int(time.time())}" if dirty.stdout.strip() else tag


def _aws(options: DeployOptions, *args: str) -> list[str]:
    return ["aws", "--region", options.region, *args]


def parameter_overrides(options: DeployOptions, template: Mapping[str, Any], **values: str) -> list[str]:
    """`Name=value` for the given options; each name must be a parameter of the template, and
    every parameter without a default must get a value (the same list on create and update)."""
    given = {
        "VpcId": options.vpc_id,
        "SubnetIds": ",".join(options.subnet_ids),
        "AssignPublicIp": options.assign_public_ip,
        "NotificationEmail": options.notification_email,
        **options.parameters,
        **values,
    }
    chosen = {name: value for name, value in given.items() if value}
    declared = template.get("Parameters", {})
    unknown = sorted(set(chosen) - set(declared))
    if unknown:
        raise DeployError(f"the template has no parameter {', '.join(unknown)}")
    missing = sorted(n for n, p in declared.items() if "Default" not in p and n not in chosen)
    if missing:
        raise DeployError(f"the template needs a value for {', '.join(missing)}")
    return [f"{name}={value}" for name, value in chosen.items()]


def _deploy_stack(
    shell: Shell, options: DeployOptions, name: str, template: Path, overrides: list[str], bucket: str | None
) -> None:
    upload = ["--s3-bucket", bucket, "--s3-prefix", name] if bucket else []
    parameters = ["--parameter-overrides", *overrides] if overrides else []
    shell.run(
        _aws(
            options,
            "cloudformation",
            "deploy",
            "--stack-name",
            name,
            "--template-file",
            str(template),
            *upload,
            "--capabilities",
            *CAPABILITIES,
            *parameters,
            "--no-fail-on-empty-changeset",
        )
    )


def _describe(shell: Shell, options: DeployOptions, name: str, keys: Sequence[str]) -> tuple[dict[str, str], str]:
    """The stack's outputs and id; dry: `<Key>` for each of `keys`."""
    described = shell.run(
        _aws(
            options,
            "cloudformation",
            "describe-stacks",
            "--stack-name",
            name,
            "--query",
            "Stacks[0]",
            "--output",
            "json",
        ),
        capture=True,
    )
    if not described.strip():
        return {key: f"<{key}>" for key in keys}, f"arn:aws:cloudformation:{options.region}:*:stack/{name}/<id>"
    stack = json.loads(described)
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}, stack["StackId"]


def _bootstrap(shell: Shell, options: DeployOptions) -> dict[str, str]:
    name = bootstrap.stack_name(options.stage)
    template = write_json(options.build_dir / options.stage / "bootstrap.json", bootstrap.render(options.stage))
    _deploy_stack(shell, options, name, template, [], None)  # a few KB: passed inline
    outputs, _ = _describe(shell, options, name, ("TasksRepository", "TasksRepositoryUri", bootstrap.ARTIFACT_BUCKET))
    return outputs


def _push_image(shell: Shell, options: DeployOptions, boot: Mapping[str, str], image_tag: str) -> None:
    repository_uri = boot["TasksRepositoryUri"]
    image = f"{repository_uri}:{image_tag}"
    present = shell.probe(
        _aws(
            options,
            "ecr",
            "describe-images",
            "--repository-name",
            boot["TasksRepository"],
            "--image-ids",
            f"imageTag={image_tag}",
        )
    )
    if present:  # the repository's tags are immutable: a second push of a tag is refused
        shell.note(f"{image} is in the repository already: not rebuilt")
        return
    password = shell.run(_aws(options, "ecr", "get-login-password"), capture=True)
    registry = repository_uri.split("/", 1)[0]
    shell.run(["docker", "login", "--username", "AWS", "--password-stdin", registry], stdin=password)
    shell.run(["docker", "build", "--platform", PLATFORM, "--file", "containers/Dockerfile", "--tag", image, "."])
    shell.run(["docker", "push", image])


def _function_name(options: DeployOptions, access: FunctionAccess) -> str:
    return access.deployed_name(Stack(options.stage))


def dry_run_project(options: DeployOptions) -> Path:
    """Where `--dry-run --app chalice` writes the `.chalice/` files a real run would write."""
    return options.build_dir / options.stage / "chalice-dry-run"


def deploy(options: DeployOptions, shell: Shell) -> dict[str, str]:
    """Runs the sequence (module docstring) and returns the main stack's outputs."""
    if options.app not in APPS:
        raise DeployError(f"--app must be one of {APPS}")
    way = chalice_stage.MERGED_STACK if options.app == MERGED else chalice_stage.CHALICE
    chalice_stage.check_shipping(options.stage, options.project_dir, way)
    api = options.api or chalice_stage.api_options(options.stage, options.project_dir)
    image_tag = options.image_tag or default_image_tag()
    rendered = render(options.stage)
    # Refused before anything is written or run: a parameter the template lacks or needs.
    parameter_overrides(options, rendered.merge if options.app == MERGED else rendered.infra, ImageTag=image_tag)
    shell.note(f"shoppulse synth --stage {options.stage} (in-process: {options.build_dir / options.stage}/)")
    synthesized = synthesize(
        options.stage,
        options.build_dir,
        package=options.app == MERGED,
        write_config=options.app == MERGED,
        project_dir=options.project_dir,
        api=api,
        rendered=rendered,
    )
    boot = _bootstrap(shell, options)
    bucket = options.artifact_bucket or boot[bootstrap.ARTIFACT_BUCKET]
    _push_image(shell, options, boot, image_tag)
    if options.app == MERGED:
        return _deploy_merged(
            shell, options, synthesized.merged_template, synthesized.rendered.merge, bucket, image_tag
        )
    return _deploy_with_chalice(
        shell, options, synthesized.infra_template, synthesized.rendered, api, bucket, image_tag
    )


def _deploy_merged(
    shell: Shell,
    options: DeployOptions,
    merged: Path | None,
    merge: Mapping[str, Any],
    bucket: str,
    image_tag: str,
) -> dict[str, str]:
    if merged is None:
        raise RuntimeError("synth did not produce the merged template")
    overrides = parameter_overrides(options, merge, ImageTag=image_tag, **{PIPES_CONDITION: "true"})
    packaged = merged.parent.parent / "packaged.json"
    shell.run(
        _aws(
            options,
            "cloudformation",
            "package",
            "--template-file",
            str(merged),
            "--s3-bucket",
            bucket,
            "--s3-prefix",
            options.stack_name,
            "--output-template-file",
            str(packaged),
        )
    )
    _deploy_stack(shell, options, options.stack_name, packaged, overrides, bucket)
    return _describe(shell, options, options.stack_name, ())[0]


def _deploy_with_chalice(
    shell: Shell,
    options: DeployOptions,
    infra_template: Path,
    rendered: Rendered,
    api: chalice_stage.ApiOptions,
    bucket: str,
    image_tag: str,
) -> dict[str, str]:
    pipe_target = next(a for a in FUNCTIONS if a.name != "api_handler" and not a.consumes)
    update = shell.probe(
        _aws(options, "lambda", "get-function", "--function-name", _function_name(options, pipe_target))
    )
    first = parameter_overrides(options, rendered.infra, ImageTag=image_tag, **{PIPES_CONDITION: str(update).lower()})
    _deploy_stack(shell, options, options.stack_name, infra_template, first, bucket)
    outputs, stack_id = _describe(shell, options, options.stack_name, tuple(rendered.infra["Outputs"]))
    if shell.dry_run:  # no outputs yet: the names they will have, written aside (the project's stay)
        values = chalice_stage.Values.predicted(rendered.infra, chalice_stage.Pseudo("aws", options.region, "*"))
        target = dry_run_project(options)
    else:
        values = chalice_stage.Values.of_outputs(rendered.infra, outputs, stack_id)
        target = options.project_dir
    config = chalice_stage.generate(options.stage, rendered.merge, api, chalice_stage.CHALICE, values)
    written = chalice_stage.write(config, target)
    shell.note(f"stage block and policy files from the stack's outputs: {', '.join(str(p) for p in written)}")
    shell.run(
        [chalice_executable(), "--project-dir", str(options.project_dir), "deploy", "--stage", options.stage],
        env={"AWS_DEFAULT_REGION": options.region},  # chalice has no --region
    )
    for access in (a for a in FUNCTIONS if a.consumes):
        uuid = shell.run(
            _aws(
                options,
                "lambda",
                "list-event-source-mappings",
                "--function-name",
                _function_name(options, access),
                "--query",
                "EventSourceMappings[0].UUID",
                "--output",
                "text",
            ),
            capture=True,
        ).strip()
        shell.run(
            _aws(
                options,
                "lambda",
                "update-event-source-mapping",
                "--uuid",
                uuid or "<UUID>",
                "--function-response-types",
                "ReportBatchItemFailures",
            )
        )
    second = parameter_overrides(options, rendered.infra, ImageTag=image_tag, **{PIPES_CONDITION: "true"})
    _deploy_stack(shell, options, options.stack_name, infra_template, second, bucket)
    return _describe(shell, options, options.stack_name, ())[0]
