"""Warm starts for `python -m <module>` tasks: fork from a process that has the libraries loaded.

A task's container would start from an image whose libraries sit in the page cache; a fresh
local `python -m containers.validation` spends most of a second importing pandas, pyarrow and
boto3 before doing any work. The warm starter is one long-lived helper process that imports
those third-party libraries (never project code: nothing of a task runs before its own start)
and forks one child per task. The child is a task process like any other: its own session
(killable as a group), the task's environment and working directory, stdout/stderr to the
task's log, `runpy` running the module as `__main__`, and its real exit code reported back.

Protocol (JSON lines): the runner writes {"id", "module", "args", "env", "cwd", "log"}; the
helper answers {"id", "pid"} when the child runs, {"id", "error"} if it could not fork, and
{"pid", "exit_code"} when a child ends (negative: killed by that signal).
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

# What the tasks' image holds that is slow to import; importing has no side effect.
WARM_IMPORTS = ("boto3", "botocore.session", "numpy", "pandas", "pyarrow", "pyarrow.parquet", "pyarrow.csv")
# AWS clients the tasks create: the first client of a service parses its model files. Created
# once with throw-away credentials and region, so that nothing of the helper's environment
# (credentials, endpoint, region) is cached for the children: they resolve their own.
WARM_CLIENTS = ("s3", "dynamodb")
_REAP_SECONDS = 0.01


class WarmProcess:
    """The subset of `subprocess.Popen` the runner uses, for a child of the warm starter."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None
        self._ended = threading.Event()

    def _end(self, exit_code: int) -> None:
        self.returncode = exit_code
        self._ended.set()

    def poll(self) -> int | None:
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if not self._ended.wait(timeout):
            raise subprocess.TimeoutExpired(f"pid {self.pid}", timeout or 0)
        assert self.returncode is not None
        return self.returncode


class WarmStarter:
    """The runner's side: starts the helper, forwards task starts, collects exit codes."""

    def __init__(self, environment: Mapping[str, str], cwd: Path) -> None:
        self._helper = subprocess.Popen(
            [sys.executable, "-m", __name__],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=dict(environment),
            cwd=cwd,
            text=True,
            bufsize=1,
        )
        self._lock = threading.Lock()
        self._next_id = 0
        self._started: dict[int, tuple[threading.Event, list[Any]]] = {}
        self._running: dict[int, WarmProcess] = {}
        self._early_exits: dict[int, int] = {}
        threading.Thread(target=self._read, name="warm-start", daemon=True).start()

    def start(self, module: str, args: Sequence[str], env: Mapping[str, str], cwd: Path, log: Path) -> WarmProcess:
        with self._lock:
            self._next_id += 1
            request_id = self._next_id
            answered: tuple[threading.Event, list[Any]] = (threading.Event(), [])
            self._started[request_id] = answered
            request = {
                "id": request_id,
                "module": module,
                "args": list(args),
                "env": dict(env),
                "cwd": str(cwd),
                "log": str(log),
            }
            assert self._helper.stdin is not None
            self._helper.stdin.write(json.dumps(request) + "\n")
            self._helper.stdin.flush()
        if not answered[0].wait(30):
            raise OSError("the warm starter did not answer")
        reply = answered[1][0]
        if "error" in reply:
            raise OSError(reply["error"])
        return self._process(int(reply["pid"]))

    def _process(self, pid: int) -> WarmProcess:
        process = WarmProcess(pid)
        with self._lock:
            if pid in self._early_exits:
                process._end(self._early_exits.pop(pid))
            else:
                self._running[pid] = process
        return process

    def close(self) -> None:
        if self._helper.poll() is None:
            assert self._helper.stdin is not None
            self._helper.stdin.close()
            try:
                self._helper.wait(5)
            except subprocess.TimeoutExpired:
                self._helper.kill()

    def _read(self) -> None:
        assert self._helper.stdout is not None
        for line in self._helper.stdout:
            message = json.loads(line)
            with self._lock:
                if "id" in message:
                    event, box = self._started.pop(message["id"])
                    box.append(message)
                    event.set()
                    continue
                process = self._running.pop(message["pid"], None)
                if process is None:  # ended before its start was acknowledged
                    self._early_exits[message["pid"]] = message["exit_code"]
                else:
                    process._end(message["exit_code"])


# --- the helper process --------------------------------------------------------------------------


def _child(request: Mapping[str, Any]) -> None:
    """In the forked child: become the task, run it, exit with its code. Never returns."""
    code = 1
    try:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        os.setsid()
        log = os.open(request["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        # The task's own standard streams: they live until os._exit below.
        sys.stdin = open(0, closefd=False)  # noqa: SIM115
        sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115
        sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
        sys.argv = [request["module"], *request["args"]]
        import runpy

        runpy.run_module(request["module"], run_name="__main__", alter_sys=True)
        code = 0
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
        if not isinstance(exit_.code, int) and exit_.code is not None:
            print(exit_.code, file=sys.stderr)
    except BaseException:  # noqa: BLE001 - the task crashed: report it like Python would
        import traceback

        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):  # a closed or broken stream must not hide the exit code
                stream.flush()
        os._exit(code)


def _answer(out: IO[str], message: Mapping[str, Any]) -> None:
    out.write(json.dumps(message) + "\n")
    out.flush()


def _reap(out: IO[str], children: set[int]) -> None:
    for pid in list(children):
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            children.discard(pid)
            _answer(out, {"pid": pid, "exit_code": os.waitstatus_to_exitcode(status)})


def _share_parsed_models() -> None:
    """botocore parses its model files once per session; the tasks open their own session.

    A process-wide cache of the parsed files (keyed by path) gives every session in a child
    the files the helper parsed. botocore already reuses these objects for every client of
    one session, so sharing them across sessions changes nothing but the time.
    """
    from botocore.loaders import JSONFileLoader

    parsed: dict[str, Any] = {}
    original = JSONFileLoader.load_file

    def load_file(self: JSONFileLoader, file_path: str) -> Any:
        if file_path not in parsed:
            parsed[file_path] = original(self, file_path)
        return parsed[file_path]

    JSONFileLoader.load_file = load_file  # type: ignore[method-assign]  # botocore's loader, memoized in this helper


def _warm_up() -> None:
    for name in WARM_IMPORTS:
        importlib.import_module(name)
    _share_parsed_models()
    import boto3

    throwaway = {"region_name": "us-east-1", "aws_access_key_id": "warm-up", "aws_secret_access_key": "warm-up"}
    for service in WARM_CLIENTS:
        boto3.client(service, **throwaway)  # type: ignore[call-overload]  # names are data here
    boto3.resource("dynamodb", **throwaway)  # type: ignore[call-overload]  # the stubs type no ** of a dict


def serve() -> None:
    # Ctrl-C in a terminal reaches the whole process group: the runner stops the helper by
    # closing its stdin, after stopping the tasks.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _warm_up()
    out = sys.stdout
    stdin = sys.stdin
    children: set[int] = set()
    while True:
        readable, _, _ = select.select([stdin], [], [], _REAP_SECONDS)
        _reap(out, children)
        if not readable:
            continue
        line = stdin.readline()
        if not line:
            break
        request = json.loads(line)
        try:
            pid = os.fork()
        except OSError as err:
            _answer(out, {"id": request["id"], "error": str(err)})
            continue
        if pid == 0:
            _child(request)
        children.add(pid)
        _answer(out, {"id": request["id"], "pid": pid})
    while children:  # stdin closed: report the children still running, then leave
        _reap(out, children)
        time.sleep(_REAP_SECONDS)


if __name__ == "__main__":
    serve()
