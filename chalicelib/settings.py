"""Every resource name and option the code reads from its environment, in one place.

Locally (the embedded AWS, tests) a missing variable falls back to its default: the local stack
creates every resource under its default name. Inside Lambda (`AWS_LAMBDA_FUNCTION_NAME`, set by
the runtime: https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html) or an ECS
task (`ECS_CONTAINER_METADATA_URI_V4`, injected into every container from Fargate platform 1.4.0:
https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-metadata-endpoint-v4-fargate.html)
a missing variable is an error at start: a default name there would silently read or write
another stage's (or nobody's) resource.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping

CLOUD_MARKERS = ("AWS_LAMBDA_FUNCTION_NAME", "ECS_CONTAINER_METADATA_URI_V4")
# The API's options (chosen per stage by `shoppulse synth/deploy`, see infra.chalice_stage).
API_AUTH = "API_AUTH"
API_CORS_ORIGIN = "API_CORS_ORIGIN"
API_ALLOW_UNAUTHENTICATED = "API_ALLOW_UNAUTHENTICATED"
LOCAL_CORS_ORIGIN = "*"
SAME_ORIGIN = "same-origin"  # no CORS at all: only pages the API serves itself (the dashboard) read it
# An origin as browsers send it: scheme, host, optional port; no path, no wildcard.
ORIGIN_PATTERN = re.compile(r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?$")


class MissingSettingError(RuntimeError):
    """A variable the deployed code needs is not set: the function or task must not start."""


def environment(environ: Mapping[str, str] | None = None) -> Mapping[str, str]:
    return os.environ if environ is None else environ


def in_cloud(environ: Mapping[str, str] | None = None) -> bool:
    """Running as a deployed Lambda function or ECS task (not the local stack or a test)."""
    env = environment(environ)
    return any(env.get(marker) for marker in CLOUD_MARKERS)


def setting(name: str, local_default: str, environ: Mapping[str, str] | None = None) -> str:
    """The variable's value; its local default only outside the cloud."""
    env = environment(environ)
    value = env.get(name)
    if value:
        return value
    if in_cloud(env):
        raise MissingSettingError(f"{name} is not set: the deployed stage's configuration must provide it")
    return local_default


def require(names: Iterable[str], environ: Mapping[str, str] | None = None) -> None:
    """At start in the cloud: every one of `names` is set (all missing ones named at once)."""
    env = environment(environ)
    if not in_cloud(env):
        return
    missing = sorted(n for n in set(names) if not env.get(n))
    if missing:
        raise MissingSettingError(f"missing environment variables: {', '.join(missing)}")


def unauthenticated_api_allowed(environ: Mapping[str, str] | None = None) -> bool:
    """A deployed API may go without auth only when its stage said so explicitly."""
    return environment(environ).get(API_ALLOW_UNAUTHENTICATED) == "true"


def valid_cors_origin(origin: str) -> bool:
    return origin == SAME_ORIGIN or bool(ORIGIN_PATTERN.match(origin))


def cors_origin(environ: Mapping[str, str] | None = None) -> str | None:
    """The one origin allowed to read the API cross-origin (None: same origin only).

    `*` only locally; a deployed stage names one origin or `same-origin`."""
    origin = setting(API_CORS_ORIGIN, LOCAL_CORS_ORIGIN, environ)
    if origin == LOCAL_CORS_ORIGIN and not in_cloud(environ):
        return origin
    if not valid_cors_origin(origin):
        raise MissingSettingError(
            f"{API_CORS_ORIGIN} must be one origin (https://host[:port]) or {SAME_ORIGIN!r}, got {origin!r}"
        )
    return None if origin == SAME_ORIGIN else origin
