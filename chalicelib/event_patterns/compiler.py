"""Validation: turns pattern JSON into rules, rejecting exactly what AWS rejects.

Walks the pattern in text order as AWS's compiler does, so the first problem reported is the
one AWS reports, worded as AWS words it. The result is a list of alternatives (one per
``$or`` branch combination), each mapping a dotted field path to the values it accepts. A
path written twice in the same alternative keeps its last value list, as in AWS; different
paths are ANDed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn

from . import ip, matchers, wildcard
from .event_fields import Kind
from .exceptions import InvalidEventPattern
from .json_text import JsonNumber, Pairs
from .modes import Mode
from .number_keys import comparable, required_comparable

OR_KEY = "$or"
#: Operator names AWS refuses as field names inside ``$or`` (its reserved-word list).
RESERVED_IN_OR = frozenset(
    {
        "exactly",
        "equals-ignore-case",
        "prefix",
        "suffix",
        "anything-but",
        "exists",
        "wildcard",
        "numeric",
        "cidr",
        "=",
        "<",
        "<=",
        ">",
        ">=",
        "regex",
        "not-wildcard",
        "not-equals-ignore-case",
        "date-after",
        "date-on-or-after",
        "date-before",
        "date-on-or-before",
        "in-date-range",
        "ip-address-in-range",
        "ip-address-not-in-range",
    }
)
_TOO_MANY = "Too many elements in numeric expression"
_ONE_KEY = "Only one key allowed in match expression"
_NUMERIC_OPERATORS = ("=", ">", ">=", "<", "<=")
#: Our own guard, not an AWS rule: sibling ``$or`` lists multiply, and a few dozen of them
#: would expand into more alternatives than memory holds. No realistic pattern comes close.
MAX_ALTERNATIVES = 10_000


@dataclass(frozen=True)
class FieldTest:
    """What one path must satisfy: a leaf matching any matcher, or (``absent_ok``) no leaf."""

    matchers: tuple[matchers.Matcher, ...]
    absent_ok: bool
    wildcards: tuple[wildcard.Wildcard, ...] = ()


Rule = dict[str, FieldTest]


def _fail(reason: str) -> NoReturn:
    raise InvalidEventPattern(reason)


def _token_text(value: Any) -> str:
    """What AWS's parser prints for a token in messages such as "Bad value in numeric range: X"."""
    if isinstance(value, JsonNumber):
        return value.text
    if isinstance(value, str):
        return value
    if isinstance(value, Pairs):
        return "{"
    if isinstance(value, list):
        return "["
    return {True: "true", False: "false", None: "null"}[value]


class _Compiler:
    def __init__(self, mode: Mode) -> None:
        self.mode = mode

    def _pipes_reject(self, what: str) -> None:
        if self.mode is Mode.PIPES:
            _fail(f"{what} is not supported in EventBridge Pipes filters")

    # -- structure -------------------------------------------------------------------------
    def compile(self, pattern: Any) -> list[Rule]:
        if not isinstance(pattern, Pairs):
            _fail("Filter is not an object")
        rules: list[Rule] = []
        self._object(rules, [], pattern, in_or=False)
        return rules

    def _object(self, rules: list[Rule], path: list[str], obj: Pairs, in_or: bool) -> None:
        if not obj:
            _fail("Empty objects are not allowed")
        for key, value in obj:
            if key == OR_KEY:
                self._or(rules, path, value)
                continue
            if in_or and key in RESERVED_IN_OR:
                _fail(f"{key} is Ruler reserved fieldName which cannot be used inside {OR_KEY}.")
            if isinstance(value, Pairs):
                self._object(rules, [*path, key], value, in_or)
            elif isinstance(value, list):
                self._field(rules, ".".join([*path, key]), value)
            else:
                _fail(f'"{key}" must be an object or an array')

    def _or(self, rules: list[Rule], path: list[str], branches: Any) -> None:
        before = [dict(rule) for rule in rules]
        rules.clear()
        if not isinstance(branches, list):
            _fail(f"It must be an Array followed with {OR_KEY}.")
        for branch in branches:
            if not isinstance(branch, Pairs):
                _fail(f"Only JSON object is allowed in array of {OR_KEY} relationship.")
            if len(rules) + max(len(before), 1) > MAX_ALTERNATIVES:
                _fail(
                    f"$or combinations expand to more than {MAX_ALTERNATIVES} alternatives "
                    "(a limit of this validator, not of AWS)"
                )
            forked = [dict(rule) for rule in before] or [{}]
            self._object(forked, path, branch, in_or=True)
            rules.extend(forked)
        if len(branches) < 2:
            _fail(f"There must have at least 2 Objects in {OR_KEY} relationship.")

    def _field(self, rules: list[Rule], path: str, values: list[Any]) -> None:
        tests: list[matchers.Matcher] = []
        absent_ok = False
        wildcards: list[wildcard.Wildcard] = []
        for value in values:
            if isinstance(value, Pairs):
                matcher = self._expression(value)
                if matcher is None:
                    absent_ok = True
                    continue
                if isinstance(matcher, matchers.WildcardMatch):
                    wildcards.append(matcher.wildcard)
                elif isinstance(matcher, matchers.AnythingButTest):
                    wildcards.extend(t for t in matcher.excluded if isinstance(t, wildcard.Wildcard))
                tests.append(matcher)
            elif isinstance(value, str):
                tests.append(matchers.ExactString(value, ip.exact_ip_range(value)))
            elif isinstance(value, JsonNumber):
                tests.append(matchers.ExactNumber(value.text, comparable(value.text)))
            elif value is None or isinstance(value, bool):
                tests.append(matchers.ExactLiteral(Kind.NULL if value is None else Kind.TRUE if value else Kind.FALSE))
            else:
                _fail("Match value must be String, number, true, false, or null")
        if not values:
            _fail("Empty arrays are not allowed")
        field_test = FieldTest(tuple(tests), absent_ok, tuple(wildcards))
        if not rules:
            rules.append({})
        for rule in rules:
            rule[path] = field_test

    # -- match expressions ({"prefix": ...} and friends) -----------------------------------
    def _expression(self, expression: Pairs) -> matchers.Matcher | None:
        """The matcher for one ``{operator: operand}``; None stands for ``exists: false``."""
        if not expression:
            _fail("Match expression name not found")
        (name, operand), rest = expression[0], expression[1:]
        handler: Callable[[Any, list[Any]], matchers.Matcher | None] | None = {
            "prefix": self._prefix,
            "suffix": self._suffix,
            "equals-ignore-case": self._equals_ignore_case,
            "numeric": self._numeric,
            "anything-but": self._anything_but,
            "exists": self._exists,
            "cidr": self._cidr,
            "wildcard": self._wildcard,
        }.get(name)
        if handler is None:
            _fail(f"Unrecognized match type {name}")
        return handler(operand, rest)

    @staticmethod
    def _only_key(rest: list[Any], reason: str = _ONE_KEY) -> None:
        if rest:
            _fail(reason)

    def _affix(self, operator: str, operand: Any, rest: list[Any]) -> matchers.Matcher:
        build = matchers.StringTest.prefix if operator == "prefix" else matchers.StringTest.suffix
        if isinstance(operand, Pairs):  # {"prefix": {"equals-ignore-case": "..."}}
            if not operand:
                _fail(f"{operator.capitalize()} expression name not found")
            inner, text = operand[0]
            if inner != "equals-ignore-case":
                _fail(f"Unsupported {operator} pattern: {inner}")
            if not isinstance(text, str):
                _fail("equals-ignore-case match pattern must be a string")
            self._only_key(operand[1:])
            self._only_key(rest)
            return build(text, ignore_case=True)
        if not isinstance(operand, str):
            _fail(f"{operator} match pattern must be a string")
        self._only_key(rest)
        return build(operand)

    def _prefix(self, operand: Any, rest: list[Any]) -> matchers.Matcher:
        return self._affix("prefix", operand, rest)

    def _suffix(self, operand: Any, rest: list[Any]) -> matchers.Matcher:
        return self._affix("suffix", operand, rest)

    def _equals_ignore_case(self, operand: Any, rest: list[Any]) -> matchers.Matcher:
        if not isinstance(operand, str):
            _fail("equals-ignore-case match pattern must be a string")
        self._only_key(rest)
        return matchers.StringTest.equals_ignore_case(operand)

    def _exists(self, operand: Any, rest: list[Any]) -> matchers.Matcher | None:
        if not isinstance(operand, bool):
            _fail("exists match pattern must be either true or false.")
        self._only_key(rest)
        return matchers.Exists() if operand else None

    def _cidr(self, operand: Any, rest: list[Any]) -> matchers.Matcher:
        if not isinstance(operand, str):
            _fail("prefix match pattern must be a string")  # sic: AWS's wording for cidr
        try:
            ip_range = ip.cidr_range(operand)
        except ip.IpError as error:
            _fail(str(error))
        self._only_key(rest)
        return matchers.Cidr(ip_range)

    def _wildcard(self, operand: Any, rest: list[Any]) -> matchers.Matcher:
        self._pipes_reject("wildcard")
        if not isinstance(operand, str):
            _fail("wildcard match pattern must be a string")
        parsed = self._parse_wildcard(operand)
        self._only_key(rest)
        return matchers.WildcardMatch(parsed)

    @staticmethod
    def _parse_wildcard(operand: str) -> wildcard.Wildcard:
        try:
            return wildcard.parse(operand)
        except wildcard.WildcardError as error:
            _fail(str(error))

    # -- numeric ------------------------------------------------------------------------------
    def _numeric(self, operand: Any, rest: list[Any]) -> matchers.Matcher:
        if not isinstance(operand, list):
            _fail("Value of numeric must be an array.")
        matcher = self._numeric_terms(operand)
        self._only_key(rest, _TOO_MANY)
        return matcher

    @staticmethod
    def _numeric_terms(terms: list[Any]) -> matchers.NumericRange:
        if not terms or not isinstance(terms[0], str):
            _fail(f"Invalid member in numeric match: {_token_text(terms[0]) if terms else ']'}")
        operator = terms[0]

        def number(index: int, name: str) -> str:
            if index >= len(terms) or not isinstance(terms[index], JsonNumber):
                _fail(f"Value of {name} must be numeric")
            text: str = terms[index].text
            return text

        def key(text: str) -> int:
            try:
                return required_comparable(text)
            except ValueError as error:
                _fail(str(error))

        if operator not in _NUMERIC_OPERATORS:
            _fail(f"Unrecognized numeric range operator: {operator}")
        first = number(1, "equals" if operator == "=" else operator)
        if operator in ("=", "<", "<="):
            if len(terms) > 2:
                _fail(_TOO_MANY)
            bound = key(first)
            if operator == "=":
                return matchers.NumericRange(bound, False, bound, False)
            return matchers.NumericRange(None, False, bound, operator == "<")
        if len(terms) == 2:
            return matchers.NumericRange(key(first), operator == ">", None, False)
        if not isinstance(terms[2], str):
            _fail(f"Bad value in numeric range: {_token_text(terms[2])}")
        upper = terms[2]
        if upper not in ("<", "<="):
            _fail(f"Bad numeric range operator: {upper}")
        second = number(3, upper)
        if len(terms) > 4:
            _fail("Too many terms in numeric range expression")
        low, high = key(first), key(second)
        if low >= high:
            _fail("Bottom must be less than top")
        return matchers.NumericRange(low, operator == ">", high, upper == "<")

    # -- anything-but -------------------------------------------------------------------------
    def _anything_but(self, operand: Any, rest: list[Any]) -> matchers.Matcher:
        variant = None
        inner_rest: list[Any] = []
        if isinstance(operand, Pairs):
            if not operand:
                _fail("Anything-But expression name not found")
            (variant, operand), inner_rest = operand[0], operand[1:]
            if variant not in ("equals-ignore-case", "prefix", "suffix", "wildcard"):
                _fail(f"Unsupported anything-but pattern: {variant}")
            self._pipes_reject(f"anything-but/{variant}")
        if not isinstance(operand, (list, str, JsonNumber)):
            _fail("Value of anything-but must be an array or single string/number value.")
        values = operand if isinstance(operand, list) else [operand]
        if variant is None:
            matcher: matchers.Matcher = self._anything_but_values(values, isinstance(operand, list))
        else:
            matcher = matchers.AnythingButTest(tuple(self._anything_but_test(variant, v) for v in values))
        self._only_key(inner_rest, _TOO_MANY)
        self._only_key(rest, _TOO_MANY)
        return matcher

    @staticmethod
    def _anything_but_values(values: list[Any], listed: bool) -> matchers.AnythingBut:
        strings: set[str] = set()
        numbers: set[int] = set()
        for value in values:
            if isinstance(value, str):
                strings.add(value)
            elif isinstance(value, JsonNumber):
                try:
                    numbers.add(required_comparable(value.text))
                except ValueError as error:
                    _fail(str(error))
            elif listed:
                _fail("Inside anything but list, start|null|boolean is not supported.")
        if bool(strings) == bool(numbers):  # only reachable for lists: empty or mixed
            _fail("Inside anything but list, either all values are number or string, mixed type is not supported")
        return matchers.AnythingBut(frozenset(strings), frozenset(numbers))

    def _anything_but_test(self, variant: str, value: Any) -> matchers.StringTest | wildcard.Wildcard:
        if not isinstance(value, str):
            _fail(
                {
                    "equals-ignore-case": "Inside anything-but/equals-ignore-case list, "
                    "number|start|null|boolean is not supported.",
                    "wildcard": "wildcard match pattern must be a string",
                }.get(variant, "prefix/suffix match pattern must be a string")
            )
        if variant in ("prefix", "suffix") and not value:
            _fail("Null prefix/suffix not allowed")
        if variant == "wildcard":
            return self._parse_wildcard(value)
        if variant == "prefix":
            return matchers.StringTest.prefix(value)
        if variant == "suffix":
            return matchers.StringTest.suffix(value)
        return matchers.StringTest.equals_ignore_case(value)


def _check_wildcard_complexity(rules: list[Rule]) -> None:
    per_path: dict[str, list[wildcard.Wildcard]] = {}
    for rule in rules:
        for path, test in rule.items():
            per_path.setdefault(path, []).extend(test.wildcards)
    for wildcards in per_path.values():
        if wildcards and wildcard.complexity(wildcards) > wildcard.COMPLEXITY_LIMIT:
            _fail(wildcard.TOO_COMPLEX)


def compile_rules(pattern: Any, mode: Mode) -> list[Rule]:
    """Validate decoded pattern JSON (Pairs form) and return its alternatives."""
    rules = _Compiler(mode).compile(pattern)
    _check_wildcard_complexity(rules)
    return rules
