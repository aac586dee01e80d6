"""moto as released still needs the server fixes (shoppulse/local/moto_fixes/server.py).

Each test runs moto's own code (`patching.upstream`) and asserts the shortcoming its fix makes up
for: when one fails, moto has caught up, and the fix it names can go.
"""

from __future__ import annotations

import inspect
import os
from unittest import mock

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

from shoppulse.local.moto_fixes import server
from shoppulse.local.moto_fixes.patching import upstream

HOSTS = ("dynamodb.us-east-1.amazonaws.com", "sqs.us-east-1.amazonaws.com", "s3.amazonaws.com")


def _backends(app: DomainDispatcherApplication) -> tuple[list[str | None], int]:
    """Each host's backend, asked twice, and how many times moto listed its package meanwhile."""
    with mock.patch.object(os, "listdir", wraps=os.listdir) as listed:
        backends = [app.get_backend_for_host(host) for host in HOSTS * 2]
    return backends, listed.call_count


def test_fix_16_moto_lists_its_package_for_every_request() -> None:
    server.apply()  # installed or not, upstream() below takes it away
    app = DomainDispatcherApplication(create_backend_app)
    with upstream():
        released, listings = _backends(app)
    assert listings == len(HOSTS) * 2
    fixed, listings = _backends(app)
    assert listings <= len(HOSTS)  # once per host name at most: then remembered
    assert fixed == released == ["dynamodb", "sqs", "s3"] * 2


def _serves(handler: type, names: tuple[str, ...]) -> tuple[list[bool], int]:
    """Whether moto's dispatch finds each action on `handler`, and how many class listings it took."""
    from moto.core import responses

    with mock.patch.object(inspect, "getmembers", wraps=inspect.getmembers) as listed:
        found = [name in responses.method_names_from_class(handler) for name in names]
    return found, listed.call_count


def test_fix_19_moto_lists_a_handlers_functions_for_every_request() -> None:
    from moto.dynamodb.responses import DynamoHandler

    server.apply()
    names = ("put_item", "get_records", "dynamodb_backend", "__init__", "setup_class")
    with upstream():
        released, listings = _serves(DynamoHandler, names)
    assert listings == len(names)
    fixed, listings = _serves(DynamoHandler, names)
    assert listings == 0
    assert fixed == released == [True, False, False, True, True]
