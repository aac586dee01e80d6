"""Stack choices: where the tasks run (bring a VPC, or the stack creates one) and API Gateway logging.

Each choice is a parameter; the template is instantiated here for each value the way
CloudFormation does (conditions evaluated, resources of false conditions dropped, `Fn::If`
resolved) and the result must be whole: no reference to a resource that is not created.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra.network import GATEWAY_ENDPOINTS, INTERFACE_ENDPOINTS
from infra.sam_translation import translate
from infra.synthesis import synthesize
from infra.template_rules import as_list, identity_policies, references, statements

Template = dict[str, Any]
PSEUDO = {"AWS::Region", "AWS::AccountId", "AWS::Partition", "AWS::StackName", "AWS::NoValue", "AWS::URLSuffix"}
# Services the tasks' roles name that the task never calls itself: S3 and DynamoDB call KMS for
# their SSE-KMS encryption on the caller's behalf, from the service side.
SERVER_SIDE = {"kms"}


@pytest.fixture(scope="module")
def merge(tmp_path_factory: pytest.TempPathFactory) -> Template:
    """The whole stack as deployed: merged with Chalice's resources and SAM translated."""
    merged = synthesize("dev", tmp_path_factory.mktemp("build"), write_config=False).merged_template
    assert merged is not None
    return translate(json.loads(merged.read_text()))


def _condition(template: Template, name: str, parameters: dict[str, str]) -> bool:
    def value(node: Any) -> Any:
        if isinstance(node, dict):
            [(fn, args)] = node.items()
            if fn == "Ref":
                return parameters.get(args, template["Parameters"].get(args, {}).get("Default"))
            if fn == "Condition":
                return _condition(template, args, parameters)
            if fn == "Fn::Equals":
                return value(args[0]) == value(args[1])
            if fn == "Fn::Not":
                return not value(args[0])
            raise AssertionError(f"unexpected {fn} in a condition")
        return node

    return bool(value(template["Conditions"][name]))


def instantiate(template: Template, parameters: dict[str, str]) -> Template:
    """The resources CloudFormation creates for these parameter values, `Fn::If` resolved."""
    truth = {name: _condition(template, name, parameters) for name in template["Conditions"]}

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            if set(node) == {"Fn::If"}:
                name, yes, no = node["Fn::If"]
                return resolve(yes if truth[name] else no)
            return {k: resolve(v) for k, v in node.items() if resolve(v) != {"Ref": "AWS::NoValue"}}
        if isinstance(node, list):
            return [resolve(v) for v in node]
        return node

    resources = {k: r for k, r in template["Resources"].items() if truth.get(r.get("Condition", ""), True)}
    return {"Parameters": template["Parameters"], "Resources": resolve(resources)}


def _dangling(instance: Template) -> set[str]:
    known = set(instance["Resources"]) | set(instance["Parameters"]) | PSEUDO
    found = references(instance["Resources"])
    found |= {d for r in instance["Resources"].values() for d in as_list(r.get("DependsOn", []))}
    return found - known


def _of_type(template: Template, kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


def _run_task_network(instance: Template) -> dict[str, Any]:
    return instance["Resources"]["BatchWorkflow"]["Properties"]["DefinitionSubstitutions"]


def test_by_default_the_stack_creates_a_private_network_with_the_endpoints_and_nothing_dangles(merge):
    instance = instantiate(merge, {})
    assert _dangling(instance) == set()
    resources = instance["Resources"]
    vpc = resources["Vpc"]["Properties"]
    assert vpc["EnableDnsSupport"] is True and vpc["EnableDnsHostnames"] is True  # endpoints' private DNS
    subnets = _of_type(instance, "AWS::EC2::Subnet")
    assert len(subnets) == 2 and all(s["Properties"]["MapPublicIpOnLaunch"] is False for s in subnets.values())
    assert {json.dumps(s["Properties"]["AvailabilityZone"]) for s in subnets.values()} == {
        json.dumps({"Fn::Select": [i, {"Fn::GetAZs": ""}]}) for i in range(2)
    }
    # No way out to the internet: no internet gateway, NAT or route besides the endpoints'.
    kinds = {r["Type"] for r in resources.values()}
    assert not kinds & {"AWS::EC2::InternetGateway", "AWS::EC2::NatGateway", "AWS::EC2::Route", "AWS::EC2::EIP"}
    endpoints = {
        e["Properties"]["ServiceName"]["Fn::Sub"].rsplit(".", 1)[-1]
        if e["Properties"]["VpcEndpointType"] == "Gateway"
        else e["Properties"]["ServiceName"]["Fn::Sub"].split("}.", 1)[1]: e["Properties"]
        for e in _of_type(instance, "AWS::EC2::VPCEndpoint").values()
    }
    assert set(endpoints) == set(GATEWAY_ENDPOINTS.values()) | set(INTERFACE_ENDPOINTS.values())
    for service in GATEWAY_ENDPOINTS.values():
        assert endpoints[service]["RouteTableIds"] == [{"Ref": "PrivateRouteTable"}]
    for service in INTERFACE_ENDPOINTS.values():
        props = endpoints[service]
        assert props["PrivateDnsEnabled"] is True and len(props["SubnetIds"]) == 2
        assert props["SecurityGroupIds"] == [{"Fn::GetAtt": ["EndpointSecurityGroup", "GroupId"]}]
    ingress = resources["EndpointIngressFromTasks"]["Properties"]
    assert (ingress["FromPort"], ingress["ToPort"]) == (443, 443)
    assert ingress["SourceSecurityGroupId"] == {"Fn::GetAtt": ["TaskSecurityGroup", "GroupId"]}
    network = _run_task_network(instance)
    assert network["AssignPublicIp"] == "DISABLED"
    assert network["Subnets"] == {"Fn::Join": ['","', [{"Ref": "PrivateSubnet1"}, {"Ref": "PrivateSubnet2"}]]}
    assert resources["TaskSecurityGroup"]["Properties"]["VpcId"] == {"Ref": "Vpc"}


def test_the_endpoints_cover_every_service_the_tasks_call(merge):
    """From the template itself: the image (ECR and its S3 layers), the log driver, the task roles."""
    definitions = _of_type(merge, "AWS::ECS::TaskDefinition")
    called = set()
    for definition in definitions.values():
        for container in definition["Properties"]["ContainerDefinitions"]:
            # The bootstrap stack's repository (infra.bootstrap), named by its ECR URI.
            assert ".dkr.ecr." in json.dumps(container["Image"])
            called |= {"ecr.api", "ecr.dkr", "s3"}
            if container["LogConfiguration"]["LogDriver"] == "awslogs":
                called.add("logs")
        role = definition["Properties"]["TaskRoleArn"]["Fn::GetAtt"][0]
        for owner, document in identity_policies(merge):
            if owner == role:
                called |= {str(a).split(":")[0] for s in statements(document) for a in as_list(s["Action"])}
    assert called - SERVER_SIDE == set(GATEWAY_ENDPOINTS.values()) | set(INTERFACE_ENDPOINTS.values())


def test_a_brought_vpc_creates_no_network_and_passes_its_subnets(merge):
    parameters = {"VpcId": "vpc-0abc", "SubnetIds": "subnet-1,subnet-2", "AssignPublicIp": "ENABLED"}
    instance = instantiate(merge, parameters)
    assert _dangling(instance) == set()
    assert not {r["Type"] for r in instance["Resources"].values()} & {"AWS::EC2::VPC", "AWS::EC2::VPCEndpoint"}
    network = _run_task_network(instance)
    assert network["Subnets"] == {"Fn::Join": ['","', {"Ref": "SubnetIds"}]}
    assert network["AssignPublicIp"] == {"Ref": "AssignPublicIp"}
    assert instance["Resources"]["TaskSecurityGroup"]["Properties"]["VpcId"] == {"Ref": "VpcId"}
    # CloudFormation refuses the parameters before creating anything when the subnets are missing.
    rule = merge["Rules"]["SubnetsWithVpc"]
    assert rule["RuleCondition"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "VpcId"}, ""]}]}
    assert rule["Assertions"][0]["Assert"] == {"Fn::Not": [{"Fn::EachMemberEquals": [{"Ref": "SubnetIds"}, ""]}]}


@pytest.mark.parametrize(
    ("choice", "sets_account", "logs"),
    [("off", False, False), ("account-role-exists", False, True), ("set-account-role", True, True)],
)
def test_the_region_wide_api_gateway_role_is_set_only_when_asked(merge, choice, sets_account, logs):
    assert merge["Parameters"]["ApiGatewayLogging"]["Default"] == "off"
    instance = instantiate(merge, {"ApiGatewayLogging": choice})
    assert _dangling(instance) == set()
    resources = instance["Resources"]
    assert ("ApiGatewayAccount" in resources) is sets_account
    assert ("ApiGatewayLoggingRole" in resources) is sets_account
    # The stage (which asks for the logs) follows the API, which waits for the account setting.
    assert resources["RestAPI"]["DependsOn"] == ["ApiGatewayAccountReady"]
    ready = resources["ApiGatewayAccountReady"]["Metadata"]["AccountSetting"]
    assert (ready == {"Ref": "ApiGatewayAccount"}) is sets_account
    stage = resources["RestAPIapiStage"]["Properties"]
    assert stage["RestApiId"] == {"Ref": "RestAPI"}
    assert ("AccessLogSetting" in stage) is logs
    assert stage["MethodSettings"][0]["LoggingLevel"] == ("ERROR" if logs else "OFF")
    assert ("ApiAccessLogGroup" in resources) is logs


def test_a_reference_to_a_resource_a_choice_does_not_create_is_caught(merge):
    broken = json.loads(json.dumps(merge))
    broken["Resources"]["RestAPI"]["DependsOn"] = ["ApiGatewayAccount"]
    broken["Resources"]["BatchWorkflow"]["Properties"]["DefinitionSubstitutions"]["Subnets"] = {"Ref": "PrivateSubnet1"}
    assert _dangling(instantiate(broken, {"ApiGatewayLogging": "set-account-role"})) == set()
    assert _dangling(instantiate(broken, {"VpcId": "vpc-1", "SubnetIds": "subnet-1"})) == {
        "ApiGatewayAccount",
        "PrivateSubnet1",
    }
