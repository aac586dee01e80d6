"""moto as released still needs the ECS fix (shoppulse/local/moto_fixes/ecs.py, fix 4).

Each test runs moto's own code (`patching.upstream`) and asserts the shortcoming the fix makes
up for: when one fails, moto has caught up, and the part of the fix it names can go.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto import mock_aws

from shoppulse.local.moto_fixes.patching import upstream

REGION = "us-east-1"


@dataclass
class Ecs:
    client: Any
    subnet: str
    group: str


@pytest.fixture
def ecs() -> Iterator[Ecs]:
    with mock_aws(), upstream():
        ec2 = boto3.client("ec2", region_name=REGION)
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})  # moto's task ENI needs it
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
        group = ec2.create_security_group(GroupName="g", Description="g", VpcId=vpc)["GroupId"]
        client = boto3.client("ecs", region_name=REGION)
        client.create_cluster(clusterName="c")
        yield Ecs(client, subnet, group)


def _definition(ecs: Ecs, container_memory: int | None) -> str:
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


def _run(ecs: Ecs, definition: str, groups: list[str] | None) -> Any:
    vpc: dict[str, Any] = {"subnets": [ecs.subnet]}
    if groups is not None:
        vpc["securityGroups"] = groups
    return ecs.client.run_task(
        cluster="c",
        taskDefinition=definition,
        launchType="FARGATE",
        networkConfiguration={"awsvpcConfiguration": vpc},
    )


def test_fix_4_moto_cannot_run_a_fargate_task_whose_container_sets_no_memory(ecs: Ecs) -> None:
    # AWS runs it: the task-level memory applies.
    with pytest.raises(TypeError, match="'int' and 'NoneType'"):
        _run(ecs, _definition(ecs, None), [ecs.group])


def test_fix_4_moto_cannot_run_an_awsvpc_task_without_security_groups(ecs: Ecs) -> None:
    # AWS runs it in the VPC's default security group.
    with pytest.raises(KeyError, match="securityGroups"):
        _run(ecs, _definition(ecs, 512), None)


def test_fix_4_moto_stops_every_task_with_exit_code_0_on_its_own(ecs: Ecs) -> None:
    [task] = _run(ecs, _definition(ecs, 512), [ecs.group])["tasks"]
    for _ in range(5):
        [described] = ecs.client.describe_tasks(cluster="c", tasks=[task["taskArn"]])["tasks"]
    assert described["lastStatus"] == "STOPPED"
    assert [c.get("exitCode") for c in described["containers"]] == [0]
