"""EventBridge / Pipes event-pattern validation and matching, exactly as AWS does it.

Hand-written on purpose: no Python library is faithful (moto's matcher accepts invalid
patterns and misses cases; the PyPI ``event-ruler`` package is a different engine). This
package follows the behaviour of AWS's own engine and is checked against AWS-recorded
verdicts (``tests/event_patterns/test_event_pattern_conformance.py``). Standard library only: it runs in
Lambda and in the local runtime.

    compiled = compile_pattern(pattern_text_or_dict, Mode.PIPES)   # InvalidEventPattern if AWS would refuse it
    compiled.matches(event_dict_or_text)                           # would AWS deliver it?
"""

from .exceptions import InvalidEventPattern
from .modes import MAX_PIPE_FILTERS, MAX_PIPE_PATTERN_CHARS, Mode
from .pattern import CompiledPattern, compile_pattern, matches, pattern_text

__all__ = [
    "MAX_PIPE_FILTERS",
    "MAX_PIPE_PATTERN_CHARS",
    "CompiledPattern",
    "InvalidEventPattern",
    "Mode",
    "compile_pattern",
    "matches",
    "pattern_text",
]
