"""How sample files spell their values: the variety real exports show, all within the contract.

Every style of a timestamp denotes the same instant (sample times are whole seconds), so one
row version written in two files stays one version.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from enum import Enum
from pathlib import Path

BOM = "\ufeff"


def _local(value: datetime, hours: int) -> datetime:
    return value.astimezone(timezone(timedelta(hours=hours)))


# name -> formatter of an aware UTC datetime
TIMESTAMP_STYLES: dict[str, Callable[[datetime], str]] = {
    "T and Z": lambda v: v.strftime("%Y-%m-%dT%H:%M:%SZ"),
    "space, naive (UTC)": lambda v: v.strftime("%Y-%m-%d %H:%M:%S"),
    "T, +02:00 offset": lambda v: _local(v, 2).isoformat(),
    "T, -05:00 offset": lambda v: _local(v, -5).isoformat(),
    "space, microseconds, +00:00": lambda v: v.strftime("%Y-%m-%d %H:%M:%S.%f+00:00"),
    "T, milliseconds, naive": lambda v: v.strftime("%Y-%m-%dT%H:%M:%S.000"),
}


class StatusCase(str, Enum):
    TITLE = "Title case (TheLook)"
    LOWER = "lower case"
    UPPER = "UPPER CASE"

    def spell(self, status: str) -> str:
        if self is StatusCase.TITLE:
            return status.title()
        return status.upper() if self is StatusCase.UPPER else status.lower()


@dataclass
class Spelling:
    """How one file writes timestamps and statuses."""

    timestamps: str = "T and Z"
    statuses: StatusCase = StatusCase.TITLE

    def ts(self, value: datetime | None) -> str:
        return "" if value is None else TIMESTAMP_STYLES[self.timestamps](value)

    def status(self, status: str) -> str:
        return self.statuses.spell(status)


@dataclass
class SampleFile:
    """One CSV file of a sample set, and what it is there to exercise."""

    name: str
    kind: str  # orders, order_items, products
    header: list[str]
    spelling: Spelling = field(default_factory=Spelling)
    rows: list[tuple[list[str], str | None]] = field(default_factory=list)  # (fields, why invalid)
    notes: list[str] = field(default_factory=list)
    crlf: bool = False
    bom: bool = False
    rejected: str | None = None
    held: int = 0  # rows held for a missing reference on landing
    released: int = 0  # earlier held rows this file completes

    def add(self, values: dict[str, str], invalid: str | None = None, position: int | None = None) -> None:
        row = ([values.get(name, "") for name in self.header], invalid)
        self.rows.insert(len(self.rows) if position is None else position, row)

    def add_raw(self, fields: list[str], invalid: str, position: int | None = None) -> None:
        """A row that does not fit the header (kept to exercise malformed-row handling)."""
        self.rows.insert(len(self.rows) if position is None else position, (fields, invalid))

    @property
    def invalid(self) -> list[tuple[int, str]]:
        """(1-based data row number, why) of the rows validation must reject."""
        return [(n, why) for n, (_, why) in enumerate(self.rows, start=1) if why]

    def valid_rows(self) -> list[dict[str, str]]:
        return [dict(zip(self.header, fields, strict=False)) for fields, why in self.rows if not why]

    def render(self) -> bytes:
        out = io.StringIO(newline="")
        writer = csv.writer(out, lineterminator="\r\n" if self.crlf else "\n")
        writer.writerow(self.header)
        writer.writerows(fields for fields, _ in self.rows)
        return ((BOM if self.bom else "") + out.getvalue()).encode("utf-8")

    def write(self, directory: Path) -> Path:
        path = directory / self.name
        path.write_bytes(self.render())
        return path
