"""The type stubs are a development dependency: the Lambda package and the container images lack
them, so the app, chalicelib and the container tasks import stub types under TYPE_CHECKING only."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STUBS = ("mypy_boto3", "botocore_stubs", "boto3_stubs", "types_boto3")

# Refuses the stub packages as if absent, then imports the app, every chalicelib module and the tasks.
PROBE = f"""
import importlib, pkgutil, sys
from importlib.abc import MetaPathFinder

class Absent(MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.startswith({STUBS!r}):
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None

sys.meta_path.insert(0, Absent())
import chalicelib
modules = ["app", "containers.validation.task", "containers.transformation.task", "containers.tasks.entry"]
modules += [m.name for m in pkgutil.walk_packages(chalicelib.__path__, "chalicelib.")]
for name in modules:
    importlib.import_module(name)
print(len(modules))
"""


def test_the_app_chalicelib_and_the_tasks_import_without_the_stubs() -> None:
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) > 50
