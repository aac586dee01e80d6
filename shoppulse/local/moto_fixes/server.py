"""The embedded server's request dispatch: fixes 16 and 19.

16. For every request, moto's dispatcher (`DomainDispatcherApplication.get_backend_for_host`,
   moto/moto_server/werkzeug_app.py) lists moto's package directory (`os.listdir` and one
   `os.path.isdir` per service, ~170) and then tries every service's URL pattern in turn, all
   under the one lock every request thread takes: a few milliseconds of each request, in series.
   The answer depends on the host name alone and moto's services do not change while it runs,
   so the fix remembers it per host name. No upstream issue found.
19. To tell whether a handler serves an action, moto lists every function of the handler class
   (`method_names_from_class`: `inspect.getmembers` over a few hundred attributes) for every
   request (`BaseResponse.call_action`). The fix answers the same question for the one name
   asked (is the class's attribute of that name a function?), whatever the fixes replaced.
"""

from __future__ import annotations

import inspect
import threading
from typing import Any

from shoppulse.local.moto_fixes.patching import replace

_BACKENDS: dict[str | None, Any] = {}  # host name -> moto backend name (or None: no backend)
_LOCK = threading.Lock()


class _FunctionNames:
    """`name in _FunctionNames(cls)`: what `name in method_names_from_class(cls)` tells, for one name."""

    def __init__(self, owner: type) -> None:
        self._owner = owner

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and inspect.isfunction(getattr(self._owner, name, None))


def apply() -> None:
    from moto.core import responses
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    replace(responses, "method_names_from_class", _FunctionNames)

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
