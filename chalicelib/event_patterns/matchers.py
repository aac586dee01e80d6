"""What a single pattern value tests on a single event leaf.

Mirrors AWS's typing: string operators (prefix, suffix, equals-ignore-case, wildcard, cidr)
only ever match JSON strings; ``numeric`` only JSON numbers; an exact number matches the same
literal or the same comparable value; ``anything-but`` matches any present leaf of any type
(null, booleans and numbers included) except the excluded strings/numbers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

from .event_fields import Kind, Leaf
from .ip import IpRange
from .wildcard import Wildcard


class Matcher(Protocol):
    def matches(self, leaf: Leaf) -> bool: ...


def ignore_case_regex(text: str) -> str:
    """Each character matches its lower- or upper-case form, as AWS folds case per character."""
    parts = []
    for char in text:
        forms = sorted({char.lower(), char.upper()}, key=len, reverse=True)
        parts.append("(?:" + "|".join(re.escape(form) for form in forms) + ")")
    return "".join(parts)


@dataclass(frozen=True)
class ExactString:
    text: str
    #: Set when the text is an IP address: AWS then matches the address in any spelling.
    ip: IpRange | None = None

    def matches(self, leaf: Leaf) -> bool:
        if leaf.kind is not Kind.STRING:
            return False
        return self.ip.contains(leaf.text) if self.ip is not None else leaf.text == self.text


@dataclass(frozen=True)
class ExactNumber:
    text: str
    number_key: int | None

    def matches(self, leaf: Leaf) -> bool:
        if leaf.kind is not Kind.NUMBER:
            return False
        return leaf.text == self.text or (self.number_key is not None and leaf.number_key == self.number_key)


@dataclass(frozen=True)
class ExactLiteral:
    """``true``, ``false`` or ``null``: only the same JSON literal (never a missing field)."""

    kind: Kind

    def matches(self, leaf: Leaf) -> bool:
        return leaf.kind is self.kind


@dataclass(frozen=True)
class StringTest:
    """prefix / suffix / equals-ignore-case and their ignore-case variants, as one regex."""

    regex: re.Pattern[str]
    anchored_end: bool

    @classmethod
    def prefix(cls, text: str, ignore_case: bool = False) -> StringTest:
        body = ignore_case_regex(text) if ignore_case else re.escape(text)
        return cls(re.compile(body, re.DOTALL), anchored_end=False)

    @classmethod
    def suffix(cls, text: str, ignore_case: bool = False) -> StringTest:
        body = ignore_case_regex(text) if ignore_case else re.escape(text)
        return cls(re.compile("(?:" + body + r")\Z", re.DOTALL), anchored_end=True)

    @classmethod
    def equals_ignore_case(cls, text: str) -> StringTest:
        return cls(re.compile(ignore_case_regex(text) + r"\Z", re.DOTALL), anchored_end=False)

    def test(self, text: str) -> bool:
        found = self.regex.search(text) if self.anchored_end else self.regex.match(text)
        return found is not None

    def matches(self, leaf: Leaf) -> bool:
        return leaf.kind is Kind.STRING and self.test(leaf.text)


@dataclass(frozen=True)
class WildcardMatch:
    wildcard: Wildcard

    def matches(self, leaf: Leaf) -> bool:
        return leaf.kind is Kind.STRING and self.wildcard.matches(leaf.text)


@dataclass(frozen=True)
class Cidr:
    ip_range: IpRange

    def matches(self, leaf: Leaf) -> bool:
        return leaf.kind is Kind.STRING and self.ip_range.contains(leaf.text)


@dataclass(frozen=True)
class NumericRange:
    """Bounds are comparable keys; None means unbounded on that side."""

    low: int | None
    low_open: bool
    high: int | None
    high_open: bool

    def matches(self, leaf: Leaf) -> bool:
        key = leaf.number_key
        if leaf.kind is not Kind.NUMBER or key is None:
            return False
        if self.low is not None and (key <= self.low if self.low_open else key < self.low):
            return False
        return not (self.high is not None and (key >= self.high if self.high_open else key > self.high))


@dataclass(frozen=True)
class Exists:
    def matches(self, leaf: Leaf) -> bool:
        return True


@dataclass(frozen=True)
class AnythingBut:
    """``anything-but`` with plain strings or numbers (never both, AWS forbids mixing)."""

    strings: frozenset[str] = frozenset()
    number_keys: frozenset[int] = frozenset()

    def matches(self, leaf: Leaf) -> bool:
        if leaf.kind is Kind.STRING:
            return leaf.text not in self.strings
        if leaf.kind is Kind.NUMBER and leaf.number_key is not None:
            return leaf.number_key not in self.number_keys
        return True


@dataclass(frozen=True)
class AnythingButTest:
    """``anything-but`` with prefix / suffix / equals-ignore-case / wildcard operands."""

    excluded: tuple[StringTest | Wildcard, ...]

    def matches(self, leaf: Leaf) -> bool:
        if leaf.kind is not Kind.STRING:
            return True
        return not any(
            test.matches(leaf.text) if isinstance(test, Wildcard) else test.test(leaf.text) for test in self.excluded
        )
