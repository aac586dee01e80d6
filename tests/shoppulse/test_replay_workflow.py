"""`shoppulse replay` runs the workflow's one definition, so it cannot drift from the deployed one.

Two checks: replay follows whatever definition it is given (a changed choice changes what it
does); and, over the same definition, replay enters exactly the states that moto's Step
Functions interpreter (the one `shoppulse up` runs) enters for the same file: success, rejection,
duplicate, and a task whose transient faults outlast its retries.
"""

from __future__ import annotations

import copy
import json
import os
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto.core.config import default_user_config

from chalicelib.messaging import ALERTS_TOPIC
from chalicelib.runs import RunStatus, Task
from chalicelib.storage_layout import INCOMING_PREFIX, INPUT_BUCKET, RunIdentity
from chalicelib.tables import DAILY_KPIS, RUNS
from containers.tasks.config import AwsClients
from infra import state_machine as sm
from infra.state_machine import EcsTask, RetryPolicy, WorkflowConfig, build_definition
from shoppulse.asl_interpreter import StatesError
from shoppulse.embedded import embedded_aws
from shoppulse.local import moto_fixes
from shoppulse.local.ecs_runner import StopCode, TaskLaunch, TaskOutcome
from shoppulse.replay import (
    TASK_BODIES,
    InProcessTasks,
    InProcessWorkflow,
    WorkflowFailed,
    object_created,
    replay_definition,
    scan_all,
    task_environment,
)

SAMPLES = Path(__file__).resolve().parents[2] / "sample_files"
ORDERS_FILE = SAMPLES / "2025-03-01T1000_orders.csv"
REJECTED_FILE = SAMPLES / "2025-03-03T1300_items_marketplace.csv"
AGAIN = Path("again")  # the previous object version announced once more
# (file, whether the tasks' S3 calls are throttled), in landing order, and each one's outcome.
LANDINGS = [
    (ORDERS_FILE, False),
    (AGAIN, False),
    (REJECTED_FILE, False),
    (SAMPLES / "2025-03-02T1000_orders.csv", True),
]
STATUSES = ["SUCCEEDED", "DUPLICATE", "REJECTED", "FAILED"]
# One retry, at most a second apart: the failure path is walked without waiting long.
SHORT = RetryPolicy(1, 1, 1.0, 1)


def _definition(cluster: str, task_definitions: dict[Task, str], subnets: list[str], topic_arn: str) -> dict[str, Any]:
    return build_definition(
        WorkflowConfig(
            runs_table=RUNS.name(),
            cluster=cluster,
            validation=EcsTask(task_definitions[Task.VALIDATION], Task.VALIDATION.value, 60),
            transformation=EcsTask(task_definitions[Task.TRANSFORMATION], Task.TRANSFORMATION.value, 60),
            alerts_topic_arn=topic_arn,
            subnets=subnets,
            task_retry=SHORT,
            api_retry=SHORT,
        )
    )


@contextmanager
def throttled_s3(clients: AwsClients) -> Iterator[None]:
    """Every S3 call of the tasks fails as S3 does when throttling (503 SlowDown): exit 75."""

    def slow_down(model: Any, **_: Any) -> None:
        error = {"Error": {"Code": "SlowDown", "Message": "Please reduce your request rate."}}
        raise ClientError({**error, "ResponseMetadata": {"HTTPStatusCode": 503}}, model.name)

    clients.s3.meta.events.register("before-call.s3", slow_down, unique_id="slow-down")
    try:
        yield
    finally:
        clients.s3.meta.events.unregister("before-call.s3", unique_id="slow-down")


def _faults(clients: AwsClients, throttled: bool) -> AbstractContextManager[None]:
    return throttled_s3(clients) if throttled else nullcontext()


def _land(clients: AwsClients, path: Path) -> RunIdentity:
    key = f"{INCOMING_PREFIX}{path.name}"
    put = clients.s3.put_object(Bucket=INPUT_BUCKET.name(), Key=key, Body=path.read_bytes())
    return RunIdentity(INPUT_BUCKET.name(), key, put["VersionId"])


def _replayed() -> list[tuple[str, list[str]]]:
    """(status, states entered) of each landing, as `shoppulse replay` runs it."""
    with embedded_aws() as clients:
        definition = _definition("replay", {t: t.value for t in Task}, ["replay"], ALERTS_TOPIC.arn())
        flow = InProcessWorkflow(clients, definition=definition)
        results, identity = [], None
        for path, throttled in LANDINGS:
            identity = identity if path is AGAIN else _land(clients, path)
            with _faults(clients, throttled):
                try:
                    status = flow.process(identity, path.name)["status"]
                except WorkflowFailed:
                    status = RunStatus.FAILED.value
            assert flow.last_execution is not None
            results.append((status, flow.last_execution.visited))
        return results


class InlineEcs:
    """moto's ECS tasks (moto_fixes route them here) run as replay runs them: in-process."""

    def __init__(self, tasks: InProcessTasks) -> None:
        self._tasks = tasks

    def start(self, launch: TaskLaunch, on_exit: Any) -> None:
        environment = [{"Name": k, "Value": v} for k, v in launch.environment.items()]
        parameters = {
            "Cluster": "moto",
            "TaskDefinition": launch.family,
            "Overrides": {"ContainerOverrides": [{"Name": launch.container_name, "Environment": environment}]},
        }
        try:
            self._tasks(parameters)
            code = 0
        except StatesError as failed:
            code = json.loads(failed.cause)["Containers"][0]["ExitCode"]
        reason = "Essential container in task exited"
        on_exit(TaskOutcome(code, StopCode.ESSENTIAL_CONTAINER_EXITED, reason, Path(os.devnull)))

    def stop(self, task_arn: str, reason: str) -> None:
        """The task has finished when `start` returns: nothing to stop."""

    def wait(self, task_arn: str, timeout: float | None = None) -> TaskOutcome | None:
        return None


def _executed_on_moto(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, list[str]]]:
    """(status, states entered) of each landing, from moto's execution history."""
    monkeypatch.setitem(default_user_config["stepfunctions"], "execute_state_machine", True)
    with embedded_aws() as clients:
        moto_fixes.install(InlineEcs(InProcessTasks(clients, task_environment(), TASK_BODIES)))
        try:
            session = boto3.session.Session()
            ecs, ec2, sfn = session.client("ecs"), session.client("ec2"), session.client("stepfunctions")
            cluster = ecs.create_cluster(clusterName="moto")["cluster"]["clusterArn"]
            environment = [{"name": k, "value": v} for k, v in task_environment().items()]
            definitions = {
                task: ecs.register_task_definition(
                    family=task.value,
                    requiresCompatibilities=["FARGATE"],
                    networkMode="awsvpc",
                    cpu="1024",
                    memory="2048",
                    containerDefinitions=[
                        {"name": task.value, "image": "x", "essential": True, "environment": environment}
                    ],
                )["taskDefinition"]["taskDefinitionArn"]
                for task in Task
            }
            vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
            ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
            subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
            topic = session.client("sns").create_topic(Name=ALERTS_TOPIC.default_name)["TopicArn"]
            machine = sfn.create_state_machine(
                name="workflow",
                definition=json.dumps(_definition(cluster, definitions, [subnet], topic)),
                roleArn="arn:aws:iam::123456789012:role/workflow",
            )["stateMachineArn"]
            results, identity = [], None
            for path, throttled in LANDINGS:
                identity = identity if path is AGAIN else _land(clients, path)
                with _faults(clients, throttled):
                    arn = sfn.start_execution(stateMachineArn=machine, input=json.dumps(object_created(identity)))[
                        "executionArn"
                    ]
                    while (described := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
                        time.sleep(0.02)
                status = json.loads(described["output"])["status"] if described["status"] == "SUCCEEDED" else "FAILED"
                events = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
                results.append(
                    (status, [e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e])
                )
            return results
        finally:
            moto_fixes.uninstall()


def test_replay_enters_the_states_moto_executes_for_the_same_files(monkeypatch: pytest.MonkeyPatch) -> None:
    replayed = _replayed()
    assert [status for status, _ in replayed] == STATUSES
    assert replayed == _executed_on_moto(monkeypatch)


def test_replay_follows_a_changed_definition() -> None:
    """Send valid files straight to the archive: replay then archives them without transforming."""
    with embedded_aws() as clients:
        changed = copy.deepcopy(replay_definition(ALERTS_TOPIC.arn()))
        changed["States"][sm.VALIDATION_CHOICE]["Choices"][0]["Next"] = sm.ARCHIVE_DESTINATION
        flow = InProcessWorkflow(clients, definition=changed)
        outcome = flow.ingest(ORDERS_FILE)
        assert flow.last_execution is not None
        visited = flow.last_execution.visited
        assert outcome["status"] == "SUCCEEDED"
        assert sm.TRANSFORM not in visited
        assert visited[visited.index(sm.VALIDATION_CHOICE) + 1] == sm.ARCHIVE_DESTINATION
        assert scan_all(clients.dynamodb_resource.Table(DAILY_KPIS.name())) == []  # nothing transformed
        [run] = scan_all(clients.dynamodb_resource.Table(RUNS.name()))
        assert run["status"] == "SUCCEEDED" and Task.TRANSFORMATION.value not in run
        listed = [o["Key"] for o in clients.s3.list_objects_v2(Bucket=INPUT_BUCKET.name())["Contents"]]
        assert run[Task.VALIDATION.value]["archive_key"] in listed
        assert f"{INCOMING_PREFIX}{ORDERS_FILE.name}" not in listed

        again = InProcessWorkflow(clients).ingest(ORDERS_FILE)  # the deployed definition transforms
        assert again["status"] == "SUCCEEDED" and again["affected_dates"]
        assert scan_all(clients.dynamodb_resource.Table(DAILY_KPIS.name()))
