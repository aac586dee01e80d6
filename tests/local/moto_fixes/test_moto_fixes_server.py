"""moto as released still needs the server fix (shoppulse/local/moto_fixes/server.py).

The test runs moto's own code (`patching.upstream`) and asserts the shortcoming the fix makes up
for: when it fails, moto has caught up, and the fix can go.
"""

from __future__ import annotations

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
