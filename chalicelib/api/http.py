"""The API's HTTP edge in one place: authentication per stage, CORS, exact JSON bodies, client
errors as JSON.

Chalice reads route options when it imports app.py, and `chalice deploy/package` imports it
with the stage's `environment_variables` from .chalice/config.json already set: so
`API_AUTH` chosen per stage there decides how API Gateway protects the data routes.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger
from chalice import Chalice, CORSConfig, IAMAuthorizer, Response

from chalicelib import settings
from chalicelib.api import json_body
from chalicelib.api.exceptions import ApiError
from chalicelib.api.openapi import operation

logger = Logger(service="kpi-api")


class AuthMode(str, Enum):
    NONE = "none"  # local stack and tests: API Gateway checks nothing
    API_KEY = "api_key"  # clients send `x-api-key` (a usage plan binds keys to the stage)
    IAM = "iam"  # clients sign with SigV4 and need execute-api:Invoke


def auth_mode() -> AuthMode:
    """The stage's mode; fails closed: a deployed `none` needs `API_ALLOW_UNAUTHENTICATED=true` too."""
    raw = settings.setting(settings.API_AUTH, AuthMode.NONE.value)
    try:
        mode = AuthMode(raw)
    except ValueError as err:
        raise ValueError(f"API_AUTH must be one of {[m.value for m in AuthMode]}, got {raw!r}") from err
    if mode is AuthMode.NONE and settings.in_cloud() and not settings.unauthenticated_api_allowed():
        raise settings.MissingSettingError("API_AUTH=none in the cloud needs API_ALLOW_UNAUTHENTICATED=true")
    return mode


@cache
def cors() -> CORSConfig | None:
    """Pages on one other origin may read the API (`API_CORS_ORIGIN`, `*` only locally); None: same origin only."""
    origin = settings.cors_origin()
    if origin is None:
        return None
    return CORSConfig(
        allow_origin=origin,
        allow_headers=["X-Api-Key", "Authorization", "X-Amz-Date", "X-Amz-Security-Token"],
        max_age=600,
    )


def get(app: Chalice, path: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """`@http.get(app, path)`: a GET route with the options the route table gives `path`."""
    return app.route(path, **route(path))


def route(path: str) -> dict[str, Any]:
    """Chalice route options for `path`: public operations (dashboard, health, the OpenAPI
    document) skip authentication, every data route gets the stage's mode."""
    options: dict[str, Any] = {"methods": ["GET"], "cors": cors() or False}
    if operation(path).public:
        return options
    mode = auth_mode()
    if mode is AuthMode.API_KEY:
        options["api_key_required"] = True
    elif mode is AuthMode.IAM:
        options["authorizer"] = IAMAuthorizer()
    return options


def client_errors_as_json(request: Any, get_response: Callable[[Any], Response]) -> Response:
    """Chalice middleware body: an ApiError raised anywhere below becomes its 4xx answer, and
    every JSON body is written exactly (Decimals digit for digit, see json_body)."""
    try:
        response = get_response(request)
    except ApiError as err:
        logger.info("client error", status=err.status, path=request.path, parameter=err.parameter, reason=err.message)
        return Response(
            body=json_body.dumps(err.body()),
            status_code=err.status,
            headers={"Content-Type": "application/json", **_cors_headers()},
        )
    if not isinstance(response.body, (str, bytes)):
        response.body = json_body.dumps(response.body)
        response.headers.setdefault("Content-Type", "application/json")
    return response


def _cors_headers() -> dict[str, str]:
    config = cors()
    return config.get_access_control_headers() if config else {}


def html(page: str) -> Response:
    return Response(
        body=page, status_code=200, headers={"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-cache"}
    )
