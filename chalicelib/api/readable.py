"""One stored item that cannot be served never fails a listing for everyone.

Items reach the tables from handlers, tasks and anyone with write access; a listing serves the
items it can read and names the others (`unreadable`: their keys and why), and logs them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from aws_lambda_powertools import Logger

from chalicelib.api.dynamo import plain

T = TypeVar("T")
logger = Logger(service="kpi-api")


class Listing:
    """Converts a listing's items one by one, keeping the ones that fail aside."""

    def __init__(self, key_names: Iterable[str | None]) -> None:
        self._keys = tuple(name for name in key_names if name)
        self.unreadable: list[dict[str, Any]] = []

    def convert(self, items: Iterable[Mapping[str, Any]], public: Callable[[Mapping[str, Any]], T]) -> list[T]:
        served = []
        for item in items:
            try:
                served.append(public(item))
            except Exception as err:  # noqa: BLE001 (any fault of one stored item: the listing goes on)
                self._set_aside(item, err)
        return served

    def _set_aside(self, item: Mapping[str, Any], err: Exception) -> None:
        key = {name: plain(item[name]) for name in self._keys if name in item}
        reason = f"{type(err).__name__}: {err}"[:300]
        logger.warning("unreadable item", key=key, reason=reason)
        self.unreadable.append({"key": key, "reason": reason})

    def header(self) -> dict[str, Any]:
        """`unreadable` for the body, only when some item was."""
        return {"unreadable": self.unreadable} if self.unreadable else {}
