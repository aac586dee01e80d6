"""Step Functions: fixes 3, 5 and 6 (the `ecs:runTask.sync` integration) and 8 (executions).

3. `ecs:runTask.sync` passes the ASL parameters in PascalCase to the ECS API, which wants
   camelCase (upstream getmoto/moto#10076): the call fails with `States.Runtime 'Cluster'`.
5. `ecs:runTask.sync` succeeds whatever the exit code. In AWS a task whose container exits
   non-zero (or that is stopped) fails the state with `States.TaskFailed`, the task's
   description as the cause. Also, when AWS stops waiting (state timeout, execution
   stopped), it stops the task; moto leaves it running. (No upstream issue found.)
6. A retried `.sync` state reports a false `States.Timeout` at once: moto's sync waiter
   also listens for a task token, and the retry reuses the token whose endpoint the
   failed attempt interrupted (moto/stepfunctions/parser/.../state_task_service_callback.py,
   `_eval_sync`; no upstream issue found). `.sync` never takes task tokens, so the fixed
   waiter does not listen for one.
8. An execution started without a name is named "None" (every such execution gets the same
   ARN, so DescribeExecution finds the wrong one); AWS names it with a UUID. And
   `$$.Execution.StartTime` is a datetime object, which breaks any service integration that
   passes it on (`Object of type datetime is not JSON serializable`); AWS gives an ISO-8601 string.
12. `ecs:runTask.sync` ignores RunTask's `Failures` (and then fails on an empty task list with
   an IndexError); AWS fails the state with `AmazonECS.Unknown`
   (https://docs.aws.amazon.com/step-functions/latest/dg/connect-ecs.html). The ECS half of
   this fix (`moto_fixes.ecs`) reports a task the runner cannot place as a `Failures` entry.
   (No upstream issue found.)
13. The interpreter calls S3 through boto3, which URL-encodes a string `CopySource` itself
   (botocore.handlers.handle_copy_source_param); the Step Functions aws-sdk integration passes
   API parameters as given, and S3 requires `CopySource` URL-encoded by the caller: the
   workflow encodes it (`RunIdentity.copy_source`), so the interpreter must not encode twice.
   (No upstream issue found.)
14. Step Functions sends "Step Functions Execution Status Change" events to the default bus
   (https://docs.aws.amazon.com/eventbridge/latest/ref/events-ref-states.html,
   https://docs.aws.amazon.com/step-functions/latest/dg/eventbridge-integration.html); moto
   sends none. Each execution that ends (SUCCEEDED, FAILED, TIMED_OUT, ABORTED) is put on the
   default bus in that shape, so the rules that watch executions run locally too. (No upstream
   issue found.)

No public option of moto covers these (its only Step Functions option, `execute_state_machine`,
is fix 2). Fixes 3, 5, 6 and 12 replace five methods of `StateTaskServiceEcs`; a subclass would
hold them, but moto builds the class in one place (`state_task_service_for`, in its module
`state_task_service_factory`), so plugging a subclass in would still patch moto, there.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from botocore.handlers import handle_copy_source_param

from infra.state_machine import STATUS_CHANGE_DETAIL_TYPE
from shoppulse.local.moto_fixes.patching import HOOKS, replace

if TYPE_CHECKING:
    from botocore.client import BaseClient

LOG = logging.getLogger(__name__)
C = TypeVar("C", bound="BaseClient")


def apply() -> None:
    _fix_sfn_ecs_integration()
    _fix_sfn_copy_source()
    _fix_sfn_executions()
    _fix_sfn_status_change_events()
    _fix_sfn_stop_is_final()


ECS_PLACEMENT_ERROR = "AmazonECS.Unknown"


_SYNC_POLL_SECONDS = 0.25


def _fix_sfn_ecs_integration() -> None:
    import botocore.session
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_ecs import (
        StateTaskServiceEcs,
    )

    ecs_model = botocore.session.get_session().get_service_model("ecs")

    def operation(self: Any, service_action_name: str | None) -> Any:
        action = service_action_name or self.resource.api_action
        name = "".join(part[:1].upper() + part[1:] for part in action.split("_"))
        return ecs_model.operation_model(name)

    def normalise_parameters(
        self: Any,
        parameters: dict[str, Any],
        boto_service_name: str | None = None,
        service_action_name: str | None = None,
    ) -> None:
        self._to_boto_request(parameters, operation(self, service_action_name).input_shape)

    def normalise_response(
        self: Any, response: Any, boto_service_name: str | None = None, service_action_name: str | None = None
    ) -> None:
        self._from_boto_response(response, operation(self, service_action_name).output_shape)

    def build_sync_resolver(
        self: Any, env: Any, resource_runtime_part: Any, normalised_parameters: dict[str, Any], state_credentials: Any
    ) -> _EcsTaskWatch:
        submitted = env.stack.pop()["Tasks"][0]
        region = resource_runtime_part.region
        return _EcsTaskWatch(self, region, submitted["ClusterArn"], submitted["TaskArn"], state_credentials)

    def eval_sync(
        self: Any,
        env: Any,
        sync_resolver: _EcsTaskWatch,
        timeout_seconds: int | None,
        callback_endpoint: Any,
        heartbeat_endpoint: Any,
    ) -> Any:
        # Fix 6: no task-token listener. Fix 5: fail on exit code, stop the task when abandoned.
        description = None
        try:
            while env.is_running() and description is None:
                description = sync_resolver.poll()
        finally:
            if description is None:
                sync_resolver.stop("Step Functions stopped waiting for the task (timeout or stop)")
        if description is not None and not _succeeded(description):
            raise _task_failed(self, env, description)
        return description

    def eval_service_task(
        self: Any, env: Any, resource_runtime_part: Any, normalised_parameters: dict[str, Any], state_credentials: Any
    ) -> None:
        from moto.stepfunctions.parser.asl.utils.boto_client import boto_client_for

        client: Any = boto_client_for(
            region=resource_runtime_part.region, service="ecs", state_credentials=state_credentials
        )
        action = self._get_boto_service_action()
        response = getattr(client, action)(**normalised_parameters)
        response.pop("ResponseMetadata", None)
        if action != "run_task":
            env.stack.append(response)
            return
        if response.get("failures"):  # fix 12
            raise _state_failure(self, env, ECS_PLACEMENT_ERROR, json.dumps({"Failures": response["failures"]}))
        self._normalise_response(response=response, service_action_name="run_task")
        # AWS outputs the description of the task, not the output of run_task.
        submitted = response["Tasks"][0]
        described = client.describe_tasks(cluster=submitted["ClusterArn"], tasks=[submitted["TaskArn"]])
        described.pop("ResponseMetadata", None)
        self._normalise_response(response=described, service_action_name="describe_tasks")
        env.stack.append(described)

    replace(StateTaskServiceEcs, "_eval_service_task", eval_service_task)
    replace(StateTaskServiceEcs, "_normalise_parameters", normalise_parameters)
    replace(StateTaskServiceEcs, "_normalise_response", normalise_response)
    replace(StateTaskServiceEcs, "_build_sync_resolver", build_sync_resolver)
    replace(StateTaskServiceEcs, "_eval_sync", eval_sync)


class _EcsTaskWatch:
    """Waits for one task to stop, as the `.sync` integration does (DescribeTasks)."""

    def __init__(self, state: Any, region: str, cluster_arn: str, task_arn: str, credentials: Any = None) -> None:
        from moto.stepfunctions.parser.asl.utils.boto_client import boto_client_for

        self._state = state
        # As the execution role (shoppulse.local.iam.step_functions), like the state's own calls.
        self._client: Any = boto_client_for(region=region, service="ecs", state_credentials=credentials)
        self._cluster = cluster_arn
        self._task = task_arn

    def poll(self) -> dict[str, Any] | None:
        """The task's description (Step Functions casing) once STOPPED, else None after a wait."""
        runner = HOOKS.ecs
        try:
            if runner is not None:
                runner.wait(self._task, _SYNC_POLL_SECONDS)
            else:
                time.sleep(_SYNC_POLL_SECONDS)
        except KeyError:  # not a task of ours: plain polling
            time.sleep(_SYNC_POLL_SECONDS)
        described: dict[str, Any] = self._client.describe_tasks(cluster=self._cluster, tasks=[self._task])
        described.pop("ResponseMetadata", None)
        if described["tasks"][0]["lastStatus"] != "STOPPED":
            return None
        self._state._normalise_response(response=described, service_action_name="describe_tasks")
        task: dict[str, Any] = _epoch_millis(described["Tasks"][0])
        return task

    def stop(self, reason: str) -> None:
        try:
            self._client.stop_task(cluster=self._cluster, task=self._task, reason=reason)
        except Exception:  # the task may be gone already; nothing left to stop
            LOG.warning("could not stop abandoned task %s", self._task, exc_info=True)


def _epoch_millis(value: Any) -> Any:
    """Timestamps as the integration outputs them (epoch milliseconds), not datetimes."""
    if isinstance(value, datetime):
        return int(value.timestamp() * 1000)
    if isinstance(value, dict):
        return {k: _epoch_millis(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_epoch_millis(v) for v in value]
    return value


def _succeeded(description: Mapping[str, Any]) -> bool:
    containers = description.get("Containers") or []
    return bool(containers) and all(c.get("ExitCode") == 0 for c in containers)


def _task_failed(state: Any, env: Any, description: Mapping[str, Any]) -> Exception:
    return _state_failure(state, env, "States.TaskFailed", json.dumps(description, default=str))


def _state_failure(state: Any, env: Any, error: str, cause: str) -> Exception:
    """The exception that fails a Task state with `error` (a States.* name or a service's own)."""
    from moto.stepfunctions.parser.api import HistoryEventType, TaskFailedEventDetails
    from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import CustomErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
        FailureEvent,
        FailureEventException,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
        StatesErrorNameType,
    )
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

    name: Any
    if error == StatesErrorNameType.StatesTaskFailed.to_name():
        name = StatesErrorName(typ=StatesErrorNameType.StatesTaskFailed)
    else:
        name = CustomErrorName(error)
    return FailureEventException(
        failure_event=FailureEvent(
            env=env,
            error_name=name,
            event_type=HistoryEventType.TaskFailed,
            event_details=EventDetails(  # type: ignore[typeddict-item]  # moto's own is total, used with one key
                taskFailedEventDetails=TaskFailedEventDetails(
                    resourceType=state._get_sfn_resource_type(),
                    resource=state._get_sfn_resource(),
                    error=error,
                    cause=cause,
                )
            ),
        )
    )


def as_sdk_integration_s3(client: C) -> C:
    """An S3 client as the Step Functions aws-sdk integration calls S3 (fix 13): `CopySource`
    passed as given, never URL-encoded by the client. Every interpreter of the workflow (moto's,
    `shoppulse replay`'s) calls S3 through one of these."""
    if client.meta.service_model.service_name != "s3":
        raise ValueError(f"not an S3 client: {client.meta.service_model.service_name}")
    for operation in ("CopyObject", "UploadPartCopy"):
        client.meta.events.unregister(f"before-parameter-build.s3.{operation}", handle_copy_source_param)
    return client


def _fix_sfn_copy_source() -> None:
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import state_task_service_aws_sdk
    from moto.stepfunctions.parser.asl.utils import boto_client

    def boto_client_for(*args: Any, **kwargs: Any) -> BaseClient:
        # Looked up at each call: the IAM enforcement (shoppulse.local.iam.step_functions) replaces it.
        client: BaseClient = boto_client.boto_client_for(*args, **kwargs)
        if client.meta.service_model.service_name == "s3":
            as_sdk_integration_s3(client)
        return client

    replace(state_task_service_aws_sdk, "boto_client_for", boto_client_for)


def _fix_sfn_status_change_events() -> None:
    from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication

    original_terminated = BaseExecutionWorkerCommunication.terminated

    def terminated(self: Any) -> None:
        original_terminated(self)
        try:
            _put_status_change(self.execution)
        except Exception:  # an event that cannot be sent never breaks the execution
            LOG.exception("could not send the status change of %s", self.execution.exec_arn)

    replace(BaseExecutionWorkerCommunication, "terminated", terminated)


def _millis(moment: Any) -> int | None:
    return int(moment.timestamp() * 1000) if isinstance(moment, datetime) else None


def status_change_detail(execution: Any) -> dict[str, Any]:
    """The `detail` of a status-change event, as the EventBridge integration page shows it."""
    status = execution.exec_status.value if execution.exec_status is not None else "RUNNING"
    output = execution.output if status == "SUCCEEDED" else None
    return {
        "executionArn": execution.exec_arn,
        "stateMachineArn": execution.state_machine.arn,
        "name": execution.name,
        "status": status,
        "startDate": _millis(execution.start_date),
        "stopDate": _millis(execution.stop_date),
        "input": json.dumps(execution.input_data),
        "output": json.dumps(output) if output is not None else None,
        "inputDetails": {"included": True},
        "outputDetails": {"included": True} if output is not None else None,
        "error": execution.error,
        "cause": execution.cause,
    }


def _put_status_change(execution: Any) -> None:
    if HOOKS.events is None:
        return
    from moto.events.models import events_backends

    backend = events_backends[execution.account_id][execution.region_name]
    backend.put_events(
        [
            {
                "Source": "aws.states",
                "DetailType": STATUS_CHANGE_DETAIL_TYPE,
                "Detail": json.dumps(status_change_detail(execution)),
                "Resources": [execution.exec_arn],
                "EventBusName": "default",
            }
        ]
    )


def _fix_sfn_executions() -> None:
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    original_start = StepFunctionsParserBackend.start_execution
    original_environment = ExecutionWorker._get_evaluation_environment

    def start_execution(self: Any, state_machine_arn: str, name: Any = None, *args: Any, **kwargs: Any) -> Any:
        return original_start(self, state_machine_arn, name or str(uuid.uuid4()), *args, **kwargs)

    def evaluation_environment(self: Any) -> Any:
        env = original_environment(self)
        execution = env.states.context_object.context_object_data["Execution"]
        started: Any = execution.get("StartTime")  # typed str by moto, a datetime in fact
        if isinstance(started, datetime):
            execution["StartTime"] = _iso_millis(started)
        return env

    replace(StepFunctionsParserBackend, "start_execution", start_execution)
    replace(ExecutionWorker, "_get_evaluation_environment", evaluation_environment)


def _iso_millis(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _fix_sfn_stop_is_final() -> None:
    from moto.stepfunctions.parser.asl.eval.environment import Environment
    from moto.stepfunctions.parser.asl.eval.program_state import ProgramStopped, ProgramTimedOut

    original_set_error = Environment.set_error

    def set_error(self: Any, error: Any) -> None:
        with self._state_mutex:  # re-entrant: moto's own takes it again
            if isinstance(self._program_state, (ProgramStopped, ProgramTimedOut)):
                return  # fix 27: the execution already ended ABORTED or TIMED_OUT
            original_set_error(self, error)

    replace(Environment, "set_error", set_error)
