"""The embedded AWS: moto's threaded server, in this process, on 127.0.0.1.

In-process (not `moto_server` in a subprocess) so that the local runtime can hook moto where
it falls short (`moto_fixes`) and run the Chalice functions next to it. Everything lives in
memory: a restart starts from an empty account.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config
from moto.moto_api._internal.models import moto_api_backend
from moto.moto_server.threaded_moto_server import ThreadedMotoServer

from shoppulse.local import moto_fixes
from shoppulse.local.service_clients import ServiceClients, new_client

if TYPE_CHECKING:
    from botocore.client import BaseClient

# The local operator's credentials (an IAM user with every right once IAM is enforced, see
# shoppulse.local.iam.enforcement); before that moto accepts any.
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
CLIENT_CONFIG = Config(retries={"max_attempts": 3, "mode": "standard"})


class EmbeddedAws(ServiceClients):
    def __init__(self, host: str = "127.0.0.1", port: int = 4566, region: str = "us-east-1") -> None:
        self._host = host
        self._requested_port = port
        self.region = region
        self._server: ThreadedMotoServer | None = None
        self.port = 0
        self._clients: dict[str, BaseClient] = {}
        self._clients_lock = threading.Lock()
        self._session = boto3.session.Session(
            aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            region_name=region,
        )

    @property
    def endpoint(self) -> str:
        return f"http://{self._host}:{self.port}"

    def start(self) -> None:
        moto_api_backend.reset()  # a fresh account, whatever ran before in this process
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
        _check_free(self._host, self._requested_port)
        self._server = ThreadedMotoServer(ip_address=self._host, port=self._requested_port, verbose=False)
        self._server.start()
        self.port = self._server.get_host_and_port()[1]
        moto_fixes.configure_server_process(self.port)

    def stop(self) -> None:
        self._clients.clear()
        if self._server is not None:
            self._server.stop()
            self._server = None

    def environment(self) -> dict[str, str]:
        """What a client (boto3, the AWS CLI, a task process) needs to talk to this AWS."""
        return {
            **CREDENTIALS,
            **moto_fixes.CLIENT_ENVIRONMENT,
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
        }

    def _client(self, service: str) -> BaseClient:
        """One client per service (clients are thread-safe; a session parses each model once)."""
        with self._clients_lock:
            if service not in self._clients:
                self._clients[service] = new_client(self._session, service, self.endpoint, CLIENT_CONFIG)
            return self._clients[service]


def _check_free(host: str, port: int) -> None:
    """Fail clearly on a busy port: moto's server would die in its thread and start() hang."""
    if port == 0:
        return
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as err:
            raise OSError(
                f"cannot serve the embedded AWS on {host}:{port} ({err.strerror}); "
                "is another `shoppulse up` running? (--aws-port chooses another port)"
            ) from err


def apply_environment(environment: dict[str, str]) -> dict[str, str | None]:
    """Set variables in this process; returns the previous values (for `restore_environment`)."""
    previous = {name: os.environ.get(name) for name in environment}
    os.environ.update(environment)
    return previous


def restore_environment(previous: dict[str, str | None]) -> None:
    for name, value in previous.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
