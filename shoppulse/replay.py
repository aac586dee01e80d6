"""The batch workflow's state machine, run in this process, one file after another.

This is `shoppulse replay`: the very definition the stack deploys (`infra.state_machine`),
walked by `shoppulse.asl_interpreter`, so that nothing of the workflow (the order of the steps,
the choices on exit codes and outcomes, the retries, the archive and reject moves, the outcome
record and alerts) is written twice. Its Task states run here: the AWS calls on the embedded
AWS with their own clients (Step Functions is another caller than the tasks), and
`ecs:runTask.sync` as the container's entry point in-process (`InProcessTasks`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.category_registry import REGISTRY_PARTITION
from chalicelib.kpis import CategoryKpis, DailyKpis, has_kpis, public_category, public_daily
from chalicelib.messaging import ALERTS_TOPIC
from chalicelib.runs import LINE_COUNTS, ExitCode, RunRepository, RunStatus, Task, TaskFailure, TaskSummary
from chalicelib.storage_layout import CURATED_BUCKET, INCOMING_PREFIX, INPUT_BUCKET, RunIdentity
from chalicelib.tables import CATEGORY_KPIS, DAILY_KPIS, RUNS
from containers.tasks.config import DEFAULT_MAX_INVALID_RATIO, AwsClients, TaskConfig
from containers.tasks.entry import TaskBody
from containers.tasks.outcome import complete_task
from containers.transformation.__main__ import transformation
from containers.validation.__main__ import validation
from infra.ecs import TASK_TIMEOUT_SECONDS
from infra.state_machine import EcsTask, WorkflowConfig, build_definition
from shoppulse.asl_interpreter import Execution, Integration, Interpreter, StatesError
from shoppulse.local.ecs_runner import StopCode
from shoppulse.local.moto_fixes.stepfunctions import as_sdk_integration_s3
from shoppulse.local.provision import WorkflowTuning

if TYPE_CHECKING:
    from mypy_boto3_sns import SNSClient

# What a transformation outcome says about rows waiting for a reference (pipeline.Outcome).
HELD_COUNTS = (
    "held_rows",
    "held_by_order",
    "held_by_product",
    "released_rows",
    "waiting_for_order",
    "waiting_for_product",
)
# The execution's `$$.Execution.Id`, which the Runs item keeps as `execution`.
EXECUTION_ID = "replay"
TASK_BODIES: Mapping[Task, TaskBody] = {Task.VALIDATION: validation, Task.TRANSFORMATION: transformation}
_ESSENTIAL_EXITED = "Essential container in task exited"


class WorkflowFailed(RuntimeError):
    """The execution failed (after recording the run FAILED and alerting): what it died of."""

    def __init__(self, execution: Execution) -> None:
        super().__init__(f"{execution.error}: {execution.cause}")
        self.execution = execution


def replay_definition(alerts_topic_arn: str) -> dict[str, Any]:
    """The deployed workflow's document, with the local retry intervals (seconds, not minutes)."""
    tuning = WorkflowTuning()
    tasks = {t: EcsTask(t.value, t.value, TASK_TIMEOUT_SECONDS[t]) for t in Task}
    return build_definition(
        WorkflowConfig(
            runs_table=RUNS.name(),
            cluster=EXECUTION_ID,
            validation=tasks[Task.VALIDATION],
            transformation=tasks[Task.TRANSFORMATION],
            alerts_topic_arn=alerts_topic_arn,
            subnets=[],
            task_retry=tuning.task_retry,
            api_retry=tuning.api_retry,
        )
    )


def task_environment(max_invalid_ratio: float = DEFAULT_MAX_INVALID_RATIO) -> dict[str, str]:
    """What the task definitions set (infra.ecs): the stack's names, here the defaults."""
    return {
        CURATED_BUCKET.env_var: CURATED_BUCKET.name(),
        DAILY_KPIS.env_var: DAILY_KPIS.name(),
        CATEGORY_KPIS.env_var: CATEGORY_KPIS.name(),
        RUNS.env_var: RUNS.name(),
        "MAX_INVALID_RATIO": repr(max_invalid_ratio),
    }


class InProcessTasks:
    """`ecs:runTask.sync` in this process: the container's entry point, configured from the task
    definition's environment and the state's overrides, classified and recorded as the task
    process does (`complete_task`); a non-zero exit fails the state with `States.TaskFailed` and
    the task's description as the cause (https://docs.aws.amazon.com/step-functions/latest/dg/connect-ecs.html)."""

    def __init__(self, clients: AwsClients, environment: Mapping[str, str], bodies: Mapping[Task, TaskBody]) -> None:
        self._clients = clients
        self._environment = dict(environment)
        self._bodies = bodies
        self._started = 0
        # Each task's summary (the last line a task prints), by task, for the file's outcome.
        self.summaries: dict[Task, TaskSummary | TaskFailure] = {}

    def __call__(self, parameters: dict[str, Any]) -> dict[str, Any]:
        override = parameters["Overrides"]["ContainerOverrides"][0]
        task = Task(override["Name"])
        config = TaskConfig.from_env({**self._environment, **{e["Name"]: e["Value"] for e in override["Environment"]}})
        identity = config.identity()
        runs = RunRepository(self._clients.dynamodb_resource.Table(config.runs_table))
        summary, code = complete_task(
            task.value,
            lambda: self._bodies[task](config, self._clients, identity),
            lambda summary: runs.record_task(identity.run_id, task, summary),
        )
        self.summaries[task] = summary
        self._started += 1
        description = {
            "TaskArn": f"arn:aws:ecs:::task/{parameters['Cluster']}/{self._started}",
            "TaskDefinitionArn": parameters["TaskDefinition"],
            "LastStatus": "STOPPED",
            "StopCode": StopCode.ESSENTIAL_CONTAINER_EXITED.value,
            "StoppedReason": _ESSENTIAL_EXITED,
            "Containers": [{"Name": task.value, "LastStatus": "STOPPED", "ExitCode": int(code)}],
        }
        if code is not ExitCode.OK:
            raise StatesError("States.TaskFailed", json.dumps(description))
        return description


def _sdk(service: str, call: Any) -> Integration:
    """An AWS API call as a Task state makes it: the service's errors named `Service.CodeException`
    (https://docs.aws.amazon.com/step-functions/latest/dg/supported-services-awssdk.html)."""

    def integration(parameters: dict[str, Any]) -> Any:
        try:
            response: dict[str, Any] = call(**parameters)
        except ClientError as err:
            code = err.response.get("Error", {}).get("Code", "Unknown")
            suffix = "" if code.endswith("Exception") else "Exception"
            raise StatesError(f"{service}.{code}{suffix}", str(err)) from err
        except BotoCoreError as err:
            raise StatesError(f"{service}.SdkClientException", str(err)) from err
        response.pop("ResponseMetadata", None)
        return response

    return integration


def _publish(sns: SNSClient) -> Integration:
    """`sns:publish`: a JSON `Message` is sent as its text."""
    publish = _sdk("SNS", sns.publish)

    def integration(parameters: dict[str, Any]) -> Any:
        message = parameters["Message"]
        return publish({**parameters, "Message": message if isinstance(message, str) else json.dumps(message)})

    return integration


def integrations(session: boto3.session.Session, tasks: InProcessTasks) -> dict[str, Integration]:
    """Every Resource of the workflow, as Step Functions calls it."""
    dynamodb, sns = session.client("dynamodb"), session.client("sns")
    s3 = as_sdk_integration_s3(session.client("s3"))  # CopySource as given (RunIdentity.copy_source encodes it)
    return {
        "arn:aws:states:::dynamodb:putItem": _sdk("DynamoDB", dynamodb.put_item),
        "arn:aws:states:::dynamodb:getItem": _sdk("DynamoDB", dynamodb.get_item),
        "arn:aws:states:::dynamodb:updateItem": _sdk("DynamoDB", dynamodb.update_item),
        "arn:aws:states:::sns:publish": _publish(sns),
        "arn:aws:states:::aws-sdk:s3:copyObject": _sdk("S3", s3.copy_object),
        "arn:aws:states:::aws-sdk:s3:deleteObject": _sdk("S3", s3.delete_object),
        "arn:aws:states:::ecs:runTask.sync": tasks,
    }


def object_created(identity: RunIdentity) -> dict[str, Any]:
    """The part of the EventBridge "Object Created" event the workflow reads."""
    obj = {"key": identity.key, **({"version-id": identity.version} if identity.version else {})}
    return {
        "detail-type": "Object Created",
        "source": "aws.s3",
        "detail": {"bucket": {"name": identity.bucket}, "object": obj},
    }


class InProcessWorkflow:
    def __init__(
        self,
        clients: AwsClients,
        max_invalid_ratio: float = DEFAULT_MAX_INVALID_RATIO,
        definition: Mapping[str, Any] | None = None,
    ) -> None:
        """`definition`: the workflow's document (default: the deployed one, `replay_definition`)."""
        self._c = clients
        self._input = INPUT_BUCKET.name()
        session = boto3.session.Session()
        topic_arn = session.client("sns").create_topic(Name=ALERTS_TOPIC.default_name)["TopicArn"]
        self._tasks = InProcessTasks(clients, task_environment(max_invalid_ratio), TASK_BODIES)
        self._machine = Interpreter(
            replay_definition(topic_arn) if definition is None else definition, integrations(session, self._tasks)
        )
        self.last_execution: Execution | None = None

    @property
    def definition(self) -> Mapping[str, Any]:
        return self._machine.definition

    def ingest(self, path: Path) -> dict[str, Any]:
        """Land one file in the input bucket and run the workflow on it; returns its outcome."""
        key = f"{INCOMING_PREFIX}{path.name}"
        put = self._c.s3.put_object(Bucket=self._input, Key=key, Body=path.read_bytes())
        return self.process(RunIdentity(self._input, key, put.get("VersionId", "")), path.name)

    def process(self, identity: RunIdentity, label: str) -> dict[str, Any]:
        """One execution for one object version; raises WorkflowFailed when the execution fails."""
        self._tasks.summaries.clear()
        execution = self.last_execution = self._machine.run(object_created(identity), EXECUTION_ID)
        if execution.status != "SUCCEEDED":
            raise WorkflowFailed(execution)
        status = RunStatus(execution.output["status"])
        if status is RunStatus.DUPLICATE:
            return {"file": label, "status": status.value}
        summaries = self._tasks.summaries
        return _outcome(label, status, summaries.get(Task.VALIDATION, {}), summaries.get(Task.TRANSFORMATION, {}))

    def kpis(self) -> dict[str, list[DailyKpis] | list[CategoryKpis]]:
        """Every stored KPI in its public form (a full export, so a Scan is the right read)."""
        tables = self._c.dynamodb_resource
        daily = [public_daily(i) for i in scan_all(tables.Table(DAILY_KPIS.name())) if has_kpis(i)]
        categories = [
            public_category(i)
            for i in scan_all(tables.Table(CATEGORY_KPIS.name()))
            if i[CATEGORY_KPIS.partition_key] != REGISTRY_PARTITION
        ]
        return {
            "orders": sorted(daily, key=lambda r: r["order_date"]),
            "categories": sorted(categories, key=lambda r: (r["order_date"], r["category"])),
        }


def scan_all(table: Any) -> list[dict[str, Any]]:
    """Every item of a table: for full exports only; serving paths Query."""
    page = table.scan()
    items: list[dict[str, Any]] = page["Items"]
    while "LastEvaluatedKey" in page:
        page = table.scan(ExclusiveStartKey=page["LastEvaluatedKey"])
        items += page["Items"]
    return items


def _outcome(label: str, status: RunStatus, checked: Mapping[str, Any], loaded: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "file": label,
        "status": status.value,
        "kind": checked.get("kind"),
        "rows": checked.get("rows", 0),
        "valid_rows": checked.get("valid_rows", 0),
        "rejected_rows": checked.get("rejected_rows", 0),
        **{name: checked[name] for name in LINE_COUNTS if name in checked},
        "reasons": checked.get("reasons", {}),
        "reason": checked.get("reason"),
        "affected_dates": loaded.get("affected_dates", []),
        "duplicate_of": loaded.get("duplicate_of"),
        **{k: loaded.get(k, 0) for k in HELD_COUNTS},
    }
