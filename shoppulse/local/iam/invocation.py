"""In-process Lambda functions sign their calls with their own execution role.

In AWS each function's runtime receives its role's session credentials in its environment.
Locally the five functions share one process (and the app's cached clients), so the app's
default boto3 session resolves credentials per invocation instead: `invoked_as` sets the
invoked function's role for the duration of the call (a context variable: per thread), and
the default session's credentials (`InvocationCredentials`) sign with it. Outside an
invocation (the operator's own code in this process) they are the operator's.
https://docs.aws.amazon.com/lambda/latest/dg/lambda-intro-execution-role.html
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

import boto3
from botocore.credentials import CredentialProvider, Credentials, ReadOnlyCredentials

from shoppulse.local.iam.roles import RoleCredentials

T = TypeVar("T")
_INVOKED: ContextVar[RoleCredentials | None] = ContextVar("invoked_function_role", default=None)


@contextmanager
def invoked_as(credentials: RoleCredentials) -> Iterator[None]:
    token = _INVOKED.set(credentials)
    try:
        yield
    finally:
        _INVOKED.reset(token)


def with_role(credentials: RoleCredentials, function: Callable[[Any], T]) -> Callable[[Any], T]:
    """`function` (one argument: the event) run as its role."""

    def invoke(event: Any) -> T:
        with invoked_as(credentials):
            return function(event)

    return invoke


class InvocationCredentials(Credentials):
    """The invoked function's role's credentials, else the operator's (read on every signing)."""

    def __init__(self, operator: tuple[str, str]) -> None:
        self._operator = ReadOnlyCredentials(operator[0], operator[1], None)
        super().__init__(*operator, method="shoppulse-local-invocation")

    def get_frozen_credentials(self) -> ReadOnlyCredentials:
        invoked = _INVOKED.get()
        if invoked is None:
            return self._operator
        return ReadOnlyCredentials(invoked.access_key_id, invoked.secret_access_key, invoked.session_token)

    # botocore's signers read these too (e.g. the token header).
    @property
    def access_key(self) -> str:
        return str(self.get_frozen_credentials().access_key)

    @access_key.setter
    def access_key(self, value: str) -> None:
        pass

    @property
    def secret_key(self) -> str:
        return str(self.get_frozen_credentials().secret_key)

    @secret_key.setter
    def secret_key(self, value: str) -> None:
        pass

    @property
    def token(self) -> str | None:
        return self.get_frozen_credentials().token

    @token.setter
    def token(self, value: str | None) -> None:
        pass


class _InvocationProvider(CredentialProvider):
    METHOD = "shoppulse-local-invocation"

    def __init__(self, credentials: InvocationCredentials) -> None:
        super().__init__()
        self._credentials = credentials

    def load(self) -> Credentials:
        return self._credentials


def install_default_session(region: str, operator: tuple[str, str]) -> boto3.session.Session | None:
    """The app's default boto3 session signs as the invoked function; returns the previous one."""
    previous = boto3.DEFAULT_SESSION
    session = boto3.session.Session(region_name=region)
    resolver = session._session.get_component("credential_provider")
    resolver.insert_before("env", _InvocationProvider(InvocationCredentials(operator)))
    boto3.DEFAULT_SESSION = session
    return previous


def restore_default_session(previous: boto3.session.Session | None) -> None:
    boto3.DEFAULT_SESSION = previous


_API_ROLE: dict[str, RoleCredentials] = {}


def serve_api_as(app: Any, credentials: RoleCredentials) -> None:
    """Every HTTP request of the Chalice app runs as the REST handler's role (a middleware)."""
    _API_ROLE["current"] = credentials
    if getattr(app, "_served_as_api_role", False):  # once per app object (one per process)
        return

    def as_api_role(event: Any, get_response: Callable[[Any], Any]) -> Any:
        role = _API_ROLE.get("current")
        if role is None:
            return get_response(event)
        with invoked_as(role):
            return get_response(event)

    app.register_middleware(as_api_role, "http")
    app._served_as_api_role = True
