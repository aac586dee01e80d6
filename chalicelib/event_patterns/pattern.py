"""Compiled patterns and matching (with AWS's array consistency)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from . import json_text
from .compiler import FieldTest, Rule, compile_rules
from .event_fields import Leaf, decode_event, flatten, path_prefixes
from .exceptions import InvalidEventPattern
from .modes import MAX_PIPE_PATTERN_CHARS, Mode

Membership = dict[int, int]


def pattern_text(pattern: str | Mapping[str, Any]) -> str:
    """The pattern as the string deployed to AWS (text is kept as given)."""
    return pattern if isinstance(pattern, str) else json.dumps(pattern, separators=(",", ":"))


@dataclass(frozen=True)
class CompiledPattern:
    """A validated pattern; ``text`` is exactly what must be deployed (and what was measured)."""

    text: str
    mode: Mode
    #: Alternatives (``$or`` expanded): each maps dotted path -> test, in AWS's sorted order.
    rules: tuple[tuple[tuple[str, FieldTest], ...], ...]
    #: Event paths (and their prefixes) the rules look at; the rest of an event is not read
    #: (None: read everything).
    wanted_paths: frozenset[str] | None

    def matches(self, event: Mapping[str, Any] | str | bytes) -> bool:
        """True when AWS would deliver this event; raises ValueError if it is not a JSON object."""
        fields = flatten(decode_event(event), self.wanted_paths)
        return any(_rule_matches(rule, fields, 0, {}) for rule in self.rules)


def _merge(membership: Membership, leaf: Leaf) -> Membership | None:
    """The array elements chosen so far plus the leaf's, or None if they disagree."""
    merged = membership
    for array_id, index in leaf.membership:
        chosen = merged.get(array_id)
        if chosen is None:
            if merged is membership:
                merged = dict(membership)
            merged[array_id] = index
        elif chosen != index:
            return None
    return merged


def _rule_matches(
    rule: tuple[tuple[str, FieldTest], ...], fields: dict[str, list[Leaf]], position: int, membership: Membership
) -> bool:
    """Backtracking over the rule's paths; every pick must come from consistent array elements."""
    if position == len(rule):
        return True
    path, test = rule[position]
    leaves = fields.get(path, ())
    for leaf in leaves:
        merged = _merge(membership, leaf)
        if (
            merged is not None
            and any(m.matches(leaf) for m in test.matchers)
            and _rule_matches(rule, fields, position + 1, merged)
        ):
            return True
    if test.absent_ok and all(_merge(membership, leaf) is None for leaf in leaves):
        return _rule_matches(rule, fields, position + 1, membership)
    return False


def compile_pattern(pattern: str | Mapping[str, Any], mode: Mode = Mode.EVENT_BUS) -> CompiledPattern:
    """Validate ``pattern`` as AWS would for ``mode``; raises InvalidEventPattern.

    Pattern text is decoded keeping repeated keys (AWS honours them: a repeated path keeps
    its last value, different paths are ANDed).
    """
    text = pattern_text(pattern)
    if mode is Mode.PIPES and len(text) > MAX_PIPE_PATTERN_CHARS:
        raise InvalidEventPattern(
            f"Pipes filter patterns are at most {MAX_PIPE_PATTERN_CHARS} characters, this one has {len(text)}"
        )
    if isinstance(pattern, str):
        try:
            decoded = json_text.loads(pattern)
        except ValueError as error:  # json.JSONDecodeError is a ValueError
            raise InvalidEventPattern(f"Filter is not valid JSON: {error}") from error
    else:
        decoded = json_text.from_python(pattern)
    rules: list[Rule] = compile_rules(decoded, mode)
    return CompiledPattern(
        text=text,
        mode=mode,
        rules=tuple(tuple(sorted(rule.items())) for rule in rules),
        wanted_paths=path_prefixes(path for rule in rules for path in rule),
    )


def matches(
    pattern: str | Mapping[str, Any], event: Mapping[str, Any] | str | bytes, mode: Mode = Mode.EVENT_BUS
) -> bool:
    """Compile and match in one call (compile once with ``compile_pattern`` in hot paths)."""
    return compile_pattern(pattern, mode).matches(event)
