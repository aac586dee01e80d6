"""IAM's evaluation of identity-based policies: Action, Resource and Condition, as AWS decides.

moto 5.2.5 (`moto/iam/access_control.py`) matches actions only: every service but S3, SQS, IAM
and STS asks it about resource "*", so a statement scoped to an ARN never matches, and a
statement whose Condition is not met counts as an explicit Deny (even in an Allow statement).
This evaluator follows the documented logic instead: an explicit Deny wins, else an Allow whose
Action, Resource and Condition all match, else the implicit deny.
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html

Conditions: the string, ARN and Bool operators (with `IfExists` and the `ForAnyValue:` /
`ForAllValues:` set qualifiers); an operator it does not know never matches (fails closed).
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from functools import lru_cache
from typing import Any

PolicyDocument = Mapping[str, Any]


class Decision(Enum):
    ALLOWED = "allowed"
    IMPLICIT_DENY = "implicitDeny"
    EXPLICIT_DENY = "explicitDeny"


@dataclass(frozen=True)
class Request:
    """One action on one resource, with the request's condition keys (names case-insensitive)."""

    action: str
    resource: str
    context: Mapping[str, Sequence[str]] = field(default_factory=dict)

    def values(self, key: str) -> Sequence[str] | None:
        wanted = key.lower()
        for name, values in self.context.items():
            if name.lower() == wanted:
                return values
        return None


def evaluate(policies: Iterable[PolicyDocument], request: Request) -> Decision:
    allowed = False
    for document in policies:
        for statement in _statements(document):
            if not _applies(statement, request):
                continue
            if statement.get("Effect") == "Deny":
                return Decision.EXPLICIT_DENY
            allowed = allowed or statement.get("Effect") == "Allow"
    return Decision.ALLOWED if allowed else Decision.IMPLICIT_DENY


def _statements(document: PolicyDocument) -> list[Mapping[str, Any]]:
    statements = document.get("Statement", [])
    return [statements] if isinstance(statements, Mapping) else list(statements)


def _listed(value: Any) -> list[Any]:
    return [value] if isinstance(value, str) else list(value or [])


def _applies(statement: Mapping[str, Any], request: Request) -> bool:
    if "NotAction" in statement:
        if _any_match(statement["NotAction"], request.action, ignore_case=True):
            return False
    elif not _any_match(statement.get("Action"), request.action, ignore_case=True):
        return False
    if "NotResource" in statement:
        if _any_match(statement["NotResource"], request.resource):
            return False
    elif not _any_match(statement.get("Resource"), request.resource):
        return False
    return all(
        _condition_holds(operator, key, expected, request)
        for operator, block in (statement.get("Condition") or {}).items()
        for key, expected in block.items()
    )


def _any_match(patterns: Any, value: str, ignore_case: bool = False) -> bool:
    return any(_wildcard(p, ignore_case).fullmatch(value) for p in _listed(patterns))


@lru_cache(maxsize=4096)
def _wildcard(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    """IAM wildcards: `*` any run of characters (across `:` and `/`), `?` one character."""
    parts = (".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile("".join(parts), re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def _condition_holds(operator: str, key: str, expected: Any, request: Request) -> bool:
    qualifier, _, name = operator.rpartition(":")
    if_exists = name.endswith("IfExists")
    name = name.removesuffix("IfExists")
    actual = request.values(key)
    if actual is None or (qualifier == "ForAnyValue" and not actual):
        return if_exists or qualifier == "ForAllValues"
    test = _OPERATORS.get(name)
    if test is None:
        return False
    wanted = [str(v).lower() if isinstance(v, bool) else str(v) for v in _listed(expected)]
    if "Not" in name:
        # Negated operators: the value matches none of the expected values.
        matches = [not any(test(value, w) for w in wanted) for value in actual]
    else:
        matches = [any(test(value, w) for w in wanted) for value in actual]
    if qualifier == "ForAllValues":
        return all(matches)
    return any(matches)


def _like(value: str, pattern: str) -> bool:
    return _wildcard(pattern, False).fullmatch(value) is not None


_OPERATORS: dict[str, Callable[[str, str], bool]] = {
    "StringEquals": lambda value, wanted: value == wanted,
    "StringNotEquals": lambda value, wanted: value == wanted,
    "StringEqualsIgnoreCase": lambda value, wanted: value.lower() == wanted.lower(),
    "StringNotEqualsIgnoreCase": lambda value, wanted: value.lower() == wanted.lower(),
    "StringLike": _like,
    "StringNotLike": _like,
    "ArnEquals": _like,
    "ArnLike": _like,
    "ArnNotEquals": _like,
    "ArnNotLike": _like,
    "Bool": lambda value, wanted: value.lower() == wanted.lower(),
}
