"""The batch workflow's state machine (Amazon States Language): built once, here.

`build_definition(WorkflowConfig(...))` returns the ASL document as a dict. The CloudFormation
stack (`infra.workflow`) calls it with `${Placeholder}` strings resolved by the state machine's
`DefinitionSubstitutions`; the local runtime calls it with the concrete names of the embedded
AWS. Nothing else writes ASL.

Parameters (`WorkflowConfig`):
- `runs_table`: name of the Runs table (`chalicelib.tables.RUNS`): idempotency guard and outcome.
- `cluster`: ECS cluster name or ARN the two tasks run on.
- `validation`, `transformation`: `EcsTask(task_definition, container_name, timeout_seconds)`,
  the task definition (family, family:revision or ARN), the name of the container to give the
  input object to, and the longest a healthy run may take (the state's TimeoutSeconds; on a
  timeout Step Functions stops the ECS task).
- `alerts_topic_arn`: SNS topic told about failed and rejected files.
- `subnets`, `security_groups`, `assign_public_ip`: the Fargate awsvpc network configuration.
- `task_retry` / `api_retry`: `RetryPolicy` for transient task faults (see below) and for
  transient AWS API faults. Tests pass short intervals.
- `execution_timeout_seconds`: TimeoutSeconds of the whole execution.

The guard item has the shape of `RunRepository.start`; `file_id` is `States.Hash` of the run id,
as `RunIdentity.file_id` computes it.

Input: the EventBridge "Object Created" event of the input bucket (`detail.bucket.name`,
`detail.object.key`, optional `detail.object.version-id`). Output of a finished execution:
`{"run_id", "status"}` with status SUCCEEDED, REJECTED or DUPLICATE; FAILED runs fail the
execution (so that the failed-executions alarm sees them) after recording and alerting.

`build_closer_definition(CloserConfig(...))` is the second, small machine: it closes FAILED a
run whose execution ended (timed out, aborted) without recording it (see the end of the module).

Why `.sync` for the ECS tasks (not `.waitForTaskToken`): the containers stay plain programs
(exit code + a summary in the Runs item), need no Step Functions permissions or task token, and
run unchanged by hand or locally; Step Functions polls the task to STOPPED and stops it on a
timeout. The price is that a non-zero exit fails the state with `States.TaskFailed` whose Cause
is the ECS task description as JSON: a wrapper (a one-branch Parallel state) parses it and
turns exit 65 (data rejected) into a normal outcome; exit 75, exit 137 (killed: OOM or the
platform), a task with no exit code (never ran, or stopped first), a platform stop (spot
interruption, host retirement) and RunTask placement failures (`AmazonECS.Unknown`) into
`Task.Transient` (retried with exponential backoff and full jitter by the Parallel state's
Retry); anything else into `Task.Failed` (not retried). Either way the cause recorded and
alerted is a sentence: which task, what its exit means, and ECS's stopped reason. Heartbeats only exist for callback and
activity tasks; no state here waits on a callback, so TimeoutSeconds bounds every wait instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from chalicelib.runs import RUN_KIND, ExitCode, RunStatus, Task
from chalicelib.tables import RUNS, RUNS_BY_TIME

TRANSIENT_TASK_ERROR = "Task.Transient"
FAILED_TASK_ERROR = "Task.Failed"
UNEXPECTED_OUTCOME_ERROR = "Workflow.UnexpectedOutcome"
# How a container task ended, as the workflow sees it (exit 0, or exit 65).
OUTCOME_COMPLETED = "COMPLETED"
OUTCOME_REJECTED = "REJECTED"

# Errors of the AWS API calls worth another attempt: throttling, service-side faults, timeouts.
TRANSIENT_API_ERRORS: tuple[str, ...] = (
    "States.Timeout",
    "DynamoDB.ProvisionedThroughputExceededException",
    "DynamoDB.RequestLimitExceeded",
    "DynamoDB.ThrottlingException",
    "DynamoDB.InternalServerErrorException",
    "SNS.ThrottledException",
    "SNS.InternalErrorException",
    "SNS.KmsThrottlingException",
    "S3.InternalErrorException",
    "S3.SlowDownException",
    "S3.ServiceUnavailableException",
    "S3.SdkClientException",
)
DUPLICATE_ERROR = "DynamoDB.ConditionalCheckFailedException"
API_TIMEOUT_SECONDS = 30


@dataclass(frozen=True)
class RetryPolicy:
    interval_seconds: int
    max_attempts: int
    backoff_rate: float = 2.0
    max_delay_seconds: int | None = None

    def retrier(self, errors: Sequence[str]) -> dict[str, Any]:
        retrier: dict[str, Any] = {
            "ErrorEquals": list(errors),
            "IntervalSeconds": self.interval_seconds,
            "MaxAttempts": self.max_attempts,
            "BackoffRate": self.backoff_rate,
            "JitterStrategy": "FULL",
        }
        if self.max_delay_seconds is not None:
            retrier["MaxDelaySeconds"] = self.max_delay_seconds
        return retrier


@dataclass(frozen=True)
class EcsTask:
    task_definition: str
    container_name: str
    timeout_seconds: int


@dataclass(frozen=True)
class WorkflowConfig:
    runs_table: str
    cluster: str
    validation: EcsTask
    transformation: EcsTask
    alerts_topic_arn: str
    subnets: Sequence[str]
    security_groups: Sequence[str] = ()
    assign_public_ip: str = "DISABLED"
    # 3 attempts after the first, 30 s, 60 s, 120 s apart before jitter: outlasts a Fargate
    # capacity blip or a throttled dependency without hiding a real outage for long.
    task_retry: RetryPolicy = field(default_factory=lambda: RetryPolicy(30, 3, 2.0, 300))
    api_retry: RetryPolicy = field(default_factory=lambda: RetryPolicy(1, 4, 2.0, 20))
    execution_timeout_seconds: int = 7200


# --- State names (the execution history reads as the story of one file) ----------------------
IDENTIFY = "Has object version?"
IDENTIFY_VERSIONED = "Identify versioned object"
IDENTIFY_UNVERSIONED = "Identify unversioned object"
GUARD = "Register run (idempotency guard)"
DUPLICATE = "Duplicate: already processed"
VALIDATE = "Validate file"
READ_VALIDATION = "Read validation summary"
VALIDATION_CHOICE = "Valid file?"
UNEXPECTED = "Unexpected validation outcome"
TRANSFORM = "Transform file"
TRANSFORMATION_CHOICE = "Transformation outcome?"
ARCHIVE_DESTINATION = "Archive destination"
REJECTED_DESTINATION = "Rejected destination"
COPY = "Copy file to destination"
VERSIONED_CHOICE = "Delete which object?"
DELETE_VERSION = "Delete original version"
DELETE_OBJECT = "Delete original object"
RECORD_OUTCOME = "Record outcome"
OUTCOME_CHOICE = "Rejected?"
ALERT_REJECTION = "Alert rejection"
DONE = "Done"
RECORD_FAILURE = "Record failure"
ALERT_FAILURE = "Alert failure"
FAILED = "Run failed"


def _s(path: str) -> dict[str, str]:
    """A DynamoDB string attribute taken from the state input."""
    return {"S.$": path}


def _api_task(
    resource: str,
    parameters: dict[str, Any],
    config: WorkflowConfig,
    next_state: str,
    catch_to: str = RECORD_FAILURE,
    **extra: Any,
) -> dict[str, Any]:
    """An AWS API call: short timeout, retried on transient faults, caught into the failure path.

    Inside the failure path itself the catch keeps the original `$.error` (what the run died of)
    and stores its own fault beside it.
    """
    catch_result = "$.error" if catch_to == RECORD_FAILURE else "$.failure_path_error"
    state: dict[str, Any] = {
        "Type": "Task",
        "Resource": resource,
        "Parameters": parameters,
        "TimeoutSeconds": API_TIMEOUT_SECONDS,
        "ResultPath": None,
        "Retry": [*extra.pop("retry_first", []), config.api_retry.retrier(TRANSIENT_API_ERRORS)],
        "Catch": [
            *extra.pop("catch_first", []),
            {"ErrorEquals": ["States.ALL"], "ResultPath": catch_result, "Next": catch_to},
        ],
        "Next": next_state,
    }
    state.update(extra)
    return state


def _update_run(
    config: WorkflowConfig,
    expression: str,
    names: dict[str, str],
    values: dict[str, Any],
    next_state: str,
    catch_to: str = RECORD_FAILURE,
) -> dict[str, Any]:
    return _api_task(
        "arn:aws:states:::dynamodb:updateItem",
        {
            "TableName": config.runs_table,
            "Key": {RUNS.partition_key: _s("$.run.run_id")},
            "UpdateExpression": expression,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        },
        config,
        next_state,
        catch_to=catch_to,
    )


def _publish(
    config: WorkflowConfig, subject: str, message: dict[str, Any], next_state: str, catch_to: str = RECORD_FAILURE
) -> dict[str, Any]:
    return _api_task(
        "arn:aws:states:::sns:publish",
        {"TopicArn": config.alerts_topic_arn, "Subject": subject, "Message": message},
        config,
        next_state,
        catch_to=catch_to,
    )


def _identify(version: str | None, next_state: str = GUARD) -> dict[str, Any]:
    """The run's identity, as `chalicelib.storage_layout.RunIdentity` derives it."""
    run: dict[str, Any] = {
        "bucket.$": "$.detail.bucket.name",
        "key.$": "$.detail.object.key",
        "started_at.$": "$$.Execution.StartTime",
        "execution.$": "$$.Execution.Id",
    }
    if version:
        run["version.$"] = version
        run["run_id.$"] = (
            f"States.Format('s3://{{}}/{{}}?versionId={{}}', $.detail.bucket.name, $.detail.object.key, {version})"
        )
        run["file_id.$"] = (
            f"States.Hash(States.Format('s3://{{}}/{{}}?versionId={{}}', $.detail.bucket.name, $.detail.object.key, {version}), 'SHA-256')"
        )
    else:
        run["version"] = ""
        run["run_id.$"] = "States.Format('s3://{}/{}', $.detail.bucket.name, $.detail.object.key)"
        run["file_id.$"] = (
            "States.Hash(States.Format('s3://{}/{}', $.detail.bucket.name, $.detail.object.key), 'SHA-256')"
        )
    return {"Type": "Pass", "Parameters": run, "ResultPath": "$.run", "Next": next_state}


_VERSION = "$.detail.object['version-id']"


def _identify_states(next_state: str) -> dict[str, Any]:
    """Choice + Pass states deriving `$.run` from the "Object Created" event at `$.detail`."""
    return {
        IDENTIFY: {
            "Type": "Choice",
            "Comment": "Versioned buckets announce the version: the run is that object version.",
            "Choices": [{"Variable": _VERSION, "IsPresent": True, "Next": IDENTIFY_VERSIONED}],
            "Default": IDENTIFY_UNVERSIONED,
        },
        IDENTIFY_VERSIONED: _identify(_VERSION, next_state),
        IDENTIFY_UNVERSIONED: _identify(None, next_state),
    }


# Why a stopped task is worth another attempt (`.sync` fails the state with `States.TaskFailed`,
# the task description as the cause; https://docs.aws.amazon.com/step-functions/latest/dg/connect-ecs.html):
# - no exit code: the container never ran (image pull, ENI, capacity) or was stopped first;
# - exit 75 (EX_TEMPFAIL): the task says a dependency failed transiently;
# - exit 137 (128 + SIGKILL): killed from outside, by the OOM killer or the platform;
# - stop code SpotInterruption / TerminationNotice: the platform reclaimed or retired the host
#   (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_Task.html, stopCode).
# RunTask's own `Failures` (no capacity) fail a `.sync` state with `AmazonECS.Unknown` instead
# (same page, "Key features"): retried too. Exit 65 (rejected data) is an outcome, never retried.
KILLED_EXIT_CODE = 137
PLATFORM_STOP_CODES: tuple[str, ...] = ("SpotInterruption", "TerminationNotice")
ECS_PLACEMENT_ERROR = "AmazonECS.Unknown"


def _explain(name: str, meaning: str, verdict: str, exit_code: bool, next_state: str) -> dict[str, Any]:
    """A Pass state writing the sentence a user sees as the cause, and the verdict."""
    if exit_code:
        cause = (
            f"States.Format('The {name} task {meaning} (exit code {{}}); ECS: {{}}.', $.container.ExitCode, $.reason)"
        )
    else:
        cause = f"States.Format('The {name} task {meaning}; ECS: {{}}.', $.reason)"
    return {
        "Type": "Pass",
        "Parameters": {"cause.$": cause, "verdict": verdict, "run_id.$": "$.run_id"},
        "Next": next_state,
    }


def _last_error_states(name: str, config: WorkflowConfig, verdict: str) -> dict[str, Any]:
    """Read the error the task itself recorded (its summary's `reason`) and add it to the cause.

    Only for a task that exited on its own (75, or a crash): a killed task wrote nothing, and an
    earlier attempt's summary must not be shown as its error. No summary: the cause stands."""
    read, has, add = f"Read {name} last error", f"Has {name} last error?", f"Add {name} last error"
    reason = f"$.summary.Item.{name}.M.reason.S"
    return {
        read: {
            "Type": "Task",
            "Resource": "arn:aws:states:::dynamodb:getItem",
            "Parameters": {
                "TableName": config.runs_table,
                "Key": {RUNS.partition_key: _s("$.run_id")},
                "ConsistentRead": True,
                "ProjectionExpression": "#t",
                "ExpressionAttributeNames": {"#t": name},
            },
            "TimeoutSeconds": API_TIMEOUT_SECONDS,
            "ResultPath": "$.summary",
            "Retry": [config.api_retry.retrier(TRANSIENT_API_ERRORS)],
            "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.lookup_error", "Next": verdict}],
            "Next": has,
        },
        has: {
            "Type": "Choice",
            "Choices": [{"Variable": reason, "IsPresent": True, "Next": add}],
            "Default": verdict,
        },
        add: {
            "Type": "Pass",
            "Parameters": {
                "cause.$": f"States.Format('{{}} Last error: {{}}', $.cause, {reason})",
                "verdict.$": "$.verdict",
            },
            "Next": verdict,
        },
    }


def _container_task(name: str, task: EcsTask, config: WorkflowConfig, next_state: str) -> dict[str, Any]:
    """Run one ECS task to completion; how it stopped decides: done, rejected, retried or failed.

    A one-branch Parallel state, because a Retry can only match error names: the branch turns
    the stopped task into one, so only transient faults are retried, with backoff and full jitter.
    Whatever fails, the cause is a sentence naming the task, what its exit means, and ECS's reason.
    """
    run_task, completed, parse_cause = f"Run {name} task", f"{name} completed", f"Read {name} stop cause"
    classify = f"Classify {name} exit"
    reason_choice, with_reason, without_reason = (
        f"Has {name} stop reason?",
        f"Read {name} stop reason",
        f"No {name} stop reason",
    )
    not_placed, crashed = f"{name} not placed", f"{name} ended otherwise"
    verdict, transient, failed = f"{name} verdict", f"{name} transient fault", f"{name} failed"
    network: dict[str, Any] = {"Subnets": list(config.subnets), "AssignPublicIp": config.assign_public_ip}
    if config.security_groups:
        network["SecurityGroups"] = list(config.security_groups)
    exit_code = "$.container.ExitCode"
    last_error = f"Read {name} last error"
    explanations = {
        f"{name} never ran": _explain(
            name, "stopped before its container exited", TRANSIENT_TASK_ERROR, False, verdict
        ),
        f"{name} transient exit": _explain(name, "reported a transient fault", TRANSIENT_TASK_ERROR, True, last_error),
        f"{name} killed": _explain(
            name, "was killed (out of memory, or stopped by the platform)", TRANSIENT_TASK_ERROR, True, verdict
        ),
        f"{name} host reclaimed": _explain(
            name,
            "was stopped by the platform (spot interruption or host retirement)",
            TRANSIENT_TASK_ERROR,
            True,
            verdict,
        ),
        f"{name} crashed": _explain(
            name, "failed (a bug or a permanent fault; not retried)", FAILED_TASK_ERROR, True, last_error
        ),
    }
    never_ran, transient_exit, killed, reclaimed, crashed_exit = explanations
    branch_states: dict[str, Any] = {
        run_task: {
            "Type": "Task",
            "Resource": "arn:aws:states:::ecs:runTask.sync",
            "Parameters": {
                "Cluster": config.cluster,
                "TaskDefinition": task.task_definition,
                "LaunchType": "FARGATE",
                "PropagateTags": "TASK_DEFINITION",
                "NetworkConfiguration": {"AwsvpcConfiguration": network},
                "Overrides": {
                    "ContainerOverrides": [
                        {
                            "Name": task.container_name,
                            "Environment": [
                                {"Name": "INPUT_BUCKET", "Value.$": "$.run.bucket"},
                                {"Name": "INPUT_KEY", "Value.$": "$.run.key"},
                                {"Name": "INPUT_VERSION", "Value.$": "$.run.version"},
                            ],
                        }
                    ]
                },
            },
            "TimeoutSeconds": task.timeout_seconds,
            "ResultPath": None,
            "Catch": [
                # First: States.TaskFailed also matches every other task error but States.Timeout
                # (https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html).
                {"ErrorEquals": [ECS_PLACEMENT_ERROR], "ResultPath": "$.error", "Next": not_placed},
                {"ErrorEquals": ["States.TaskFailed"], "ResultPath": "$.error", "Next": parse_cause},
                {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": crashed},
            ],
            "Next": completed,
        },
        # Branch outputs are plain strings: the Parallel state reads them as `$[0]`.
        completed: {"Type": "Pass", "Result": OUTCOME_COMPLETED, "End": True},
        not_placed: {
            "Type": "Pass",
            "Parameters": {
                "cause.$": f"States.Format('The {name} task could not be placed (RunTask failures): {{}}', "
                "$.error.Cause)",
                "verdict": TRANSIENT_TASK_ERROR,
            },
            "Next": verdict,
        },
        crashed: {
            "Type": "Pass",
            "Parameters": {
                "cause.$": f"States.Format('The {name} task did not finish: {{}}', States.JsonToString($.error))",
                "verdict": FAILED_TASK_ERROR,
            },
            "Next": verdict,
        },
        parse_cause: {
            "Type": "Pass",
            "Parameters": {"task.$": "States.StringToJson($.error.Cause)", "run_id.$": "$.run.run_id"},
            "Next": reason_choice,
        },
        reason_choice: {
            "Type": "Choice",
            "Choices": [{"Variable": "$.task.StoppedReason", "IsPresent": True, "Next": with_reason}],
            "Default": without_reason,
        },
        # A separate step, because a path such as `$.task.Containers[0].ExitCode` (an index
        # followed by a field) evaluates to a one-element list in moto's interpreter.
        with_reason: {
            "Type": "Pass",
            "Parameters": {
                "container.$": "$.task.Containers[0]",
                "task.$": "$.task",
                "reason.$": "$.task.StoppedReason",
                "run_id.$": "$.run_id",
            },
            "Next": classify,
        },
        without_reason: {
            "Type": "Pass",
            "Parameters": {
                "container.$": "$.task.Containers[0]",
                "task.$": "$.task",
                "reason": "no stopped reason",
                "run_id.$": "$.run_id",
            },
            "Next": classify,
        },
        classify: {
            "Type": "Choice",
            "Choices": [
                {"Variable": exit_code, "IsPresent": False, "Next": never_ran},
                {"Variable": exit_code, "NumericEquals": int(ExitCode.REJECTED), "Next": f"{name} rejected data"},
                {"Variable": exit_code, "NumericEquals": int(ExitCode.TRANSIENT), "Next": transient_exit},
                {"Variable": exit_code, "NumericEquals": KILLED_EXIT_CODE, "Next": killed},
                *(
                    {
                        "And": [
                            {"Variable": "$.task.StopCode", "IsPresent": True},
                            {"Variable": "$.task.StopCode", "StringEquals": code},
                        ],
                        "Next": reclaimed,
                    }
                    for code in PLATFORM_STOP_CODES
                ),
            ],
            "Default": crashed_exit,
        },
        **explanations,
        **_last_error_states(name, config, verdict),
        verdict: {
            "Type": "Choice",
            "Choices": [{"Variable": "$.verdict", "StringEquals": TRANSIENT_TASK_ERROR, "Next": transient}],
            "Default": failed,
        },
        f"{name} rejected data": {"Type": "Pass", "Result": OUTCOME_REJECTED, "End": True},
        transient: {"Type": "Fail", "Error": TRANSIENT_TASK_ERROR, "CausePath": "$.cause"},
        failed: {"Type": "Fail", "Error": FAILED_TASK_ERROR, "CausePath": "$.cause"},
    }
    return {
        "Type": "Parallel",
        "Comment": f"The {name} ECS task, how it stopped classified (see the module docstring).",
        "Branches": [{"StartAt": run_task, "States": branch_states}],
        "ResultSelector": {"outcome.$": "$[0]"},
        "ResultPath": f"$.{name}_task",
        "Retry": [config.task_retry.retrier([TRANSIENT_TASK_ERROR])],
        "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": RECORD_FAILURE}],
        "Next": next_state,
    }


def _summary_selector() -> dict[str, str]:
    """What the workflow acts on from the validation summary, plus the whole (typed) summary
    for the alert: optional fields (a `rejected_rows_key` of None, say) must not break a path."""
    summary = "$.Item.validation.M"
    selector = {
        f"{k}.$": f"{summary}.{k}.S" for k in ("status", "archive_key", "rejected_key", "copy_source", "source_key")
    }
    selector["summary.$"] = summary
    return selector


def _move(status: RunStatus, key_path: str) -> dict[str, Any]:
    return {
        "Type": "Pass",
        "Parameters": {"status": status.value, "key.$": key_path},
        "ResultPath": "$.move",
        "Next": COPY,
    }


def _finish(status: str) -> dict[str, Any]:
    return {"Type": "Pass", "Parameters": {"run_id.$": "$.run.run_id", "status": status}, "End": True}


def build_definition(config: WorkflowConfig) -> dict[str, Any]:
    """The ASL document of the batch workflow (see the module docstring for every parameter)."""
    status_names = {"#status": "status", "#finished": "finished_at"}
    states: dict[str, Any] = {
        **_identify_states(GUARD),
        GUARD: _api_task(
            "arn:aws:states:::dynamodb:putItem",
            {
                "TableName": config.runs_table,
                "Item": {
                    RUNS.partition_key: _s("$.run.run_id"),
                    RUNS_BY_TIME.partition_key: {"S": RUN_KIND},
                    RUNS_BY_TIME.range_key: _s("$.run.started_at"),
                    "bucket": _s("$.run.bucket"),
                    "key": _s("$.run.key"),
                    "version": _s("$.run.version"),
                    "file_id": _s("$.run.file_id"),
                    "status": {"S": RunStatus.RUNNING.value},
                    "execution": _s("$.run.execution"),
                },
                "ConditionExpression": f"attribute_not_exists({RUNS.partition_key})",
            },
            config,
            VALIDATE,
            retry_first=[{"ErrorEquals": [DUPLICATE_ERROR], "MaxAttempts": 0}],
            catch_first=[{"ErrorEquals": [DUPLICATE_ERROR], "ResultPath": None, "Next": DUPLICATE}],
            Comment="A conditional put: one object version is processed once, however often it is announced.",
        ),
        DUPLICATE: _finish(RunStatus.DUPLICATE.value),
        VALIDATE: _container_task(Task.VALIDATION.value, config.validation, config, READ_VALIDATION),
        READ_VALIDATION: _api_task(
            "arn:aws:states:::dynamodb:getItem",
            {
                "TableName": config.runs_table,
                "Key": {RUNS.partition_key: _s("$.run.run_id")},
                "ConsistentRead": True,
                "ProjectionExpression": "#v",
                "ExpressionAttributeNames": {"#v": Task.VALIDATION.value},
            },
            config,
            VALIDATION_CHOICE,
            ResultSelector=_summary_selector(),
            ResultPath="$.validation",
            Comment="The task wrote its summary (status, counts, where the file goes) into the Runs item.",
        ),
        VALIDATION_CHOICE: {
            "Type": "Choice",
            "Comment": "Exit code and summary must agree; anything else is a bug, not data.",
            "Choices": [
                {
                    "And": [
                        {"Variable": "$.validation_task.outcome", "StringEquals": OUTCOME_COMPLETED},
                        {"Variable": "$.validation.status", "StringEquals": "VALID"},
                    ],
                    "Next": TRANSFORM,
                },
                {
                    "And": [
                        {"Variable": "$.validation_task.outcome", "StringEquals": OUTCOME_REJECTED},
                        {"Variable": "$.validation.status", "StringEquals": "REJECTED"},
                    ],
                    "Next": REJECTED_DESTINATION,
                },
            ],
            "Default": UNEXPECTED,
        },
        UNEXPECTED: {
            "Type": "Pass",
            "Parameters": {
                "Error": UNEXPECTED_OUTCOME_ERROR,
                "Cause.$": "States.Format('validation exit outcome {} with summary status {}', "
                "$.validation_task.outcome, $.validation.status)",
            },
            "ResultPath": "$.error",
            "Next": RECORD_FAILURE,
        },
        TRANSFORM: _container_task(Task.TRANSFORMATION.value, config.transformation, config, TRANSFORMATION_CHOICE),
        TRANSFORMATION_CHOICE: {
            "Type": "Choice",
            "Choices": [
                {
                    "Variable": "$.transformation_task.outcome",
                    "StringEquals": OUTCOME_REJECTED,
                    "Next": REJECTED_DESTINATION,
                }
            ],
            "Default": ARCHIVE_DESTINATION,
        },
        ARCHIVE_DESTINATION: _move(RunStatus.SUCCEEDED, "$.validation.archive_key"),
        REJECTED_DESTINATION: _move(RunStatus.REJECTED, "$.validation.rejected_key"),
        COPY: _api_task(
            "arn:aws:states:::aws-sdk:s3:copyObject",
            # URL-encoded, as S3 requires (RunIdentity.copy_source says where that is documented).
            {"Bucket.$": "$.run.bucket", "Key.$": "$.move.key", "CopySource.$": "$.validation.copy_source"},
            config,
            VERSIONED_CHOICE,
        ),
        VERSIONED_CHOICE: {
            "Type": "Choice",
            "Choices": [{"Variable": "$.run.version", "StringEquals": "", "Next": DELETE_OBJECT}],
            "Default": DELETE_VERSION,
        },
        DELETE_VERSION: _api_task(
            "arn:aws:states:::aws-sdk:s3:deleteObject",
            # The object's real key (RunIdentity.source_key): the event's, or its URL-decoded form.
            {"Bucket.$": "$.run.bucket", "Key.$": "$.validation.source_key", "VersionId.$": "$.run.version"},
            config,
            RECORD_OUTCOME,
        ),
        DELETE_OBJECT: _api_task(
            "arn:aws:states:::aws-sdk:s3:deleteObject",
            {"Bucket.$": "$.run.bucket", "Key.$": "$.validation.source_key"},
            config,
            RECORD_OUTCOME,
        ),
        RECORD_OUTCOME: _update_run(
            config,
            "SET #status = :status, #finished = :finished",
            status_names,
            {":status": _s("$.move.status"), ":finished": _s("$$.State.EnteredTime")},
            OUTCOME_CHOICE,
        ),
        OUTCOME_CHOICE: {
            "Type": "Choice",
            "Choices": [
                {"Variable": "$.move.status", "StringEquals": RunStatus.REJECTED.value, "Next": ALERT_REJECTION}
            ],
            "Default": DONE,
        },
        ALERT_REJECTION: _publish(
            config,
            "ShopPulse: input file rejected",
            {
                "event": "FILE_REJECTED",
                "run_id.$": "$.run.run_id",
                "execution.$": "$.run.execution",
                "rejected_key.$": "$.move.key",
                "validation_summary.$": "$.validation.summary",
            },
            DONE,
        ),
        DONE: {"Type": "Pass", "Parameters": {"run_id.$": "$.run.run_id", "status.$": "$.move.status"}, "End": True},
        RECORD_FAILURE: _update_run(
            config,
            "SET #status = :status, #finished = :finished, #error = :error",
            {**status_names, "#error": "error"},
            {
                ":status": {"S": RunStatus.FAILED.value},
                ":finished": _s("$$.State.EnteredTime"),
                ":error": {"M": {"error": _s("$.error.Error"), "cause": _s("$.error.Cause")}},
            },
            ALERT_FAILURE,
            catch_to=ALERT_FAILURE,
        ),
        ALERT_FAILURE: _publish(
            config,
            "ShopPulse: input file processing failed",
            {
                "event": "RUN_FAILED",
                "run_id.$": "$.run.run_id",
                "execution.$": "$.run.execution",
                "error.$": "$.error.Error",
                "cause.$": "$.error.Cause",
            },
            FAILED,
            catch_to=FAILED,
        ),
        FAILED: {"Type": "Fail", "ErrorPath": "$.error.Error", "CausePath": "$.error.Cause"},
    }
    return {
        "Comment": "ShopPulse batch workflow: one input file version from landing to KPIs, archive and outcome.",
        "StartAt": IDENTIFY,
        "TimeoutSeconds": config.execution_timeout_seconds,
        "States": states,
    }


# --- The run closer: an execution that ended without recording its run ---------------------------
# Step Functions sends a "Step Functions Execution Status Change" event to the default bus when
# an execution ends (https://docs.aws.amazon.com/eventbridge/latest/ref/events-ref-states.html;
# detail: executionArn, stateMachineArn, status, input, ...,
# https://docs.aws.amazon.com/step-functions/latest/dg/eventbridge-integration.html). A timed-out
# or aborted execution (or one whose failure path itself failed) never reaches "Record failure":
# a rule on those events starts this small state machine, which closes the run FAILED, if it is
# still RUNNING, and alerts; a run the workflow recorded is left alone (conditional update).
CLOSED_EXECUTION_STATUSES: tuple[str, ...] = ("FAILED", "TIMED_OUT", "ABORTED")
STATUS_CHANGE_DETAIL_TYPE = "Step Functions Execution Status Change"
READ_CLOSED = "Read the ended execution"
CLOSED_EVENT = "Its Object Created event"
CLOSE_RUN = "Close the run if still RUNNING"
ALREADY_RECORDED = "Run already recorded"
ALERT_CLOSED = "Alert the closed run"
CLOSED = "Closed"


@dataclass(frozen=True)
class CloserConfig:
    runs_table: str
    alerts_topic_arn: str
    api_retry: RetryPolicy = field(default_factory=lambda: RetryPolicy(1, 4, 2.0, 20))


def execution_status_pattern(state_machine_arn: object) -> dict[str, Any]:
    """The rule's event pattern: the workflow's executions that ended without succeeding."""
    return {
        "source": ["aws.states"],
        "detail-type": [STATUS_CHANGE_DETAIL_TYPE],
        "detail": {"stateMachineArn": [state_machine_arn], "status": list(CLOSED_EXECUTION_STATUSES)},
    }


def build_closer_definition(config: CloserConfig) -> dict[str, Any]:
    """The ASL document of the run closer (input: a status-change event of the workflow)."""
    retry = [config.api_retry.retrier(TRANSIENT_API_ERRORS)]
    cause = (
        "States.Format('The workflow execution {} ended {} before recording an outcome for this file "
        "(Step Functions execution status change).', $.closed.execution, $.closed.status)"
    )
    states: dict[str, Any] = {
        READ_CLOSED: {
            "Type": "Pass",
            "Parameters": {
                "event.$": "States.StringToJson($.detail.input)",
                "closed": {
                    "execution.$": "$.detail.executionArn",
                    "status.$": "$.detail.status",
                    "error.$": "States.Format('Execution.{}', $.detail.status)",
                },
            },
            "Next": CLOSED_EVENT,
        },
        CLOSED_EVENT: {
            "Type": "Pass",
            "Parameters": {"detail.$": "$.event.detail", "closed.$": "$.closed"},
            "Next": IDENTIFY,
        },
        **_identify_states(CLOSE_RUN),
        CLOSE_RUN: {
            "Type": "Task",
            "Resource": "arn:aws:states:::dynamodb:updateItem",
            "Parameters": {
                "TableName": config.runs_table,
                "Key": {RUNS.partition_key: _s("$.run.run_id")},
                "UpdateExpression": "SET #status = :failed, #finished = :finished, #error = :error",
                "ConditionExpression": "#status = :running",
                "ExpressionAttributeNames": {"#status": "status", "#finished": "finished_at", "#error": "error"},
                "ExpressionAttributeValues": {
                    ":failed": {"S": RunStatus.FAILED.value},
                    ":running": {"S": RunStatus.RUNNING.value},
                    ":finished": _s("$$.State.EnteredTime"),
                    ":error": {"M": {"error": _s("$.closed.error"), "cause": {"S.$": cause}}},
                },
            },
            "TimeoutSeconds": API_TIMEOUT_SECONDS,
            "ResultPath": None,
            "Retry": [{"ErrorEquals": [DUPLICATE_ERROR], "MaxAttempts": 0}, *retry],
            "Catch": [{"ErrorEquals": [DUPLICATE_ERROR], "ResultPath": None, "Next": ALREADY_RECORDED}],
            "Next": ALERT_CLOSED,
        },
        ALREADY_RECORDED: {"Type": "Succeed", "Comment": "The workflow recorded the run itself (or never started it)."},
        ALERT_CLOSED: {
            "Type": "Task",
            "Resource": "arn:aws:states:::sns:publish",
            "Parameters": {
                "TopicArn": config.alerts_topic_arn,
                "Subject": "ShopPulse: input file processing failed",
                "Message": {
                    "event": "RUN_FAILED",
                    "run_id.$": "$.run.run_id",
                    "execution.$": "$.closed.execution",
                    "error.$": "$.closed.error",
                    "cause.$": cause,
                },
            },
            "TimeoutSeconds": API_TIMEOUT_SECONDS,
            "ResultPath": None,
            "Retry": retry,
            "Next": CLOSED,
        },
        CLOSED: {"Type": "Succeed"},
    }
    return {
        "Comment": "ShopPulse run closer: a workflow execution that ended without recording its run closes it FAILED.",
        "StartAt": READ_CLOSED,
        "States": states,
    }
