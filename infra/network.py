"""Where the Fargate tasks run: a VPC the user brings, or one the stack creates.

- Bring a VPC (`VpcId`, `SubnetIds`, `AssignPublicIp`): the subnets need a route to the AWS APIs
  the tasks call (a NAT gateway, VPC endpoints, or public subnets with `AssignPublicIp=ENABLED`).
- `VpcId` empty (the default): the stack creates a VPC with two private subnets (two Availability
  Zones), no internet gateway and no NAT, and the VPC endpoints the tasks need: gateway
  endpoints for S3 and DynamoDB (free) and interface endpoints for ECR (api, dkr) and CloudWatch
  Logs (billed per endpoint, AZ and hour: docs/architecture.md, "Networking").

What the tasks call, and so which endpoints exist: Fargate pulls the image from ECR (`ecr.api`,
`ecr.dkr`, and S3 for the layers) and ships the `awslogs` driver's logs to CloudWatch Logs
(`logs`); the containers call S3 and DynamoDB only (`containers/tasks/config.py`). The task
role's credentials come from the ECS agent, not STS; Step Functions, SNS and the functions run
outside the VPC. https://docs.aws.amazon.com/AmazonECS/latest/developerguide/platform-version-migration.html
https://docs.aws.amazon.com/AmazonECR/latest/userguide/vpc-endpoints.html
"""

from __future__ import annotations

from dataclasses import dataclass

from troposphere import Cidr, Equals, GetAtt, GetAZs, If, Join, Not, Parameter, Ref, Select, Sub
from troposphere.ec2 import (
    VPC,
    RouteTable,
    SecurityGroup,
    SecurityGroupIngress,
    SecurityGroupRule,
    Subnet,
    SubnetRouteTableAssociation,
    VPCEndpoint,
)

from infra.context import Stack

CREATE_NETWORK = "CreateNetwork"
AVAILABILITY_ZONES = 2
# Subnets are /24 (cidrBits 8): 251 addresses each, one per running task and per endpoint.
SUBNET_CIDR_BITS = 8
GATEWAY_ENDPOINTS = {"S3": "s3", "DynamoDb": "dynamodb"}
INTERFACE_ENDPOINTS = {"EcrApi": "ecr.api", "EcrDkr": "ecr.dkr", "Logs": "logs"}
# Checks that do not fit the created VPC, each with the reason (read by checkov).
VPC_SKIPS = [
    {
        "id": "CKV2_AWS_11",
        "comment": "No flow logs: the VPC has no internet path (no internet gateway, no NAT); its only traffic is the tasks' HTTPS to the VPC endpoints, whose API calls CloudTrail records.",
    },
    {
        "id": "CKV2_AWS_12",
        "comment": "Nothing is placed in the default security group: the tasks and the endpoints have their own groups, and CloudFormation cannot empty the default group without a custom resource.",
    },
]


@dataclass(frozen=True)
class Network:
    """What the task security group and the workflow's awsvpc configuration use."""

    vpc_id: If
    subnet_ids: If  # the subnet ids joined by '","' (one `${Subnets}` placeholder in the ASL)
    subnet_list: If  # the same ids as a list (EventBridge's ECS target)
    assign_public_ip: If
    task_security_group: SecurityGroup


def _parameters(stack: Stack) -> tuple[Parameter, Parameter, Parameter, Parameter]:
    t = stack.template
    vpc = t.add_parameter(
        Parameter(
            "VpcId",
            Type="String",
            Default="",
            AllowedPattern=r"^$|^vpc-[0-9a-f]+$",
            Description="VPC of the Fargate tasks; empty: the stack creates one (private subnets, VPC endpoints)",
        )
    )
    subnets = t.add_parameter(
        Parameter(
            "SubnetIds",
            Type="CommaDelimitedList",
            Default="",
            Description="With VpcId: subnets of the tasks (private with a NAT or endpoints for S3, DynamoDB, ECR, Logs)",
        )
    )
    public_ip = t.add_parameter(
        Parameter(
            "AssignPublicIp",
            Type="String",
            Default="DISABLED",
            AllowedValues=["DISABLED", "ENABLED"],
            Description="With VpcId: ENABLED only for public subnets without a NAT (the tasks need outbound HTTPS)",
        )
    )
    cidr = t.add_parameter(
        Parameter(
            "VpcCidr",
            Type="String",
            Default="10.80.0.0/16",
            AllowedPattern=r"^(\d{1,3}\.){3}\d{1,3}/(1[6-9]|2[0-2])$",
            Description="Without VpcId: address range of the VPC the stack creates (/16 to /22)",
        )
    )
    t.add_condition(CREATE_NETWORK, Equals(Ref(vpc), ""))
    # A brought VPC needs its subnets: fail the deployment up front, not the first task start.
    # https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/rules-section-structure.html
    t.add_rule(
        "SubnetsWithVpc",
        {
            "RuleCondition": Not(Equals(Ref(vpc), "")),
            "Assertions": [
                {
                    "Assert": Not({"Fn::EachMemberEquals": [Ref(subnets), ""]}),
                    "AssertDescription": "SubnetIds is required with VpcId",
                }
            ],
        },
    )
    return vpc, subnets, public_ip, cidr


def _private_network(stack: Stack, cidr: Parameter) -> tuple[VPC, list[Subnet], SecurityGroup]:
    """The VPC, its private subnets and route table, and the endpoints' security group."""
    vpc = VPC(
        "Vpc",
        Condition=CREATE_NETWORK,
        CidrBlock=Ref(cidr),
        # Private DNS of the interface endpoints needs both.
        EnableDnsSupport=True,
        EnableDnsHostnames=True,
        Tags=stack.tags("network"),
        Metadata={"checkov": {"skip": VPC_SKIPS}},
    )
    stack.add(vpc, "VPC the stack created for the tasks")
    route_table = RouteTable("PrivateRouteTable", Condition=CREATE_NETWORK, VpcId=Ref(vpc), Tags=stack.tags("network"))
    stack.add(route_table, "Route table of the private subnets (no internet route)")
    subnets = []
    for index in range(AVAILABILITY_ZONES):
        subnet = Subnet(
            f"PrivateSubnet{index + 1}",
            Condition=CREATE_NETWORK,
            VpcId=Ref(vpc),
            AvailabilityZone=Select(index, GetAZs("")),
            CidrBlock=Select(index, Cidr(GetAtt(vpc, "CidrBlock"), AVAILABILITY_ZONES, SUBNET_CIDR_BITS)),
            MapPublicIpOnLaunch=False,
            Tags=stack.tags("network"),
        )
        subnets.append(stack.add(subnet, f"Private subnet {index + 1} of the tasks"))
        routes = SubnetRouteTableAssociation(
            f"PrivateSubnet{index + 1}Routes",
            Condition=CREATE_NETWORK,
            SubnetId=Ref(subnet),
            RouteTableId=Ref(route_table),
        )
        stack.add(routes, f"Private subnet {index + 1}: route table association")
    for title, service in GATEWAY_ENDPOINTS.items():
        _endpoint(stack, vpc, "Gateway", title, service, RouteTableIds=[Ref(route_table)])
    endpoints_group = SecurityGroup(
        "EndpointSecurityGroup",
        Condition=CREATE_NETWORK,
        GroupDescription="ShopPulse VPC endpoints: HTTPS from the batch tasks only",
        VpcId=Ref(vpc),
        # No egress: an endpoint only answers. The one rule matches nothing (no ICMP type 252
        # code 86 exists), the way to replace the default allow-all egress rule.
        SecurityGroupEgress=[
            SecurityGroupRule(
                IpProtocol="icmp", FromPort=252, ToPort=86, CidrIp="255.255.255.255/32", Description="No egress"
            )
        ],
        Tags=stack.tags("network"),
    )
    stack.add(endpoints_group, "Security group of the interface endpoints", "GroupId")
    for title, service in INTERFACE_ENDPOINTS.items():
        _endpoint(
            stack,
            vpc,
            "Interface",
            title,
            service,
            PrivateDnsEnabled=True,
            SubnetIds=[Ref(s) for s in subnets],
            SecurityGroupIds=[GetAtt(endpoints_group, "GroupId")],
        )
    return vpc, subnets, endpoints_group


def _endpoint(stack: Stack, vpc: VPC, kind: str, title: str, service: str, **placement: object) -> None:
    """A `Gateway` or `Interface` endpoint of the created VPC for one AWS service of the region."""
    endpoint = VPCEndpoint(
        f"{title}{kind}Endpoint",
        Condition=CREATE_NETWORK,
        VpcId=Ref(vpc),
        VpcEndpointType=kind,
        ServiceName=Sub(f"com.amazonaws.${{AWS::Region}}.{service}"),
        **placement,
    )
    stack.add(endpoint, f"{kind} endpoint for {service}")


def build(stack: Stack) -> Network:
    vpc_param, subnets_param, public_ip, cidr = _parameters(stack)
    vpc, subnets, endpoints_group = _private_network(stack, cidr)
    vpc_id = If(CREATE_NETWORK, Ref(vpc), Ref(vpc_param))
    tasks_group = SecurityGroup(
        "TaskSecurityGroup",
        GroupDescription="ShopPulse batch tasks: no inbound, outbound HTTPS to AWS APIs only",
        VpcId=vpc_id,
        SecurityGroupEgress=[
            SecurityGroupRule(
                IpProtocol="tcp",
                FromPort=443,
                ToPort=443,
                CidrIp="0.0.0.0/0",
                Description="HTTPS to S3, DynamoDB, ECR, CloudWatch Logs",
            )
        ],
        Tags=stack.tags("ecs"),
    )
    stack.add(tasks_group, "Security group of the batch tasks", "GroupId")
    # A separate resource: the endpoints' group exists only with the created network.
    stack.add(
        SecurityGroupIngress(
            "EndpointIngressFromTasks",
            Condition=CREATE_NETWORK,
            GroupId=GetAtt(endpoints_group, "GroupId"),
            IpProtocol="tcp",
            FromPort=443,
            ToPort=443,
            SourceSecurityGroupId=GetAtt(tasks_group, "GroupId"),
            Description="HTTPS from the batch tasks",
        ),
        "Endpoints' security group: HTTPS from the tasks",
    )
    return Network(
        vpc_id=vpc_id,
        subnet_ids=If(CREATE_NETWORK, Join('","', [Ref(s) for s in subnets]), Join('","', Ref(subnets_param))),
        subnet_list=If(CREATE_NETWORK, [Ref(s) for s in subnets], Ref(subnets_param)),
        assign_public_ip=If(CREATE_NETWORK, "DISABLED", Ref(public_ip)),
        task_security_group=tasks_group,
    )
