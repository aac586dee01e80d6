"""One set of pins: requirements.lock (from pyproject.toml, `make lock`) is what every other
requirements file agrees with, so the Lambda package, the image and the development environment
run the same versions."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "requirements.lock"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
DIRECT = [*PYPROJECT["dependencies"], *PYPROJECT["optional-dependencies"]["dev"]]
DERIVED = [ROOT / "requirements.txt", ROOT / "containers" / "requirements.txt"]
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+?)(?:\s*;.*?)?\s*\\?$")


def _lock() -> dict[str, tuple[str, int]]:
    """Name -> (version, number of hashes) of every package in the lock."""
    pins: dict[str, tuple[str, int]] = {}
    name = ""
    for line in LOCK.read_text().splitlines():
        if found := _PIN.match(line):
            name = canonicalize_name(found[1])
            pins[name] = (found[2], 0)
        elif line.strip().startswith("--hash=sha256:") and name:
            version, hashes = pins[name]
            pins[name] = (version, hashes + 1)
    return pins


def _pinned(requirement: Requirement) -> str:
    [spec] = requirement.specifier
    assert spec.operator == "==", f"{requirement}: pin it with =="
    return spec.version


def test_every_package_of_the_lock_has_hashes() -> None:
    pins = _lock()
    assert len(pins) > 50  # the whole environment, moto's and chalice's dependencies included
    assert [name for name, (_, hashes) in pins.items() if not hashes] == []


@pytest.mark.parametrize("line", DIRECT)
def test_pyproject_pins_are_the_locked_versions(line: str) -> None:
    requirement = Requirement(line)
    locked = _lock().get(canonicalize_name(requirement.name))
    assert locked is not None, f"{requirement.name} is not in requirements.lock: run `make lock`"
    assert locked[0] == _pinned(requirement), f"{line}: the lock has {locked[0]}; run `make lock`"


@pytest.mark.parametrize("path", DERIVED, ids=lambda p: str(p.relative_to(ROOT)))
def test_deployed_requirements_name_the_project_dependencies_at_the_locked_versions(path: Path) -> None:
    lock = _lock()
    project = {
        canonicalize_name(Requirement(line).name): _pinned(Requirement(line)) for line in PYPROJECT["dependencies"]
    }
    lines = [line.split("#", 1)[0].strip() for line in path.read_text().splitlines()]
    requirements = [Requirement(line) for line in lines if line]
    assert requirements, f"{path} names nothing"
    for requirement in requirements:
        name = canonicalize_name(requirement.name)
        assert name in project, f"{path}: {requirement.name} is not in pyproject.toml's dependencies"
        assert _pinned(requirement) == lock[name][0], f"{path}: {requirement}; the lock has {lock[name][0]}"
