"""The local pipes in a process of their own: stream reads, filters, batches and the functions.

Why a process: the embedded AWS's server is Python, and so were the pipes' pollers and the
functions they invoke; in one interpreter they shared one GIL, and under a burst of order
writes the server, the GetRecords clients and the handlers took turns on one core (issue 12,
docs/benchmark-notes.md). In AWS, Pipes and Lambda are services apart from DynamoDB that call
it over HTTPS with their roles' credentials (the pipe's execution role reads the stream, sends to
its dead-letter queue and invokes the target:
https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-pipes-permissions.html); here the
child process does the same over HTTP: the pipe's role reads the stream and writes the
dead-letter queue, each function runs as its own role (`iam.invocation`), and the parent (which
holds the embedded IAM) decides whether the pipe's role may invoke its function
(`lambda:InvokeFunction`), once per invocation.

Protocol: JSON lines on a socket pair (the child's end is file descriptor `argv[1]`).
- parent -> child: `{"start": setup}` first (the pipes, endpoint, region and environment);
  `{"wake": true}` after DynamoDB writes (the pipes read when something was written,
  `pipes.PipePoller`); `{"idle": id, "pipe", "timeout"}`; `{"authorized": id, "error": null |
  text}`; `{"stop": true}`.
- child -> parent: `{"ready": true}` or `{"failed": text}`; `{"idle": id, "ok"}`; `{"invoked":
  pipe, "at": epoch seconds, "keys": [...]}` per invocation; `{"authorize": id, "pipe"}`;
  `{"log": record}` (the child's log records, handled by the parent's logging).
- The child's stdout is the functions' output (JSON logs, EMF): relayed line by line to the
  parent's `sys.stdout`, where the in-process functions printed (`shoppulse up` files it).

Life cycle: the child ignores SIGINT (a terminal's Ctrl-C reaches the whole process group; the
parent stops it in order) and stops its pollers on `stop` or at the end of the socket, which is
also what a killed parent (`kill -9`) leaves it: it never outlives the stack. The parent kills
it if it has not exited `STOP_SECONDS` after being asked.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future
from dataclasses import asdict, dataclass
from typing import Any

from chalicelib.pipes import PIPES_BY_KEY, PipeSpec
from chalicelib.stream_records import StreamRecord
from shoppulse.local.embedded_aws import CLIENT_CONFIG, CREDENTIALS
from shoppulse.local.exceptions import LocalStackError
from shoppulse.local.functions import PROJECT_DIR, ChaliceFunctions, load_app_module
from shoppulse.local.iam import invocation
from shoppulse.local.iam.enforcement import AccessDenied
from shoppulse.local.iam.roles import RoleCredentials, RoleSessions
from shoppulse.local.moto_fixes import DYNAMODB_WRITES, WriteSignal
from shoppulse.local.pipes import PipePoller

LOG = logging.getLogger(__name__)

READY_SECONDS = 60.0
STOP_SECONDS = PipePoller.join_timeout_seconds + 5.0  # the child stops its pollers, then exits
WAKE_GAP_SECONDS = 0.02  # at most 50 wake messages a second, however many writes
REPLY_MARGIN_SECONDS = 5.0

InvokeListener = Callable[[list[Mapping[str, Any]], float], None]


@dataclass(frozen=True)
class PipeSetup:
    """What the child needs to run one pipe (`chalicelib.pipes.PIPES_BY_KEY[key]`)."""

    key: str
    stream_arn: str
    dead_letter_queue_url: str
    pipe_arn: str
    pipe_role: RoleCredentials
    function_role: RoleCredentials
    skip_existing: bool


class _Channel:
    """JSON lines over a socket, sent from any thread."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._reader = sock.makefile("rb")
        self._lock = threading.Lock()

    def send(self, message: Mapping[str, Any]) -> None:
        data = (json.dumps(message, default=str) + "\n").encode()
        with self._lock:
            self._sock.sendall(data)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        """The messages received, until the other end closes."""
        with contextlib.suppress(OSError, ValueError):
            for line in self._reader:
                yield json.loads(line)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()


class _Replies:
    """Requests waiting for their answer, by id."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._next = 0
        self._waiting: dict[int, Future[dict[str, Any]]] = {}

    def new(self) -> tuple[int, Future[dict[str, Any]]]:
        with self._lock:
            self._next += 1
            future: Future[dict[str, Any]] = Future()
            self._waiting[self._next] = future
            return self._next, future

    def answer(self, request_id: int, reply: dict[str, Any]) -> None:
        with self._lock:
            future = self._waiting.pop(request_id, None)
        if future is not None:
            future.set_result(reply)

    def drop(self, request_id: int) -> None:
        with self._lock:
            self._waiting.pop(request_id, None)

    def fail_all(self, reason: str) -> None:
        with self._lock:
            waiting, self._waiting = self._waiting, {}
        for future in waiting.values():
            future.set_exception(LocalStackError(reason))


# --- the stack's side --------------------------------------------------------------------------


class RemotePipe:
    """A pipe run by the pipes process, as the stack, its tests and the benchmark see it."""

    def __init__(self, spec: PipeSpec, process: PipesProcess) -> None:
        self.spec = spec
        self.invocations = 0
        self._process = process
        self._listeners: list[InvokeListener] = []

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """True once the pipe has caught up with the stream."""
        return self._process.wait_idle(self.spec.key, timeout)

    def on_invoke(self, listener: InvokeListener) -> None:
        """`listener(keys, at)` for each invocation: the records' item keys and when (epoch seconds)."""
        self._listeners.append(listener)

    def _invoked(self, keys: list[Mapping[str, Any]], at: float) -> None:
        self.invocations += 1
        for listener in self._listeners:
            listener(keys, at)


class PipesProcess:
    """Starts the child, answers it (authorizations), relays its output and logs, stops it."""

    def __init__(self) -> None:
        self._writes = DYNAMODB_WRITES  # the stack's DynamoDB writes, which wake the child's pipes
        self.pipes: dict[str, RemotePipe] = {}
        self._authorize: Mapping[str, Callable[[], None]] = {}
        self._replies = _Replies()
        self._ready: Future[None] = Future()
        self._written = threading.Event()
        self._closed = threading.Event()
        self._process: subprocess.Popen[bytes] | None = None
        self._channel: _Channel | None = None
        self._threads: list[threading.Thread] = []

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def spawn(self) -> None:
        """Start the child early: it imports its libraries while the stack provisions."""
        ours, theirs = socket.socketpair()
        self._process = subprocess.Popen(
            [sys.executable, "-m", __name__, str(theirs.fileno())],
            pass_fds=(theirs.fileno(),),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            cwd=PROJECT_DIR,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        theirs.close()
        self._channel = _Channel(ours)
        for target, name in ((self._receive, "receive"), (self._relay_output, "output"), (self._forward, "wake")):
            thread = threading.Thread(target=target, name=f"pipes-process-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def run(
        self, setups: list[PipeSetup], *, endpoint: str, region: str, authorize: Mapping[str, Callable[[], None]]
    ) -> None:
        """Hand the child its pipes, with this process's environment as it is now (the stage's and
        the resources' variables the functions read); `wait_ready` waits for them to run."""
        self._authorize = authorize
        self.pipes = {s.key: RemotePipe(PIPES_BY_KEY[s.key], self) for s in setups}
        start = {"endpoint": endpoint, "region": region, "environment": dict(os.environ)}
        self._send({"start": {**start, "pipes": [asdict(s) for s in setups]}})
        self._writes.subscribe(self._written)

    def wait_ready(self, timeout: float = READY_SECONDS) -> None:
        try:
            self._ready.result(timeout)
        except TimeoutError:
            raise LocalStackError(f"the pipes process did not start within {timeout} s") from None

    def wait_idle(self, key: str, timeout: float) -> bool:
        request_id, reply = self._replies.new()
        try:
            self._send({"idle": request_id, "pipe": key, "timeout": timeout})
            return bool(reply.result(timeout + REPLY_MARGIN_SECONDS)["ok"])
        except (TimeoutError, LocalStackError, OSError):
            return False
        finally:
            self._replies.drop(request_id)

    def stop(self) -> None:
        self._writes.unsubscribe(self._written)
        self._closed.set()
        process = self._process
        if process is not None:
            with contextlib.suppress(OSError):
                self._send({"stop": True})
            try:
                process.wait(STOP_SECONDS)
            except subprocess.TimeoutExpired:
                LOG.warning("the pipes process did not stop in %s s: killed", STOP_SECONDS)
                process.kill()
                process.wait()
        if self._channel is not None:
            self._channel.close()
        for thread in self._threads:
            thread.join(timeout=STOP_SECONDS)
        if process is not None and process.stdout is not None:
            process.stdout.close()
        self._replies.fail_all("the pipes process stopped")
        self._process, self._channel, self._threads = None, None, []

    def _send(self, message: Mapping[str, Any]) -> None:
        if self._channel is None:
            raise OSError("the pipes process is not running")
        self._channel.send(message)

    def _receive(self) -> None:
        assert self._channel is not None
        for message in self._channel:
            if "invoked" in message:
                self.pipes[message["invoked"]]._invoked(message["keys"], float(message["at"]))
            elif "authorize" in message:
                self._answer_authorization(message["authorize"], message["pipe"])
            elif "idle" in message:
                self._replies.answer(message["idle"], message)
            elif "log" in message:
                _handle_log(message["log"])
            elif "ready" in message:
                self._ready.set_result(None)
            elif "failed" in message:
                self._ready.set_exception(LocalStackError(f"the pipes process could not start: {message['failed']}"))
        self._replies.fail_all("the pipes process ended")
        if not self._ready.done():
            self._ready.set_exception(LocalStackError("the pipes process ended before it was ready"))

    def _answer_authorization(self, request_id: int, key: str) -> None:
        try:
            self._authorize[key]()
        except AccessDenied as err:  # IAM's denial, as the invocation's error
            error: str | None = f"{err.code}: {err}"
        else:
            error = None
        with contextlib.suppress(OSError):
            self._send({"authorized": request_id, "error": error})

    def _relay_output(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        with contextlib.suppress(OSError, ValueError):
            for line in self._process.stdout:
                sys.stdout.write(line.decode("utf-8", "replace"))
                sys.stdout.flush()

    def _forward(self) -> None:
        """A DynamoDB write ended: tell the child's pipes to read (coalesced)."""
        while not self._closed.is_set():
            if not self._written.wait(0.5):
                continue
            self._written.clear()
            try:
                self._send({"wake": True})
            except OSError:
                return
            self._closed.wait(WAKE_GAP_SECONDS)


def _handle_log(entry: Mapping[str, Any]) -> None:
    logger = logging.getLogger(str(entry["name"]))
    level = int(entry["level"])
    if logger.isEnabledFor(level):
        record = logging.makeLogRecord(
            {
                "name": logger.name,
                "levelno": level,
                "levelname": logging.getLevelName(level),
                "msg": entry["message"],
                "created": float(entry["created"]),  # the child's clock: when it happened
                "msecs": float(entry["created"]) % 1 * 1000,
                "fields": {**entry["fields"], "process": "pipes"},
            }
        )
        logger.handle(record)


# --- the child's side --------------------------------------------------------------------------


class _ChannelLogHandler(logging.Handler):
    """The child's log records, to the parent's logging."""

    def __init__(self, channel: _Channel) -> None:
        super().__init__(logging.INFO)
        self._channel = channel

    def emit(self, record: logging.LogRecord) -> None:
        fields = dict(getattr(record, "fields", {}))
        if record.exc_info:
            fields["exception"] = "".join(traceback.format_exception(*record.exc_info))
        entry = {
            "name": record.name,
            "level": record.levelno,
            "message": record.getMessage(),
            "fields": fields,
            "created": record.created,
        }
        with contextlib.suppress(OSError):
            self._channel.send({"log": entry})


class _Child:
    """Runs the pipes until told to stop or the parent is gone."""

    def __init__(self, channel: _Channel) -> None:
        self._channel = channel
        self._replies = _Replies()
        self._writes = WriteSignal()
        self._pollers: dict[str, PipePoller] = {}

    def start(self, setup: Mapping[str, Any]) -> None:
        os.environ.update(setup["environment"])
        region = str(setup["region"])
        invocation.install_default_session(
            region, (CREDENTIALS["AWS_ACCESS_KEY_ID"], CREDENTIALS["AWS_SECRET_ACCESS_KEY"])
        )
        functions = ChaliceFunctions(load_app_module(PROJECT_DIR))
        roles = RoleSessions(str(setup["endpoint"]), region, CLIENT_CONFIG)
        for raw in setup["pipes"]:
            pipe = PipeSetup(
                **{
                    **raw,
                    "pipe_role": RoleCredentials(**raw["pipe_role"]),
                    "function_role": RoleCredentials(**raw["function_role"]),
                }
            )
            roles.adopt(pipe.pipe_role)
            spec = PIPES_BY_KEY[pipe.key]
            function = invocation.with_role(pipe.function_role, functions.lambda_function(spec.function_name))
            self._pollers[pipe.key] = PipePoller(
                spec,
                streams_client=roles.signed_as(pipe.pipe_role.role_arn).client("dynamodbstreams"),
                sqs_client=roles.signed_as(pipe.pipe_role.role_arn).client("sqs"),
                stream_arn=pipe.stream_arn,
                dead_letter_queue_url=pipe.dead_letter_queue_url,
                pipe_arn=pipe.pipe_arn,
                invoke=self._invoked_by_pipe(pipe.key, function),
                skip_existing=pipe.skip_existing,
                writes=self._writes,
            )
        for poller in self._pollers.values():
            poller.start()

    def _invoked_by_pipe(self, key: str, function: Callable[[Any], Any]) -> Callable[[list[StreamRecord]], Any]:
        def invoke(records: list[StreamRecord]) -> Any:
            keys = [r["dynamodb"]["Keys"] for r in records]
            self._channel.send({"invoked": key, "at": time.time(), "keys": keys})
            self._authorized(key)
            return function(records)

        return invoke

    def _authorized(self, key: str) -> None:
        """The parent's IAM decision on this pipe's role invoking its function; raises if denied."""
        request_id, reply = self._replies.new()
        try:
            self._channel.send({"authorize": request_id, "pipe": key})
            error = reply.result(READY_SECONDS)["error"]
        finally:
            self._replies.drop(request_id)
        if error:
            raise PermissionError(error)

    def serve(self) -> None:
        """Answer the parent until `stop` or the end of the channel; then stop the pipes."""
        for message in self._channel:
            if "wake" in message:
                self._writes.notify()
            elif "authorized" in message:
                self._replies.answer(message["authorized"], message)
            elif "idle" in message:
                threading.Thread(target=self._answer_idle, args=(message,), daemon=True).start()
            elif "stop" in message:  # the parent still answers while the batches under way end
                for poller in self._pollers.values():
                    poller.stop()
                return
        self._replies.fail_all("the stack is gone")  # the end of the channel: no answer will come
        for poller in self._pollers.values():
            poller.stop()

    def _answer_idle(self, message: Mapping[str, Any]) -> None:
        ok = self._pollers[message["pipe"]].wait_idle(float(message["timeout"]))
        with contextlib.suppress(OSError):
            self._channel.send({"idle": message["idle"], "ok": ok})


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops us (see the module)
    channel = _Channel(socket.socket(fileno=int(argv[0])))
    root = logging.getLogger()
    root.handlers[:] = [_ChannelLogHandler(channel)]
    root.setLevel(logging.INFO)
    logging.captureWarnings(True)
    child = _Child(channel)
    messages = iter(channel)
    first = next(messages, None)
    if first is None or "start" not in first:
        return 1
    try:
        child.start(first["start"])
    except Exception as err:
        LOG.exception("the pipes process could not start")
        channel.send({"failed": f"{type(err).__name__}: {err}"})
        return 1
    channel.send({"ready": True})
    child.serve()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
