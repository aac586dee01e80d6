"""Clients of the embedded AWS by service name, typed per service.

The embedded AWS, the local stack and each assumed role hand out one cached client per service
name; `ServiceClients.client` gives the callers the mypy-boto3 type of the service they name
(any other name is a plain botocore client, as the Step Functions interpreter asks by name).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Literal, overload

if TYPE_CHECKING:
    import boto3
    from botocore.client import BaseClient
    from botocore.config import Config
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodbstreams import DynamoDBStreamsClient
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_ecs import ECSClient
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_iam import IAMClient
    from mypy_boto3_kms import KMSClient
    from mypy_boto3_pipes import EventBridgePipesClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_stepfunctions import SFNClient
    from mypy_boto3_sts import STSClient


def new_client(session: boto3.session.Session, service: str, endpoint: str, config: Config) -> BaseClient:
    """A client of `session` for a service named at run time, at `endpoint`."""
    client: BaseClient = session.client(  # type: ignore[call-overload]  # the stubs type literal service names only
        service, endpoint_url=endpoint, config=config
    )
    return client


class ServiceClients(ABC):
    """`client(service)`, typed for the services this project calls; a subclass makes the client."""

    @overload
    def client(self, service: Literal["dynamodb"]) -> DynamoDBClient: ...
    @overload
    def client(self, service: Literal["dynamodbstreams"]) -> DynamoDBStreamsClient: ...
    @overload
    def client(self, service: Literal["ec2"]) -> EC2Client: ...
    @overload
    def client(self, service: Literal["ecs"]) -> ECSClient: ...
    @overload
    def client(self, service: Literal["events"]) -> EventBridgeClient: ...
    @overload
    def client(self, service: Literal["iam"]) -> IAMClient: ...
    @overload
    def client(self, service: Literal["kms"]) -> KMSClient: ...
    @overload
    def client(self, service: Literal["pipes"]) -> EventBridgePipesClient: ...
    @overload
    def client(self, service: Literal["s3"]) -> S3Client: ...
    @overload
    def client(self, service: Literal["sns"]) -> SNSClient: ...
    @overload
    def client(self, service: Literal["sqs"]) -> SQSClient: ...
    @overload
    def client(self, service: Literal["stepfunctions"]) -> SFNClient: ...
    @overload
    def client(self, service: Literal["sts"]) -> STSClient: ...
    @overload
    def client(self, service: str) -> BaseClient: ...
    def client(self, service: str) -> BaseClient:
        return self._client(service)

    @abstractmethod
    def _client(self, service: str) -> BaseClient: ...
