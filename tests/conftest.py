"""Fixtures shared by the test packages: pytest finds them here, so no module imports them."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from typing import Any

import pytest

from tests.api_support import moto_tables


@pytest.fixture(scope="session", autouse=True)
def ctrl_c_as_a_terminal_delivers_it() -> None:
    """Ctrl-C reaches the tests and the processes they start, however the run was launched: a
    shell starts a background job (`make test &` without job control) with SIGINT ignored, which
    Python and every child would keep, and the Ctrl-C tests would then wait for nothing."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture
def tables() -> Iterator[dict[str, Any]]:
    """Every table in moto, named as the Chalice stage names them, by logical id."""
    with moto_tables() as created:
        yield created
