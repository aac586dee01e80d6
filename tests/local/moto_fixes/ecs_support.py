"""moto's ECS ready for a Fargate task (for the ECS and Step Functions fix tests): a cluster `c`,
a subnet and a security group, and the one task definition they run."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import boto3


@dataclass
class Ecs:
    client: Any
    subnet: str
    group: str


def fargate_cluster(region: str) -> Ecs:
    """Inside `mock_aws`: the cluster and the network its tasks run in."""
    ec2 = boto3.client("ec2", region_name=region)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})  # moto's task ENI needs it
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName="g", Description="g", VpcId=vpc)["GroupId"]
    client = boto3.client("ecs", region_name=region)
    client.create_cluster(clusterName="c")
    return Ecs(client, subnet, group)


def task_definition(ecs: Ecs, container_memory: int | None) -> str:
    """A Fargate task definition of one container, with its own memory or none."""
    container: dict[str, Any] = {"name": "app", "image": "app:1", "essential": True}
    if container_memory is not None:
        container["memory"] = container_memory
    return str(
        ecs.client.register_task_definition(
            family="f",
            requiresCompatibilities=["FARGATE"],
            networkMode="awsvpc",
            cpu="256",
            memory="512",
            containerDefinitions=[container],
        )["taskDefinition"]["taskDefinitionArn"]
    )
