"""moto as released still needs fix 20 (shoppulse/local/moto_fixes/asl_parsing.py).

The test runs moto's own code (`patching.upstream`) and asserts the shortcoming the fix makes up
for: when it fails, moto has caught up, and the fix can go.
"""

from __future__ import annotations

import json
import uuid
from unittest import mock

import pytest
from moto.stepfunctions.parser.asl.antlr.runtime.ASLParser import ASLParser
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser, ASLParserException

from shoppulse.local.moto_fixes import asl_parsing
from shoppulse.local.moto_fixes.patching import upstream


def _parses(definition: str, executions: int) -> tuple[list[object], int]:
    """The programs of `executions` executions of one definition, and how many ANTLR parses they took."""
    with mock.patch.object(ASLParser, "state_machine", autospec=True, side_effect=ASLParser.state_machine) as parsed:
        programs = [AmazonStateLanguageParser.parse(definition)[0] for _ in range(executions)]
    return programs, parsed.call_count


def test_fix_20_moto_parses_the_definition_for_every_execution() -> None:
    asl_parsing.apply()  # installed or not, upstream() below takes it away
    definition = json.dumps(
        {"Comment": str(uuid.uuid4()), "StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}
    )
    with upstream():
        _, parses = _parses(definition, 3)
    assert parses == 3
    programs, parses = _parses(definition, 3)
    assert parses == 1
    assert len({id(program) for program in programs}) == 3  # each execution its own program
    assert type(programs[0]) is type(AmazonStateLanguageParser.parse(definition)[0])
    broken = definition.replace('"End": true', '"End": "yes"')
    for _ in range(2):
        with pytest.raises(ASLParserException):
            AmazonStateLanguageParser.parse(broken)
