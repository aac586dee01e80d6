"""The REST API's logging, tracing and throttling (the API itself is Chalice's `RestAPI`).

Access logs need the region's API Gateway account setting to name a CloudWatch role; the stack
sets it (one per region and account: a second stack in the same region sets the same kind of
role, which is harmless).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import awacs.logs as logs
from troposphere import GetAtt
from troposphere.apigateway import Account
from troposphere.iam import Policy, Role
from troposphere.logs import LogGroup

from infra.context import Stack, allow, arn, assume_role_policy, policy
from infra.encryption import Encryption, log_group

REST_API = "RestAPI"  # Chalice's logical id of the REST API
# Requests per second (steady) and burst per stage: far above a dashboard's needs, low enough
# that a runaway client cannot run up the DynamoDB bill.
THROTTLE_RATE = 50
THROTTLE_BURST = 100
ACCESS_LOG_FORMAT = json.dumps(
    {
        "requestId": "$context.requestId",
        "ip": "$context.identity.sourceIp",
        "time": "$context.requestTime",
        "method": "$context.httpMethod",
        "path": "$context.resourcePath",
        "status": "$context.status",
        "latencyMs": "$context.responseLatency",
        "integrationError": "$context.integrationErrorMessage",
    },
    separators=(",", ":"),
)


@dataclass(frozen=True)
class ApiLogging:
    log_group: LogGroup
    account: Account


def build(stack: Stack, encryption: Encryption) -> ApiLogging:
    access_logs = log_group(
        stack, "ApiAccessLogGroup", f"/aws/apigateway/{stack.name('api')}/access", encryption,
        "Access log group of the REST API",
    )
    role = Role(
        "ApiGatewayLoggingRole",
        AssumeRolePolicyDocument=assume_role_policy("apigateway"),
        Policies=[
            Policy(
                PolicyName="api-gateway-logs",
                PolicyDocument=policy(
                    [
                        allow(
                            [logs.CreateLogGroup, logs.CreateLogStream, logs.DescribeLogGroups,
                             logs.DescribeLogStreams, logs.PutLogEvents],
                            [GetAtt(access_logs, "Arn"), arn("logs", "log-group:API-Gateway-Execution-Logs_*")],
                            sid="ApiLogs",
                        )
                    ]
                ),
            )
        ],
        Tags=stack.tags("api"),
    )
    stack.add(role, "Role API Gateway writes logs with", "Arn")
    account = Account("ApiGatewayAccount", CloudWatchRoleArn=GetAtt(role, "Arn"))
    stack.add(account, "API Gateway account setting (logging role) of the region")
    return ApiLogging(access_logs, account)


def overlay(api: ApiLogging) -> dict[str, Any]:
    """Merged into Chalice's `RestAPI` (a SAM `AWS::Serverless::Api`)."""
    return {
        REST_API: {
            "DependsOn": [api.account.title],
            "Properties": {
                "TracingEnabled": True,
                "AccessLogSetting": {"DestinationArn": GetAtt(api.log_group, "Arn"), "Format": ACCESS_LOG_FORMAT},
                "MethodSettings": [
                    {
                        "ResourcePath": "/*",
                        "HttpMethod": "*",
                        "LoggingLevel": "ERROR",
                        "MetricsEnabled": True,
                        "ThrottlingRateLimit": THROTTLE_RATE,
                        "ThrottlingBurstLimit": THROTTLE_BURST,
                    }
                ],
            },
            "Metadata": {
                "checkov": {
                    "skip": [
                        {
                            "id": "CKV_AWS_120",
                            "comment": "No cache: KPIs change whenever a file is processed and a cache cluster bills by the hour; DynamoDB answers in milliseconds.",
                        }
                    ]
                }
            },
        }
    }
