"""Fixtures of the local-stack tests: one stack a module (its settings a module may override),
an ingestor that follows each file's workflow, and the Orders table behind the repository."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

import boto3
import pytest

from chalicelib.orders.repository import OrderRepository
from chalicelib.tables import ORDERS
from infra.state_machine import RetryPolicy
from shoppulse.local.ingest import Ingestor, target_of
from shoppulse.local.provision import WorkflowTuning
from shoppulse.local.stack import LocalStack, StackSettings

# Short retry intervals (two task attempts): the cloud's minutes would only slow the tests down.
SHORT_RETRIES = WorkflowTuning(task_retry=RetryPolicy(1, 2, 1.0, 1), api_retry=RetryPolicy(1, 1, 1.0, 1))


@pytest.fixture(scope="module")
def stack_settings(tmp_path_factory: pytest.TempPathFactory) -> StackSettings:
    """Ephemeral ports and a fresh data directory; a module overrides this fixture to change them."""
    return StackSettings(aws_port=0, api_port=0, data_dir=tmp_path_factory.mktemp("data"), tuning=SHORT_RETRIES)


@pytest.fixture(scope="module")
def stack(stack_settings: StackSettings) -> Iterator[LocalStack]:
    with LocalStack(stack_settings) as running:
        yield running


@pytest.fixture(scope="module")
def ingestor(stack: LocalStack) -> Ingestor:
    return Ingestor(boto3.session.Session(), stack.endpoint, target_of(stack.resources), timeout_seconds=300)


@pytest.fixture(scope="module")
def orders(stack: LocalStack) -> OrderRepository:
    resource = boto3.session.Session().resource("dynamodb", endpoint_url=stack.endpoint)
    return OrderRepository(resource.Table(ORDERS.name()))


@pytest.fixture
def tasks_cut_off(stack: LocalStack) -> Callable[[], AbstractContextManager[None]]:
    """`with tasks_cut_off():` the tasks lose their way to AWS: every attempt exits 75 (transient)
    until retries run out."""

    @contextmanager
    def cut_off() -> Iterator[None]:
        assert stack.ecs is not None
        stack.ecs.environment_overrides.update({"AWS_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_MAX_ATTEMPTS": "1"})
        try:
            yield
        finally:
            stack.ecs.environment_overrides.clear()

    return cut_off
