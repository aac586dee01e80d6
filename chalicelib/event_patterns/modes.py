"""Where a pattern is used decides what AWS accepts: event-bus rules or Pipes filters."""

from __future__ import annotations

from enum import Enum

#: ``FilterCriteria.Filters``: "Array Members: Maximum number of 5 items" (Pipes API
#: reference, ``AWS::Pipes::Pipe FilterCriteria``). Checked by whoever defines the pipes,
#: because a single pattern cannot know how many siblings it has.
MAX_PIPE_FILTERS = 5

#: ``Filter.Pattern``: "Length Constraints: Maximum length of 4096" (Pipes API reference,
#: ``AWS::Pipes::Pipe Filter``). CreatePipe/CloudFormation reject a longer pattern string, so
#: PIPES mode enforces it at compile time rather than letting a deploy fail.
MAX_PIPE_PATTERN_CHARS = 4096


class Mode(Enum):
    """Which AWS service will evaluate the pattern."""

    #: EventBridge rules (``events:TestEventPattern``). Lambda event source mappings filter
    #: with the same engine (their operator list is a subset); the recorded ESM cases run here.
    EVENT_BUS = "event-bus"
    #: EventBridge Pipes filters: same matching, fewer operators, 4096-character patterns.
    PIPES = "pipes"
