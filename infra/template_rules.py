"""Deployment rules cfn-lint and checkov do not know, checked on the translated (plain CloudFormation) stack.

Each rule walks every resource, role and policy of whatever template it is given, so a resource
added later is held to it too. Each returns the violations it found (none is a pass):

- `traced_functions_can_write_traces`: a Lambda function with active tracing, or a state machine
  with tracing enabled, has the X-Ray rights in its own role (SAM adds them only to roles it creates;
  Lambda rejects the function otherwise).
  https://docs.aws.amazon.com/lambda/latest/dg/services-xray.html
  https://docs.aws.amazon.com/step-functions/latest/dg/xray-iam.html
- `tag_propagation_can_tag`: a state machine whose RunTask propagates or sets tags may
  `ecs:TagResource` (ECS authorizes the tags at RunTask).
  https://docs.aws.amazon.com/AmazonECS/latest/developerguide/supported-iam-actions-tagging.html
- `retained_data_survives_failed_create`: tables and buckets are kept when the stack goes, and no
  resource with a fixed physical name is plainly `Retain`ed (a failed first create would leave it
  behind, and every later create fails on the name): `RetainExceptOnCreate`.
  https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-attribute-deletionpolicy.html
- `keys_outlive_retained_data`: a KMS key referred to by a retained resource is retained at least
  as long (deleting the stack would otherwise schedule the key's deletion under kept data).
- `iam_resources_scoped`: identity policies name no wildcard action and no `*` or account-wide
  resource, except for the actions in `ACTIONS_WITHOUT_RESOURCE_SCOPE`, each with the AWS page
  that says it has no resource-level permission; those take `*` only (an ARN matches nothing).
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

Template = dict[str, Any]
Statement = dict[str, Any]

_SAR = "https://docs.aws.amazon.com/service-authorization/latest/reference"
# Actions whose service offers no resource-level permission: "*" is the only Resource they take.
ACTIONS_WITHOUT_RESOURCE_SCOPE: dict[str, str] = {
    "ecr:GetAuthorizationToken": f"{_SAR}/list_amazonelasticcontainerregistry.html",
    "dynamodb:ListStreams": f"{_SAR}/list_amazondynamodb.html",
    "xray:PutTraceSegments": f"{_SAR}/list_awsx-ray.html",
    "xray:PutTelemetryRecords": f"{_SAR}/list_awsx-ray.html",
    "xray:GetSamplingRules": f"{_SAR}/list_awsx-ray.html",
    "xray:GetSamplingTargets": f"{_SAR}/list_awsx-ray.html",
    # Step Functions execution logs (vended logs): "CloudWatch Logs ... don't support resource types".
    **{
        f"logs:{action}": "https://docs.aws.amazon.com/step-functions/latest/dg/cw-logs.html"
        for action in (
            "CreateLogDelivery",
            "GetLogDelivery",
            "UpdateLogDelivery",
            "DeleteLogDelivery",
            "ListLogDeliveries",
            "PutResourcePolicy",
            "DescribeResourcePolicies",
        )
    },
    "logs:DescribeLogGroups": f"{_SAR}/list_amazoncloudwatchlogs.html",
}
LAMBDA_TRACING = ("xray:PutTraceSegments", "xray:PutTelemetryRecords")
STATE_MACHINE_TRACING = (*LAMBDA_TRACING, "xray:GetSamplingRules", "xray:GetSamplingTargets")
# Kinds of resource that hold the pipeline's data: kept when the stack is deleted.
DATA_TYPES = ("AWS::DynamoDB::Table", "AWS::DynamoDB::GlobalTable", "AWS::S3::Bucket")
# How long a DeletionPolicy keeps a resource, weakest first.
RETENTION = {"Delete": 0, "Snapshot": 0, "RetainExceptOnCreate": 1, "Retain": 2}
# Top-level properties ending in "Name" that are not the resource's own physical name.
NOT_PHYSICAL_NAMES = frozenset({"KeyName"})
IDENTITY_POLICY_TYPES = ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::IAM::RolePolicy")
_ACCOUNT_WIDE_ARN = re.compile(r"^arn:[^:]*:[^:]*:[^:]*:[^:]*:\*$")
_SUB_NAME = re.compile(r"\$\{([A-Za-z0-9]+)(?:\.[A-Za-z0-9.]+)?\}")


@dataclass(frozen=True)
class Violation:
    rule: str
    resource: str
    message: str

    def __str__(self) -> str:
        return f"{self.rule}: {self.resource}: {self.message}"


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def references(value: Any) -> set[str]:
    """Logical ids `value` refers to (Ref, Fn::GetAtt, Fn::Sub), at any depth."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "Ref" and isinstance(inner, str):
                found.add(inner)
            elif key == "Fn::GetAtt":
                found.add(inner[0] if isinstance(inner, list) else str(inner).split(".")[0])
            elif key == "Fn::Sub":
                text, variables = (inner[0], inner[1]) if isinstance(inner, list) else (inner, {})
                found.update(set(_SUB_NAME.findall(text)) - set(variables))
                found.update(references(variables))
            else:
                found.update(references(inner))
    elif isinstance(value, list):
        for inner in value:
            found.update(references(inner))
    return found


def _resources(template: Template, *types: str) -> Iterator[tuple[str, dict[str, Any]]]:
    for logical_id, resource in template.get("Resources", {}).items():
        if resource.get("Type") in types:
            yield logical_id, resource


def _properties(resource: dict[str, Any]) -> dict[str, Any]:
    properties: dict[str, Any] = resource.get("Properties", {})
    return properties


def statements(document: dict[str, Any]) -> list[Statement]:
    return as_list(document.get("Statement", []))


def identity_policies(template: Template) -> Iterator[tuple[str, dict[str, Any]]]:
    """(owner, policy document) of every identity policy: roles' inline policies and policy resources."""
    for logical_id, resource in _resources(template, "AWS::IAM::Role", "AWS::IAM::User", "AWS::IAM::Group"):
        for inline in _properties(resource).get("Policies", []):
            yield logical_id, inline["PolicyDocument"]
    for logical_id, resource in _resources(template, *IDENTITY_POLICY_TYPES):
        yield logical_id, _properties(resource)["PolicyDocument"]


def role_statements(template: Template, role: str) -> list[Statement]:
    """Every statement that applies to the role: inline, attached policy resources, managed ones."""
    resources = template.get("Resources", {})
    props = _properties(resources.get(role, {}))
    found = [s for inline in props.get("Policies", []) for s in statements(inline["PolicyDocument"])]
    attached_managed = references(props.get("ManagedPolicyArns", []))
    for logical_id, resource in _resources(template, *IDENTITY_POLICY_TYPES):
        policy_props = _properties(resource)
        targets = references(policy_props.get("Roles", [])) | references(policy_props.get("RoleName", {}))
        if role in targets or logical_id in attached_managed:
            found.extend(statements(policy_props["PolicyDocument"]))
    return found


def allows(role_policy: list[Statement], action: str) -> bool:
    """Whether some Allow statement names `action` (patterns such as `xray:Put*` count)."""
    return any(
        s.get("Effect") == "Allow"
        and any(fnmatch.fnmatchcase(action.lower(), str(a).lower()) for a in as_list(s.get("Action", [])))
        for s in role_policy
    )


def _role_of(rule: str, owner: str, role_arn: Any) -> tuple[str | None, list[Violation]]:
    roles = references(role_arn)
    if len(roles) != 1:
        return None, [Violation(rule, owner, f"its role {json.dumps(role_arn)} is not a role of this template")]
    return roles.pop(), []


def _missing(template: Template, rule: str, owner: str, role_arn: Any, actions: tuple[str, ...]) -> list[Violation]:
    role, violations = _role_of(rule, owner, role_arn)
    if role is None:
        return violations
    granted = role_statements(template, role)
    return [Violation(rule, owner, f"role {role} does not allow {a}") for a in actions if not allows(granted, a)]


def traced_functions_can_write_traces(template: Template) -> list[Violation]:
    rule = "traced-functions-can-write-traces"
    violations: list[Violation] = []
    for logical_id, resource in _resources(template, "AWS::Lambda::Function"):
        props = _properties(resource)
        if props.get("TracingConfig", {}).get("Mode", "PassThrough") != "PassThrough":
            violations += _missing(template, rule, logical_id, props.get("Role"), LAMBDA_TRACING)
    for logical_id, resource in _resources(template, "AWS::StepFunctions::StateMachine"):
        props = _properties(resource)
        if props.get("TracingConfiguration", {}).get("Enabled", False) is not False:
            violations += _missing(template, rule, logical_id, props.get("RoleArn"), STATE_MACHINE_TRACING)
    return violations


def _states(machine: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for state in machine.get("States", {}).values():
        yield state
        for branch in state.get("Branches", []):
            yield from _states(branch)
        for key in ("ItemProcessor", "Iterator"):
            if key in state:
                yield from _states(state[key])


def _definition(props: dict[str, Any]) -> dict[str, Any] | None:
    definition = props.get("Definition")
    if isinstance(definition, dict):
        return definition
    text = props.get("DefinitionString")
    parsed: dict[str, Any] | None = json.loads(text) if isinstance(text, str) else None
    return parsed


def _tags_at_run_task(state: dict[str, Any]) -> bool:
    if state.get("Type") != "Task" or ":ecs:runTask" not in str(state.get("Resource", "")):
        return False
    arguments = state.get("Parameters") or state.get("Arguments") or {}
    propagates = arguments.get("PropagateTags", "NONE") != "NONE"
    return propagates or bool(arguments.get("Tags")) or arguments.get("EnableECSManagedTags", False) is not False


def tag_propagation_can_tag(template: Template) -> list[Violation]:
    rule = "tag-propagation-can-tag"
    violations: list[Violation] = []
    for logical_id, resource in _resources(template, "AWS::StepFunctions::StateMachine"):
        props = _properties(resource)
        definition = _definition(props)
        if definition is None:
            violations.append(Violation(rule, logical_id, "its definition cannot be read offline"))
        elif any(_tags_at_run_task(state) for state in _states(definition)):
            violations += _missing(template, rule, logical_id, props.get("RoleArn"), ("ecs:TagResource",))
    return violations


def _physical_names(resource: dict[str, Any]) -> list[str]:
    return [k for k in _properties(resource) if k.endswith("Name") and k not in NOT_PHYSICAL_NAMES]


def retained_data_survives_failed_create(template: Template) -> list[Violation]:
    rule = "retained-data-survives-failed-create"
    violations: list[Violation] = []
    for logical_id, resource in template.get("Resources", {}).items():
        policy = resource.get("DeletionPolicy", "Delete")
        names = _physical_names(resource)
        if resource.get("Type") in DATA_TYPES and RETENTION.get(policy, 0) == 0:
            violations.append(Violation(rule, logical_id, f"data with DeletionPolicy {policy}: deleted with the stack"))
        if policy == "Retain" and names:
            violations.append(
                Violation(rule, logical_id, f"fixed name ({', '.join(names)}) with plain Retain: RetainExceptOnCreate")
            )
    return violations


def _keys(template: Template, value: Any) -> set[str]:
    """The KMS keys `value` refers to, directly or through an alias of this template."""
    resources = template.get("Resources", {})
    found: set[str] = set()
    for target in references(value):
        kind = resources.get(target, {}).get("Type")
        if kind == "AWS::KMS::Key":
            found.add(target)
        elif kind == "AWS::KMS::Alias":
            found |= _keys(template, _properties(resources[target]).get("TargetKeyId"))
    return found


def keys_outlive_retained_data(template: Template) -> list[Violation]:
    rule = "keys-outlive-retained-data"
    resources = template.get("Resources", {})
    violations: list[Violation] = []
    for logical_id, resource in resources.items():
        kept = RETENTION.get(resource.get("DeletionPolicy", "Delete"), 0)
        if kept == 0 or resource.get("Type") == "AWS::KMS::Key":
            continue
        for key in sorted(_keys(template, _properties(resource))):
            key_resource = resources[key]
            key_policy = key_resource.get("DeletionPolicy", "Delete")
            if RETENTION.get(key_policy, 0) < kept:
                violations.append(
                    Violation(
                        rule, logical_id, f"retained ({resource['DeletionPolicy']}), its key {key} is {key_policy}"
                    )
                )
            if resource.get("UpdateReplacePolicy") == "Retain" and key_resource.get("UpdateReplacePolicy") != "Retain":
                violations.append(Violation(rule, logical_id, f"kept on replacement, its key {key} is not"))
    return violations


def _unscoped(resource: Any) -> bool:
    return resource == "*" or (isinstance(resource, str) and bool(_ACCOUNT_WIDE_ARN.match(resource)))


def policy_violations(owner: str, document: dict[str, Any]) -> list[Violation]:
    """`iam_resources_scoped` for one identity policy document (also used on the Chalice policy files)."""
    rule = "iam-resources-scoped"
    violations: list[Violation] = []
    for statement in statements(document):
        sid = statement.get("Sid", "?")
        if "NotAction" in statement or "NotResource" in statement:
            violations.append(Violation(rule, owner, f"statement {sid}: NotAction/NotResource grant more than named"))
            continue
        if statement.get("Effect") != "Allow":
            continue
        actions = [str(a) for a in as_list(statement.get("Action", []))]
        wildcards = [a for a in actions if a == "*" or a.endswith(":*")]
        if wildcards:
            violations.append(Violation(rule, owner, f"statement {sid}: wildcard actions {wildcards}"))
        resources = as_list(statement.get("Resource", []))
        if any(_unscoped(r) for r in resources):
            scoped = sorted(set(actions) - set(ACTIONS_WITHOUT_RESOURCE_SCOPE))
            if scoped:
                violations.append(Violation(rule, owner, f"statement {sid}: {scoped} on an unscoped resource"))
        elif unscopable := sorted(set(actions) & set(ACTIONS_WITHOUT_RESOURCE_SCOPE)):
            # An ARN never matches an action without resource types: the grant would allow nothing.
            violations.append(Violation(rule, owner, f"statement {sid}: {unscopable} need Resource '*'"))
    return violations


def iam_resources_scoped(template: Template) -> list[Violation]:
    return [v for owner, document in identity_policies(template) for v in policy_violations(owner, document)]


RULES: tuple[Callable[[Template], list[Violation]], ...] = (
    traced_functions_can_write_traces,
    tag_propagation_can_tag,
    retained_data_survives_failed_create,
    keys_outlive_retained_data,
    iam_resources_scoped,
)


def check(template: Template) -> list[Violation]:
    """Every rule's violations on `template` (a plain CloudFormation template: SAM translated)."""
    return [violation for rule in RULES for violation in rule(template)]
