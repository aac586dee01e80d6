"""The batch workflow's definition, executed on moto's Step Functions interpreter.

The ECS tasks are simulated in-process (a `SimulatedEcs` runner plugged into the local
runtime's moto fixes, `shoppulse.local.moto_fixes`): each simulated container writes its
summary into the Runs item as the real tasks do and exits with the code under test. Everything
else is the real definition acting on (moto's) DynamoDB, S3 and SNS.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from chalicelib.runs import ExitCode, RunRepository, RunStatus, Task
from chalicelib.storage_layout import RunIdentity
from chalicelib.tables import RUNS
from containers.tasks.outcome import run_task
from containers.validation.task import validate_object
from infra.state_machine import CloserConfig, EcsTask, RetryPolicy, WorkflowConfig, execution_status_pattern
from shoppulse.local import moto_fixes
from shoppulse.local.ecs_runner import PlacementFailed, StopCode, TaskLaunch, TaskOutcome
from shoppulse.local.event_bus import LocalEventBus
from shoppulse.local.provision import create_state_machine
from tests.waiting import wait_for

REGION = "us-east-1"
BUCKET = "shoppulse-input"
TOPIC = "shoppulse-alerts"
CLUSTER = "shoppulse-batch"
CURATED = "shoppulse-curated"
KEY = "incoming/orders-2024-01-01.csv"
BODY = b"order_id,user_id,status,created_at,returned_at,shipped_at,delivered_at,num_of_item\n1,2,shipped,2024-01-01T10:00:00Z,,,,1\n"

# A simulated container: (its environment, the Runs repository) -> exit code, or how ECS saw it stop.
Behaviour = Callable[[dict[str, str], RunRepository], "int | TaskOutcome"]


def _identity(environment: dict[str, str]) -> RunIdentity:
    return RunIdentity(environment["INPUT_BUCKET"], environment["INPUT_KEY"], environment["INPUT_VERSION"])


def validation(status: str, exit_code: int) -> Behaviour:
    def run(environment: dict[str, str], runs: RunRepository) -> int:
        identity = _identity(environment)
        rejected = status == "REJECTED"
        runs.record_task(
            identity.run_id,
            Task.VALIDATION,
            {
                "status": status,
                "kind": "orders",
                "rows": 1,
                "valid_rows": 0 if rejected else 1,
                "rejected_rows": 1 if rejected else 0,
                "held_rows": 0,
                "reasons": {"status_unknown": 1} if rejected else {},
                "archive_key": identity.archive_key,
                "rejected_key": identity.rejected_key,
                "copy_source": identity.copy_source,
                "source_key": identity.source_key,
                # As the real task: None when no row was rejected.
                "rejected_rows_key": identity.rejected_rows_key(rejected) if rejected else None,
            },
        )
        return exit_code

    return run


def transformation(exit_code: int) -> Behaviour:
    def run(environment: dict[str, str], runs: RunRepository) -> int:
        if exit_code == 0:
            runs.record_task(
                _identity(environment).run_id,
                Task.TRANSFORMATION,
                {"status": "LOADED", "held_rows": 0, "affected_dates": ["2024-01-01"], "rows_loaded": 1},
            )
        return exit_code

    return run


def crash(task: Task) -> Behaviour:
    """A task that fails as `containers.tasks.outcome.run_task` ends a crash: its summary names the error."""

    def run(environment: dict[str, str], runs: RunRepository) -> int:
        runs.record_task(
            _identity(environment).run_id, task, {"status": "FAILED", "error": "KeyError", "reason": "'order_id'"}
        )
        return ExitCode.FAILED

    return run


def stopped(exit_code: int | None, stop_code: StopCode, reason: str) -> Behaviour:
    """A task the platform stopped (killed, never started, host reclaimed) before it finished."""

    def run(environment: dict[str, str], runs: RunRepository) -> TaskOutcome:
        return TaskOutcome(exit_code, stop_code, reason, Path("/dev/null"))

    return run


def no_capacity(environment: dict[str, str], runs: RunRepository) -> int:
    raise PlacementFailed("RESOURCE:FARGATE")


@dataclass
class SimulatedEcs:
    """The runner interface of `shoppulse.local.ecs_runner.LocalEcsRunner`, in-process."""

    runs: RunRepository
    script: dict[str, list[Behaviour]]
    launches: list[TaskLaunch] = field(default_factory=list)
    outcomes: dict[str, TaskOutcome] = field(default_factory=dict)
    _done: dict[str, threading.Event] = field(default_factory=dict)

    def start(self, launch: TaskLaunch, on_exit: Callable[[TaskOutcome], None]) -> None:
        behaviour = self.script[launch.container_name].pop(0)
        if behaviour is no_capacity:
            behaviour(dict(launch.environment), self.runs)  # raises, as RunTask reports Failures
        self.launches.append(launch)
        self._done[launch.task_arn] = threading.Event()

        def run() -> None:
            ended = behaviour(dict(launch.environment), self.runs)
            outcome = (
                ended
                if isinstance(ended, TaskOutcome)
                else TaskOutcome(
                    ended, StopCode.ESSENTIAL_CONTAINER_EXITED, "Essential container in task exited", Path("/dev/null")
                )
            )
            self.outcomes[launch.task_arn] = outcome
            on_exit(outcome)
            self._done[launch.task_arn].set()

        threading.Thread(target=run, daemon=True).start()

    def stop(self, task_arn: str, reason: str) -> None:
        """Simulated containers finish on their own at once: nothing to stop."""

    def wait(self, task_arn: str, timeout: float | None = None) -> TaskOutcome | None:
        self._done[task_arn].wait(timeout)
        return self.outcomes.get(task_arn)

    def commands(self) -> list[str]:
        return [launch.container_name for launch in self.launches]


class NoEventDelivery:
    """These tests start executions themselves; no EventBridge rule exists."""

    def matches(self, pattern_text: str, event: Any) -> bool:
        return False

    def deliver(self, rule_arn: str, target: Any, event: Any) -> bool:
        return False


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    for name, value in moto_fixes.CLIENT_ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        yield


@dataclass
class Workflow:
    sfn: Any
    s3: Any
    sqs: Any
    runs: RunRepository
    machine_arn: str
    alerts_queue_url: str
    ecs: SimulatedEcs

    def start(self, key: str = KEY, versioned: bool = True, announced: str = "") -> tuple[dict[str, Any], str]:
        """Store `key` and announce it, or announce `announced` instead (an event's other spelling of it)."""
        put = self.s3.put_object(Bucket=BUCKET, Key=key, Body=BODY)
        obj: dict[str, Any] = {"key": announced or key, "size": len(BODY)}
        if versioned:
            obj["version-id"] = put["VersionId"]
        event = {
            "version": "0",
            "detail-type": "Object Created",
            "source": "aws.s3",
            "region": REGION,
            "detail": {"bucket": {"name": BUCKET}, "object": obj, "reason": "PutObject"},
        }
        return self.run(event), put.get("VersionId", "")

    def run(self, event: dict[str, Any]) -> dict[str, Any]:
        arn = self.sfn.start_execution(stateMachineArn=self.machine_arn, input=json.dumps(event))["executionArn"]
        deadline = time.monotonic() + 120  # generous: a loaded machine (parallel tests) is slow
        while time.monotonic() < deadline:
            described = self.sfn.describe_execution(executionArn=arn)
            if described["status"] != "RUNNING":
                return described
            time.sleep(0.05)
        raise AssertionError(f"execution {arn} still running")

    def alerts(self) -> list[dict[str, Any]]:
        messages = self.sqs.receive_message(QueueUrl=self.alerts_queue_url, MaxNumberOfMessages=10).get("Messages", [])
        return [json.loads(json.loads(m["Body"])["Message"]) for m in messages]


def _workflow(
    script: dict[str, list[Behaviour]], versioned: bool = True, execution_timeout_seconds: int = 7200
) -> Workflow:
    dynamodb = boto3.resource("dynamodb", region_name=REGION)
    table = dynamodb.create_table(**RUNS.create_table_kwargs())
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=BUCKET)
    if versioned:
        s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    sns = boto3.client("sns", region_name=REGION)
    sqs = boto3.client("sqs", region_name=REGION)
    topic_arn = sns.create_topic(Name=TOPIC)["TopicArn"]
    queue_url = sqs.create_queue(QueueName="alerts-inbox")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
    ecs = boto3.client("ecs", region_name=REGION)
    ecs.create_cluster(clusterName=CLUSTER)
    for task in Task:
        ecs.register_task_definition(
            family=f"shoppulse-{task.value}",
            requiresCompatibilities=["FARGATE"],
            networkMode="awsvpc",
            cpu="1024",
            memory="2048",
            containerDefinitions=[
                {
                    "name": task.value,
                    "image": "shoppulse-tasks:test",
                    "command": ["python", "-m", f"containers.{task.value}"],
                    "essential": True,
                }
            ],
        )
    ec2 = boto3.client("ec2", region_name=REGION)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})  # moto's task ENIs need it
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.0.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName="tasks", Description="tasks", VpcId=vpc)["GroupId"]
    config = WorkflowConfig(
        runs_table=RUNS.default_name,
        cluster=CLUSTER,
        validation=EcsTask("shoppulse-validation", Task.VALIDATION.value, 60),
        transformation=EcsTask("shoppulse-transformation", Task.TRANSFORMATION.value, 60),
        alerts_topic_arn=topic_arn,
        subnets=[subnet],
        security_groups=[group],
        task_retry=RetryPolicy(interval_seconds=1, max_attempts=2, backoff_rate=1.0, max_delay_seconds=1),
        api_retry=RetryPolicy(interval_seconds=1, max_attempts=1),
        execution_timeout_seconds=execution_timeout_seconds,
    )
    sfn = boto3.client("stepfunctions", region_name=REGION)
    machine_arn = create_state_machine(sfn, "batch-workflow", config, "arn:aws:iam::123456789012:role/workflow")
    runs = RunRepository(table)
    simulated = SimulatedEcs(runs, script)
    moto_fixes.install(simulated, NoEventDelivery())  # type: ignore[arg-type]
    return Workflow(sfn, s3, sqs, runs, machine_arn, queue_url, simulated)


def _watch_executions(workflow: Workflow) -> LocalEventBus:
    """The run closer and its rule on the workflow's status changes, delivered by the local bus."""
    topic_arn = boto3.client("sns", region_name=REGION).list_topics()["Topics"][0]["TopicArn"]
    closer = CloserConfig(RUNS.default_name, topic_arn, api_retry=RetryPolicy(interval_seconds=1, max_attempts=1))
    closer_arn = create_state_machine(workflow.sfn, "run-closer", closer, "arn:aws:iam::123456789012:role/closer")
    events = boto3.client("events", region_name=REGION)
    events.put_rule(Name="executions-ended", EventPattern=json.dumps(execution_status_pattern(workflow.machine_arn)))
    events.put_targets(Rule="executions-ended", Targets=[{"Id": "closer", "Arn": closer_arn}])
    bus = LocalEventBus(lambda role: workflow.sfn, workflow.sqs)
    bus.start()
    moto_fixes.install(workflow.ecs, bus)  # type: ignore[arg-type]
    return bus


@pytest.fixture
def make_workflow(aws):
    yield _workflow
    moto_fixes.uninstall()


def _versions(s3: Any, key: str) -> list[dict[str, Any]]:
    return [v for v in s3.list_object_versions(Bucket=BUCKET, Prefix=key).get("Versions", []) if v["Key"] == key]


def test_valid_file_is_validated_transformed_archived_and_recorded(make_workflow):
    workflow = make_workflow({"validation": [validation("VALID", 0)], "transformation": [transformation(0)]})
    execution, version = workflow.start()
    identity = RunIdentity(BUCKET, KEY, version)

    assert execution["status"] == "SUCCEEDED", execution
    assert json.loads(execution["output"]) == {"run_id": identity.run_id, "status": "SUCCEEDED"}
    assert workflow.ecs.commands() == ["validation", "transformation"]
    assert workflow.ecs.launches[0].environment["INPUT_VERSION"] == version
    item = workflow.runs.get(identity.run_id)
    assert item["status"] == RunStatus.SUCCEEDED.value
    assert item["file_id"] == identity.file_id  # the workflow hashes the run id as RunIdentity does
    assert item["run_kind"] == "FILE" and item["bucket"] == BUCKET and item["key"] == KEY
    assert item["execution"] == execution["executionArn"]
    assert item["finished_at"] and item["transformation"]["rows_loaded"] == 1
    archived = item["validation"]["archive_key"]
    assert workflow.s3.get_object(Bucket=BUCKET, Key=archived)["Body"].read() == BODY
    assert _versions(workflow.s3, KEY) == []  # the original version is gone, not hidden
    assert workflow.alerts() == []


def test_rejected_file_is_kept_under_rejected_recorded_and_alerted_without_transformation(make_workflow):
    workflow = make_workflow({"validation": [validation("REJECTED", ExitCode.REJECTED)], "transformation": []})
    execution, version = workflow.start()
    identity = RunIdentity(BUCKET, KEY, version)

    assert execution["status"] == "SUCCEEDED", execution
    assert json.loads(execution["output"])["status"] == "REJECTED"
    assert workflow.ecs.commands() == ["validation"]  # exit 65 is never retried
    item = workflow.runs.get(identity.run_id)
    assert item["status"] == RunStatus.REJECTED.value
    rejected_key = item["validation"]["rejected_key"]
    assert rejected_key.startswith("rejected/")
    assert workflow.s3.get_object(Bucket=BUCKET, Key=rejected_key)["Body"].read() == BODY
    assert _versions(workflow.s3, KEY) == []
    [alert] = workflow.alerts()
    assert alert["event"] == "FILE_REJECTED" and alert["run_id"] == identity.run_id
    assert alert["rejected_key"] == rejected_key
    assert alert["validation_summary"]["reasons"] == {"M": {"status_unknown": {"N": "1"}}}


def test_transient_exit_is_retried_then_succeeds(make_workflow):
    workflow = make_workflow(
        {
            "validation": [validation("VALID", ExitCode.TRANSIENT), validation("VALID", 0)],
            "transformation": [transformation(ExitCode.TRANSIENT), transformation(0)],
        }
    )
    execution, _ = workflow.start()

    assert execution["status"] == "SUCCEEDED", execution
    assert workflow.ecs.commands() == ["validation", "validation", "transformation", "transformation"]


def test_crashing_task_fails_the_run_records_the_error_alerts_and_leaves_the_file(make_workflow):
    workflow = make_workflow({"validation": [validation("VALID", 0)], "transformation": [crash(Task.TRANSFORMATION)]})
    execution, version = workflow.start()
    identity = RunIdentity(BUCKET, KEY, version)

    assert execution["status"] == "FAILED"
    assert workflow.ecs.commands() == ["validation", "transformation"]  # exit 1 is not retried
    item = workflow.runs.get(identity.run_id)
    assert item["status"] == RunStatus.FAILED.value
    assert item["error"]["error"] == "Task.Failed"
    assert item["error"]["cause"] == (
        "The transformation task failed (a bug or a permanent fault; not retried) (exit code 1); "
        "ECS: Essential container in task exited. Last error: 'order_id'"
    )
    [alert] = workflow.alerts()
    assert alert["event"] == "RUN_FAILED" and alert["error"] == "Task.Failed"
    assert [v["VersionId"] for v in _versions(workflow.s3, KEY)] == [version]  # left for a re-run


def test_transient_faults_that_persist_exhaust_the_retries_and_fail(make_workflow):
    workflow = make_workflow({"validation": [validation("VALID", ExitCode.TRANSIENT)] * 3, "transformation": []})
    execution, version = workflow.start()

    assert execution["status"] == "FAILED"
    assert workflow.ecs.commands() == ["validation"] * 3  # first attempt + 2 retries
    assert workflow.runs.get(RunIdentity(BUCKET, KEY, version).run_id)["error"]["error"] == "Task.Transient"


def test_same_object_version_announced_twice_is_processed_once(make_workflow):
    workflow = make_workflow({"validation": [validation("VALID", 0)], "transformation": [transformation(0)]})
    first, version = workflow.start()
    event = json.loads(workflow.sfn.describe_execution(executionArn=first["executionArn"])["input"])
    second = workflow.run(event)
    identity = RunIdentity(BUCKET, KEY, version)

    assert json.loads(second["output"]) == {"run_id": identity.run_id, "status": "DUPLICATE"}
    assert workflow.ecs.commands() == ["validation", "transformation"]
    assert workflow.runs.get(identity.run_id)["execution"] == first["executionArn"]


def test_unversioned_bucket_runs_are_keyed_by_object_and_archived(make_workflow):
    workflow = make_workflow(
        {"validation": [validation("VALID", 0)], "transformation": [transformation(0)]}, versioned=False
    )
    execution, _ = workflow.start(versioned=False)

    assert execution["status"] == "SUCCEEDED", execution
    item = workflow.runs.get(RunIdentity(BUCKET, KEY).run_id)
    assert item["status"] == RunStatus.SUCCEEDED.value and item["version"] == ""
    assert workflow.s3.list_objects_v2(Bucket=BUCKET, Prefix=KEY).get("KeyCount") == 0


@pytest.mark.parametrize(
    "interruption",
    [
        pytest.param(stopped(137, StopCode.ESSENTIAL_CONTAINER_EXITED, "OutOfMemoryError"), id="killed-137"),
        pytest.param(stopped(None, StopCode.TASK_FAILED_TO_START, "CannotPullContainerError"), id="no-exit-code"),
        pytest.param(stopped(143, StopCode.SPOT_INTERRUPTION, "Your Spot Task was interrupted."), id="spot"),
        pytest.param(stopped(143, StopCode.TERMINATION_NOTICE, "Task retired"), id="host-retired"),
        pytest.param(no_capacity, id="no-capacity-AmazonECS.Unknown"),
    ],
)
def test_a_task_the_platform_stopped_or_could_not_place_is_retried_then_succeeds(make_workflow, interruption):
    workflow = make_workflow(
        {
            "validation": [validation("VALID", 0)],
            "transformation": [interruption, transformation(0)],
        }
    )
    execution, version = workflow.start()

    assert execution["status"] == "SUCCEEDED", execution
    expected = (
        ["validation", "transformation"] if interruption is no_capacity else ["validation"] + ["transformation"] * 2
    )
    assert workflow.ecs.commands() == expected
    item = workflow.runs.get(RunIdentity(BUCKET, KEY, version).run_id)
    assert item["status"] == RunStatus.SUCCEEDED.value
    assert workflow.s3.get_object(Bucket=BUCKET, Key=item["validation"]["archive_key"])["Body"].read() == BODY


def test_a_task_killed_on_every_attempt_fails_with_a_sentence_naming_the_task_and_the_kill(make_workflow):
    killed = stopped(137, StopCode.ESSENTIAL_CONTAINER_EXITED, "OutOfMemoryError: Container killed due to memory usage")
    workflow = make_workflow({"validation": [killed] * 3, "transformation": []})
    execution, version = workflow.start()

    assert execution["status"] == "FAILED"
    assert workflow.ecs.commands() == ["validation"] * 3
    error = workflow.runs.get(RunIdentity(BUCKET, KEY, version).run_id)["error"]
    assert error == {
        "error": "Task.Transient",
        "cause": "The validation task was killed (out of memory, or stopped by the platform) (exit code 137); "
        "ECS: OutOfMemoryError: Container killed due to memory usage.",
    }
    [alert] = workflow.alerts()
    assert alert["cause"] == error["cause"]


def test_a_task_that_can_never_be_placed_fails_saying_so(make_workflow):
    workflow = make_workflow({"validation": [no_capacity] * 3, "transformation": []})
    execution, version = workflow.start()

    assert execution["status"] == "FAILED"
    assert workflow.ecs.commands() == []  # three attempts, none placed
    error = workflow.runs.get(RunIdentity(BUCKET, KEY, version).run_id)["error"]
    assert error["error"] == "Task.Transient"
    assert error["cause"].startswith("The validation task could not be placed (RunTask failures): ")
    assert "RESOURCE:FARGATE" in error["cause"]


def test_rejected_data_is_never_retried_even_when_transient_faults_came_first(make_workflow):
    workflow = make_workflow(
        {"validation": [validation("REJECTED", ExitCode.TRANSIENT), validation("REJECTED", ExitCode.REJECTED)]}
    )
    execution, _ = workflow.start()

    assert json.loads(execution["output"])["status"] == "REJECTED"
    assert workflow.ecs.commands() == ["validation", "validation"]  # the 65 ended it: no third attempt


@pytest.mark.parametrize("key", ["incoming/a b+c%20d#e?f.csv", "incoming/ümlaut €/naïve 日本.csv", "incoming/100%.csv"])
def test_keys_with_any_legal_characters_are_validated_and_archived(make_workflow, key):
    workflow = make_workflow({"validation": [validation("VALID", 0)], "transformation": [transformation(0)]})
    execution, version = workflow.start(key=key)

    assert execution["status"] == "SUCCEEDED", execution
    assert workflow.ecs.launches[0].environment["INPUT_KEY"] == key
    item = workflow.runs.get(RunIdentity(BUCKET, key, version).run_id)
    assert workflow.s3.get_object(Bucket=BUCKET, Key=item["validation"]["archive_key"])["Body"].read() == BODY
    assert _versions(workflow.s3, key) == []


def real_validation(environment: dict[str, str], runs: RunRepository) -> int:
    """The validation task's own code (`validate_object`, `run_task`) on moto's S3, in-process."""
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=CURATED)
    identity = _identity(environment)
    return run_task(
        Task.VALIDATION.value,
        lambda: validate_object(s3, identity, CURATED, 0.05),
        lambda summary: runs.record_task(identity.run_id, Task.VALIDATION, summary),
    )


# Stored as `stored`, announced as `announced`: the event's key verbatim, or URL-encoded as S3's event
# notifications encode keys (docs/architecture.md, "Object keys"). A key that exists verbatim is never
# decoded, though it decodes to something else (`a+b`, `100%25`).
@pytest.mark.parametrize(
    ("stored", "announced", "versioned"),
    [
        ("incoming/space and+plus.csv", "incoming/space+and%2Bplus.csv", True),
        ("incoming/space and+plus.csv", "incoming/space+and%2Bplus.csv", False),
        ("incoming/space and+plus.csv", "incoming/space and+plus.csv", True),
        ("incoming/a+b.csv", "incoming/a+b.csv", True),
        ("incoming/100%25.csv", "incoming/100%25.csv", False),
    ],
)
def test_a_file_announced_with_its_key_verbatim_or_url_encoded_is_processed_archived_and_moved(
    make_workflow, stored, announced, versioned
):
    workflow = make_workflow({"validation": [real_validation], "transformation": [transformation(0)]}, versioned)
    execution, version = workflow.start(key=stored, versioned=versioned, announced=announced)

    assert execution["status"] == "SUCCEEDED", execution
    identity = RunIdentity(BUCKET, announced, version)  # the run is named after the event
    item = workflow.runs.get(identity.run_id)
    assert item["status"] == RunStatus.SUCCEEDED.value and item["file_id"] == identity.file_id
    assert item["validation"]["source_key"] == stored and item["validation"]["valid_rows"] == 1
    archived = item["validation"]["archive_key"]
    assert archived.endswith("/" + stored.removeprefix("incoming/"))  # under its real name
    assert workflow.s3.get_object(Bucket=BUCKET, Key=archived)["Body"].read() == BODY
    assert _versions(workflow.s3, stored) == []  # removed from incoming/


def test_the_version_says_which_of_two_readings_an_encoded_key_meant(make_workflow):
    workflow = make_workflow({"validation": [real_validation], "transformation": [transformation(0)]})
    workflow.s3.put_object(Bucket=BUCKET, Key="incoming/a+b.csv", Body=b"not this one")
    execution, version = workflow.start(key="incoming/a b.csv", announced="incoming/a+b.csv")

    assert execution["status"] == "SUCCEEDED", execution
    item = workflow.runs.get(RunIdentity(BUCKET, "incoming/a+b.csv", version).run_id)
    assert item["validation"]["source_key"] == "incoming/a b.csv"
    assert _versions(workflow.s3, "incoming/a b.csv") == []
    assert workflow.s3.get_object(Bucket=BUCKET, Key="incoming/a+b.csv")["Body"].read() == b"not this one"


def test_a_key_missing_verbatim_and_decoded_fails_the_run_naming_the_missing_key(make_workflow):
    workflow = make_workflow({"validation": [real_validation], "transformation": []})
    execution, version = workflow.start(key="incoming/other.csv", announced="incoming/gone+away.csv")

    assert execution["status"] == "FAILED"
    item = workflow.runs.get(RunIdentity(BUCKET, "incoming/gone+away.csv", version).run_id)
    assert item["status"] == RunStatus.FAILED.value
    reason = item["validation"]["reason"]  # the announced key's GetObject error (moto says version, S3 key)
    assert item["validation"]["status"] == "FAILED" and "GetObject" in reason and "does not exist" in reason
    assert workflow.ecs.commands() == ["validation"]
    assert _versions(workflow.s3, "incoming/other.csv") != []  # nothing else was touched


def held(release: threading.Event) -> Behaviour:
    """A task that runs until `release` is set: it outlasts whatever the test waits for, however
    loaded the machine (a fixed sleep could end first and let the execution go on)."""

    def run(environment: dict[str, str], runs: RunRepository) -> int:
        release.wait(120)
        return 0

    return run


@pytest.mark.parametrize("ending", ["ABORTED", "TIMED_OUT"])
def test_an_execution_that_times_out_or_is_aborted_still_records_its_run_failed_and_alerts(make_workflow, ending):
    release = threading.Event()
    workflow = make_workflow(
        {"validation": [held(release)], "transformation": []},
        execution_timeout_seconds=2 if ending == "TIMED_OUT" else 600,
    )
    bus = _watch_executions(workflow)
    try:
        put = workflow.s3.put_object(Bucket=BUCKET, Key=KEY, Body=BODY)
        event = {
            "version": "0",
            "detail-type": "Object Created",
            "source": "aws.s3",
            "detail": {"bucket": {"name": BUCKET}, "object": {"key": KEY, "version-id": put["VersionId"]}},
        }
        arn = workflow.sfn.start_execution(stateMachineArn=workflow.machine_arn, input=json.dumps(event))[
            "executionArn"
        ]
        run_id = RunIdentity(BUCKET, KEY, put["VersionId"]).run_id
        wait_for(lambda: (workflow.runs.get(run_id) or {}).get("status") == RunStatus.RUNNING.value)
        if ending == "ABORTED":
            workflow.sfn.stop_execution(executionArn=arn)
        wait_for(lambda: workflow.runs.get(run_id)["status"] == RunStatus.FAILED.value)
    finally:
        bus.stop()
        release.set()  # the task ends only after its execution did

    assert workflow.sfn.describe_execution(executionArn=arn)["status"] == ending
    error = workflow.runs.get(run_id)["error"]
    assert error == {
        "error": f"Execution.{ending}",
        "cause": f"The workflow execution {arn} ended {ending} before recording an outcome for this file "
        "(Step Functions execution status change).",
    }
    alerts: list[dict[str, Any]] = []
    wait_for(lambda: bool(alerts.extend(workflow.alerts()) or alerts))  # published right after the update
    [alert] = alerts
    assert alert["event"] == "RUN_FAILED" and alert["run_id"] == run_id and alert["execution"] == arn


def test_a_failure_the_workflow_recorded_is_not_closed_again(make_workflow):
    workflow = make_workflow({"validation": [crash(Task.VALIDATION)], "transformation": []})
    bus = _watch_executions(workflow)
    try:
        execution, version = workflow.start()
        closer = next(m for m in workflow.sfn.list_state_machines()["stateMachines"] if m["name"] == "run-closer")

        def closer_ended() -> list[dict[str, Any]]:
            executions = workflow.sfn.list_executions(stateMachineArn=closer["stateMachineArn"])["executions"]
            return [e for e in executions if e["status"] != "RUNNING"]

        wait_for(lambda: bool(closer_ended()))  # the status change is delivered and the closer has run
    finally:
        bus.stop()

    assert execution["status"] == "FAILED"
    assert workflow.runs.get(RunIdentity(BUCKET, KEY, version).run_id)["error"]["error"] == "Task.Failed"
    assert [a["error"] for a in workflow.alerts()] == ["Task.Failed"]  # one alert, the workflow's own
    [closed] = workflow.sfn.list_executions(stateMachineArn=closer["stateMachineArn"])["executions"]
    assert closed["status"] == "SUCCEEDED"
