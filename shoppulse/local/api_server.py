"""Serves the Chalice app's REST API (and dashboard) in-process with `chalice.local`.

Same app object, same routes and middleware as API Gateway + Lambda in the cloud; the app's
clients talk to the embedded AWS through AWS_ENDPOINT_URL.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from chalice.config import Config
from chalice.local import CustomLocalChalice, LocalDevServer, create_local_server

STAGE = "dev"


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
        # create_local_server turns the app into a local one; an app already turned (a second
        # stack in this process) is served as it is.
        try:
            if isinstance(app, CustomLocalChalice):
                self._server: LocalDevServer = LocalDevServer(app, config, host, port)
            else:
                self._server = create_local_server(app, config, host, port)
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
