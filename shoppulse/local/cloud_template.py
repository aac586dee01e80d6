"""Reads the cloud stack's own CloudFormation template for what the local stack must copy.

The ECS task definitions (command, environment, sizes, stop timeout) and the EventBridge
rules (event pattern, retry policy) are defined in troposphere by `infra`; rather than
restating them, the local stack renders the same template and resolves the intrinsic
functions it meets (Ref, Fn::GetAtt, Fn::Sub, Fn::Join) with the embedded AWS's names.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from chalicelib.messaging import LOCAL_ACCOUNT_ID
from infra import execution_watch
from infra.events import RULE_LOGICAL_ID as WORKFLOW_TRIGGER_RULE

if TYPE_CHECKING:
    from mypy_boto3_events.type_defs import RetryPolicyTypeDef

# The stage name the template is rendered for: resource names become `shoppulse-local-...`.
LOCAL_STAGE = "local"

_SUB_VARIABLE = re.compile(r"\$\{([^}!][^}]*)\}")


@cache
def cloud_resources() -> Mapping[str, Any]:
    """The `Resources` of the cloud template merged with the Chalice overlay (rendered once per
    process): the stack's resources, and the functions' role policies (`shoppulse.local.iam`)."""
    from infra.template import render

    resources: Mapping[str, Any] = render(LOCAL_STAGE).merge["Resources"]
    return resources


@dataclass(frozen=True)
class TaskDefinitionSpec:
    logical_id: str
    family: str
    cpu: str
    memory: str
    container_name: str
    command: list[str]
    environment: dict[str, str]
    stop_timeout_seconds: int
    task_role_arn: str
    execution_role_arn: str
    tags: dict[str, str]


@dataclass(frozen=True)
class RuleSpec:
    logical_id: str
    event_pattern: dict[str, Any]
    retry_policy: RetryPolicyTypeDef
    role_arn: str
    target_logical_id: str  # the template resource the target's Arn refers to


class Resolver:
    """Resolves intrinsic functions against the physical names of the local resources."""

    def __init__(self, physical_ids: Mapping[str, str], region: str) -> None:
        self._refs = {
            "AWS::Region": region,
            "AWS::AccountId": LOCAL_ACCOUNT_ID,
            "AWS::Partition": "aws",
            "AWS::StackName": f"shoppulse-{LOCAL_STAGE}",
            "AWS::URLSuffix": "amazonaws.com",
            **physical_ids,
        }

    def __call__(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self(v) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((name, argument),) = value.items()
            if name == "Ref":
                return self._ref(argument)
            if name == "Fn::GetAtt":
                resource, attribute = argument if isinstance(argument, list) else argument.split(".", 1)
                return self._refs.get(f"{resource}.{attribute}", self._absent(resource, attribute))
            if name == "Fn::Sub":
                return self._sub(argument)
            if name == "Fn::Join":
                separator, parts = argument
                return separator.join(str(self(p)) for p in parts)
        return {k: self(v) for k, v in value.items()}

    def _absent(self, resource: str, attribute: str) -> str:
        """A well-formed ARN naming nothing: for what the local stack does not create (log groups...)."""
        return f"arn:aws:cloudformation:{self._refs['AWS::Region']}:{LOCAL_ACCOUNT_ID}:not-local/{resource}.{attribute}"

    def _ref(self, name: str) -> str:
        if name not in self._refs:
            raise KeyError(f"the local stack has no resource for Ref {name!r}")
        return self._refs[name]

    def _sub(self, argument: Any) -> str:
        text, variables = (argument, {}) if isinstance(argument, str) else (argument[0], argument[1])
        resolved = {k: str(self(v)) for k, v in variables.items()}

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in resolved:
                return resolved[name]
            resource, _, attribute = name.partition(".")
            return str(self({"Fn::GetAtt": [resource, attribute]}) if attribute else self._ref(name))

        return _SUB_VARIABLE.sub(replace, text)


def _of_type(resource_type: str) -> dict[str, Mapping[str, Any]]:
    return {lid: r for lid, r in cloud_resources().items() if r.get("Type") == resource_type}


def task_definitions(resolve: Resolver) -> list[TaskDefinitionSpec]:
    specs = []
    for logical_id, resource in _of_type("AWS::ECS::TaskDefinition").items():
        props = resource["Properties"]
        container = props["ContainerDefinitions"][0]
        specs.append(
            TaskDefinitionSpec(
                logical_id=logical_id,
                family=resolve(props["Family"]),
                cpu=str(resolve(props["Cpu"])),
                memory=str(resolve(props["Memory"])),
                container_name=container["Name"],
                command=[str(resolve(part)) for part in container.get("Command", [])],
                environment={e["Name"]: str(resolve(e["Value"])) for e in container.get("Environment", [])},
                stop_timeout_seconds=int(container.get("StopTimeout", 30)),
                task_role_arn=str(resolve(props["TaskRoleArn"])),
                execution_role_arn=str(resolve(props["ExecutionRoleArn"])),
                tags={t["Key"]: str(resolve(t["Value"])) for t in props.get("Tags", [])},
            )
        )
    return specs


def _rule(resolve: Resolver, logical_id: str) -> RuleSpec:
    props = cloud_resources()[logical_id]["Properties"]
    target = props["Targets"][0]
    return RuleSpec(
        logical_id=logical_id,
        event_pattern=resolve(props["EventPattern"]),
        retry_policy=_retry_policy(target.get("RetryPolicy") or {}),
        role_arn=str(resolve(target["RoleArn"])),
        target_logical_id=target["Arn"]["Ref"],
    )


def _retry_policy(template: Mapping[str, Any]) -> RetryPolicyTypeDef:
    """A target's `RetryPolicy` as PutTargets takes it (the template may hold its numbers as strings)."""
    policy: RetryPolicyTypeDef = {}
    if "MaximumRetryAttempts" in template:
        policy["MaximumRetryAttempts"] = int(template["MaximumRetryAttempts"])
    if "MaximumEventAgeInSeconds" in template:
        policy["MaximumEventAgeInSeconds"] = int(template["MaximumEventAgeInSeconds"])
    return policy


def workflow_rule(resolve: Resolver) -> RuleSpec:
    """The rule whose target is the batch workflow (an object landed under incoming/)."""
    return _rule(resolve, WORKFLOW_TRIGGER_RULE)


def execution_watch_rule(resolve: Resolver) -> RuleSpec:
    """The rule whose target is the run closer (a workflow execution ended without succeeding)."""
    return _rule(resolve, execution_watch.RULE_LOGICAL_ID)


def role_of(logical_id: str, resolve: Resolver) -> str:
    """The `RoleArn` the template gives a resource (a state machine, a pipe), resolved locally."""
    return str(resolve(cloud_resources()[logical_id]["Properties"]["RoleArn"]))


def the_one(resource_type: str) -> str:
    """The logical id of the template's only resource of a type (the ECS cluster)."""
    [logical_id] = _of_type(resource_type)
    return logical_id
