"""The whole pipeline on one machine: embedded AWS, workflow, pipes, API. `with LocalStack(...)`.

Start order matters: moto is configured (state-machine execution on) before anything is
created; the fixes are installed before provisioning; pollers start after their queues and
streams exist; the API comes last. Stop runs in reverse and kills task processes still alive.

With `persist`, the tables and buckets are saved on stop and every `snapshot_interval_seconds`
while running (`snapshot`); a stop in the main thread defers SIGINT and SIGTERM until its save
is done (saying so), so a second Ctrl-C cannot cut a save short. At start, runs the last
session left RUNNING (their executions died with it) are closed FAILED, saying whether their
file, still in incoming/, is being processed again (restoring it announces it anew).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import boto3
from botocore.exceptions import ClientError

from chalicelib.api.http import AuthMode
from chalicelib.runs import RunRepository, RunStatus
from chalicelib.storage_layout import RunIdentity
from chalicelib.tables import DAILY_KPIS, RUNS
from containers.adapters.writer_lease import release_abandoned
from infra.functions import API_HANDLER
from shoppulse.local import DEFAULT_DATA_DIR, moto_fixes, snapshot
from shoppulse.local.api_server import ApiServer, stage_environment
from shoppulse.local.cloud_template import Resolver, cloud_resources
from shoppulse.local.ecs_runner import LocalEcsRunner
from shoppulse.local.embedded_aws import (
    CLIENT_CONFIG,
    CREDENTIALS,
    EmbeddedAws,
    apply_environment,
    restore_environment,
)
from shoppulse.local.event_bus import LocalEventBus
from shoppulse.local.functions import PROJECT_DIR, ChaliceFunctions, Invoke, load_app_module
from shoppulse.local.iam import enforcement, invocation, step_functions
from shoppulse.local.iam.ecs_tasks import NO_CREDENTIALS, TaskRoleEcsRunner
from shoppulse.local.iam.encryption import encrypted_resources
from shoppulse.local.iam.roles import RoleSessions, function_role, role_definitions
from shoppulse.local.pipe_process import PipeSetup, PipesProcess, RemotePipe
from shoppulse.local.polling import BackgroundPoller
from shoppulse.local.provision import LocalResources, WorkflowTuning, provision, resource_environment
from shoppulse.local.service_clients import ServiceClients
from shoppulse.local.sqs_source import SqsEventSource

if TYPE_CHECKING:
    from botocore.client import BaseClient
    from mypy_boto3_stepfunctions import SFNClient

LOG = logging.getLogger(__name__)

# What a task process inherits from this one besides its task definition (a container image
# would bring its own PATH, locale and installed project).
_INHERITED = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "VIRTUAL_ENV")


@dataclass(frozen=True)
class StackSettings:
    host: str = "127.0.0.1"
    aws_port: int = 4566
    api_port: int = 8000
    data_dir: Path = DEFAULT_DATA_DIR
    region: str = "us-east-1"
    serve_api: bool = True
    tuning: WorkflowTuning = field(default_factory=WorkflowTuning)
    # Fork `python -m` tasks from a helper with the heavy libraries loaded (see warm_start).
    warm_start: bool = True
    # Save tables and buckets to DATA_DIR/state on stop, restore them on start (see snapshot).
    persist: bool = False
    # With persist: also save this often while running (a kill -9 loses at most this much).
    snapshot_interval_seconds: float = snapshot.SNAPSHOT_INTERVAL_SECONDS


INTERRUPTED_ERROR = "Run.Interrupted"


class _PeriodicSnapshots(BackgroundPoller):
    """Saves the stack's state every interval until stopped."""

    def __init__(self, stack: LocalStack, interval: float) -> None:
        self._stack = stack
        self._interval = interval
        super().__init__("local-snapshots")

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self._stack.save()


class LocalStack(ServiceClients):
    def __init__(self, settings: StackSettings = StackSettings()) -> None:
        self.settings = settings
        self.aws = EmbeddedAws(settings.host, settings.aws_port, settings.region)
        self.resources: LocalResources | None = None
        self.pipes_process: PipesProcess | None = None
        self.dead_letter_sources: dict[str, SqsEventSource] = {}
        self.ecs: LocalEcsRunner | None = None
        self.bus: LocalEventBus | None = None
        self.api: ApiServer | None = None
        self.restored: Mapping[str, int] | None = None
        self.roles: RoleSessions | None = None
        self._previous_env: dict[str, str | None] = {}
        # The app's default boto3 session before this stack installed its own (a 1-tuple once installed).
        self._previous_default_session: tuple[boto3.session.Session | None] | None = None
        self.closed_runs: list[str] = []
        self._save_lock = threading.Lock()
        self._snapshots: _PeriodicSnapshots | None = None

    # --- lifecycle ---------------------------------------------------------------------------

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> LocalStack:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        data_dir = self.settings.data_dir
        if self.settings.persist:
            snapshot.check(self.state_dir)
        (data_dir / "logs").mkdir(parents=True, exist_ok=True)
        self.aws.start()
        self.pipes_process = PipesProcess()
        self.pipes_process.spawn()
        self._previous_env = apply_environment(self.aws.environment())
        roles = self.roles = RoleSessions(self.aws.endpoint, self.settings.region, CLIENT_CONFIG)
        self.ecs = TaskRoleEcsRunner(
            task_credentials=self._task_credentials,
            workdir=PROJECT_DIR,
            log_dir=data_dir / "logs",
            base_environment=self._task_environment(),
            warm_start=self.settings.warm_start,
        )
        self.bus = LocalEventBus(lambda role: roles.signed_as(role).client("stepfunctions"), self.aws.client("sqs"))
        moto_fixes.install(self.ecs, self.bus)
        self.bus.start()
        self.resources = provision(self.aws, self.settings.region, self.settings.tuning)
        self.restored = self._restore() if self.settings.persist else None
        if self.restored is not None:  # the last session's tasks died with it, and no task runs yet
            daily = self.resources.tables[DAILY_KPIS.logical_id]
            if holder := release_abandoned(self.client("dynamodb"), daily):
                LOG.warning("freed the writer lease of a stopped task", extra={"fields": {"holder": holder}})
        self._enforce_iam(roles)
        if self.restored is not None:
            self.closed_runs = self._close_interrupted_runs()
        # chalice.local enforces no API keys or IAM: say so, rather than advertise the stage's auth.
        local_api = {"API_AUTH": AuthMode.NONE.value}
        previous = apply_environment(
            {**stage_environment(PROJECT_DIR), **resource_environment(self.resources), **local_api}
        )
        for name, value in previous.items():
            self._previous_env.setdefault(name, value)
        self._start_pipes()
        functions = self._functions()
        self._start_dead_letter_sources(functions)
        if self.settings.serve_api:
            invocation.serve_api_as(functions.app, roles.credentials(function_role(API_HANDLER)))
            self.api = ApiServer(functions.app, PROJECT_DIR, self.settings.host, self.settings.api_port)
            self.api.start()
        if self.settings.persist:
            self._snapshots = _PeriodicSnapshots(self, self.settings.snapshot_interval_seconds)
            self._snapshots.start()
        assert self.pipes_process is not None
        self.pipes_process.wait_ready()  # the pipes read the stream from here on

    def stop(self) -> None:
        with self._signals_deferred():
            self._stop()

    def _stop(self) -> None:
        if self._snapshots is not None:
            self._snapshots.stop()
            self._snapshots = None
        if self.api is not None:
            self.api.stop()
            self.api = None
        for source in self.dead_letter_sources.values():
            source.stop()
        if self.pipes_process is not None:
            self.pipes_process.stop()
            self.pipes_process = None
        self.dead_letter_sources = {}
        if self.ecs is not None:
            self.ecs.shutdown()
        if self.bus is not None:
            self.bus.stop()
            self.bus = None
        if self.settings.persist and self.resources is not None:
            self.save()
        self._stop_enforcing_iam()
        moto_fixes.uninstall()
        self.aws.stop()
        restore_environment(self._previous_env)
        self._previous_env = {}
        self._reset_app_clients()

    # --- parts ------------------------------------------------------------------------------------

    @property
    def endpoint(self) -> str:
        return self.aws.endpoint

    @property
    def pipes(self) -> Mapping[str, RemotePipe]:
        """The running pipes, by key (none before start or after stop)."""
        return self.pipes_process.pipes if self.pipes_process is not None else {}

    @property
    def api_url(self) -> str | None:
        return self.api.url if self.api is not None else None

    def _client(self, service: str) -> BaseClient:
        return self.aws.client(service)

    def wait_for_pipes(self, timeout: float = 30.0) -> None:
        """Until every pipe has caught up with the Orders stream (tests, demo, benchmark)."""
        for poller in self.pipes.values():
            if not poller.wait_idle(timeout):
                raise TimeoutError(f"pipe {poller.spec.key} still busy after {timeout} s")

    @property
    def state_dir(self) -> Path:
        return self.settings.data_dir / "state"

    def _restore(self) -> Mapping[str, int] | None:
        return snapshot.restore(self.state_dir, self.client("dynamodb"), self.client("s3"))

    def save(self) -> None:
        """Snapshot the tables and buckets now (one save at a time; a failed one keeps the last)."""
        assert self.resources is not None
        with self._save_lock:
            try:
                counts = snapshot.save(
                    self.state_dir,
                    self.client("dynamodb"),
                    self.client("s3"),
                    self.resources.tables.values(),
                    self.resources.buckets.values(),
                )
            except Exception:  # the previous snapshot stays complete (snapshot.save is atomic)
                LOG.exception("could not save the local state to %s", self.state_dir)
            else:
                LOG.info("local state saved", extra={"fields": {"state_dir": str(self.state_dir), "counts": counts}})

    @contextlib.contextmanager
    def _signals_deferred(self) -> Iterator[None]:
        """While stopping (and saving), SIGINT and SIGTERM only say that the stop is under way."""
        if not self.settings.persist or threading.current_thread() is not threading.main_thread():
            yield
            return

        def wait_for_save(signum: int, frame: object) -> None:
            print(
                f"shoppulse up: still saving the local state to {self.state_dir}; stopping as soon as it is written",
                file=sys.stderr,
                flush=True,
            )

        previous = {sig: signal.signal(sig, wait_for_save) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _close_interrupted_runs(self) -> list[str]:
        """Close FAILED the restored runs still RUNNING: the executions that ran them are gone."""
        assert self.resources is not None
        sfn, s3 = self.client("stepfunctions"), self.client("s3")
        dynamodb = boto3.session.Session().resource("dynamodb", endpoint_url=self.endpoint)
        runs = RunRepository(dynamodb.Table(self.resources.tables[RUNS.logical_id]))
        closed = []
        pages = (
            self.client("dynamodb")
            .get_paginator("scan")
            .paginate(
                TableName=self.resources.tables[RUNS.logical_id],
                FilterExpression="#s = :running",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":running": {"S": RunStatus.RUNNING.value}},
            )
        )
        for item in (i for page in pages for i in page["Items"]):
            run_id, execution = item[RUNS.partition_key]["S"], item.get("execution", {}).get("S", "")
            if execution and _execution_exists(sfn, execution):
                continue  # started by this session (a restored file announced again)
            bucket, key = item["bucket"]["S"], item["key"]["S"]
            try:
                version = s3.head_object(Bucket=bucket, Key=key).get("VersionId", "")
            except ClientError:
                what = "its file is no longer where it landed; upload it again to re-run it"
            else:
                what = f"its file, still there, is processed again as {RunIdentity(bucket, key, version).run_id}"
            runs.finish(
                run_id,
                RunStatus.FAILED,
                {
                    "error": INTERRUPTED_ERROR,
                    "cause": f"The local stack stopped while this run was RUNNING (execution {execution or 'unknown'}); "
                    f"{what}.",
                },
            )
            closed.append(run_id)
        if closed:
            LOG.warning("closed interrupted runs", extra={"fields": {"runs": closed}})
        return closed

    def _enforce_iam(self, roles: RoleSessions) -> None:
        """From here on every component calls the embedded AWS as its own role (docs/local-runtime.md)."""
        roles.assume(self.client("sts"), role_definitions())
        step_functions.sign_integrations_with_roles(roles)
        operator = (CREDENTIALS["AWS_ACCESS_KEY_ID"], CREDENTIALS["AWS_SECRET_ACCESS_KEY"])
        self._previous_default_session = (invocation.install_default_session(self.settings.region, operator),)
        assert self.resources is not None
        ids = self.resources.physical_ids
        enforcement.enable(encrypted_resources(cloud_resources(), ids, Resolver(ids, self.settings.region)))

    def _stop_enforcing_iam(self) -> None:
        enforcement.disable()
        step_functions.restore_integrations()
        if self._previous_default_session is not None:
            invocation.restore_default_session(self._previous_default_session[0])
            self._previous_default_session = None
        self.roles = None

    def _task_credentials(self, family: str) -> dict[str, str]:
        role = self.resources.task_roles.get(family) if self.resources is not None else None
        if self.roles is None or role is None or role not in self.roles:
            return dict(NO_CREDENTIALS)
        return self.roles.credentials(role).environment()

    def _as_function(self, name: str, function: Invoke) -> Invoke:
        assert self.roles is not None
        return invocation.with_role(self.roles.credentials(function_role(name)), function)

    def _task_environment(self) -> dict[str, str]:
        inherited = {name: os.environ[name] for name in _INHERITED if name in os.environ}
        return {**inherited, **self.aws.environment(), "PYTHONPATH": str(PROJECT_DIR), "PYTHONUNBUFFERED": "1"}

    def _functions(self) -> ChaliceFunctions:
        functions = ChaliceFunctions(load_app_module(PROJECT_DIR))
        self._reset_app_clients()  # the app's accessors now see the embedded AWS
        return functions

    @staticmethod
    def _reset_app_clients() -> None:
        from chalicelib.api import services

        services.reset()

    def _start_pipes(self) -> None:
        """The pipes and their functions run in a process of their own (`pipe_process`)."""
        assert self.resources is not None
        assert self.roles is not None
        setups, authorize = [], {}
        for key, pipe in self.resources.pipes.items():
            setups.append(
                PipeSetup(
                    key=key,
                    stream_arn=pipe.stream_arn,
                    dead_letter_queue_url=pipe.dead_letter_queue_url,
                    pipe_arn=pipe.pipe_arn,
                    pipe_role=self.roles.credentials(pipe.role_arn),
                    function_role=self.roles.credentials(function_role(pipe.spec.function_name)),
                    skip_existing=self.restored is not None,
                )
            )
            authorize[key] = functools.partial(enforcement.authorize_invocation, pipe.role_arn, pipe.function_arn)
        assert self.pipes_process is not None
        self.pipes_process.run(setups, endpoint=self.endpoint, region=self.settings.region, authorize=authorize)

    def _start_dead_letter_sources(self, functions: ChaliceFunctions) -> None:
        assert self.resources is not None
        assert self.roles is not None
        for key, pipe in self.resources.pipes.items():
            name = pipe.spec.dead_letter_function_name
            # The event source mapping polls the queue with the function's own role, as Lambda does.
            source = SqsEventSource(
                sqs_client=self.roles.signed_as(function_role(name)).client("sqs"),
                queue_url=pipe.dead_letter_queue_url,
                queue_arn=pipe.dead_letter_queue_arn,
                region=self.settings.region,
                invoke=self._as_function(name, functions.sqs_handler(pipe.spec.dead_letter_queue.name())),
            )
            source.start()
            self.dead_letter_sources[key] = source


def _execution_exists(sfn: SFNClient, execution_arn: str) -> bool:
    try:
        sfn.describe_execution(executionArn=execution_arn)
    except ClientError:
        return False
    return True
