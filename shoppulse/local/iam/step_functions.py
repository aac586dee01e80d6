"""Step Functions' service integrations call AWS as the state machine's execution role.

moto's interpreter signs every integration call (`boto_client_for`, moto/stepfunctions/parser/
asl/utils/boto_client.py) with the fixed key "ak"/"sk", whatever the state machine's role: in
AWS a Task state's call is made with the execution role's credentials (or the state's own
`Credentials.RoleArn`), which moto passes along as `state_credentials.role_arn`. Here the call
is signed with that role's session, so the role's policies decide; a role the local stack does
not know keeps moto's key, which the embedded AWS then refuses (InvalidClientTokenId).
https://docs.aws.amazon.com/step-functions/latest/dg/procedure-create-iam-role.html
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from shoppulse.local.iam.roles import RoleSessions

if TYPE_CHECKING:
    from botocore.client import BaseClient

# Where the interpreter's states that call AWS live (each imports `boto_client_for` by name).
_PACKAGE = "moto.stepfunctions.parser.asl.component.state.exec"
_patched: dict[str, Callable[..., BaseClient]] = {}


def sign_integrations_with_roles(sessions: RoleSessions) -> None:
    """Every module of the interpreter that imported `boto_client_for` gets the role-aware one."""
    from moto.stepfunctions.parser.asl.utils import boto_client

    original: Callable[..., BaseClient] = _patched.get("original", boto_client.boto_client_for)

    def boto_client_for(region: str, service: str, state_credentials: Any = None) -> BaseClient:
        role_arn = getattr(state_credentials, "role_arn", None)
        if role_arn is not None and role_arn in sessions:
            return sessions.client(role_arn, service)
        return original(region=region, service=service, state_credentials=state_credentials)

    _patched["original"] = original
    for module in _interpreter_modules():
        if getattr(module, "boto_client_for", None) in (original, _patched.get("current")):
            module.boto_client_for = boto_client_for
    _patched["current"] = boto_client_for


def restore_integrations() -> None:
    original = _patched.pop("original", None)
    current = _patched.pop("current", None)
    if original is None:
        return
    for module in _interpreter_modules():
        if getattr(module, "boto_client_for", None) is current:
            module.boto_client_for = original


def _interpreter_modules() -> list[Any]:
    from moto.stepfunctions.parser.asl.utils import boto_client

    package = importlib.import_module(_PACKAGE)
    names = [info.name for info in pkgutil.walk_packages(package.__path__, f"{_PACKAGE}.")]
    return [boto_client, *(importlib.import_module(name) for name in names)]
