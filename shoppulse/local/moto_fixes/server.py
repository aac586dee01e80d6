"""The embedded server's request dispatch: fix 16.

16. For every request, moto's dispatcher (`DomainDispatcherApplication.get_backend_for_host`,
   moto/moto_server/werkzeug_app.py) lists moto's package directory (`os.listdir` and one
   `os.path.isdir` per service, ~170) and then tries every service's URL pattern in turn, all
   under the one lock every request thread takes: a few milliseconds of each request, in series.
   The answer depends on the host name alone and moto's services do not change while it runs,
   so the fix remembers it per host name. No upstream issue found.
"""

from __future__ import annotations

import threading
from typing import Any

from shoppulse.local.moto_fixes.patching import replace

_BACKENDS: dict[str | None, Any] = {}  # host name -> moto backend name (or None: no backend)
_LOCK = threading.Lock()


def apply() -> None:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    original = DomainDispatcherApplication.get_backend_for_host
    if getattr(original, "remembers_hosts", False):
        return

    def get_backend_for_host(self: Any, host: str | None) -> Any:
        if host in _BACKENDS:
            return _BACKENDS[host]
        backend = original(self, host)
        with _LOCK:
            _BACKENDS[host] = backend
        return backend

    get_backend_for_host.remembers_hosts = True  # type: ignore[attr-defined]  # marks the fix as applied
    replace(DomainDispatcherApplication, "get_backend_for_host", get_backend_for_host)
