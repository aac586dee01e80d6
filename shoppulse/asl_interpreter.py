"""Runs an Amazon States Language document in this process: the subset the batch workflow uses.

Why: `shoppulse replay` walks the very definition the stack deploys (`infra.state_machine`), so
the order of the steps, the choices on exit codes and outcomes, the retries, the archive and
reject moves and the outcome records are written once. moto's interpreter runs the same document
for `shoppulse up`, but costs seconds a file (it parses the document per execution and polls each
ECS task); this walk costs milliseconds. Task states call the integrations the caller gives, by
`Resource`.

Semantics, from the Amazon States Language pages of the Step Functions guide:
- paths (`$.a.b`, `$.a['k']`, `$[0]`, `$$.` for the context object) are reference paths
  (https://docs.aws.amazon.com/step-functions/latest/dg/amazon-states-language-paths.html);
  `ResultPath: null` keeps the input, a path sets the result into a copy of it
  (https://docs.aws.amazon.com/step-functions/latest/dg/input-output-resultpath.html);
- `States.ALL` matches every error but `States.Runtime` and `States.DataLimitExceeded`;
  `States.TaskFailed` every one but `States.Timeout` too; the first retrier whose errors match
  decides, and once spent the catchers do
  (https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html);
- a Parallel state fails with the error of a failed branch
  (https://docs.aws.amazon.com/step-functions/latest/dg/state-parallel.html);
- intrinsics `States.Format`, `States.Hash`, `States.StringToJson`, `States.JsonToString`
  (https://docs.aws.amazon.com/step-functions/latest/dg/intrinsic-functions.html).
Anything else in a document is refused (`UnsupportedDefinition`), never guessed. TimeoutSeconds
is not enforced: an in-process call cannot be interrupted.
"""

from __future__ import annotations

import copy
import hashlib
import json
import random
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from chalicelib.runs import utc_now

Integration = Callable[[dict[str, Any]], Any]

RUNTIME_ERROR = "States.Runtime"
_NOT_MATCHED_BY_ALL = frozenset({RUNTIME_ERROR, "States.DataLimitExceeded"})
_STEP = re.compile(r"\.([A-Za-z_][\w-]*)|\['([^']*)'\]|\[(\d+)\]")


class StatesError(Exception):
    """An error in the States Language sense: a name that Retry and Catch match, and a cause."""

    def __init__(self, error: str, cause: str = "") -> None:
        super().__init__(f"{error}: {cause}")
        self.error = error
        self.cause = cause


class UnsupportedDefinition(ValueError):
    """The document uses a field or construct this interpreter does not implement."""


@dataclass
class Execution:
    status: str  # SUCCEEDED or FAILED, as DescribeExecution says
    output: Any = None
    error: str | None = None
    cause: str | None = None
    visited: list[str] = field(default_factory=list)  # every state entered, in order (branches too)


def _steps(path: str) -> list[str | int]:
    steps: list[str | int] = []
    position = 1
    while position < len(path):
        match = _STEP.match(path, position)
        if match is None:
            raise UnsupportedDefinition(f"not a reference path: {path!r}")
        name, quoted, index = match.groups()
        steps.append(int(index) if index is not None else name if name is not None else quoted)
        position = match.end()
    return steps


def read_path(path: str, data: Any, context: Mapping[str, Any]) -> Any:
    """The value at `path`; a StatesError (States.Runtime) when it does not exist."""
    if not path.startswith("$"):
        raise UnsupportedDefinition(f"not a path: {path!r}")
    node: Any = context if path.startswith("$$") else data
    for step in _steps(path[1:] if path.startswith("$$") else path):
        try:
            node = node[step]
        except (KeyError, IndexError, TypeError):
            raise StatesError(RUNTIME_ERROR, f"the path {path!r} matches nothing in the input") from None
    return node


def is_present(path: str, data: Any, context: Mapping[str, Any]) -> bool:
    try:
        read_path(path, data, context)
    except StatesError:
        return False
    return True


def _with_result(state_input: Any, result: Any, result_path: str | None) -> Any:
    if result_path is None:
        return state_input
    steps = _steps(result_path)
    if not steps:
        return result
    output = copy.deepcopy(state_input) if isinstance(state_input, dict) else {}
    node = output
    for step in steps[:-1]:
        node = node.setdefault(step, {})
    node[steps[-1]] = result
    return output


class _Intrinsic:
    """A recursive-descent reading of one intrinsic function call, evaluated as it is read."""

    def __init__(self, text: str, data: Any, context: Mapping[str, Any]) -> None:
        self.text, self.data, self.context, self.at = text, data, context, 0

    def value(self) -> Any:
        result = self._call()
        if self.text[self.at :].strip():
            raise UnsupportedDefinition(f"trailing text in {self.text!r}")
        return result

    def _skip(self) -> None:
        while self.at < len(self.text) and self.text[self.at] == " ":
            self.at += 1

    def _call(self) -> Any:
        match = re.compile(r"States\.(\w+)\(").match(self.text, self.at)
        if match is None:
            raise UnsupportedDefinition(f"not an intrinsic function call: {self.text[self.at :]!r}")
        self.at = match.end()
        args: list[Any] = []
        self._skip()
        while self.text[self.at] != ")":
            args.append(self._argument())
            self._skip()
            if self.text[self.at] == ",":
                self.at += 1
                self._skip()
        self.at += 1
        return _FUNCTIONS.get(match.group(1), _unsupported(match.group(1)))(*args)

    def _argument(self) -> Any:
        char = self.text[self.at]
        if char == "'":
            return self._string()
        if char == "$":
            end = self.at
            while end < len(self.text) and self.text[end] not in ",)":
                end += 1
            path, self.at = self.text[self.at : end].strip(), end
            return read_path(path, self.data, self.context)
        if self.text.startswith("States.", self.at):
            return self._call()
        raise UnsupportedDefinition(f"argument not supported in {self.text!r}")

    def _string(self) -> str:
        out, self.at = [], self.at + 1
        while self.text[self.at] != "'":
            if self.text[self.at] == "\\":
                self.at += 1
            out.append(self.text[self.at])
            self.at += 1
        self.at += 1
        return "".join(out)


def _format(template: str, *args: Any) -> str:
    parts = template.split("{}")
    if len(parts) != len(args) + 1:
        raise StatesError(RUNTIME_ERROR, f"States.Format: {len(parts) - 1} placeholders, {len(args)} arguments")
    out = parts[0]
    for arg, part in zip(args, parts[1:], strict=True):
        out += (arg if isinstance(arg, str) else json.dumps(arg, separators=(",", ":"))) + part
    return out


def _hash(data: Any, algorithm: str) -> str:
    text = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    return hashlib.new(algorithm.replace("-", "").lower(), text.encode()).hexdigest()


def _unsupported(name: str) -> Callable[..., Any]:
    def refuse(*_: Any) -> Any:
        raise UnsupportedDefinition(f"intrinsic function States.{name}")

    return refuse


_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "Format": _format,
    "Hash": _hash,
    "StringToJson": json.loads,
    "JsonToString": lambda value: json.dumps(value, separators=(",", ":")),
}


def evaluate(template: Any, data: Any, context: Mapping[str, Any]) -> Any:
    """A Parameters or ResultSelector template over `data`: `key.$` fields take a path's value."""
    if isinstance(template, dict):
        out: dict[str, Any] = {}
        for key, value in template.items():
            if key.endswith(".$"):
                out[key[:-2]] = (
                    _Intrinsic(value, data, context).value()
                    if value.startswith("States.")
                    else read_path(value, data, context)
                )
            else:
                out[key] = evaluate(value, data, context)
        return out
    if isinstance(template, list):
        return [evaluate(item, data, context) for item in template]
    return template


def _matches(names: list[str], error: str) -> bool:
    if error in names:
        return True
    if "States.ALL" in names and error not in _NOT_MATCHED_BY_ALL:
        return True
    return "States.TaskFailed" in names and error not in _NOT_MATCHED_BY_ALL | {"States.Timeout"}


def _choose(rule: Mapping[str, Any], data: Any, context: Mapping[str, Any]) -> bool:
    if "And" in rule:
        return all(_choose(r, data, context) for r in rule["And"])
    if "Or" in rule:
        return any(_choose(r, data, context) for r in rule["Or"])
    if "Not" in rule:
        return not _choose(rule["Not"], data, context)
    variable = rule["Variable"]
    if "IsPresent" in rule:
        return is_present(variable, data, context) is bool(rule["IsPresent"])
    value = read_path(variable, data, context)
    if "StringEquals" in rule:
        return isinstance(value, str) and value == rule["StringEquals"]
    if "NumericEquals" in rule:
        return isinstance(value, int | float) and not isinstance(value, bool) and value == rule["NumericEquals"]
    raise UnsupportedDefinition(f"choice rule {sorted(rule)}")


class Interpreter:
    """One state machine definition; `run` executes it once, synchronously."""

    def __init__(
        self,
        definition: Mapping[str, Any],
        integrations: Mapping[str, Integration],
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.definition = definition
        self._integrations = integrations
        self._sleep = sleep
        self._jitter = jitter

    def run(self, execution_input: Any, execution_id: str) -> Execution:
        execution = Execution(status="RUNNING")
        context: dict[str, Any] = {
            "Execution": {"Id": execution_id, "Name": execution_id, "StartTime": utc_now(), "Input": execution_input},
            "State": {},
        }
        try:
            execution.output = self._machine(self.definition, execution_input, context, execution.visited)
        except StatesError as failure:
            execution.status, execution.error, execution.cause = "FAILED", failure.error, failure.cause
        else:
            execution.status = "SUCCEEDED"
        return execution

    def _machine(self, machine: Mapping[str, Any], data: Any, context: dict[str, Any], visited: list[str]) -> Any:
        name = machine["StartAt"]
        while True:
            state = machine["States"][name]
            visited.append(name)
            context["State"] = {"Name": name, "EnteredTime": utc_now()}
            data, following = self._state(state, data, context, visited)
            if following is None:
                return data
            name = following

    def _state(
        self, state: Mapping[str, Any], data: Any, context: dict[str, Any], visited: list[str]
    ) -> tuple[Any, str | None]:
        kind = state["Type"]
        if kind == "Choice":
            chosen = next((c["Next"] for c in state["Choices"] if _choose(c, data, context)), state.get("Default"))
            if chosen is None:
                raise StatesError("States.NoChoiceMatched", "no choice rule matched and there is no Default")
            return data, chosen
        if kind == "Fail":
            error = state.get("Error") or read_path(state["ErrorPath"], data, context)
            cause = state.get("Cause") or (read_path(state["CausePath"], data, context) if "CausePath" in state else "")
            raise StatesError(error, cause)
        if kind == "Succeed":
            return data, None
        if kind == "Pass":
            if "Result" in state:
                result = state["Result"]
            elif "Parameters" in state:
                result = evaluate(state["Parameters"], data, context)
            else:
                result = data
            return _with_result(data, result, state.get("ResultPath", "$")), self._next(state)
        if kind in ("Task", "Parallel"):
            return self._attempts(state, data, context, visited)
        raise UnsupportedDefinition(f"state type {kind}")

    @staticmethod
    def _next(state: Mapping[str, Any]) -> str | None:
        return None if state.get("End") else str(state["Next"])

    def _attempts(
        self, state: Mapping[str, Any], data: Any, context: dict[str, Any], visited: list[str]
    ) -> tuple[Any, str | None]:
        """Run a Task or Parallel state, with its retriers, then its catchers."""
        retried = [0] * len(state.get("Retry", []))
        while True:
            try:
                result = self._work(state, data, context, visited)
            except StatesError as failure:
                retrier = next(
                    (i for i, r in enumerate(state.get("Retry", [])) if _matches(r["ErrorEquals"], failure.error)), None
                )
                if retrier is not None and retried[retrier] < state["Retry"][retrier].get("MaxAttempts", 3):
                    self._sleep(self._delay(state["Retry"][retrier], retried[retrier]))
                    retried[retrier] += 1
                    continue
                catcher = next((c for c in state.get("Catch", []) if _matches(c["ErrorEquals"], failure.error)), None)
                if catcher is None:
                    raise
                error = {"Error": failure.error, "Cause": failure.cause}
                return _with_result(data, error, catcher.get("ResultPath", "$")), str(catcher["Next"])
            if "ResultSelector" in state:
                result = evaluate(state["ResultSelector"], result, context)
            return _with_result(data, result, state.get("ResultPath", "$")), self._next(state)

    def _delay(self, retrier: Mapping[str, Any], attempt: int) -> float:
        delay = float(retrier.get("IntervalSeconds", 1)) * float(retrier.get("BackoffRate", 2.0)) ** attempt
        delay = min(delay, float(retrier.get("MaxDelaySeconds", delay)))
        return delay * self._jitter() if retrier.get("JitterStrategy") == "FULL" else delay

    def _work(self, state: Mapping[str, Any], data: Any, context: dict[str, Any], visited: list[str]) -> Any:
        if state["Type"] == "Parallel":
            entered = context["State"]
            try:
                return [self._machine(branch, data, context, visited) for branch in state["Branches"]]
            finally:
                context["State"] = entered
        integration = self._integrations.get(state["Resource"])
        if integration is None:
            raise UnsupportedDefinition(f"no integration for {state['Resource']}")
        return integration(evaluate(state.get("Parameters", {}), data, context))
