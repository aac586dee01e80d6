"""The Lambda package stays small: nothing heavy on its import path or in its requirements."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("pandas", "numpy", "pyarrow")


def test_lambda_requirements_hold_nothing_heavy() -> None:
    lines = [line.split("==")[0].strip().lower() for line in (ROOT / "requirements.txt").read_text().splitlines()]
    assert not set(lines) & set(HEAVY)


def test_importing_the_app_loads_no_heavy_module() -> None:
    probe = f"import sys, app; print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""


def test_the_containers_need_only_their_own_requirements_and_chalicelib() -> None:
    probe = (
        "import sys, containers.validation.task, containers.transformation.task, containers.tasks.entry; "
        "print(','.join(sorted(m for m in ('chalice', 'aws_lambda_powertools', 'moto') if m in sys.modules)))"
    )
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""
