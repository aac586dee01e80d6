"""Request parameters, parsed and bounded: every client mistake becomes a BadRequest here."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from urllib.parse import unquote

from chalicelib.api.exceptions import BadRequest

# A leap year: one calendar year always fits in one range (and, by default, in one page).
MAX_RANGE_DAYS = 366
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
# A `%` not followed by two hex digits is no percent-encoding (RFC 3986 section 2.1).
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
# DynamoDB keys are at most 1024 bytes (sort keys) or 2048 (partition keys): refuse before.
MAX_NAME_BYTES = 512
MAX_ID_BYTES = 1024

Params = Mapping[str, str]


@dataclass(frozen=True)
class DateRange:
    """An inclusive range of order dates."""

    start: date
    end: date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def years(self, first: int | None = None) -> range:
        return range(first or self.start.year, self.end.year + 1)

    def contains(self, iso_date: str) -> bool:
        return is_iso_date(iso_date) and self.start <= date.fromisoformat(iso_date) <= self.end

    def public(self) -> dict[str, str]:
        return {"from": self.start.isoformat(), "to": self.end.isoformat()}


@dataclass(frozen=True)
class PageRequest:
    limit: int
    token: str | None


def is_iso_date(value: str) -> bool:
    try:
        return bool(_DATE.fullmatch(value)) and bool(date.fromisoformat(value))
    except ValueError:
        return False


def parse_date(value: str | None, name: str) -> date:
    if value is None:
        raise BadRequest(f"'{name}' is required (a date YYYY-MM-DD)", name)
    if not is_iso_date(value):
        raise BadRequest(f"'{name}' must be a valid date YYYY-MM-DD, got {value[:40]!r}", name)
    return date.fromisoformat(value)


def parse_range(params: Params) -> DateRange:
    start, end = parse_date(params.get("from"), "from"), parse_date(params.get("to"), "to")
    if start > end:
        raise BadRequest(f"'from' ({start}) is after 'to' ({end})", "from")
    if end - start >= timedelta(days=MAX_RANGE_DAYS):
        raise BadRequest(
            f"the range spans {(end - start).days + 1} days; at most {MAX_RANGE_DAYS} are served at once", "to"
        )
    return DateRange(start, end)


def parse_page(params: Params, default: int, maximum: int) -> PageRequest:
    raw = params.get("limit")
    if raw is None:
        return PageRequest(default, params.get("next_token"))
    if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= maximum:
        raise BadRequest(f"'limit' must be an integer from 1 to {maximum}, got {raw[:40]!r}", "limit")
    return PageRequest(int(raw), params.get("next_token"))


def path_value(raw: str, name: str, max_bytes: int = MAX_NAME_BYTES) -> str:
    """A path parameter, percent-decoded exactly once (clients encode `/`, `?`, `&`, spaces)."""
    if _BAD_ESCAPE.search(raw):
        raise BadRequest(f"'{name}' is not valid percent-encoded UTF-8 (a '%' must start %XX)", name)
    try:
        value = unquote(raw, errors="strict")
    except UnicodeDecodeError as err:
        raise BadRequest(f"'{name}' is not valid percent-encoded UTF-8", name) from err
    if not value or len(value.encode()) > max_bytes:
        raise BadRequest(f"'{name}' must be 1 to {max_bytes} bytes long", name)
    return value
