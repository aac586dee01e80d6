"""moto as released still needs the Step Functions fixes (shoppulse/local/moto_fixes/stepfunctions.py).

Each test runs moto's own code (`patching.upstream`) and asserts the shortcoming the fix makes
up for: when one fails, moto has caught up, and the part of the fix it names can go. The fixed
behaviour is exercised through the real definition in tests/infra/test_infra_state_machine.py.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from unittest import mock

import boto3
import pytest
from moto import mock_aws
from moto.ecs.models import EC2ContainerServiceBackend, ecs_backends
from moto.moto_api import state_manager
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_ecs import (
    StateTaskServiceEcs,
)

from infra.state_machine import STATUS_CHANGE_DETAIL_TYPE as STATUS_CHANGE
from shoppulse.local import moto_fixes
from shoppulse.local.moto_fixes.ecs import TASK_MODEL
from shoppulse.local.moto_fixes.patching import upstream
from tests.local.moto_fixes.ecs_support import fargate_cluster, task_definition

REGION = "us-east-1"
ACCOUNT = "123456789012"
# Fix 3: what the integration hands to ECS and takes back, converted between the two casings.
FIX_3 = ("_normalise_parameters", "_normalise_response")
ROLE = "arn:aws:iam::123456789012:role/workflow"


@pytest.fixture
def sfn() -> Iterator[Any]:
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}), upstream():
        yield boto3.client("stepfunctions", region_name=REGION)


def _machine(sfn: Any, states: dict[str, Any]) -> str:
    definition = {"StartAt": next(iter(states)), "States": states}
    return str(sfn.create_state_machine(name="m", definition=json.dumps(definition), roleArn=ROLE)["stateMachineArn"])


# How long a test waits for what it expects: generous, as a loaded machine (parallel tests) is slow.
PATIENCE_SECONDS = 120


def _finished(sfn: Any, execution_arn: str) -> dict[str, Any]:
    deadline = time.monotonic() + PATIENCE_SECONDS
    while time.monotonic() < deadline:
        described: dict[str, Any] = sfn.describe_execution(executionArn=execution_arn)
        if described["status"] != "RUNNING":
            return described
        time.sleep(0.05)
    raise AssertionError(f"{execution_arn} still running")


def test_fix_8_moto_names_an_execution_started_without_a_name_none(sfn: Any) -> None:
    machine = _machine(sfn, {"Done": {"Type": "Pass", "End": True}})
    execution = sfn.start_execution(stateMachineArn=machine)["executionArn"]
    assert execution.endswith(":None")  # AWS: a UUID


def test_fix_8_moto_gives_the_execution_start_time_as_a_datetime(sfn: Any) -> None:
    machine = _machine(
        sfn, {"Done": {"Type": "Pass", "Parameters": {"started.$": "$$.Execution.StartTime"}, "End": True}}
    )
    execution = sfn.start_execution(stateMachineArn=machine, name="e")["executionArn"]
    with pytest.raises(TypeError, match="Object of type datetime is not JSON serializable"):
        _finished(sfn, execution)  # AWS: the output holds an ISO-8601 string


# --- fixes 3, 5, 6 and 12: the `ecs:runTask.sync` integration ------------------------------------


@dataclass
class EcsWorkflow:
    sfn: Any
    ecs: Any
    parameters: dict[str, Any]  # RunTask's, in the PascalCase of the Step Functions integration

    def run(self, state: dict[str, Any]) -> str:
        """Start a one-state machine around `state`; the execution's ARN."""
        task = {"Type": "Task", "Resource": "arn:aws:states:::ecs:runTask.sync", "Parameters": self.parameters}
        machine = _machine(self.sfn, {"Run": {**task, **state, "End": True}})
        return str(self.sfn.start_execution(stateMachineArn=machine, name="e")["executionArn"])

    def launched(self) -> str:
        """The task the execution launched, once it has."""
        deadline = time.monotonic() + PATIENCE_SECONDS
        while not (tasks := self.ecs.list_tasks(cluster="c")["taskArns"]) and time.monotonic() < deadline:
            time.sleep(0.05)
        [task] = tasks
        return str(task)

    def status(self, task: str) -> str:
        return str(self.ecs.describe_tasks(cluster="c", tasks=[task])["tasks"][0]["lastStatus"])


@pytest.fixture
def ecs_workflow() -> Iterator[EcsWorkflow]:
    """A Fargate task definition and the network it runs in, with moto's Step Functions executing."""
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        ecs = fargate_cluster(REGION)
        parameters = {
            "Cluster": "c",
            "TaskDefinition": task_definition(ecs, 512),
            "LaunchType": "FARGATE",
            "NetworkConfiguration": {"AwsvpcConfiguration": {"Subnets": [ecs.subnet], "SecurityGroups": [ecs.group]}},
        }
        yield EcsWorkflow(boto3.client("stepfunctions", region_name=REGION), ecs.client, parameters)


@pytest.fixture
def fix_3_alone(ecs_workflow: EcsWorkflow) -> Iterator[EcsWorkflow]:
    """moto as released but for fix 3 (the parameters' casing), without which no ECS state runs at all;
    its tasks move only when told (moto's state manager), as a real task runs until it ends."""
    moto_fixes.install(None)  # type: ignore[arg-type]  # every fix applied (once a process), no stack's runner
    moto_fixes.uninstall()
    fixed = {name: vars(StateTaskServiceEcs)[name] for name in FIX_3}
    state_manager.set_transition(TASK_MODEL, {"progression": "manual", "times": 2**62})
    try:
        with upstream():
            for name, value in fixed.items():
                setattr(StateTaskServiceEcs, name, value)
            yield ecs_workflow
    finally:
        state_manager.unset_transition(TASK_MODEL)


def test_fix_3_moto_passes_the_integrations_pascal_case_parameters_to_ecs(ecs_workflow: EcsWorkflow) -> None:
    with upstream():
        execution = _finished(ecs_workflow.sfn, ecs_workflow.run({}))
    # AWS runs the task: the integration's parameters are PascalCase (connect-ecs.html).
    assert (execution["status"], execution["error"]) == ("FAILED", "States.Runtime")
    assert execution["cause"].endswith("'Cluster'")  # the KeyError of moto's camelCase lookup


def test_fix_5_moto_succeeds_a_task_whose_container_exited_non_zero(fix_3_alone: EcsWorkflow) -> None:
    execution = fix_3_alone.run({})
    task = fix_3_alone.launched()
    [moto_task] = [t for t in ecs_backends[ACCOUNT][REGION].tasks["c"].values() if t.task_arn == task]
    moto_task.containers[0].exitCode = 1  # moto runs nothing: the container's exit, as ECS would record it
    fix_3_alone.ecs.stop_task(cluster="c", task=task, reason="Essential container in task exited")
    finished = _finished(fix_3_alone.sfn, execution)
    # AWS: FAILED with States.TaskFailed, the task's description as the cause.
    assert finished["status"] == "SUCCEEDED"
    assert [c["ExitCode"] for c in json.loads(finished["output"])["Containers"]] == [1]


def test_fix_5_moto_leaves_the_task_running_when_the_state_stops_waiting(fix_3_alone: EcsWorkflow) -> None:
    finished = _finished(fix_3_alone.sfn, fix_3_alone.run({"TimeoutSeconds": 1}))
    assert (finished["status"], finished["error"]) == ("FAILED", "States.Timeout")
    assert fix_3_alone.status(fix_3_alone.launched()) == "RUNNING"  # AWS stops the task


def test_fix_6_moto_times_a_retried_sync_state_out_at_once(fix_3_alone: EcsWorkflow) -> None:
    # The retry's wait ends with the first attempt's interrupted task-token listener, at once; what it
    # takes is the retry's own overhead, over a second on a loaded machine (parallel tests). A timeout
    # of 4 s keeps that overhead well inside it.
    timeout = 4
    retried = {"ErrorEquals": ["States.Timeout"], "IntervalSeconds": 1, "MaxAttempts": 1}
    execution = fix_3_alone.run({"TimeoutSeconds": timeout, "Retry": [retried]})
    assert _finished(fix_3_alone.sfn, execution)["error"] == "States.Timeout"
    events = fix_3_alone.sfn.get_execution_history(executionArn=execution)["events"]
    started = [e["timestamp"] for e in events if e["type"] == "TaskStarted"]
    timed_out = [e["timestamp"] for e in events if e["type"] == "TaskTimedOut"]
    assert len(started) == len(timed_out) == 2
    # The first attempt waits its timeout; the retry reports a timeout before it could have run
    # out (AWS: it waits its timeout too).
    assert timed_out[0] - started[0] >= timedelta(seconds=timeout)
    assert timed_out[1] - started[1] < timedelta(seconds=timeout)


def test_fix_12_moto_ignores_that_ecs_placed_no_task(fix_3_alone: EcsWorkflow) -> None:
    # ECS could place nothing (moto's ECS never says so: see test_moto_fixes_ecs.py).
    with mock.patch.object(EC2ContainerServiceBackend, "run_task", return_value=[]):
        finished = _finished(fix_3_alone.sfn, fix_3_alone.run({}))
    # AWS: FAILED with AmazonECS.Unknown, RunTask's failures as the cause (connect-ecs.html).
    assert (finished["status"], finished["error"]) == ("FAILED", "States.Runtime")
    assert finished["cause"].endswith("list index out of range")


# --- fix 13: CopySource through the aws-sdk integration ----------------------------------------


def test_fix_13_moto_url_encodes_an_already_encoded_copy_source(sfn: Any) -> None:
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="copies")
    s3.put_object(Bucket="copies", Key="in/a b.csv", Body=b"x")
    # S3 wants CopySource URL-encoded by the caller, and the integration passes it as given.
    copy = {"Bucket": "copies", "Key": "out/a b.csv", "CopySource": "copies/in/a%20b.csv"}
    task = {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:s3:copyObject", "Parameters": copy}
    machine = _machine(sfn, {"Copy": {**task, "ResultPath": None, "End": True}})
    finished = _finished(sfn, sfn.start_execution(stateMachineArn=machine, name="e")["executionArn"])
    # AWS copies the object; boto3 in moto's interpreter encodes it again, to `a%2520b.csv`.
    assert finished["status"] == "FAILED" and finished["error"].endswith("NoSuchKeyException")
    assert s3.list_objects_v2(Bucket="copies", Prefix="out/")["KeyCount"] == 0


# --- fix 14: execution status changes on the default bus ----------------------------------------


def test_fix_14_moto_sends_no_execution_status_change_events(sfn: Any) -> None:
    sqs = boto3.client("sqs", region_name=REGION)
    queue = sqs.create_queue(QueueName="status-changes")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events = boto3.client("events", region_name=REGION)
    events.put_rule(Name="ended", EventPattern=json.dumps({"source": ["aws.states"], "detail-type": [STATUS_CHANGE]}))
    events.put_targets(Rule="ended", Targets=[{"Id": "q", "Arn": queue_arn}])
    machine = _machine(sfn, {"Done": {"Type": "Pass", "End": True}})
    finished = _finished(sfn, sfn.start_execution(stateMachineArn=machine, name="e")["executionArn"])

    assert finished["status"] == "SUCCEEDED"
    # AWS puts a "Step Functions Execution Status Change" event on the default bus (events-ref-states.html).
    assert sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=0).get("Messages", []) == []
    # The rule and its target work: an event of that shape put by hand arrives.
    events.put_events(Entries=[{"Source": "aws.states", "DetailType": STATUS_CHANGE, "Detail": "{}"}])
    assert len(sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=0).get("Messages", [])) == 1


# --- fix 27: a stop is final ----------------------------------------------------------------------


def _stopped_as_its_task_fails(sfn: Any) -> dict[str, Any]:
    """An execution stopped while its Task state runs, the state then failing: what moto's pruning
    does to a Task state that starts as the stop lands (it pops a value no component pushed)."""
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import state_task_service_aws_sdk

    entered, stopped = threading.Event(), threading.Event()

    def client_for(*args: Any, **kwargs: Any) -> Any:
        entered.set()
        stopped.wait(PATIENCE_SECONDS)
        raise AttributeError("'dict' object has no attribute 'region'")

    task = {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:s3:listBuckets", "End": True}
    machine = _machine(sfn, {"List": task})
    with mock.patch.object(state_task_service_aws_sdk, "boto_client_for", client_for):
        arn = sfn.start_execution(stateMachineArn=machine, name="e")["executionArn"]
        assert entered.wait(PATIENCE_SECONDS)
        sfn.stop_execution(executionArn=arn)
        stopped.set()
        return _finished(sfn, arn)


def test_fix_27_moto_lets_an_error_after_a_stop_end_the_execution_failed(sfn: Any) -> None:
    # AWS: a stopped execution is ABORTED (API_StopExecution.html).
    assert _stopped_as_its_task_fails(sfn)["status"] == "FAILED"


def test_fix_27_a_stopped_execution_stays_aborted_whatever_fails_after() -> None:
    moto_fixes.install(None)  # type: ignore[arg-type]  # every fix applied (once a process), no stack's runner
    moto_fixes.uninstall()
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        finished = _stopped_as_its_task_fails(boto3.client("stepfunctions", region_name=REGION))
    assert finished["status"] == "ABORTED"
