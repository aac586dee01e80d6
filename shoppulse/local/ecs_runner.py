"""Runs ECS tasks as local processes: the containers' entry points, for real.

Fargate is replaced by a child process per task: same command, the task definition's
environment plus the run's overrides, the real exit code, a stop that kills the process
(SIGTERM, then SIGKILL after the grace period, as ECS does with `stopTimeout`), and the
output kept in a log file per task. The runner knows nothing of moto: `moto_fixes` turns
moto's task model into a `TaskLaunch` and applies the `TaskOutcome` back.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from typing import IO, Union

from shoppulse.local.warm_start import WarmProcess, WarmStarter

LOG = logging.getLogger(__name__)

# Interpreter names in a task definition's command that mean "the project's Python".
_PYTHON_NAMES = frozenset({"python", "python3", "python3.11"})


Process = Union["subprocess.Popen[bytes]", WarmProcess]


class StopCode(str, Enum):
    """ECS `stopCode` values (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_Task.html).

    The local runner produces the first three; the platform's own stops exist only in AWS."""

    ESSENTIAL_CONTAINER_EXITED = "EssentialContainerExited"
    TASK_FAILED_TO_START = "TaskFailedToStart"
    USER_INITIATED = "UserInitiated"
    SPOT_INTERRUPTION = "SpotInterruption"
    TERMINATION_NOTICE = "TerminationNotice"


class PlacementFailed(Exception):
    """The task cannot be placed now (as ECS reports no capacity in RunTask's `failures`)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class TaskLaunch:
    """Everything needed to start one task's (single, essential) container."""

    task_arn: str
    family: str
    container_name: str
    command: Sequence[str]
    environment: Mapping[str, str]
    # The container's stopTimeout: SIGTERM to SIGKILL (None: the runner's default).
    stop_timeout_seconds: float | None = None


@dataclass(frozen=True)
class TaskOutcome:
    exit_code: int | None
    stop_code: StopCode
    reason: str
    log_path: Path


@dataclass
class _Running:
    launch: TaskLaunch
    log_path: Path
    on_exit: Callable[[TaskOutcome], None]
    process: Process | None = None
    stop_reason: str | None = None
    done: threading.Event = field(default_factory=threading.Event)
    outcome: TaskOutcome | None = None


class LocalEcsRunner:
    """Starts, watches and stops task processes; one per `run_task`."""

    def __init__(
        self,
        *,
        workdir: Path,
        log_dir: Path,
        base_environment: Mapping[str, str],
        stop_grace_seconds: float = 30.0,
        warm_start: bool = False,
    ) -> None:
        self._workdir = workdir
        self._log_dir = log_dir
        self._base_environment = dict(base_environment)
        self._grace = stop_grace_seconds
        self._tasks: dict[str, _Running] = {}
        self._lock = threading.Lock()
        # Applied over every task's environment: fault injection (an unreachable endpoint, a
        # setting a task must not have) to exercise the workflow's failure path.
        self.environment_overrides: dict[str, str] = {}
        # Fault injection too: the next N launches fail placement (no capacity, `AmazonECS.Unknown`).
        self.refuse_launches = 0
        self._warm = WarmStarter(self._base_environment, workdir) if warm_start else None

    def start(self, launch: TaskLaunch, on_exit: Callable[[TaskOutcome], None]) -> None:
        """Start the task's process in the background; `on_exit` gets its outcome."""
        with self._lock:
            if self.refuse_launches > 0:
                self.refuse_launches -= 1
                raise PlacementFailed("RESOURCE:FARGATE: capacity is unavailable at this time")
        task_id = launch.task_arn.rsplit("/", 1)[-1]
        log_path = self._log_dir / "ecs" / launch.family / f"{task_id}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        running = _Running(launch=launch, log_path=log_path, on_exit=on_exit)
        with self._lock:
            self._tasks[launch.task_arn] = running
        threading.Thread(target=self._run, args=(running,), name=f"ecs-{task_id}", daemon=True).start()

    def stop(self, task_arn: str, reason: str) -> None:
        """Stop a task as `ecs:StopTask` does: SIGTERM, then SIGKILL after the grace period."""
        with self._lock:
            running = self._tasks.get(task_arn)
        if running is None or running.done.is_set():
            return
        running.stop_reason = reason or "Task stopped by user"
        process = running.process
        if process is None or process.poll() is not None:
            return
        LOG.info("stopping task", extra={"task_arn": task_arn, "reason": running.stop_reason})
        _signal_group(process, signal.SIGTERM)
        grace = running.launch.stop_timeout_seconds
        try:
            process.wait(self._grace if grace is None else grace)
        except subprocess.TimeoutExpired:
            _signal_group(process, signal.SIGKILL)

    def running(self) -> list[str]:
        """The tasks whose process is alive."""
        with self._lock:
            return [arn for arn, r in self._tasks.items() if r.process is not None and not r.done.is_set()]

    def kill(self, task_arn: str) -> None:
        """SIGKILL a task's process from outside, as the OOM killer or the platform does (fault injection)."""
        with self._lock:
            running = self._tasks[task_arn]
        if running.process is not None:
            _signal_group(running.process, signal.SIGKILL)

    def wait(self, task_arn: str, timeout: float | None = None) -> TaskOutcome | None:
        """The task's outcome once it has stopped; None while it still runs after `timeout`."""
        with self._lock:
            running = self._tasks.get(task_arn)
        if running is None:
            raise KeyError(task_arn)
        running.done.wait(timeout)
        return running.outcome

    def shutdown(self) -> None:
        """Stop every task still running (clean shutdown of the local stack)."""
        with self._lock:
            arns = [arn for arn, r in self._tasks.items() if not r.done.is_set()]
        for arn in arns:
            self.stop(arn, "Local stack shutting down")
        if self._warm is not None:
            self._warm.close()

    def _command(self, launch: TaskLaunch) -> list[str]:
        command = list(launch.command)
        if command and command[0] in _PYTHON_NAMES:
            command[0] = sys.executable
        return command

    def _environment(self, launch: TaskLaunch) -> dict[str, str]:
        return {**self._base_environment, **launch.environment, **self.environment_overrides}

    def _run(self, running: _Running) -> None:
        launch = running.launch
        command = self._command(launch)
        with open(running.log_path, "ab") as log:
            log.write(f"# {_now()} task {launch.task_arn}\n# command {command}\n".encode())
            log.flush()
            try:
                running.process = self._spawn(command, self._environment(launch), log, running.log_path)
            except (OSError, ValueError) as err:
                outcome = TaskOutcome(
                    None, StopCode.TASK_FAILED_TO_START, f"CannotStartContainerError: {err}", running.log_path
                )
            else:
                if running.stop_reason is not None:  # stopped before it got going
                    self.stop(launch.task_arn, running.stop_reason)
                exit_code = running.process.wait()
                outcome = self._outcome(running, exit_code)
            log.write(
                f"# {_now()} stopped: exit code {outcome.exit_code}, {outcome.stop_code.value}: {outcome.reason}\n".encode()
            )
        running.outcome = outcome
        try:
            running.on_exit(outcome)
        finally:
            running.done.set()

    def _spawn(self, command: list[str], environment: dict[str, str], log: IO[bytes], log_path: Path) -> Process:
        """A warm start for `python -m module ...` when enabled, else a plain child process."""
        if not command:
            raise ValueError("the task definition's container has no command")
        if self._warm is not None and len(command) >= 3 and command[0] == sys.executable and command[1] == "-m":
            return self._warm.start(command[2], command[3:], environment, self._workdir, log_path)
        return subprocess.Popen(
            command,
            cwd=self._workdir,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @staticmethod
    def _outcome(running: _Running, exit_code: int) -> TaskOutcome:
        # A process killed by a signal reports -N; a container reports 128 + N (SIGKILL: 137,
        # what ECS shows for an OOM kill or a task killed from outside).
        code = 128 - exit_code if exit_code < 0 else exit_code
        if running.stop_reason is not None:
            return TaskOutcome(code, StopCode.USER_INITIATED, running.stop_reason, running.log_path)
        reason = "Essential container in task exited"
        if exit_code < 0:
            reason = f"{reason}: killed by signal {signal.Signals(-exit_code).name}"
        return TaskOutcome(code, StopCode.ESSENTIAL_CONTAINER_EXITED, reason, running.log_path)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _signal_group(process: Process, sig: signal.Signals) -> None:
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:  # not yet its own group leader (a warm start being set up)
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, sig)
