"""A stage's block in `.chalice/config.json` and its policy files, generated from the stack.

The Chalice resources' settings are written once, as the merge overlay (`infra.functions`): each
function's name, environment and role policy, with CloudFormation references to the stack's
tables, queues, topics and key. This module resolves those references and writes the stage block
(`environment_variables`, `lambda_functions.*.iam_policy_file`, `autogen_policy: false`) and the
`policy-<stage>-<function>.json` files Chalice reads:

- from the deployed stack's Outputs (every resource of ours has one, `infra.context.Stack.add`),
  for a stage shipped with `chalice deploy` next to the troposphere stack: the way Chalice's
  `recordresources.py` sample records a stack's Outputs as a stage's environment
  (https://github.com/aws-samples/chalice-workshop, `code/media-query/*/recordresources.py`);
- from the names the template gives them (predicted offline), for a stage shipped as one merged
  stack, where `chalice package` only needs the names it reads at import (the dead-letter queues)
  and the overlay replaces every value with the stack's own references anyway.

So the merged stack and `chalice deploy` cannot drift: both take the functions from one overlay.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chalicelib import settings
from chalicelib.api.http import AuthMode
from infra.context import APP, Stack
from infra.functions import FUNCTIONS, policy_file_name

CHALICE_DIR = ".chalice"
API_GATEWAY_STAGE = "api"
# Which way ships the stage (one stage uses one of them: both own functions of the same names).
SHIPPED_WITH = "SHOPPULSE_SHIPPED_WITH"
MERGED_STACK = "merged-stack"
CHALICE = "chalice"
_SUB_REFERENCE = re.compile(r"\$\{([^}!]+)\}")


class StageConfigError(ValueError):
    """The stage cannot be configured as asked (an API left open, a value the stack does not output)."""


@dataclass(frozen=True)
class ApiOptions:
    """How a deployed stage's API is protected; fails closed."""

    auth: str
    cors_origin: str = settings.SAME_ORIGIN
    allow_unauthenticated: bool = False

    def __post_init__(self) -> None:
        modes = [m.value for m in AuthMode]
        if self.auth not in modes:
            raise StageConfigError(f"API auth must be one of {modes}, got {self.auth!r}")
        if self.auth == AuthMode.NONE.value and not self.allow_unauthenticated:
            raise StageConfigError("API auth 'none' serves the KPI data to anyone: pass --allow-unauthenticated-api")
        if not settings.valid_cors_origin(self.cors_origin):
            raise StageConfigError(
                f"CORS origin must be one origin (https://host[:port]) or {settings.SAME_ORIGIN!r}, "
                f"not {self.cors_origin!r} ('*' is for the local stack only)"
            )

    def environment(self) -> dict[str, str]:
        env = {settings.API_AUTH: self.auth, settings.API_CORS_ORIGIN: self.cors_origin}
        if self.auth == AuthMode.NONE.value:
            env[settings.API_ALLOW_UNAUTHENTICATED] = "true"
        return env


def config_path(project_dir: Path) -> Path:
    return project_dir / CHALICE_DIR / "config.json"


def read_config(project_dir: Path) -> dict[str, Any]:
    path = config_path(project_dir)
    if path.exists():
        config: dict[str, Any] = json.loads(path.read_text())
        return config
    return {"version": "2.0", "app_name": APP, "stages": {}}


def recorded_block(stage: str, project_dir: Path) -> dict[str, Any] | None:
    block: dict[str, Any] | None = read_config(project_dir)["stages"].get(stage)
    return block


def api_options(
    stage: str,
    project_dir: Path,
    auth: str | None = None,
    cors_origin: str | None = None,
    allow_unauthenticated: bool = False,
) -> ApiOptions:
    """The options given, else the ones the stage's generated block recorded; a new stage must choose."""
    recorded = (recorded_block(stage, project_dir) or {}).get("environment_variables", {})
    chosen_auth = auth or recorded.get(settings.API_AUTH)
    if not chosen_auth:
        raise StageConfigError(f"stage {stage!r} has no API auth yet: choose --api-auth api_key or --api-auth iam")
    return ApiOptions(
        auth=chosen_auth,
        cors_origin=cors_origin or recorded.get(settings.API_CORS_ORIGIN, settings.SAME_ORIGIN),
        allow_unauthenticated=allow_unauthenticated or recorded.get(settings.API_ALLOW_UNAUTHENTICATED) == "true",
    )


def check_shipping(stage: str, project_dir: Path, way: str) -> None:
    """Refuses to ship a stage the other way: its functions belong to the other deployment."""
    block = recorded_block(stage, project_dir)
    recorded = (block or {}).get("environment_variables", {}).get(SHIPPED_WITH)
    if recorded and recorded != way:
        raise StageConfigError(
            f"stage {stage!r} is shipped with {recorded!r}, not {way!r}: tear it down first (docs/deployment.md)"
        )


# --- Resolving the overlay's references ---------------------------------------------------


@dataclass(frozen=True)
class Pseudo:
    """The pseudo parameters; `None`: not known (values needing it are not predicted)."""

    partition: str = "aws"
    region: str | None = None
    account: str | None = None

    @classmethod
    def of_stack(cls, stack_id: str) -> Pseudo:
        """From a stack's ARN (`arn:<partition>:cloudformation:<region>:<account>:stack/...`)."""
        _, partition, _, region, account, *_ = stack_id.split(":")
        return cls(partition, region, account)

    def value(self, name: str) -> str:
        known = {
            "AWS::Partition": self.partition,
            "AWS::Region": self.region,
            "AWS::AccountId": self.account,
            "AWS::URLSuffix": "amazonaws.com.cn" if self.partition == "aws-cn" else "amazonaws.com",
        }
        value = known.get(name)
        if value is None:
            raise StageConfigError(f"{name} is not known here")
        return value


Lookup = Callable[[dict[str, Any]], str]  # a Ref / Fn::GetAtt expression -> its value


def outputs_lookup(template: Mapping[str, Any], outputs: Mapping[str, str]) -> Lookup:
    """Values from the deployed stack's Outputs: the output whose Value is that expression."""
    by_expression = {_canonical(o["Value"]): key for key, o in template.get("Outputs", {}).items()}

    def lookup(expression: dict[str, Any]) -> str:
        key = by_expression.get(_canonical(expression))
        if key is None or key not in outputs:
            raise StageConfigError(f"the stack outputs no {json.dumps(expression)}")
        return outputs[key]

    return lookup


def predicted_lookup(template: Mapping[str, Any], pseudo: Pseudo) -> Lookup:
    """Values the named resources will have (their names are in the template), without AWS."""
    resources = template["Resources"]

    def lookup(expression: dict[str, Any]) -> str:
        logical_id, attribute = _target(expression)
        resource = resources.get(logical_id, {})
        kind = resource.get("Type", "")
        name_property = _NAME_PROPERTIES.get(kind)
        name = str(resolve(resource["Properties"][name_property], lookup, pseudo)) if name_property else ""
        return _predict(kind, attribute, name, pseudo)

    return lookup


_NAME_PROPERTIES = {
    "AWS::DynamoDB::Table": "TableName",
    "AWS::SNS::Topic": "TopicName",
    "AWS::SQS::Queue": "QueueName",
    "AWS::S3::Bucket": "BucketName",
}


def _predict(kind: str, attribute: str, name: str, pseudo: Pseudo) -> str:
    def arn(service: str, resource: str, regional: bool = True) -> str:
        where = f"{pseudo.value('AWS::Region')}:{pseudo.value('AWS::AccountId')}" if regional else ":"
        return f"arn:{pseudo.partition}:{service}:{where}:{resource}"

    predictions: dict[tuple[str, str], Callable[[], str]] = {
        ("AWS::DynamoDB::Table", "Ref"): lambda: name,
        ("AWS::DynamoDB::Table", "Arn"): lambda: arn("dynamodb", f"table/{name}"),
        ("AWS::SNS::Topic", "Ref"): lambda: arn("sns", name),
        ("AWS::SQS::Queue", "QueueName"): lambda: name,
        ("AWS::SQS::Queue", "Arn"): lambda: arn("sqs", name),
        ("AWS::S3::Bucket", "Ref"): lambda: name,
        ("AWS::S3::Bucket", "Arn"): lambda: arn("s3", name, regional=False),
        # A key has no name: before it exists, any key of the account (the stack outputs the real one).
        ("AWS::KMS::Key", "Arn"): lambda: arn("kms", "key/*"),
    }
    predict = predictions.get((kind, attribute))
    if predict is None:
        raise StageConfigError(f"cannot predict {attribute} of a {kind or 'missing resource'}")
    return predict()


def _target(expression: dict[str, Any]) -> tuple[str, str]:
    if "Ref" in expression:
        return expression["Ref"], "Ref"
    logical_id, attribute = expression["Fn::GetAtt"]
    return logical_id, attribute


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def resolve(value: Any, lookup: Lookup, pseudo: Pseudo) -> Any:
    """The value with every Ref, Fn::GetAtt, Fn::Join and Fn::Sub replaced by what it stands for."""
    if isinstance(value, list):
        return [resolve(v, lookup, pseudo) for v in value]
    if not isinstance(value, dict):
        return value
    if set(value) == {"Ref"} and str(value["Ref"]).startswith("AWS::"):
        return pseudo.value(value["Ref"])
    if set(value) in ({"Ref"}, {"Fn::GetAtt"}):
        return lookup(value)
    if set(value) == {"Fn::Join"}:
        separator, parts = value["Fn::Join"]
        return separator.join(str(resolve(p, lookup, pseudo)) for p in parts)
    if set(value) == {"Fn::Sub"}:
        text, variables = (value["Fn::Sub"], {}) if isinstance(value["Fn::Sub"], str) else value["Fn::Sub"]
        return _SUB_REFERENCE.sub(lambda m: _sub_value(m.group(1), variables, lookup, pseudo), text)
    if any(k.startswith("Fn::") for k in value):
        raise StageConfigError(f"cannot resolve {json.dumps(value)}")
    return {k: resolve(v, lookup, pseudo) for k, v in value.items()}


def _sub_value(name: str, variables: Mapping[str, Any], lookup: Lookup, pseudo: Pseudo) -> str:
    if name in variables:
        return str(resolve(variables[name], lookup, pseudo))
    if name.startswith("AWS::"):
        return pseudo.value(name)
    if "." in name:
        logical_id, attribute = name.split(".", 1)
        return lookup({"Fn::GetAtt": [logical_id, attribute]})
    return lookup({"Ref": name})


# --- The stage block ----------------------------------------------------------------------


@dataclass(frozen=True)
class StageConfig:
    """What `write` puts into `.chalice/`: the stage block and its policy files (by file name)."""

    stage: str
    block: dict[str, Any]
    policy_files: dict[str, dict[str, Any]]


def _function_resources(merge: Mapping[str, Any]) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(Chalice name, function properties, role policy document) of each app function in the overlay."""
    resources = merge["Resources"]
    found = []
    for access in FUNCTIONS:
        [role_policy] = resources[access.role_logical_id]["Properties"]["Policies"]
        found.append((access.name, resources[access.logical_id]["Properties"], role_policy["PolicyDocument"]))
    return found


@dataclass(frozen=True)
class Values:
    """Where resolved values come from: the stack's Outputs, or the names predicted offline."""

    lookup: Lookup
    pseudo: Pseudo

    @classmethod
    def of_outputs(cls, template: Mapping[str, Any], outputs: Mapping[str, str], stack_id: str) -> Values:
        return cls(outputs_lookup(template, outputs), Pseudo.of_stack(stack_id))

    @classmethod
    def predicted(cls, template: Mapping[str, Any], pseudo: Pseudo) -> Values:
        return cls(predicted_lookup(template, pseudo), pseudo)

    def resolve(self, value: Any) -> Any:
        return resolve(value, self.lookup, self.pseudo)


def generate(
    stage: str, merge: Mapping[str, Any], api: ApiOptions, way: str, env: Values, policies: Values | None = None
) -> StageConfig:
    """The stage's Chalice configuration, from the merge overlay with every reference resolved.

    Variables whose value cannot be resolved (a topic ARN before the account is known) are left
    out only for a merged stack, whose overlay sets them; the chalice way needs them all."""
    stack = Stack(stage)
    functions = _function_resources(merge)
    environment: dict[str, str] = {}
    for name, value in functions[0][1]["Environment"]["Variables"].items():
        try:
            environment[name] = str(env.resolve(value))
        except StageConfigError:
            if way == CHALICE:
                raise
    environment.update(api.environment())
    environment[SHIPPED_WITH] = way
    policy_files = {}
    lambda_functions = {}
    for access, (name, _properties, document) in zip(FUNCTIONS, functions, strict=True):
        file_name = policy_file_name(stack, access)
        policy_files[file_name] = (policies or env).resolve(document)
        lambda_functions[name] = {"iam_policy_file": file_name}
    block = {
        "api_gateway_stage": API_GATEWAY_STAGE,
        "autogen_policy": False,
        "environment_variables": dict(sorted(environment.items())),
        "lambda_functions": lambda_functions,
        "minimum_compression_size": 1024,
        "xray": True,
    }
    return StageConfig(stage, block, policy_files)


def offline(stage: str, merge: Mapping[str, Any], api: ApiOptions) -> StageConfig:
    """For a merged stack (`shoppulse synth`): the names, and policies for any region and account."""
    anywhere = Pseudo(region="*", account="*")
    return generate(
        stage, merge, api, MERGED_STACK, Values.predicted(merge, Pseudo()), Values.predicted(merge, anywhere)
    )


def write(config: StageConfig, project_dir: Path) -> list[Path]:
    """Replaces the stage's block (other stages untouched) and writes its policy files."""
    document = read_config(project_dir)
    document.setdefault("version", "2.0")
    document.setdefault("app_name", APP)
    document["stages"][config.stage] = config.block
    document["stages"] = dict(sorted(document["stages"].items()))
    written = [_write_json(config_path(project_dir), document)]
    for name, policy in config.policy_files.items():
        written.append(_write_json(project_dir / CHALICE_DIR / name, policy))
    return written


def _write_json(path: Path, document: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
    return path
