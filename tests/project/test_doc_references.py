"""Docs and code point at things that exist: relative links and repository paths in the
Markdown files, paths named in code comments, and the commands the docs show (each verb
answers `--help` and knows the options the docs give it; each `make` target exists)."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MARKDOWN = [ROOT / "README.md", ROOT / "sample_files" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# The tracked files (generated ones, such as *.egg-info, are not the project's word).
CODE = [
    ROOT / name
    for name in subprocess.run(
        ["git", "ls-files", "*.py", "Makefile", "*.toml", "*Dockerfile", "*.txt"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
]
TOP_LEVEL = {p.name for p in ROOT.iterdir() if not p.name.startswith(".")}
# A repository path in code: a top-level folder, then a file with an extension.
CODE_PATH = re.compile(
    r"(?<![\w/.-])((?:chalicelib|containers|infra|shoppulse|tests|docs|benchmarks|sample_files)/[\w/.-]*\w\.(?:py|md|json|txt|csv|toml))"
)
LINK = re.compile(r"\]\(([^)\s]+)\)")
CODE_SPAN = re.compile(r"`([^`\s]+)`")
FENCE = re.compile(r"^```(\w*).*?$(.*?)^```", re.M | re.S)  # (info string, body)
SHOPPULSE = Path(sys.executable).parent / "shoppulse"


def _name(path: Path) -> str:
    return str(path.relative_to(ROOT))


def _commands(prefix: str) -> list[tuple[str, list[str]]]:
    """(file, words) of each line in a fenced block that runs `prefix`, continuation lines joined."""
    found = []
    for md in MARKDOWN:
        for info, block in FENCE.findall(md.read_text()):
            if info == "text":  # what a command prints, not commands
                continue
            for line in block.replace("\\\n", " ").splitlines():
                first = line.split(maxsplit=1)[:1]
                if first and first[0] in (prefix, f".venv/bin/{prefix}"):
                    found.append((_name(md), shlex.split(line.split(" #", 1)[0])[1:]))
    return found


@pytest.mark.parametrize("md", MARKDOWN, ids=_name)
def test_relative_links_resolve(md: Path) -> None:
    targets = [t.split("#", 1)[0] for t in LINK.findall(md.read_text()) if not re.match(r"[a-z]+:|#", t)]
    assert [t for t in targets if not (md.parent / t).exists()] == []


@pytest.mark.parametrize("md", MARKDOWN, ids=_name)
def test_repository_paths_in_markdown_exist(md: Path) -> None:
    missing = []
    for span in CODE_SPAN.findall(md.read_text()):
        path = span.split("::", 1)[0].rstrip(".,;:")
        is_path = "/" in path and path.split("/")[0] in TOP_LEVEL and not re.search(r"[*<>{}$=()\[\]]", path)
        if is_path and not (ROOT / path).exists():
            missing.append(span)
    assert missing == []


def test_repository_paths_named_in_code_exist() -> None:
    missing = [
        f"{_name(f)}: {path}"
        for f in CODE
        for path in CODE_PATH.findall(f.read_text(errors="replace"))
        if not (ROOT / path).exists()
    ]
    assert missing == []


@pytest.mark.parametrize("verb", sorted({words[0] for _, words in _commands("shoppulse")}))
def test_shoppulse_commands_in_the_docs_answer_help_and_know_their_options(verb: str) -> None:
    done = subprocess.run([str(SHOPPULSE), verb, "--help"], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    used = {
        w.split("=", 1)[0]
        for f, words in _commands("shoppulse")
        if words[0] == verb
        for w in words
        if w.startswith("--")
    }
    assert sorted(o for o in used if o not in done.stdout) == []


def test_make_targets_in_the_docs_exist() -> None:
    targets = set(re.findall(r"^([\w-]+):", (ROOT / "Makefile").read_text(), re.M))
    used = {words[0] for _, words in _commands("make") if words}
    assert used and used <= targets, sorted(used - targets)
