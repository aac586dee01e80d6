"""Serves the Chalice app's REST API (and dashboard) in-process with `chalice.local`.

Same app object, same routes and middleware as API Gateway + Lambda in the cloud; the app's
clients talk to the embedded AWS through AWS_ENDPOINT_URL. The HTTP server's own answers (a
malformed request line, a URI over 64 KiB, a fault below the app) are JSON like the app's, and
its access lines go to the `api.access` log, not the console.
"""

from __future__ import annotations

import json
import logging
import threading
from http import HTTPStatus
from pathlib import Path
from typing import Any

from chalice.config import Config
from chalice.local import ChaliceRequestHandler, CustomLocalChalice, LocalChalice, LocalDevServer

STAGE = "dev"
# Not under "shoppulse": the Chalice app (app_name "shoppulse") sets that logger to ERROR.
ACCESS_LOG = logging.getLogger("api.access")
# The error codes the app itself answers with (chalicelib.api.exceptions), by HTTP status.
_ERROR_CODES = {
    HTTPStatus.BAD_REQUEST: "BadRequestError",
    HTTPStatus.NOT_FOUND: "NotFoundError",
    HTTPStatus.REQUEST_URI_TOO_LONG: "UriTooLongError",
    HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE: "HeadersTooLargeError",
    HTTPStatus.NOT_IMPLEMENTED: "NotImplementedError",
    HTTPStatus.INTERNAL_SERVER_ERROR: "InternalServerError",
}


class JsonErrorRequestHandler(ChaliceRequestHandler):
    """chalice.local's handler, with the server's own errors as JSON and access lines logged."""

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        status = HTTPStatus(code)
        body = json.dumps(
            {"Code": _ERROR_CODES.get(status, "HttpError"), "Message": (message or status.phrase)[:300]}
        ).encode()
        ACCESS_LOG.warning("request refused", extra={"status": code, "reason": message})
        self.send_response(code)
        self.send_header("Connection", "close")
        self.close_connection = True
        if self.command != "HEAD" and code >= HTTPStatus.OK and code not in (HTTPStatus.NO_CONTENT, 304):
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        else:
            self.end_headers()

    def _generic_handle(self) -> None:
        length = self.headers.get("Content-Length", "0").strip()
        if not (length.isascii() and length.isdigit()):
            self.send_error(HTTPStatus.BAD_REQUEST, "Content-Length must be a non-negative integer")
            return
        try:
            super()._generic_handle()
        except Exception:  # noqa: BLE001 (a fault below the app: answer, log, keep serving)
            ACCESS_LOG.exception("request failed", extra={"path": self.path[:300]})
            self.send_error(HTTPStatus.INTERNAL_SERVER_ERROR, "An internal server error occurred.")

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = do_PATCH = do_OPTIONS = _generic_handle

    def log_message(self, format: str, *args: Any) -> None:
        ACCESS_LOG.info(format % args, extra={"client": self.client_address[0]})


def _local_app(app: Any) -> Any:
    """The app turned into a local one, as chalice.local's `create_local_server` does (an app
    already turned, by a second stack in this process, is served as it is)."""
    if not isinstance(app, CustomLocalChalice):
        CustomLocalChalice.__bases__ = (LocalChalice, app.__class__)
        app.__class__ = CustomLocalChalice
    return app


def stage_environment(project_dir: Path, stage: str = STAGE) -> dict[str, str]:
    """The stage's `environment_variables` from .chalice/config.json (what Lambda would get)."""
    config = json.loads((project_dir / ".chalice" / "config.json").read_text())
    env = dict(config.get("environment_variables", {}))
    env.update(config.get("stages", {}).get(stage, {}).get("environment_variables", {}))
    return env


class ApiServer:
    def __init__(self, app: Any, project_dir: Path, host: str = "127.0.0.1", port: int = 8000) -> None:
        config_from_disk = json.loads((project_dir / ".chalice" / "config.json").read_text())
        config = Config.create(
            chalice_stage=STAGE, project_dir=str(project_dir), config_from_disk=config_from_disk, app_name=app.app_name
        )
        try:
            self._server = LocalDevServer(_local_app(app), config, host, port, handler_cls=JsonErrorRequestHandler)
        except OSError as err:
            raise OSError(
                f"cannot serve the API on {host}:{port} ({err.strerror}); --api-port chooses another port"
            ) from err
        self._thread = threading.Thread(target=self._server.server.serve_forever, name="api", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server.server_close()
        self._thread.join(timeout=5)
