"""An event as AWS sees it: leaf values keyed by dotted path, tagged with array positions.

Objects nest into ``a.b.c`` paths (so ``{"a.b": 1}`` and ``{"a": {"b": 1}}`` are the same
field, as AWS treats them); arrays contribute each element to the same path and remember which
element it came from, so that one rule's fields must all come from the same array element
("array consistency"). Empty arrays and empty objects contribute nothing.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from typing import Any

from . import json_text
from .number_keys import comparable


class Kind(Enum):
    STRING = "string"
    NUMBER = "number"
    TRUE = "true"
    FALSE = "false"
    NULL = "null"


@dataclass(frozen=True, slots=True)
class Leaf:
    """One value in the event. ``text`` is the string itself, or the literal of anything else."""

    kind: Kind
    text: str
    #: ``(array id, element index)`` for every array this value sits in.
    membership: tuple[tuple[int, int], ...] = ()
    #: AWS's comparable form of a number (None for non-numbers and out-of-range numbers).
    number_key: int | None = None


def leaf_for(value: Any, membership: tuple[tuple[int, int], ...] = ()) -> Leaf:
    """The Leaf for one scalar JSON value."""
    if value is None:
        return Leaf(Kind.NULL, "null", membership)
    if value is True:
        return Leaf(Kind.TRUE, "true", membership)
    if value is False:
        return Leaf(Kind.FALSE, "false", membership)
    if isinstance(value, str):
        return Leaf(Kind.STRING, value, membership)
    if isinstance(value, json_text.JsonNumber):
        text = value.text
    elif isinstance(value, (int, float, Decimal)):
        text = json_text.number_text(value)
    else:
        raise TypeError(f"{type(value).__name__} is not a JSON value")
    return Leaf(Kind.NUMBER, text, membership, comparable(text))


def _items(obj: Any) -> Iterator[tuple[str, Any]]:
    return iter(obj) if isinstance(obj, json_text.Pairs) else iter(obj.items())


def decode_event(event: Mapping[str, Any] | str | bytes) -> Any:
    """Accept an event as JSON text or as decoded JSON; it must be an object."""
    if isinstance(event, (str, bytes)):
        try:
            event = json_text.loads(event.decode("utf-8") if isinstance(event, bytes) else event)
        except (json.JSONDecodeError, ValueError) as error:
            raise ValueError(f"event is not valid JSON: {error}") from error
    if not isinstance(event, (Mapping, json_text.Pairs)):
        raise ValueError(f"event must be a JSON object, got {type(event).__name__}")
    return event


def path_prefixes(paths: Iterable[str]) -> frozenset[str]:
    """Every dotted path and each of its prefixes at a dot: the only places worth walking."""
    prefixes: set[str] = set()
    for path in paths:
        parts = path.split(".")
        prefixes.update(".".join(parts[:end]) for end in range(1, len(parts) + 1))
    return frozenset(prefixes)


def flatten(event: Any, wanted: frozenset[str] | None = None) -> dict[str, list[Leaf]]:
    """The leaves of a decoded event object, grouped by dotted path.

    ``wanted`` (from ``path_prefixes``) skips subtrees no pattern path can reach.
    """
    fields: dict[str, list[Leaf]] = {}
    array_ids = itertools.count()

    def walk(value: Any, path: str, membership: tuple[tuple[int, int], ...]) -> None:
        if isinstance(value, (Mapping, json_text.Pairs)):
            for key, item in _items(value):
                child = f"{path}.{key}" if path else key
                if wanted is None or child in wanted:
                    walk(item, child, membership)
        elif isinstance(value, (list, tuple)):
            array_id = next(array_ids)
            for index, item in enumerate(value):
                walk(item, path, (*membership, (array_id, index)))
        else:
            fields.setdefault(path, []).append(leaf_for(value, membership))

    walk(event, "", ())
    return fields
