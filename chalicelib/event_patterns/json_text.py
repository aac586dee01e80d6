"""JSON decoding that keeps what ``json.loads`` throws away and AWS does not.

* Objects stay ordered lists of pairs, so a key repeated in the pattern text is seen
  twice (AWS walks the text token by token: repeated paths override, different paths AND).
* Numbers keep their literal text: AWS matches a number both by its literal text and by its
  numeric value, and ``1e2`` is not the same literal as ``100``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from decimal import Decimal
from typing import Any


class Pairs:
    """A JSON object as written: ``(key, value)`` pairs in text order, repeats included.

    Deliberately not a ``list`` subclass, so an object is never mistaken for a JSON array.
    """

    __slots__ = ("pairs",)

    def __init__(self, pairs: Iterable[tuple[str, Any]]) -> None:
        self.pairs = list(pairs)

    def __iter__(self) -> Iterator[tuple[str, Any]]:
        return iter(self.pairs)

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: Any) -> Any:
        return self.pairs[index]

    def __repr__(self) -> str:
        return f"Pairs({self.pairs!r})"


class JsonNumber:
    """A JSON number, held as its literal text (``1e2`` and ``100`` are different literals)."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return f"JsonNumber({self.text!r})"


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def loads(text: str) -> Any:
    """Decode JSON text into Pairs / JsonNumber / str / bool / None / list."""
    return json.loads(
        text,
        object_pairs_hook=Pairs,
        parse_int=JsonNumber,
        parse_float=JsonNumber,
        parse_constant=_reject_constant,
    )


def number_text(value: int | float | Decimal) -> str:
    """The literal a JSON encoder would write for a Python number (bools excluded by callers)."""
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"{value!r} is not a JSON number")
        return repr(value)
    return str(value)


def from_python(value: Any) -> Any:
    """Bring an already-decoded Python value into the same shape ``loads`` produces."""
    if isinstance(value, dict):
        return Pairs((key, from_python(item)) for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return [from_python(item) for item in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float, Decimal)):
        return JsonNumber(number_text(value))
    raise TypeError(f"{type(value).__name__} is not a JSON value")
