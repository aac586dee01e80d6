"""`make check` (ruff lint, ruff format check, mypy) passes on the tree: part of `make test`."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_check_passes() -> None:
    # The tools of this interpreter's environment; the install stamp is taken as fresh (-o):
    # pytest runs inside an installed environment, and a check must not reinstall it.
    bin_dir = Path(sys.executable).parent
    done = subprocess.run(
        ["make", "--no-print-directory", "-o", ".venv/.installed", "check", f"BIN={bin_dir}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, f"make check failed:\n{done.stdout}\n{done.stderr}"
