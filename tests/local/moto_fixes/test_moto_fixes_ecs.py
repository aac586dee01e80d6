"""moto as released still needs the ECS fixes (shoppulse/local/moto_fixes/ecs.py, fixes 4 and 12).

Each test runs moto's own code (`patching.upstream`) and asserts the shortcoming the fix makes
up for: when one fails, moto has caught up, and the part of the fix it names can go.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from moto import mock_aws

from shoppulse.local.moto_fixes.patching import upstream
from tests.local.moto_fixes.ecs_support import Ecs, fargate_cluster, task_definition

REGION = "us-east-1"


@pytest.fixture
def ecs() -> Iterator[Ecs]:
    with mock_aws(), upstream():
        yield fargate_cluster(REGION)


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
        _run(ecs, task_definition(ecs, None), [ecs.group])


def test_fix_4_moto_cannot_run_an_awsvpc_task_without_security_groups(ecs: Ecs) -> None:
    # AWS runs it in the VPC's default security group.
    with pytest.raises(KeyError, match="securityGroups"):
        _run(ecs, task_definition(ecs, 512), None)


def test_fix_4_moto_stops_every_task_with_exit_code_0_on_its_own(ecs: Ecs) -> None:
    [task] = _run(ecs, task_definition(ecs, 512), [ecs.group])["tasks"]
    for _ in range(5):
        [described] = ecs.client.describe_tasks(cluster="c", tasks=[task["taskArn"]])["tasks"]
    assert described["lastStatus"] == "STOPPED"
    assert [c.get("exitCode") for c in described["containers"]] == [0]


def test_fix_12_moto_reports_no_runtask_failures_when_it_cannot_place_a_task(ecs: Ecs) -> None:
    # No container instance in the cluster: AWS answers with the task in `failures` ("No Container
    # Instances were found in your cluster",
    # https://docs.aws.amazon.com/AmazonECS/latest/developerguide/api_failures_messages.html);
    # moto has no way to say so (a TODO in moto/ecs/models.py, run_task) and fails the call.
    with pytest.raises(Exception, match="No instances found in cluster"):
        ecs.client.run_task(cluster="c", taskDefinition=task_definition(ecs, 512), launchType="EC2")
