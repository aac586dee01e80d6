"""Task configuration from the environment (the ECS task definition and its overrides)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import boto3

from chalicelib.settings import MissingSettingError, require, setting
from chalicelib.storage_layout import CURATED_BUCKET, RunIdentity
from chalicelib.tables import CATEGORY_KPIS, DAILY_KPIS, RUNS

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient, DynamoDBServiceResource
    from mypy_boto3_s3 import S3Client

DEFAULT_MAX_INVALID_RATIO = 0.05
# Set by the task definition (infra.ecs); in ECS each is required, locally each has its default.
DEPLOYED_VARIABLES = (
    CURATED_BUCKET.env_var,
    DAILY_KPIS.env_var,
    CATEGORY_KPIS.env_var,
    RUNS.env_var,
    "MAX_INVALID_RATIO",
)


class ConfigurationError(ValueError):
    """A required setting is missing or malformed: the task cannot start."""


@dataclass(frozen=True)
class TaskConfig:
    input_bucket: str
    input_key: str
    input_version: str
    curated_bucket: str
    daily_table: str
    category_table: str
    runs_table: str
    max_invalid_ratio: float

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> TaskConfig:
        env = os.environ if environ is None else environ
        missing = [n for n in ("INPUT_BUCKET", "INPUT_KEY") if not env.get(n)]
        if missing:
            raise ConfigurationError(f"missing environment variables: {', '.join(missing)}")
        try:
            require(DEPLOYED_VARIABLES, env)
        except MissingSettingError as err:
            raise ConfigurationError(str(err)) from err
        try:
            ratio = float(setting("MAX_INVALID_RATIO", str(DEFAULT_MAX_INVALID_RATIO), env))
        except ValueError as err:
            raise ConfigurationError("MAX_INVALID_RATIO must be a number between 0 and 1") from err
        if not 0 <= ratio <= 1:
            raise ConfigurationError("MAX_INVALID_RATIO must be a number between 0 and 1")
        return cls(
            input_bucket=env["INPUT_BUCKET"],
            input_key=env["INPUT_KEY"],
            input_version=env.get("INPUT_VERSION", ""),
            curated_bucket=CURATED_BUCKET.name(env),
            daily_table=DAILY_KPIS.name(env),
            category_table=CATEGORY_KPIS.name(env),
            runs_table=RUNS.name(env),
            max_invalid_ratio=ratio,
        )

    def identity(self) -> RunIdentity:
        return RunIdentity(self.input_bucket, self.input_key, self.input_version)


@dataclass(frozen=True)
class AwsClients:
    """The handles the tasks use. DynamoDB twice: the KPI writer speaks typed attribute
    values to the plain client, the Runs and category repositories use resource tables
    (whose client would wrap typed values a second time)."""

    s3: S3Client
    dynamodb: DynamoDBClient
    dynamodb_resource: DynamoDBServiceResource

    @classmethod
    def from_session(cls, session: boto3.session.Session) -> AwsClients:
        return cls(session.client("s3"), session.client("dynamodb"), session.resource("dynamodb"))
