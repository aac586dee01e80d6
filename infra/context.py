"""What every resource builder shares: the template, the stage, names, outputs and policies.

One builder module per resource group (storage, tables, ecs, ...) adds its resources to the
same `Stack` and returns the handles the next builders need (a dataclass of refs), in the
style of stacker_blueprints: small functions, every resource with an Output.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from awacs.aws import Allow, Condition, PolicyDocument, Principal, Statement, StringEquals
from awacs.sts import AssumeRole
from troposphere import AWSObject, Export, GetAtt, Output, Ref, Sub, Tags, Template

APP = "shoppulse"
STAGE_PATTERN = re.compile(r"^[a-z][a-z0-9-]{1,14}$")
# Logs are read when something went wrong: ninety days cover a quarter's investigations.
LOG_RETENTION_DAYS = 90


# Fixed-name data (tables, buckets) and the key that encrypts it. `RetainExceptOnCreate`: kept when
# the stack is deleted or the resource is removed, but deleted when the stack operation that
# created it rolls back, so a failed first create leaves nothing behind that would make the next
# create fail with "already exists". UpdateReplacePolicy has no such option (Delete, Retain,
# Snapshot); a fixed-name resource cannot be replaced anyway (the new name would collide).
# https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-attribute-deletionpolicy.html
# https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-attribute-updatereplacepolicy.html
RETAINED_DATA: dict[str, str] = {"DeletionPolicy": "RetainExceptOnCreate", "UpdateReplacePolicy": "Retain"}


@dataclass
class Stack:
    """The template being built for one stage."""

    stage: str
    template: Template = field(default_factory=Template)

    def __post_init__(self) -> None:
        if not STAGE_PATTERN.match(self.stage):
            raise ValueError(f"stage {self.stage!r}: lower-case letters, digits and '-', 2-15 characters")

    def name(self, base: str) -> str:
        """The physical name of a named resource: `shoppulse-<stage>-<base>`.

        Deterministic names let the Chalice config (plain `chalice deploy`) and the policy files
        refer to the same tables, queues and functions as the stack.
        """
        return f"{APP}-{self.stage}-{base}"

    def function_name(self, chalice_name: str) -> str:
        """Chalice's own naming of a deployed function: `<app>-<stage>-<name>`."""
        return self.name(chalice_name)

    def tags(self, component: str) -> Tags:
        return Tags(Application=APP, Stage=self.stage, Component=component)

    def add(self, resource: AWSObject, description: str, attribute: str | None = None) -> AWSObject:
        """Add a resource and its Output (Ref, or the given attribute), exported per stage."""
        self.template.add_resource(resource)
        value = GetAtt(resource, attribute) if attribute else Ref(resource)
        self.output(resource.title, value, description, getattr(resource, "Condition", None))
        return resource

    def output(self, title: str, value: Any, description: str, condition: str | None = None) -> None:
        output = Output(title, Description=description, Value=value, Export=Export(Sub(f"${{AWS::StackName}}-{title}")))
        if condition:
            output.Condition = condition
        self.template.add_output(output)


def arn(service: str, resource: str) -> Sub:
    """An ARN in this stack's partition, region and account."""
    return Sub(f"arn:${{AWS::Partition}}:{service}:${{AWS::Region}}:${{AWS::AccountId}}:{resource}")


def service_principal(service: str) -> Principal:
    return Principal("Service", [f"{service}.amazonaws.com"])


def assume_role_policy(service: str) -> PolicyDocument:
    """Trust policy for one AWS service; scoped to this account (confused-deputy guard)."""
    condition = Condition(StringEquals({"aws:SourceAccount": Ref("AWS::AccountId")}))
    return PolicyDocument(
        Version="2012-10-17",
        Statement=[
            Statement(Effect=Allow, Principal=service_principal(service), Action=[AssumeRole], Condition=condition)
        ],
    )


def policy(statements: Iterable[Statement]) -> PolicyDocument:
    return PolicyDocument(Version="2012-10-17", Statement=list(statements))


def allow(actions: Iterable[Any], resources: Iterable[Any], sid: str | None = None) -> Statement:
    kwargs: dict[str, Any] = {"Effect": Allow, "Action": list(actions), "Resource": list(resources)}
    if sid:
        kwargs["Sid"] = sid
    return Statement(**kwargs)
