"""The REST API's logging, tracing and throttling (the API itself is Chalice's `RestAPI`).

Access logs need the region's API Gateway account setting to name a CloudWatch role; the stack
sets it (one per region and account: a second stack in the same region sets the same kind of
role, which is harmless).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import awacs.logs as logs
from troposphere import GetAtt, Ref
from troposphere.apigateway import Account
from troposphere.iam import Policy, Role
from troposphere.logs import LogGroup

from infra.context import Stack, allow, arn, assume_role_policy, policy
from infra.encryption import Encryption, log_group

REST_API = "RestAPI"  # Chalice's logical id of the REST API
CHALICE_CONFIG = Path(__file__).resolve().parents[1] / ".chalice" / "config.json"
# Requests per day per key: a dashboard polling every few seconds all day stays far below.
DAILY_QUOTA = 200_000
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
        stack,
        "ApiAccessLogGroup",
        f"/aws/apigateway/{stack.name('api')}/access",
        encryption,
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
                            [
                                logs.CreateLogGroup,
                                logs.CreateLogStream,
                                logs.DescribeLogGroups,
                                logs.DescribeLogStreams,
                                logs.PutLogEvents,
                            ],
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


def api_stage(stage: str) -> str:
    """The API Gateway stage Chalice deploys the REST API to (`api_gateway_stage`)."""
    config = json.loads(CHALICE_CONFIG.read_text())
    name: str = config["stages"].get(stage, {}).get("api_gateway_stage", config.get("api_gateway_stage", "api"))
    return name


def overlay(stack: Stack, api: ApiLogging) -> dict[str, Any]:
    """Merged into Chalice's `RestAPI` (a SAM `AWS::Serverless::Api`), plus the usage plan and
    key the `api_key` auth mode (`chalicelib.api.http.AuthMode`) needs: Chalice creates neither."""
    stage_name = api_stage(stack.stage)
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
        },
        "ApiUsagePlan": {
            "Type": "AWS::ApiGateway::UsagePlan",
            # SAM names the stage it creates `<api><stage>Stage`.
            "DependsOn": [f"{REST_API}{stage_name}Stage"],
            "Properties": {
                "UsagePlanName": stack.name("api"),
                "Description": "Keys of the dashboard and API clients",
                "ApiStages": [{"ApiId": Ref(REST_API), "Stage": stage_name}],
                "Throttle": {"RateLimit": THROTTLE_RATE, "BurstLimit": THROTTLE_BURST},
                "Quota": {"Limit": DAILY_QUOTA, "Period": "DAY"},
            },
        },
        "ApiKey": {
            "Type": "AWS::ApiGateway::ApiKey",
            "Properties": {"Name": stack.name("dashboard"), "Enabled": True, "Description": "The dashboard's API key"},
        },
        "ApiUsagePlanKey": {
            "Type": "AWS::ApiGateway::UsagePlanKey",
            "Properties": {"KeyId": Ref("ApiKey"), "KeyType": "API_KEY", "UsagePlanId": Ref("ApiUsagePlan")},
        },
    }


# Outputs of the overlay's resources (merged with Chalice's outputs).
OVERLAY_OUTPUTS = {
    "ApiKeyId": {
        "Description": "Id of the dashboard's API key: `aws apigateway get-api-key --include-value --api-key <id>`",
        "Value": Ref("ApiKey"),
    },
    "ApiUsagePlanId": {"Description": "Usage plan of the REST API", "Value": Ref("ApiUsagePlan")},
}
