"""moto as released still needs the server fixes (shoppulse/local/moto_fixes/server.py).

Each test runs moto's own code (`patching.upstream`) and asserts the shortcoming its fix makes up
for: when one fails, moto has caught up, and the fix it names can go.
"""

from __future__ import annotations

import inspect
import os
from typing import Any
from unittest import mock

import boto3
from moto import mock_aws
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.wsgi import LimitedStream

from shoppulse.local.moto_fixes import CLIENT_ENVIRONMENT, server
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


def _in_process_calls() -> tuple[list[Any], int]:
    """A PutObject (its body sent plain, as the embedded AWS's clients send it), a GetObject and a
    form-encoded call (SNS) in process, and how often moto read the PutObject's body back through
    werkzeug's stream."""
    with mock.patch.dict(os.environ, CLIENT_ENVIRONMENT), mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="bodies")
        with mock.patch.object(LimitedStream, "readall", autospec=True, side_effect=LimitedStream.readall) as read:
            put = s3.put_object(Bucket="bodies", Key="k", Body=b"a body" * 1000)
        reads = read.call_count
        got = s3.get_object(Bucket="bodies", Key="k")
        topic = boto3.client("sns", region_name="us-east-1").create_topic(Name="t")["TopicArn"]
        answers = [put["ETag"], put.get("VersionId"), got["Body"].read(), got["ETag"], topic]
    return answers, reads


def test_fix_25_moto_reads_an_in_process_body_back_through_werkzeug() -> None:
    server.apply_in_process()  # installed or not, upstream() below takes it away
    with upstream():
        released, read_back = _in_process_calls()
    assert read_back == 1  # the body's bytes, read back from the stream werkzeug made of them
    fixed, read_back = _in_process_calls()
    assert read_back == 0
    assert fixed == released
    assert fixed[2] == b"a body" * 1000
