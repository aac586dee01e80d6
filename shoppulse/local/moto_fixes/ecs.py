"""ECS: fix 4, tasks run as local processes.

moto's ECS runs nothing and walks every task to STOPPED with exit code 0 after a few reads:
here tasks are run by `LocalEcsRunner` (real process, real exit code, stop kills), and moto's
state manager (its public `moto_api` option) never advances a task on reads (`TASK_MODEL`).
Also, RunTask fails (HTTP 500, TypeError) for a Fargate task definition whose container sets
no memory of its own, which AWS allows (task-level memory applies), and for an awsvpc
configuration without `securityGroups`, which AWS allows (VPC default group). (moto's task ENI
also needs a VPC with DNS hostnames; the local VPC, `provision._network`, has them on, as a
Fargate VPC using interface endpoints must anyway.)
Fix 12 (ECS half): moto's ECS never reports RunTask `failures`; a runner that cannot place a task
raises `PlacementFailed`, which becomes a `failures` entry of the RunTask response, as ECS reports
no capacity (the Step Functions half is in `moto_fixes.stepfunctions`). moto's own RunTask fails
the call when it cannot place a task (a TODO in moto/ecs/models.py, `run_task`; no upstream issue
found).
"""

from __future__ import annotations

import threading
from typing import Any

from shoppulse.local.ecs_runner import LocalEcsRunner, PlacementFailed, StopCode, TaskLaunch, TaskOutcome
from shoppulse.local.moto_fixes.patching import HOOKS, replace, utc_now

# moto's state-manager model of ECS tasks: only the runner moves a task's status.
TASK_MODEL = "ecs::task"


def apply() -> None:
    _fix_ecs_tasks()


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
        runner = HOOKS.ecs
        if runner is not None:
            placed = []
            for task in tasks:
                try:
                    _start_task(self, runner, task)
                except PlacementFailed as failure:  # fix 12: reported as ECS reports no capacity
                    self.tasks[task.cluster_name].pop(task.task_arn, None)
                    _PLACEMENT.failures.append({"arn": task.task_definition_arn, "reason": failure.reason})
                else:
                    placed.append(task)
            tasks = placed
        return tasks

    from moto.ecs.responses import EC2ContainerServiceResponse

    original_run_task_response = EC2ContainerServiceResponse.run_task

    def run_task_response(self: Any) -> Any:
        _PLACEMENT.failures = []
        result: Any = original_run_task_response(self)
        result.result["failures"].extend(_PLACEMENT.failures)
        _PLACEMENT.failures = []
        return result

    def stop_task(self: Any, cluster_str: str, task_str: str, reason: str) -> Any:
        runner = HOOKS.ecs
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

    replace(EC2ContainerServiceBackend, "run_task", run_task)
    replace(EC2ContainerServiceBackend, "stop_task", stop_task)
    replace(EC2ContainerServiceBackend, "_calculate_task_resource_requirements", staticmethod(resource_requirements))
    replace(EC2ContainerServiceResponse, "run_task", run_task_response)


# RunTask failures of the request being served (one request per thread).
_PLACEMENT = threading.local()


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
    override: dict[str, Any] = next(
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
    task.started_at = utc_now()
    for model in task.containers:
        model.last_status = "RUNNING"
        model.exitCode = None
    runner.start(launch, lambda outcome: _task_stopped(task, outcome))


def _task_stopped(task: Any, outcome: TaskOutcome) -> None:
    now = utc_now()
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
