"""The matcher against every AWS-recorded verdict in ../shared/conformance (skipped without it).

* ``eventbridge-patterns``: ``events:TestEventPattern`` verdicts (match / ``_NEG`` no match /
  ``_EXC`` invalid, with AWS's exact message). Each case also runs in PIPES mode, where the
  operators Pipes refuse must be rejected and everything else must keep AWS's verdict.
* ``dynamodb-stream-filters``: filters recorded on a real table stream; we rebuild the stream
  records the writes produce and check the filter delivers exactly the recorded positions.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from chalicelib.event_patterns import InvalidEventPattern, Mode, compile_pattern
from chalicelib.stream_records import StreamRecordFactory, stream_arn

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
PATTERNS_DIR = SHARED / "conformance" / "eventbridge-patterns"
STREAM_CASES = SHARED / "conformance" / "dynamodb-stream-filters" / "cases.json"
RAW_TEXT_CASE = "complex_multi_key_event"

pytestmark = pytest.mark.skipif(not PATTERNS_DIR.is_dir(), reason=f"{SHARED} is not present")


def json5_to_json(text: str) -> str:
    """The JSON5 subset the case files use: ``//`` comments and trailing commas."""
    out: list[str] = []
    index, in_string = 0, False
    while index < len(text):
        char = text[index]
        if in_string:
            out.append(char)
            if char == "\\":
                out.append(text[index + 1])
                index += 1
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
            out.append(char)
        elif text.startswith("//", index):
            while index < len(text) and text[index] != "\n":
                index += 1
            continue
        else:
            out.append(char)
        index += 1
    return re.sub(r",(\s*[}\]])", r"\1", "".join(out))


def member_text(document: str, key: str) -> str:
    """The raw JSON text of a top-level member, so number literals and repeated keys survive."""
    found = re.search(r'"' + re.escape(key) + r'"\s*:\s*', document)
    assert found, key
    _, end = json.JSONDecoder().raw_decode(document, found.end())
    return document[found.end() : end]


def load_cases() -> list[tuple[str, str, str]]:
    """(name, event text, pattern text) for every case."""
    if not PATTERNS_DIR.is_dir():
        return []
    cases = []
    for path in sorted(PATTERNS_DIR.glob("*.json5")):
        document = json5_to_json(path.read_text(encoding="utf-8"))
        cases.append((path.stem, member_text(document, "Event"), member_text(document, "EventPattern")))
    event = (PATTERNS_DIR / f"{RAW_TEXT_CASE}.json").read_text(encoding="utf-8")
    pattern = (PATTERNS_DIR / f"{RAW_TEXT_CASE}_pattern.json").read_text(encoding="utf-8")
    cases.append((RAW_TEXT_CASE, event, pattern))
    return cases


CASES = load_cases()


def aws_message(name: str) -> str:
    messages = json.loads((PATTERNS_DIR / "_exception_messages.json").read_text(encoding="utf-8"))
    return messages[name][name]["exception_message"]["Error"]["Message"]


def uses_operator_pipes_refuse(node: Any) -> bool:
    """wildcard, or anything-but with prefix/suffix/wildcard/equals-ignore-case, anywhere."""
    if isinstance(node, list):
        return any(uses_operator_pipes_refuse(item) for item in node)
    if not isinstance(node, dict):
        return False
    if "wildcard" in node:
        return True
    refused = {"prefix", "suffix", "wildcard", "equals-ignore-case"}
    if isinstance(node.get("anything-but"), dict) and refused & node["anything-but"].keys():
        return True
    return any(uses_operator_pipes_refuse(value) for value in node.values())


def test_every_case_file_is_collected() -> None:
    assert len(CASES) == len(list(PATTERNS_DIR.glob("*.json5"))) + 1 > 100


@pytest.mark.parametrize(("name", "event", "pattern"), CASES, ids=[case[0] for case in CASES])
def test_event_bus_verdict(name: str, event: str, pattern: str) -> None:
    if name.endswith("_EXC"):
        with pytest.raises(InvalidEventPattern) as raised:
            compile_pattern(pattern)
        assert raised.value.message == aws_message(name)
    else:
        assert compile_pattern(pattern).matches(event) is not name.endswith("_NEG")


@pytest.mark.parametrize(("name", "event", "pattern"), CASES, ids=[case[0] for case in CASES])
def test_pipes_verdict(name: str, event: str, pattern: str) -> None:
    if name.endswith("_EXC") or uses_operator_pipes_refuse(json.loads(pattern)):
        with pytest.raises(InvalidEventPattern):
            compile_pattern(pattern, Mode.PIPES)
    else:
        assert compile_pattern(pattern, Mode.PIPES).matches(event) is not name.endswith("_NEG")


def load_stream_cases() -> list[dict[str, Any]]:
    return json.loads(STREAM_CASES.read_text(encoding="utf-8")) if STREAM_CASES.is_file() else []


STREAM_FILTER_CASES = load_stream_cases()


@pytest.mark.parametrize("case", STREAM_FILTER_CASES, ids=[case["name"] for case in STREAM_FILTER_CASES])
def test_dynamodb_stream_filter_delivers_recorded_writes(case: dict[str, Any]) -> None:
    # eventName filters are valid for event source mappings (where these were recorded), not
    # for Pipes; EVENT_BUS mode accepts the same operators an event source mapping does.
    mode = Mode.EVENT_BUS if "eventName" in case["filter"] else Mode.PIPES
    compiled = compile_pattern(json.dumps(case["filter"]), mode)
    factory = StreamRecordFactory(
        stream_arn=stream_arn("conformance", "us-east-1", "000000000000", "2025-11-01T00:00:00.000"),
        key_attributes=("id",),
        clock=lambda: 1_762_000_000.0,
    )
    table: dict[str, dict[str, Any]] = {}
    delivered = []
    for position, write in enumerate(case["writes"]):
        assert write["op"] == "put"
        item = write["item"]
        key = json.dumps(item["id"], sort_keys=True)
        record = factory.record(table.get(key), item)
        table[key] = item
        # Pipes and event source mappings filter the record as JSON text on the wire.
        if record is not None and compiled.matches(json.dumps(record)):
            delivered.append(position)
    assert delivered == case["delivered"]
