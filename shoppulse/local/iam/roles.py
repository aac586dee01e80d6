"""The stack's IAM roles, read from the synthesized template and created in the embedded IAM.

One source of truth: every `AWS::IAM::Role` of the troposphere stack and every function role
of the Chalice overlay (`infra.functions`: its inline policy; Chalice adds the role itself at
packaging, trusting lambda.amazonaws.com), with their inline policies resolved to the local
resources' ARNs. Each component of the local stack then calls the embedded AWS with the
session credentials of its own role (`RoleSessions`), as Lambda, ECS, Step Functions,
EventBridge and Pipes do with the roles the template gives them.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

from chalicelib.messaging import LOCAL_ACCOUNT_ID
from infra.functions import FUNCTIONS
from shoppulse.local.cloud_template import LOCAL_STAGE, cloud_resources
from shoppulse.local.service_clients import ServiceClients, new_client

if TYPE_CHECKING:
    from botocore.client import BaseClient
    from mypy_boto3_iam import IAMClient
    from mypy_boto3_sts import STSClient

_ROLE_TYPE = "AWS::IAM::Role"
# The trust policy Chalice gives the function roles it creates (chalice/package.py).
_CHALICE_TRUST_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {"Sid": "", "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ],
}


@dataclass(frozen=True)
class RoleDefinition:
    logical_id: str
    trust_policy: Mapping[str, Any]
    policies: Mapping[str, Mapping[str, Any]]  # inline policy name -> document (unresolved)

    @property
    def name(self) -> str:
        return role_name(self.logical_id)

    @property
    def arn(self) -> str:
        return role_arn(self.logical_id)


def role_name(logical_id: str) -> str:
    return f"shoppulse-{LOCAL_STAGE}-{logical_id}"[:64]  # IAM's limit


def role_arn(logical_id: str) -> str:
    return f"arn:aws:iam::{LOCAL_ACCOUNT_ID}:role/{role_name(logical_id)}"


def role_definitions(resources: Mapping[str, Any] | None = None) -> list[RoleDefinition]:
    """Every role of the merged template: the stack's own and the functions' (overlay)."""
    resources = cloud_resources() if resources is None else resources
    function_roles = {access.role_logical_id for access in FUNCTIONS}
    roles = []
    for logical_id, resource in resources.items():
        if resource.get("Type") != _ROLE_TYPE and logical_id not in function_roles:
            continue
        properties = resource.get("Properties", {})
        roles.append(
            RoleDefinition(
                logical_id=logical_id,
                trust_policy=properties.get("AssumeRolePolicyDocument", _CHALICE_TRUST_POLICY),
                policies={p["PolicyName"]: p["PolicyDocument"] for p in properties.get("Policies", [])},
            )
        )
    return roles


def create_roles(iam: IAMClient, roles: list[RoleDefinition], resolve: Callable[[Any], Any]) -> None:
    """Each role with its trust policy and its inline policies, resolved to the local ARNs."""
    for role in roles:
        iam.create_role(
            RoleName=role.name,
            AssumeRolePolicyDocument=json.dumps(resolve(dict(role.trust_policy))),
            Description=f"{role.logical_id} of the cloud template",
        )
        for policy_name, document in role.policies.items():
            iam.put_role_policy(
                RoleName=role.name, PolicyName=policy_name, PolicyDocument=json.dumps(resolve(dict(document)))
            )


def role_physical_ids(roles: list[RoleDefinition]) -> dict[str, str]:
    """What `Fn::GetAtt Role.Arn` is locally (known before the roles exist: names are fixed)."""
    return {f"{role.logical_id}.Arn": role.arn for role in roles}


def function_role(chalice_name: str) -> str:
    """The execution role of a Chalice function (by its name in app.py)."""
    access = next((f for f in FUNCTIONS if f.name == chalice_name), None)
    if access is None:
        raise KeyError(f"infra.functions.FUNCTIONS has no function {chalice_name!r}: it has no role")
    return role_arn(access.role_logical_id)


@dataclass(frozen=True)
class RoleCredentials:
    role_arn: str
    access_key_id: str
    secret_access_key: str
    session_token: str

    def environment(self) -> dict[str, str]:
        """As a container or a Lambda runtime receives them."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
            "AWS_SESSION_TOKEN": self.session_token,
        }


class RoleSessions:
    """The roles of this stack, created and assumed once; clients signed as each of them."""

    def __init__(self, endpoint: str, region: str, client_config: Config) -> None:
        self._endpoint = endpoint
        self._region = region
        self._config = client_config
        self._credentials: dict[str, RoleCredentials] = {}
        self._clients: dict[tuple[str, str], BaseClient] = {}
        self._lock = threading.Lock()

    def assume(self, sts: STSClient, roles: list[RoleDefinition]) -> None:
        """One session per role, as the service that the role trusts would take it."""
        for role in roles:
            issued = sts.assume_role(RoleArn=role.arn, RoleSessionName=role.logical_id[:64])["Credentials"]
            self._credentials[role.arn] = RoleCredentials(
                role.arn, issued["AccessKeyId"], issued["SecretAccessKey"], issued["SessionToken"]
            )

    def adopt(self, credentials: RoleCredentials) -> None:
        """A role's session taken by another process (the stack's, for its pipes process)."""
        self._credentials[credentials.role_arn] = credentials

    def __contains__(self, role_arn: str) -> bool:
        return role_arn in self._credentials

    def __iter__(self) -> Iterator[str]:
        return iter(self._credentials)

    def credentials(self, role_arn: str) -> RoleCredentials:
        try:
            return self._credentials[role_arn]
        except KeyError:
            raise KeyError(f"the local stack has no role {role_arn!r} (not in the cloud template)") from None

    def client(self, role_arn: str, service: str) -> BaseClient:
        """A client signed with the role's session credentials (cached per role and service)."""
        key = (role_arn, service)
        with self._lock:
            if key not in self._clients:
                self._clients[key] = self._new_client(role_arn, service)
            return self._clients[key]

    def signed_as(self, role_arn: str) -> RoleClients:
        """The role's clients, typed per service."""
        return RoleClients(self, role_arn)

    def _new_client(self, role_arn: str, service: str) -> BaseClient:
        credentials = self.credentials(role_arn)
        session = boto3.session.Session(
            aws_access_key_id=credentials.access_key_id,
            aws_secret_access_key=credentials.secret_access_key,
            aws_session_token=credentials.session_token,
            region_name=self._region,
        )
        return new_client(session, service, self._endpoint, self._config)


class RoleClients(ServiceClients):
    """One role's clients (`RoleSessions.signed_as`)."""

    def __init__(self, sessions: RoleSessions, role_arn: str) -> None:
        self._sessions = sessions
        self._role_arn = role_arn

    def _client(self, service: str) -> BaseClient:
        return self._sessions.client(self._role_arn, service)
