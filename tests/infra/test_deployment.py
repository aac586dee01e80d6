"""`shoppulse deploy`: the command sequence (both ways to ship), the generated Chalice stage
configuration, and the settings that fail fast in the cloud."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from chalicelib import settings
from chalicelib.app_environment import required_variables
from containers.tasks.config import ConfigurationError, TaskConfig
from infra import bootstrap, chalice_stage, checks
from infra.deployment import DeployError, DeployOptions, Shell, deploy, dry_run_project, parameter_overrides
from infra.functions import FUNCTIONS
from infra.synthesis import chalice_package
from infra.template import render
from shoppulse.cli import main

ROOT = Path(__file__).resolve().parents[2]
FRESH = "qa"
IAM = chalice_stage.ApiOptions("iam")


def _copy_project(target: Path) -> Path:
    """What `chalice package` reads: the app, chalicelib, requirements and `.chalice/`."""
    ignore = shutil.ignore_patterns("__pycache__", "deployments", "deployed")
    shutil.copy(ROOT / "app.py", target / "app.py")
    shutil.copy(ROOT / "requirements.txt", target / "requirements.txt")
    shutil.copytree(ROOT / "chalicelib", target / "chalicelib", ignore=ignore)
    shutil.copytree(ROOT / ".chalice", target / ".chalice", ignore=ignore)
    return target


@pytest.fixture
def project(tmp_path: Path) -> Path:
    target = tmp_path / "project"
    target.mkdir()
    return _copy_project(target)


def _options(tmp_path: Path, project: Path, app: str) -> DeployOptions:
    return DeployOptions(
        stage=FRESH,
        region="eu-west-1",
        vpc_id="vpc-1",
        subnet_ids=["subnet-a", "subnet-b"],
        image_tag="abc123",
        app=app,
        api=IAM,
        build_dir=tmp_path / "build",
        project_dir=project,
    )


def _step(command: list[str]) -> str:
    if command[0] == "docker":
        return " ".join(command[:2])
    if command[0] == "aws":
        return " ".join(command[3:5])
    return f"chalice {command[3]}"


def _flag(command: list[str], flag: str) -> str:
    return command[command.index(flag) + 1]


def _overrides(command: list[str]) -> dict[str, str]:
    start = command.index("--parameter-overrides") + 1
    end = command.index("--no-fail-on-empty-changeset")
    return dict(item.split("=", 1) for item in command[start:end])


def _deploys(shell: Shell, stack: str) -> list[list[str]]:
    return [c for c in shell.log if _step(c) == "cloudformation deploy" and _flag(c, "--stack-name") == stack]


def test_merged_dry_run_bootstraps_pushes_packages_to_s3_and_deploys_with_template_parameters(tmp_path, project):
    printed: list[str] = []
    shell = Shell(dry_run=True, echo=printed.append)
    assert deploy(_options(tmp_path, project, "merged"), shell) == {}
    assert [_step(c) for c in shell.log] == [
        "cloudformation deploy",  # bootstrap: the repository exists before the push
        "cloudformation describe-stacks",
        "ecr describe-images",
        "ecr get-login-password",
        "docker login",
        "docker build",
        "docker push",
        "cloudformation package",
        "cloudformation deploy",
        "cloudformation describe-stacks",
    ]
    # What is printed is what runs: one line per command, in order.
    commands = [line[2:].removesuffix("  # probe") for line in printed if line.startswith("+ ")]
    assert commands == [shlex.join(c) for c in shell.log]
    [boot] = _deploys(shell, "shoppulse-qa-bootstrap")
    assert shell.log.index(boot) < [_step(c) for c in shell.log].index("docker push")
    package = shell.log[7]
    [main] = _deploys(shell, "shoppulse-qa")
    # The packaged template is over 51,200 bytes: package and deploy both go through the bucket.
    sam = json.loads((tmp_path / "build" / FRESH / "package" / "sam.json").read_text())
    assert len(json.dumps(sam)) > 51_200
    assert _flag(package, "--s3-bucket") == _flag(main, "--s3-bucket") == "<ArtifactBucket>"
    assert _flag(main, "--template-file") == _flag(package, "--output-template-file")
    assert {"CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"} <= set(main)
    # Outputs are parsed as JSON whatever the user's CLI default output is.
    assert all(_flag(c, "--output") == "json" for c in shell.log if _step(c) == "cloudformation describe-stacks")
    overrides = _overrides(main)
    assert set(overrides) <= set(sam["Parameters"])
    assert {n for n, p in sam["Parameters"].items() if "Default" not in p} <= set(overrides)
    assert overrides["SubnetIds"] == "subnet-a,subnet-b" and overrides["ImageTag"] == "abc123"
    # The stage's block was generated into the project `chalice package` read.
    block = json.loads((project / ".chalice" / "config.json").read_text())["stages"][FRESH]
    assert block["environment_variables"]["API_AUTH"] == "iam"


def test_parameters_the_template_lacks_or_needs_are_refused(tmp_path, project):
    infra = render(FRESH).infra
    options = _options(tmp_path, project, "merged")
    with pytest.raises(DeployError, match="no parameter Nope"):
        parameter_overrides(options, infra, ImageTag="t", Nope="x")
    with pytest.raises(DeployError, match="needs a value for ImageTag"):
        parameter_overrides(options, infra)
    # No VPC given: the stack creates one (VpcId empty), so no network parameter is passed.
    assert parameter_overrides(DeployOptions(stage=FRESH, region="eu-west-1"), infra, ImageTag="t") == ["ImageTag=t"]


def _merged_view(stage: str, values: chalice_stage.Values) -> dict[str, Any]:
    """Per function of the merged stack: its name, environment and role policy, references resolved."""
    resources = render(stage).merge["Resources"]
    view = {}
    for access in FUNCTIONS:
        props = resources[access.logical_id]["Properties"]
        [role_policy] = resources[access.role_logical_id]["Properties"]["Policies"]
        view[access.name] = {
            "name": values.resolve(props["FunctionName"]),
            "environment": values.resolve(props["Environment"]["Variables"]),
            "policy": values.resolve(role_policy["PolicyDocument"]),
        }
    return view


def _chalice_view(terraform: dict[str, Any]) -> dict[str, Any]:
    """The same from `chalice package --pkg-format terraform` (the names `chalice deploy` gives)."""
    resources = terraform["resource"]
    return {
        name: {
            "name": function["function_name"],
            "environment": function["environment"]["variables"],
            "policy": json.loads(resources["aws_iam_role_policy"][f"{name}_role"]["policy"]),
        }
        for name, function in resources["aws_lambda_function"].items()
    }


def test_chalice_dry_run_for_a_fresh_stage_then_chalice_package_equals_the_merged_stack(tmp_path, project):
    options = _options(tmp_path, project, "chalice")
    shell = Shell(dry_run=True, echo=lambda _: None)
    deploy(options, shell)
    steps = [_step(c) for c in shell.log]
    main = _deploys(shell, "shoppulse-qa")
    assert [_overrides(c)["CreatePipes"] for c in main] == ["false", "true"]  # pipes after their functions
    assert shell.log.index(main[0]) < steps.index("chalice deploy") < shell.log.index(main[1])
    assert steps.index("docker push") < shell.log.index(main[0])
    assert steps.count("lambda update-event-source-mapping") == 2
    assert all(_flag(c, "--s3-bucket") for c in main)
    assert set(_overrides(main[0])) <= set(render(FRESH).infra["Parameters"])
    # The project's own config is untouched by a dry run; the files a real run writes are aside.
    assert FRESH not in json.loads((project / ".chalice" / "config.json").read_text())["stages"]
    shutil.rmtree(project / ".chalice")
    shutil.copytree(dry_run_project(options) / ".chalice", project / ".chalice")

    sam = json.loads(chalice_package(FRESH, tmp_path / "sam", project).read_text())
    assert {f.logical_id for f in FUNCTIONS} <= set(sam["Resources"])
    terraform = json.loads(chalice_package(FRESH, tmp_path / "tf", project, pkg_format="terraform").read_text())
    values = chalice_stage.Values.predicted(render(FRESH).infra, chalice_stage.Pseudo("aws", "eu-west-1", "*"))
    merged = _merged_view(FRESH, values)
    packaged = _chalice_view(terraform)
    assert set(packaged) == set(merged)
    api_env = {**IAM.environment(), chalice_stage.SHIPPED_WITH: chalice_stage.CHALICE}
    for name, expected in merged.items():
        assert packaged[name]["name"] == expected["name"]
        assert packaged[name]["environment"] == {**expected["environment"], **api_env}
        assert packaged[name]["policy"] == expected["policy"]
    # The dead-letter handlers read their queue from the generated stage config at import.
    sources = json.dumps(terraform["resource"]["aws_lambda_event_source_mapping"])
    assert "shoppulse-qa-standard-orders-dlq" in sources and "shoppulse-qa-premium-orders-dlq" in sources


def test_every_value_the_functions_need_is_an_output_of_the_stack():
    """The chalice way resolves from describe-stacks Outputs: each reference must have one."""
    rendered = render(FRESH)
    pseudo = chalice_stage.Pseudo("aws", "eu-west-1", "123456789012")
    predicted = chalice_stage.Values.predicted(rendered.infra, pseudo)
    outputs = {}
    for key, output in rendered.infra["Outputs"].items():
        try:
            outputs[key] = predicted.resolve(output["Value"])
        except chalice_stage.StageConfigError:
            continue  # outputs of resources the functions do not name (alarms, roles, ...)
    stack_id = "arn:aws:cloudformation:eu-west-1:123456789012:stack/shoppulse-qa/1"
    from_outputs = chalice_stage.Values.of_outputs(rendered.infra, outputs, stack_id)
    deployed = chalice_stage.generate(FRESH, rendered.merge, IAM, chalice_stage.CHALICE, from_outputs)
    assert deployed == chalice_stage.generate(FRESH, rendered.merge, IAM, chalice_stage.CHALICE, predicted)
    env = deployed.block["environment_variables"]
    assert set(required_variables()) <= set(env)
    assert env["ALERTS_TOPIC_ARN"] == "arn:aws:sns:eu-west-1:123456789012:shoppulse-qa-alerts"
    assert env["INPUT_BUCKET"] == "shoppulse-qa-input-123456789012-eu-west-1"
    with pytest.raises(chalice_stage.StageConfigError, match="outputs no"):
        chalice_stage.Values.of_outputs(rendered.infra, {}, stack_id).resolve({"Ref": "RunsTable"})


def test_the_api_fails_closed_and_cors_is_one_origin(tmp_path):
    with pytest.raises(chalice_stage.StageConfigError, match="--allow-unauthenticated-api"):
        chalice_stage.ApiOptions("none")
    assert chalice_stage.ApiOptions("none", allow_unauthenticated=True).environment()["API_ALLOW_UNAUTHENTICATED"]
    with pytest.raises(chalice_stage.StageConfigError, match="local stack only"):
        chalice_stage.ApiOptions("api_key", cors_origin="*")
    with pytest.raises(chalice_stage.StageConfigError, match="--api-auth"):
        chalice_stage.api_options("brandnew", tmp_path)
    assert chalice_stage.api_options("dev", ROOT).auth == "api_key"  # recorded in the generated block


def test_a_stage_is_shipped_one_way(project):
    chalice_stage.write(chalice_stage.offline("dev", render("dev").merge, IAM), project)
    with pytest.raises(chalice_stage.StageConfigError, match="shipped with 'merged-stack'"):
        chalice_stage.check_shipping("dev", project, chalice_stage.CHALICE)


LAMBDA = {"AWS_LAMBDA_FUNCTION_NAME": "shoppulse-qa"}


def test_settings_default_locally_and_are_required_in_lambda_and_ecs():
    assert settings.setting("RUNS_TABLE", "shoppulse-Runs", {}) == "shoppulse-Runs"
    for marker in ({**LAMBDA}, {"ECS_CONTAINER_METADATA_URI_V4": "http://169.254.170.2/v4/x"}):
        with pytest.raises(settings.MissingSettingError, match="RUNS_TABLE"):
            settings.setting("RUNS_TABLE", "shoppulse-Runs", marker)
    assert settings.cors_origin({}) == "*"
    with pytest.raises(settings.MissingSettingError):
        settings.cors_origin({**LAMBDA, "API_CORS_ORIGIN": "*"})
    assert settings.cors_origin({**LAMBDA, "API_CORS_ORIGIN": "https://shop.example.com"}) == "https://shop.example.com"
    assert settings.cors_origin({**LAMBDA, "API_CORS_ORIGIN": "same-origin"}) is None


def test_the_task_refuses_to_start_in_ecs_without_its_table_names():
    env = {"ECS_CONTAINER_METADATA_URI_V4": "http://x", "INPUT_BUCKET": "b", "INPUT_KEY": "incoming/a.csv"}
    with pytest.raises(ConfigurationError, match=r"CURATED_BUCKET.*DAILY_KPIS_TABLE"):
        TaskConfig.from_env(env)
    names = {"CURATED_BUCKET": "c", "DAILY_KPIS_TABLE": "d", "CATEGORY_KPIS_TABLE": "k", "RUNS_TABLE": "r"}
    assert TaskConfig.from_env({**env, **names, "MAX_INVALID_RATIO": "0.1"}).runs_table == "r"


def _import_app(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in required_variables()}
    return subprocess.run(
        [sys.executable, "-c", "import app"],
        check=False,
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_app_does_not_start_in_lambda_with_a_variable_missing():
    full = {name: f"value-{name.lower()}" for name in required_variables()}
    full |= {"API_AUTH": "iam", "API_CORS_ORIGIN": "same-origin"}
    assert _import_app({**LAMBDA, **full}).returncode == 0
    missing = {k: v for k, v in full.items() if k != "PREMIUM_ORDERS_DLQ"}
    failed = _import_app({**LAMBDA, **missing})
    assert failed.returncode != 0 and "PREMIUM_ORDERS_DLQ" in failed.stderr
    unauthenticated = _import_app({**LAMBDA, **full, "API_AUTH": "none"})
    assert unauthenticated.returncode != 0 and "API_ALLOW_UNAUTHENTICATED" in unauthenticated.stderr


def test_the_verbs_refuse_before_writing_anything(tmp_path):
    config = (ROOT / ".chalice" / "config.json").read_text()
    base = ["--stage", "brandnew", "--region", "eu-west-1", "--build-dir", str(tmp_path), "--dry-run"]
    with pytest.raises(SystemExit, match="--api-auth"):
        main(["deploy", *base])
    with pytest.raises(SystemExit, match="no parameter Nope"):
        main(["deploy", *base, "--api-auth", "iam", "--parameter", "Nope=1"])
    with pytest.raises(SystemExit, match="--allow-unauthenticated-api"):
        main(["synth", "--stage", "brandnew", "--api-auth", "none", "--build-dir", str(tmp_path)])
    assert (ROOT / ".chalice" / "config.json").read_text() == config
    assert not list(tmp_path.iterdir())


def test_the_bootstrap_template_is_clean_and_is_the_repository_the_tasks_pull_from(tmp_path):
    template = bootstrap.render(FRESH)
    path = tmp_path / "bootstrap.json"
    path.write_text(json.dumps(template))
    assert checks.cfn_lint([path]) == []
    if checks.CHECKOV.exists():  # installed by `make infra-tools` (make test)
        report = checks.checkov([path])
        assert report.failed == [] and report.passed > 5
        assert all(len(c["check_result"].get("suppress_comment", "")) > 20 for c in report.skipped)
    assert len(path.read_bytes()) < 51_200  # deployed inline, before the artifact bucket exists
    resources = template["Resources"]
    assert resources[bootstrap.ARTIFACT_BUCKET]["DeletionPolicy"] == "RetainExceptOnCreate"
    repository = resources[bootstrap.REPOSITORY]["Properties"]
    assert repository["EmptyOnDelete"] is True  # images are build output: deleted with the stack
    assert repository["RepositoryName"] == "shoppulse-qa-tasks" and repository["ImageTagMutability"] == "IMMUTABLE"
    # The main stack's tasks pull from exactly that repository.
    definition = render(FRESH).infra["Resources"]["ValidationTaskDefinition"]["Properties"]
    uri, variables = definition["ContainerDefinitions"][0]["Image"]["Fn::Sub"]
    assert uri == "${AWS::AccountId}.dkr.ecr.${AWS::Region}.${AWS::URLSuffix}/${Repository}:${ImageTag}"
    assert variables["Repository"] == repository["RepositoryName"]
