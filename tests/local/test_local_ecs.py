"""The local ECS runner under moto's Step Functions interpreter: `ecs:runTask.sync` as in AWS.

Toy task definitions (tiny Python commands) on the embedded AWS: the real exit code decides
the state (0 succeeds, anything else fails with States.TaskFailed and the task description as
cause), a retried task is really run again (no false States.Timeout), a state timeout kills
the process, and every task's output is kept in the data directory.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

from shoppulse.local import moto_fixes
from shoppulse.local.ecs_runner import LocalEcsRunner
from shoppulse.local.embedded_aws import EmbeddedAws, apply_environment, restore_environment

ROLE = "arn:aws:iam::123456789012:role/local"


@pytest.fixture(scope="module")
def aws(tmp_path_factory):
    aws = EmbeddedAws(port=0)
    aws.start()
    previous = apply_environment(aws.environment())
    logs = tmp_path_factory.mktemp("data") / "logs"
    runner = LocalEcsRunner(workdir=Path.cwd(), log_dir=logs, base_environment=aws.environment(), stop_grace_seconds=2)
    moto_fixes.install(runner)
    ec2 = aws.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
    aws.subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.9.1.0/24")["Subnet"]["SubnetId"]
    aws.client("ecs").create_cluster(clusterName="toy")
    aws.logs = logs
    yield aws
    runner.shutdown()
    moto_fixes.uninstall()
    aws.stop()
    restore_environment(previous)


def run_workflow(aws, name: str, script: str, *, timeout: int = 30, retries: int = 0) -> tuple[dict, list[dict]]:
    """One Task state running `python -c script`, caught into a Pass state; returns the execution."""
    ecs, sfn = aws.client("ecs"), aws.client("stepfunctions")
    task_definition = ecs.register_task_definition(
        family=name,
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        cpu="256",
        memory="512",
        containerDefinitions=[
            {
                "name": "main",
                "image": "toy",
                "command": ["python", "-c", script],
                "environment": [{"name": "FROM_DEFINITION", "value": "definition"}],
                "stopTimeout": 2,
            }
        ],
    )["taskDefinition"]["taskDefinitionArn"]
    run_task = {
        "Type": "Task",
        "Resource": "arn:aws:states:::ecs:runTask.sync",
        "Parameters": {
            "Cluster": "toy",
            "TaskDefinition": task_definition,
            "LaunchType": "FARGATE",
            "NetworkConfiguration": {"AwsvpcConfiguration": {"Subnets": [aws.subnet]}},
            "Overrides": {
                "ContainerOverrides": [{"Name": "main", "Environment": [{"Name": "FROM_INPUT", "Value.$": "$.value"}]}]
            },
        },
        "TimeoutSeconds": timeout,
        "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}],
        "End": True,
    }
    if retries:
        run_task["Retry"] = [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 1, "MaxAttempts": retries}]
    definition = {"StartAt": "Run", "States": {"Run": run_task, "Caught": {"Type": "Pass", "End": True}}}
    machine = sfn.create_state_machine(name=name, definition=json.dumps(definition), roleArn=ROLE)["stateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=machine, input=json.dumps({"value": "from-input"}))["executionArn"]
    while (described := sfn.describe_execution(executionArn=execution))["status"] == "RUNNING":
        time.sleep(0.1)
    return described, sfn.get_execution_history(executionArn=execution)["events"]


def task_logs(aws, family: str) -> list[str]:
    return [p.read_text() for p in sorted((aws.logs / "ecs" / family).glob("*.log"), key=lambda p: p.stat().st_mtime)]


def test_a_zero_exit_succeeds_with_the_task_description_and_both_environments(aws):
    script = "import os; print(os.environ['FROM_DEFINITION'], os.environ['FROM_INPUT'])"
    described, _ = run_workflow(aws, "succeeds", script)
    output = json.loads(described["output"])
    assert described["status"] == "SUCCEEDED"
    assert output["LastStatus"] == "STOPPED"
    assert output["Containers"][0]["ExitCode"] == 0
    assert output["StopCode"] == "EssentialContainerExited"
    [log] = task_logs(aws, "succeeds")
    assert "definition from-input" in log


def test_a_non_zero_exit_fails_the_state_and_a_retry_really_runs_the_task_again(aws):
    described, events = run_workflow(aws, "fails", "import sys; print('boom'); sys.exit(75)", retries=1)
    failures = [e["taskFailedEventDetails"] for e in events if e["type"] == "TaskFailed"]
    assert [f["error"] for f in failures] == ["States.TaskFailed", "States.TaskFailed"]
    assert [json.loads(f["cause"])["Containers"][0]["ExitCode"] for f in failures] == [75, 75]
    assert not [e for e in events if e["type"] == "TaskTimedOut"]
    caught = json.loads(described["output"])
    assert caught["Error"] == "States.TaskFailed"
    assert len(task_logs(aws, "fails")) == 2
    assert all("boom" in log and "exit code 75" in log for log in task_logs(aws, "fails"))


def test_a_state_timeout_stops_the_task_and_kills_its_process(aws):
    script = "import pathlib, sys, time; print('started', flush=True); time.sleep(60); print('never')"
    described, _events = run_workflow(aws, "hangs", script, timeout=2)
    assert json.loads(described["output"])["Error"] == "States.Timeout"
    ecs = aws.client("ecs")
    deadline = time.monotonic() + 60  # generous: a loaded machine (parallel tests) is slow
    while time.monotonic() < deadline:
        [task] = ecs.describe_tasks(cluster="toy", tasks=ecs.list_tasks(cluster="toy", family="hangs")["taskArns"])[
            "tasks"
        ]
        if task["lastStatus"] == "STOPPED":
            break
        time.sleep(0.1)
    assert task["lastStatus"] == "STOPPED"
    assert task["stopCode"] == "UserInitiated"
    assert task["containers"][0]["exitCode"] == 128 + 15  # SIGTERM
    [log] = task_logs(aws, "hangs")
    assert "\nstarted\n" in log and "\nnever\n" not in log


def test_a_task_that_cannot_start_reports_no_exit_code(aws):
    ecs = aws.client("ecs")
    arn = ecs.register_task_definition(
        family="missing",
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        cpu="256",
        memory="512",
        containerDefinitions=[{"name": "main", "image": "toy", "command": ["/nonexistent/binary"]}],
    )["taskDefinition"]["taskDefinitionArn"]
    task_arn = ecs.run_task(
        cluster="toy",
        taskDefinition=arn,
        launchType="FARGATE",
        networkConfiguration={"awsvpcConfiguration": {"subnets": [aws.subnet]}},
    )["tasks"][0]["taskArn"]
    ecs.get_waiter("tasks_stopped").wait(cluster="toy", tasks=[task_arn], WaiterConfig={"Delay": 1, "MaxAttempts": 10})
    [task] = ecs.describe_tasks(cluster="toy", tasks=[task_arn])["tasks"]
    assert task["stopCode"] == "TaskFailedToStart"
    assert "exitCode" not in task["containers"][0]
    assert sys.executable  # the runner maps `python` to this interpreter; a path it cannot run fails to start
