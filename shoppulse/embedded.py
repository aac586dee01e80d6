"""An embedded AWS in this process (moto), provisioned from the project's definitions.

For `shoppulse replay` and the tests: no ports, no threads, nothing left behind.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from unittest import mock

import boto3
from moto import mock_aws

from chalicelib.storage_layout import BUCKETS
from chalicelib.tables import ALL_TABLES
from containers.tasks.config import AwsClients
from shoppulse.local.moto_fixes import CLIENT_ENVIRONMENT, fix_embedded_aws
from shoppulse.provision import create_buckets, create_tables

# Credentials and region for the embedded AWS, and the client settings moto needs (moto_fixes).
EMBEDDED_ENV = {
    **CLIENT_ENVIRONMENT,
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}


@contextmanager
def embedded_aws() -> Iterator[AwsClients]:
    """moto in-process with every table and bucket created; restored environment on exit."""
    fix_embedded_aws()
    with mock.patch.dict(os.environ, EMBEDDED_ENV), mock_aws():  # patch.dict restores all on exit
        for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):  # they would point clients away from moto
            os.environ.pop(name, None)
        clients = AwsClients.from_session(boto3.session.Session())
        create_tables(clients.dynamodb, ALL_TABLES)
        create_buckets(clients.s3, BUCKETS)
        yield clients
