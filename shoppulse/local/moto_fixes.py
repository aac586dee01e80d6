"""Every adaptation of moto 5.2.5 the local runtime needs, in one place.

Each fix says what moto does, what AWS does, and where upstream tracks it, so that it can
be deleted when moto catches up (pin: moto[server]==5.2.5). Nothing else in the project
patches or works around moto.

1. botocore >= 1.38 sends DynamoDB (Streams) calls to an account-based endpoint moto does
   not serve: in-process clients run with `AWS_ACCOUNT_ID_ENDPOINT_MODE=disabled`.
2. Step Functions only *stores* state machines unless `execute_state_machine` is on (it
   must be on before the state machine is created); its interpreter calls the other
   services at `localhost:$MOTO_PORT`, so MOTO_PORT must name the embedded server.
3. `ecs:runTask.sync` passes the ASL parameters in PascalCase to the ECS API, which wants
   camelCase (upstream getmoto/moto#10076): the call fails with `States.Runtime 'Cluster'`.
4. moto's ECS runs nothing and walks every task to STOPPED with exit code 0 after a few
   reads. Tasks are run by `LocalEcsRunner` (real process, real exit code, stop kills).
   Also, RunTask fails (HTTP 500, TypeError) for a Fargate task definition whose container
   sets no memory of its own, which AWS allows (task-level memory applies), and for an
   awsvpc configuration without `securityGroups`, which AWS allows (VPC default group).
   (moto's task ENI also needs a VPC with DNS hostnames; the local VPC, `provision._network`,
   has them on, as a Fargate VPC using interface endpoints must anyway.)
5. `ecs:runTask.sync` succeeds whatever the exit code. In AWS a task whose container exits
   non-zero (or that is stopped) fails the state with `States.TaskFailed`, the task's
   description as the cause. Also, when AWS stops waiting (state timeout, execution
   stopped), it stops the task; moto leaves it running.
6. A retried `.sync` state reports a false `States.Timeout` at once: moto's sync waiter
   also listens for a task token, and the retry reuses the token whose endpoint the
   failed attempt interrupted (moto/stepfunctions/parser/.../state_task_service_callback.py,
   `_eval_sync`; no upstream issue yet). `.sync` never takes task tokens, so the fixed
   waiter does not listen for one.
7. moto's EventBridge raises NotImplementedError for Step Functions targets, so nothing
   starts the workflow, and a failing target stops delivery to the others. Its pattern
   matcher is approximate, and S3 events go to rules on every bus with a numeric `time`
   and a fixed `id`. Events are matched with the project's matcher and delivered by
   `LocalEventBus` (one target at a time, retries, target DLQ) in AWS's shape.
8. Step Functions: an execution started without a name is named "None" (every such
   execution gets the same ARN, so DescribeExecution finds the wrong one); AWS names it with
   a UUID. And `$$.Execution.StartTime` is a datetime object, which breaks any service
   integration that passes it on (`Object of type datetime is not JSON serializable`); AWS
   gives an ISO-8601 string.
9. DynamoDB stream records from moto lack `eventSourceARN`, and the API returns
   `ApproximateCreationDateTime` as a datetime: `wire_stream_record` gives the wire format
   a Lambda (or Pipe target) receives. moto's Pipes only store configuration: pipes are
   run by `shoppulse.local.pipes`.
10. DynamoDB TransactWriteItems deep-copies a whole table once per item of the transaction,
   for rollback (see `_NoTableCopies`): the fix snapshots only the items it names.
11. S3 uploads: botocore (>= 1.36) sends bodies aws-chunked with a trailing checksum, and
   moto decodes them by repeated bytes concatenation (`S3Response._handle_encoded_body`),
   which is quadratic: a 90 MiB PutObject took 5.5 s, 16 MiB 0.25 s. Clients of the
   embedded AWS compute checksums only where an API requires one
   (`AWS_REQUEST_CHECKSUM_CALCULATION=when_required`), so bodies go plain.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from moto.core.config import default_user_config

from chalicelib.stream_records import StreamEventName, StreamRecord, StreamViewType, build_stream_record
from shoppulse.local.ecs_runner import LocalEcsRunner, StopCode, TaskLaunch, TaskOutcome

LOG = logging.getLogger(__name__)

# --- 1, 2 and 11: settings -----------------------------------------------------------------

CLIENT_ENVIRONMENT: Mapping[str, str] = {
    "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
    "AWS_REQUEST_CHECKSUM_CALCULATION": "when_required",
}


def configure_server_process(port: int) -> None:
    """Settings the in-process moto server needs; call before creating any state machine."""
    default_user_config["stepfunctions"]["execute_state_machine"] = True
    os.environ["MOTO_PORT"] = str(port)
    os.environ.update(CLIENT_ENVIRONMENT)


# --- hooks into the local runtime -------------------------------------------------------------


class EventDelivery(Protocol):
    """What fix 7 hands matched events to (`shoppulse.local.event_bus.LocalEventBus`)."""

    def matches(self, pattern_text: str, event: Mapping[str, Any]) -> bool: ...

    def deliver(self, rule_arn: str, target: Mapping[str, Any], event: Mapping[str, Any]) -> bool:
        """True when the target was taken care of; False to let moto deliver it."""
        ...


@dataclass
class _Hooks:
    ecs: LocalEcsRunner | None = None
    events: EventDelivery | None = None


_HOOKS = _Hooks()
_ECS_TASK_MODEL = "ecs::task"
_INSTALL_LOCK = threading.Lock()
_installed = False


def install(ecs_runner: LocalEcsRunner, event_delivery: EventDelivery | None = None) -> None:
    """Apply every fix (once per process) and route tasks and events to this stack."""
    global _installed
    from moto.moto_api import state_manager

    _HOOKS.ecs = ecs_runner
    _HOOKS.events = event_delivery
    # Only the runner moves a task's status: moto must never advance it on reads.
    state_manager.set_transition(_ECS_TASK_MODEL, {"progression": "manual", "times": 2**62})
    with _INSTALL_LOCK:
        if _installed:
            return
        _fix_sfn_ecs_integration()
        _fix_sfn_executions()
        _fix_ecs_tasks()
        _fix_eventbridge_delivery()
        fix_dynamodb_transaction_snapshots()
        _installed = True


def uninstall() -> None:
    """Detach the stack's runner and bus; moto's own ECS task lifecycle applies again."""
    from moto.moto_api import state_manager

    _HOOKS.ecs = None
    _HOOKS.events = None
    state_manager.unset_transition(_ECS_TASK_MODEL)


# --- 3, 5, 6: the Step Functions ECS integration ----------------------------------------------

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
        self: Any, parameters: dict, boto_service_name: str | None = None, service_action_name: str | None = None
    ) -> None:
        self._to_boto_request(parameters, operation(self, service_action_name).input_shape)

    def normalise_response(
        self: Any, response: Any, boto_service_name: str | None = None, service_action_name: str | None = None
    ) -> None:
        self._from_boto_response(response, operation(self, service_action_name).output_shape)

    def build_sync_resolver(
        self: Any, env: Any, resource_runtime_part: Any, normalised_parameters: dict, state_credentials: Any
    ) -> _EcsTaskWatch:
        submitted = env.stack.pop()["Tasks"][0]
        return _EcsTaskWatch(self, resource_runtime_part.region, submitted["ClusterArn"], submitted["TaskArn"])

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

    StateTaskServiceEcs._normalise_parameters = normalise_parameters
    StateTaskServiceEcs._normalise_response = normalise_response
    StateTaskServiceEcs._build_sync_resolver = build_sync_resolver
    StateTaskServiceEcs._eval_sync = eval_sync


class _EcsTaskWatch:
    """Waits for one task to stop, as the `.sync` integration does (DescribeTasks)."""

    def __init__(self, state: Any, region: str, cluster_arn: str, task_arn: str) -> None:
        from moto.stepfunctions.parser.asl.utils.boto_client import boto_client_for

        self._state = state
        self._client = boto_client_for(region=region, service="ecs")
        self._cluster = cluster_arn
        self._task = task_arn

    def poll(self) -> dict[str, Any] | None:
        """The task's description (Step Functions casing) once STOPPED, else None after a wait."""
        runner = _HOOKS.ecs
        try:
            if runner is not None:
                runner.wait(self._task, _SYNC_POLL_SECONDS)
            else:
                time.sleep(_SYNC_POLL_SECONDS)
        except KeyError:  # not a task of ours: plain polling
            time.sleep(_SYNC_POLL_SECONDS)
        described = self._client.describe_tasks(cluster=self._cluster, tasks=[self._task])
        described.pop("ResponseMetadata", None)
        if described["tasks"][0]["lastStatus"] != "STOPPED":
            return None
        self._state._normalise_response(response=described, service_action_name="describe_tasks")
        return _epoch_millis(described["Tasks"][0])

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
    from moto.stepfunctions.parser.api import HistoryEventType, TaskFailedEventDetails
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
        FailureEvent,
        FailureEventException,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
        StatesErrorNameType,
    )
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

    error = StatesErrorNameType.StatesTaskFailed
    return FailureEventException(
        failure_event=FailureEvent(
            env=env,
            error_name=StatesErrorName(typ=error),
            event_type=HistoryEventType.TaskFailed,
            event_details=EventDetails(
                taskFailedEventDetails=TaskFailedEventDetails(
                    resourceType=state._get_sfn_resource_type(),
                    resource=state._get_sfn_resource(),
                    error=error.to_name(),
                    cause=json.dumps(description, default=str),
                )
            ),
        )
    )


# --- 8: Step Functions executions -----------------------------------------------------------------


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
        if isinstance(execution.get("StartTime"), datetime):
            execution["StartTime"] = _iso_millis(execution["StartTime"])
        return env

    StepFunctionsParserBackend.start_execution = start_execution
    ExecutionWorker._get_evaluation_environment = evaluation_environment


def _iso_millis(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


# --- 4: ECS tasks run as local processes --------------------------------------------------------


def _fix_ecs_tasks() -> None:
    from moto.ecs.models import EC2ContainerServiceBackend

    original_run_task = EC2ContainerServiceBackend.run_task
    original_stop_task = EC2ContainerServiceBackend.stop_task

    def run_task(
        self: Any,
        cluster_str: str,
        task_definition_str: str,
        count: int,
        overrides: Any,
        started_by: str,
        tags: Any,
        launch_type: str | None,
        networking_configuration: dict[str, Any] | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> list[Any]:
        vpc = (networking_configuration or {}).get("awsvpcConfiguration")
        if vpc is not None:
            vpc.setdefault("securityGroups", [])
        tasks = original_run_task(
            self,
            cluster_str,
            task_definition_str,
            count,
            overrides,
            started_by,
            tags,
            launch_type,
            networking_configuration,
            *args,
            **kwargs,
        )
        runner = _HOOKS.ecs
        if runner is not None:
            for task in tasks:
                _start_task(self, runner, task)
        return tasks

    def stop_task(self: Any, cluster_str: str, task_str: str, reason: str) -> Any:
        runner = _HOOKS.ecs
        task = _find_task(self, cluster_str, task_str)
        if runner is None or task is None or getattr(task, "_local", False) is False:
            return original_stop_task(self, cluster_str, task_str, reason)
        task.desired_status = "STOPPED"
        task.stopped_reason = reason or "Task stopped by user"
        threading.Thread(target=runner.stop, args=(task.task_arn, task.stopped_reason), daemon=True).start()
        return task

    original_requirements = EC2ContainerServiceBackend._calculate_task_resource_requirements

    def resource_requirements(task_definition: Any) -> dict[str, Any]:
        containers = task_definition.container_definitions
        if all(c.get("memory") or c.get("memoryReservation") for c in containers):
            return original_requirements(task_definition)
        # Fargate: sizes are the task's; only EC2 placement would use these numbers.
        return {
            "CPU": int(task_definition.cpu or 0),
            "MEMORY": int(task_definition.memory or 0),
            "PORTS": [],
            "PORTS_UDP": [],
        }

    EC2ContainerServiceBackend.run_task = run_task
    EC2ContainerServiceBackend.stop_task = stop_task
    EC2ContainerServiceBackend._calculate_task_resource_requirements = staticmethod(resource_requirements)


def _find_task(backend: Any, cluster_str: str, task_str: str) -> Any:
    task_id = task_str.split("/")[-1]
    cluster_name = cluster_str.split("/")[-1]
    for arn, task in backend.tasks.get(cluster_name, {}).items():
        if arn.endswith(task_id):
            return task
    return None


def _start_task(backend: Any, runner: LocalEcsRunner, task: Any) -> None:
    definition = backend.describe_task_definition(task.task_definition_arn)
    container = definition.container_definitions[0]
    override = next(
        (o for o in (task.overrides or {}).get("containerOverrides", []) if o.get("name") == container.get("name")),
        {},
    )
    environment = {e["name"]: e["value"] for e in container.get("environment") or []}
    environment.update({e["name"]: e["value"] for e in override.get("environment") or []})
    command = list(container.get("entryPoint") or []) + list(override.get("command") or container.get("command") or [])
    launch = TaskLaunch(
        task_arn=task.task_arn,
        family=definition.family,
        container_name=container.get("name", ""),
        command=command,
        environment=environment,
        stop_timeout_seconds=container.get("stopTimeout"),
    )
    task._local = True
    task.last_status = "RUNNING"
    task.started_at = _now()
    for model in task.containers:
        model.last_status = "RUNNING"
        model.exitCode = None
    runner.start(launch, lambda outcome: _task_stopped(task, outcome))


def _task_stopped(task: Any, outcome: TaskOutcome) -> None:
    now = _now()
    for model in task.containers:
        model.last_status = "STOPPED"
        model.exitCode = outcome.exit_code
        if outcome.stop_code is StopCode.TASK_FAILED_TO_START:
            model.reason = outcome.reason
    task.stop_code = outcome.stop_code.value
    task.stopped_reason = task.stopped_reason or outcome.reason
    task.desired_status = "STOPPED"
    task.stopping_at = task.stopped_at = task.execution_stopped_at = now
    task.last_status = "STOPPED"


def _now() -> datetime:
    return datetime.now(UTC)


# --- 7: EventBridge ---------------------------------------------------------------------------


def _fix_eventbridge_delivery() -> None:
    from moto.events.models import Rule

    original_send_to_targets = Rule.send_to_targets

    def send_to_targets(self: Any, original_event: dict[str, Any], transform_input: bool = True) -> None:
        delivery = _HOOKS.events
        if delivery is None:
            return original_send_to_targets(self, original_event, transform_input)
        event = aws_event(original_event)
        if event.get("source") == "aws.s3" and self.event_bus_name != "default":
            return None  # S3 sends to the default bus only
        if self.state != "ENABLED" or not delivery.matches(self.event_pattern._raw_pattern or "{}", event):
            return None
        for target in self.targets:
            try:
                if not delivery.deliver(self.arn, target, event):
                    single = _RuleView(self, target)
                    original_send_to_targets(single, event, transform_input)
            except Exception:  # one target's failure never stops the others
                LOG.exception("event delivery to %s failed", target.get("Arn"))
        return None

    Rule.send_to_targets = send_to_targets


class _RuleView:
    """A rule seen with one target and a pattern already matched, for moto's own delivery."""

    def __init__(self, rule: Any, target: Mapping[str, Any]) -> None:
        self._rule = rule
        self.targets = [target]
        self.event_pattern = _AlwaysMatches()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._rule, name)


class _AlwaysMatches:
    def matches_event(self, event: Any) -> bool:
        return True


def aws_event(event: Mapping[str, Any]) -> dict[str, Any]:
    """An event as EventBridge delivers it: a unique id and an ISO-8601 `time`."""
    fixed = json.loads(json.dumps(event, default=str))
    if fixed.get("id") in (None, "", "17793124-05d4-b198-2fde-7ededc63b103"):
        fixed["id"] = str(uuid.uuid4())
    when = fixed.get("time")
    if isinstance(when, (int, float)) or (isinstance(when, str) and _is_number(when)):
        fixed["time"] = datetime.fromtimestamp(float(when), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    elif not when:
        fixed["time"] = _now().strftime("%Y-%m-%dT%H:%M:%SZ")
    return fixed


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


# --- 9: DynamoDB stream records ---------------------------------------------------------------


def wire_stream_record(record: Mapping[str, Any], stream_arn: str) -> StreamRecord:
    """A record from GetRecords (as boto3 parses moto's answer) in the wire format Pipes deliver."""
    data = record["dynamodb"]
    created = data["ApproximateCreationDateTime"]
    return build_stream_record(
        event_name=StreamEventName(record["eventName"]),
        keys=data["Keys"],
        old_image=data.get("OldImage"),
        new_image=data.get("NewImage"),
        sequence_number=data["SequenceNumber"],
        approximate_creation_time=created.timestamp() if isinstance(created, datetime) else float(created),
        stream_arn=stream_arn,
        view_type=StreamViewType(data.get("StreamViewType", StreamViewType.NEW_AND_OLD_IMAGES.value)),
        event_id=record["eventID"],
    )


# --- 10: DynamoDB transaction snapshots --------------------------------------------------------

_TRANSACTION = threading.local()


class _NoTableCopies:
    """Stands in for the `copy` module inside moto.dynamodb.models during a transaction.

    moto's TransactWriteItems deep-copies a whole table for rollback once per *item* of the
    transaction (moto/dynamodb/models/__init__.py, transact_write_items; no upstream issue
    yet), so a transaction costs table size times transaction size: seconds on a table of a
    few thousand items. During a transaction the table copies are skipped (the rollback then
    reassigns the same table) and only the items the transaction names are snapshotted and
    restored; every other copy is made as before.
    """

    def __init__(self, real: Any) -> None:
        self._real = real

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def deepcopy(self, value: Any, memo: Any = None) -> Any:
        from moto.dynamodb.models.table import Table

        if getattr(_TRANSACTION, "active", False) and isinstance(value, Table):
            return value
        return self._real.deepcopy(value, memo)


def _touched_items(backend: Any, transact_items: list[dict[str, Any]]) -> list[tuple[Any, Any, Any, Any]]:
    """(table, hash key, range key, copy of the current item or None) for each item named."""
    import copy

    from moto.dynamodb.models.dynamo_type import DynamoType

    saved = []
    for entry in transact_items:
        op = next(iter(entry.values()), {})
        table = backend.tables.get(op.get("TableName")) if isinstance(op, dict) else None
        key = (op.get("Key") or op.get("Item")) if table is not None else None
        if not key or table.hash_key_attr not in key or (table.range_key_attr and table.range_key_attr not in key):
            continue  # malformed: moto rejects it before changing anything
        hash_key = DynamoType(key[table.hash_key_attr])
        range_key = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
        saved.append((table, hash_key, range_key, copy.deepcopy(table.get_item(hash_key, range_key))))
    return saved


def _restore(table: Any, hash_key: Any, range_key: Any, item: Any) -> None:
    """Put an item back as it was, without a stream record (the transaction never happened)."""
    if range_key is None:
        if item is None:
            table.items.pop(hash_key, None)
        else:
            table.items[hash_key] = item
    elif item is None:
        table.items.get(hash_key, {}).pop(range_key, None)
    else:
        table.items[hash_key][range_key] = item


def fix_dynamodb_transaction_snapshots() -> None:
    """Idempotent; needed in-process (embedded AWS) and in the server alike."""
    import copy

    from moto.dynamodb import models
    from moto.dynamodb.models import DynamoDBBackend

    if isinstance(models.copy, _NoTableCopies):
        return
    models.copy = _NoTableCopies(copy)
    original = DynamoDBBackend.transact_write_items

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        saved = _touched_items(self, transact_items)
        _TRANSACTION.active = True
        try:
            return original(self, transact_items)
        except Exception:
            for table, hash_key, range_key, item in reversed(saved):
                _restore(table, hash_key, range_key, item)
            raise
        finally:
            _TRANSACTION.active = False

    DynamoDBBackend.transact_write_items = transact_write_items
    _serialise_dynamodb_writes(DynamoDBBackend)


_DYNAMODB_WRITES = threading.RLock()


def _serialise_dynamodb_writes(backend: Any) -> None:
    """In AWS a conditional write checks and writes one item atomically
    (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/WorkingWithItems.html#WorkingWithItems.ConditionalUpdate);
    moto checks then writes without a lock, so two threads could both pass one condition (the
    batch writer lease relies on it). One lock around every write makes them atomic."""

    def locked(method: Any) -> Any:
        def write(self: Any, *args: Any, **kwargs: Any) -> Any:
            with _DYNAMODB_WRITES:
                return method(self, *args, **kwargs)

        return write

    for name in ("put_item", "update_item", "delete_item", "transact_write_items"):
        setattr(backend, name, locked(getattr(backend, name)))
