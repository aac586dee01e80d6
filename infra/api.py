"""The REST API's logging, tracing and throttling (the API itself is Chalice's `RestAPI`).

API Gateway writes access and execution logs only once the region's account setting names a
CloudWatch role; a stage that asks for logs before then is rejected ("CloudWatch Logs role ARN
must be set in account settings to enable logging"). That setting is one per account and region,
shared by every API there, so changing it is a side effect beyond this app, and opt-in: parameter
`ApiGatewayLogging`:
- `off` (default): no access or execution logs (metrics and X-Ray traces stay on);
- `account-role-exists`: the region already has the role (set by another stack or by hand): logs on;
- `set-account-role`: this stack creates the role and sets the account setting (overwriting any
  other role set there), then logs on.
https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-logging.html
https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-apigateway-account.html
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import awacs.logs as logs
from troposphere import Equals, GetAtt, If, Not, NoValue, Parameter, Ref
from troposphere.apigateway import Account
from troposphere.cloudformation import WaitConditionHandle
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


API_LOGGING = "ApiLogging"
SET_ACCOUNT_ROLE = "SetApiGatewayAccountRole"


@dataclass(frozen=True)
class ApiLogging:
    log_group: LogGroup
    # Created after the account setting when the stack sets it: the API waits for it.
    account_ready: WaitConditionHandle


def _logging_choice(stack: Stack) -> None:
    choice = stack.template.add_parameter(
        Parameter(
            "ApiGatewayLogging",
            Type="String",
            Default="off",
            AllowedValues=["off", "account-role-exists", "set-account-role"],
            Description="REST API logs: off; on, the region's API Gateway logging role being set; or set it (region-wide)",
        )
    )
    stack.template.add_condition(API_LOGGING, Not(Equals(Ref(choice), "off")))
    stack.template.add_condition(SET_ACCOUNT_ROLE, Equals(Ref(choice), "set-account-role"))


def build(stack: Stack, encryption: Encryption) -> ApiLogging:
    _logging_choice(stack)
    access_logs = log_group(
        stack,
        "ApiAccessLogGroup",
        f"/aws/apigateway/{stack.name('api')}/access",
        encryption,
        "Access log group of the REST API",
        API_LOGGING,
    )
    role = Role(
        "ApiGatewayLoggingRole",
        Condition=SET_ACCOUNT_ROLE,
        AssumeRolePolicyDocument=assume_role_policy("apigateway"),
        Policies=[
            Policy(
                PolicyName="api-gateway-logs",
                PolicyDocument=policy(
                    [
                        allow(
                            [logs.CreateLogGroup, logs.CreateLogStream, logs.DescribeLogStreams, logs.PutLogEvents],
                            [GetAtt(access_logs, "Arn"), arn("logs", "log-group:API-Gateway-Execution-Logs_*")],
                            sid="ApiLogs",
                        ),
                        # Lists the account's groups: no resource type, "*" only (infra.template_rules).
                        allow([logs.DescribeLogGroups], ["*"], sid="FindLogGroups"),
                    ]
                ),
            )
        ],
        Tags=stack.tags("api"),
    )
    stack.add(role, "Role API Gateway writes logs with", "Arn")
    account = Account("ApiGatewayAccount", Condition=SET_ACCOUNT_ROLE, CloudWatchRoleArn=GetAtt(role, "Arn"))
    stack.add(account, "API Gateway account setting (logging role) of the region")
    # A DependsOn cannot name a resource that may not exist ("Unresolved resource dependencies"):
    # the handle refers to the account setting only when it is created (an implicit dependency,
    # the way SAM itself makes conditional dependencies), and the API depends on the handle.
    # https://github.com/aws/serverless-application-model/pull/653
    ready = WaitConditionHandle(
        "ApiGatewayAccountReady", Metadata={"AccountSetting": If(SET_ACCOUNT_ROLE, Ref(account), "not managed")}
    )
    stack.add(ready, "Ordering only: the REST API is created after the account setting, if the stack sets it")
    return ApiLogging(access_logs, ready)


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
            "DependsOn": [api.account_ready.title],
            "Properties": {
                "TracingEnabled": True,
                "AccessLogSetting": If(
                    API_LOGGING,
                    {"DestinationArn": GetAtt(api.log_group, "Arn"), "Format": ACCESS_LOG_FORMAT},
                    NoValue,
                ),
                "MethodSettings": [
                    {
                        "ResourcePath": "/*",
                        "HttpMethod": "*",
                        "LoggingLevel": If(API_LOGGING, "ERROR", "OFF"),
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
                            "id": "CKV_AWS_76",
                            "comment": "Access logs are on unless ApiGatewayLogging=off, the default: they need the region-wide API Gateway logging role, an account setting this stack changes only when asked (set-account-role).",
                        },
                        {
                            "id": "CKV_AWS_120",
                            "comment": "No cache: KPIs change whenever a file is processed and a cache cluster bills by the hour; DynamoDB answers in milliseconds.",
                        },
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
