"""Wildcard operands: AWS's parsing rules, matching, and its "too complex" admission check.

AWS parses the operand as UTF-8 bytes inside its JSON quotes (error positions count the
opening quote): ``*`` matches any run of bytes, ``\\*`` and ``\\\\`` are literal, any other
backslash is an error, and ``**`` is an error.

AWS also refuses wildcard sets that could keep too many partial matches alive at once
("Rule is too complex"). It measures that on its byte machine; we measure the same idea on
the pattern's automaton: the most states any input can keep active on one field, over all the
wildcard operands used on that field. The limit is calibrated on AWS-recorded verdicts
(``*:*:*:*:*:event-bus/*`` is refused; ``/Users/*/dir/dir/dir/dir/dir/doc.txt`` is accepted).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

_STAR = -1
COMPLEXITY_LIMIT = 10
TOO_COMPLEX = (
    "Rule is too complex - try using fewer wildcard characters or fewer repeating character "
    "sequences after a wildcard character"
)


class WildcardError(ValueError):
    """The operand breaks AWS's wildcard syntax; the message is AWS's reason."""


@dataclass(frozen=True)
class Wildcard:
    """A parsed operand: ``tokens`` are byte values, or -1 for ``*``."""

    operand: str
    tokens: tuple[int, ...]
    regex: re.Pattern[bytes]

    def matches(self, value: str) -> bool:
        return self.regex.fullmatch(value.encode("utf-8")) is not None


def parse(operand: str) -> Wildcard:
    quoted = ('"' + operand + '"').encode("utf-8")
    tokens: list[int] = []
    index = 0
    while index < len(quoted):
        byte = quoted[index]
        if byte == ord("*"):
            if index + 1 < len(quoted) and quoted[index + 1] == ord("*"):
                raise WildcardError(f"Consecutive wildcard characters at pos {index}")
            tokens.append(_STAR)
        elif byte == ord("\\"):
            if index + 1 < len(quoted) and quoted[index + 1] in (ord("*"), ord("\\")):
                tokens.append(quoted[index + 1])
                index += 1
            else:
                raise WildcardError(f"Invalid escape character at pos {index}")
        else:
            tokens.append(byte)
        index += 1
    inner = tokens[1:-1]  # the quotes only matter for positions and complexity
    regex = b"".join(b".*" if token == _STAR else re.escape(bytes([token])) for token in inner)
    return Wildcard(operand, tuple(tokens), re.compile(regex, re.DOTALL))


def complexity(wildcards: Iterable[Wildcard], limit: int = COMPLEXITY_LIMIT) -> int:
    """Most automaton states any input keeps active at once (stops counting past ``limit``)."""
    machines = [w.tokens for w in {w.operand: w for w in wildcards}.values()]
    if not machines:
        return 0

    def closure(states: Iterable[tuple[int, int]]) -> frozenset[tuple[int, int]]:
        result = set()
        for machine_index, start in states:
            tokens = machines[machine_index]
            position = start
            result.add((machine_index, position))
            while position < len(tokens) and tokens[position] == _STAR:
                position += 1  # a star also matches nothing
                result.add((machine_index, position))
        return frozenset(result)

    def step(states: frozenset[tuple[int, int]], symbol: int) -> frozenset[tuple[int, int]]:
        moved = []
        for machine_index, position in states:
            tokens = machines[machine_index]
            if position < len(tokens):
                token = tokens[position]
                if token == _STAR:
                    moved.append((machine_index, position))
                elif token == symbol:
                    moved.append((machine_index, position + 1))
        return closure(moved)

    alphabet = {t for tokens in machines for t in tokens if t != _STAR} | {_STAR}  # -1: any other byte
    start = closure((index, 0) for index in range(len(machines)))
    seen = {start}
    pending = [start]
    worst = len(start)
    while pending and worst <= limit:
        states = pending.pop()
        for symbol in alphabet:
            following = step(states, symbol)
            if following and following not in seen:
                worst = max(worst, len(following))
                seen.add(following)
                pending.append(following)
    return worst
