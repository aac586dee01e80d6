"""The generators' progress hook: each file, as soon as it is on disk, with its data rows."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Written:
    """File `number` (1-based) of the `total` a set has, just written, with `rows` data rows."""

    path: Path
    rows: int
    number: int
    total: int


OnWritten = Callable[[Written], None]
