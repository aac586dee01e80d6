"""Fixtures of the real-time tests: moto with the stream's tables and topics, and the app on it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from chalice.test import Client

from tests.stream_support import PROJECT_DIR, StreamAws, stream_aws


@pytest.fixture
def aws() -> Iterator[StreamAws]:
    """moto with the stream tables, topics (with inboxes) and the pipes' dead-letter queues."""
    with stream_aws() as stack:
        yield stack


@pytest.fixture
def client(aws: StreamAws) -> Iterator[Client]:
    """Chalice's test client: it invokes the functions with the stage's environment."""
    from app import app  # the app reads its queue names at import: after the environment is set

    with Client(app, project_dir=PROJECT_DIR) as test_client:
        yield test_client
