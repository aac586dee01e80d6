"""The Chalice app's Lambda functions, invoked in the calling process (the stack's, or its pipes process) as Lambda would.

The app is loaded from the repository's `app.py` (the artifact we deploy); functions are
found by the names Chalice registers: `@app.lambda_function(name=...)` for the pipes'
targets, `@app.on_sqs_message(queue=...)` for the dead-letter handlers.
"""

from __future__ import annotations

import importlib.util
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from chalice.app import Chalice, SQSEventConfig
from chalice.local import LambdaContext

from shoppulse.local.exceptions import LocalStackError

PROJECT_DIR = Path(__file__).resolve().parents[2]
# Lambda's default for Chalice functions: 128 MB, 60 s.
_MEMORY_MB = 128
_TIMEOUT_MS = 60_000

Invoke = Callable[[Any], Any]

_LOAD_LOCK = threading.Lock()


def load_app_module(project_dir: Path = PROJECT_DIR) -> ModuleType:
    """The project's `app` module (imported once per process, like a warm Lambda)."""
    with _LOAD_LOCK:
        loaded = sys.modules.get("app")
        if loaded is not None and Path(getattr(loaded, "__file__", "")).resolve() == project_dir / "app.py":
            return loaded
        if str(project_dir) not in sys.path:
            sys.path.insert(0, str(project_dir))
        spec = importlib.util.spec_from_file_location("app", project_dir / "app.py")
        if spec is None or spec.loader is None:
            raise LocalStackError(f"no Chalice app at {project_dir / 'app.py'}")
        module = importlib.util.module_from_spec(spec)
        sys.modules["app"] = module
        spec.loader.exec_module(module)
        return module


class ChaliceFunctions:
    """Looks up and invokes the app's functions by their Chalice names."""

    def __init__(self, module: ModuleType) -> None:
        self.module = module
        self.app: Chalice = module.app

    def lambda_function(self, name: str) -> Invoke:
        for function in self.app.pure_lambda_functions:
            if function.name == name:
                return self._with_context(name, function)
        raise LocalStackError(f"app.py has no @app.lambda_function named {name!r}")

    def sqs_handler(self, queue_name: str) -> Invoke:
        for source in self.app.event_sources:
            if isinstance(source, SQSEventConfig) and queue_name in (
                source.queue,
                (source.queue_arn or "").rsplit(":", 1)[-1],
            ):
                handler = getattr(self.module, source.handler_string.rsplit(".", 1)[-1])
                return self._with_context(source.name, handler)
        raise LocalStackError(f"app.py has no @app.on_sqs_message for queue {queue_name!r}")

    @staticmethod
    def _with_context(name: str, function: Callable[[Any, Any], Any]) -> Invoke:
        def invoke(event: Any) -> Any:
            return function(event, LambdaContext(name, _MEMORY_MB, _TIMEOUT_MS))

        return invoke
