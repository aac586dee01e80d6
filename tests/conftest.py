"""Fixtures shared by the test packages: pytest finds them here, so no module imports them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.api_support import moto_tables


@pytest.fixture
def tables() -> Iterator[dict[str, Any]]:
    """Every table in moto, named as the Chalice stage names them, by logical id."""
    with moto_tables() as created:
        yield created
