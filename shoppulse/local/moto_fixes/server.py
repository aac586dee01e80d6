"""The embedded server's request dispatch: fixes 16 and 19; the in-process request's body: 25.

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
25. In process (`mock_aws`), moto turns botocore's request into a werkzeug one
   (`moto.core.request.Request.from_primitives`) whose input stream wraps the body's bytes, and
   reads them back (`request.data`: 64 KiB reads appended to a bytearray, then copied to bytes):
   ~0.07 s of CPU for a 40 MiB PutObject, for bytes it was handed. The fix hands werkzeug the body
   as the data it caches, where reading the stream would give exactly those bytes: the whole body
   (`Content-Length` is its length), not parsed as a form, not gzip-decoded by moto. No upstream
   issue found.
"""

from __future__ import annotations

import inspect
import io
import threading
from typing import Any

from shoppulse.local.moto_fixes.patching import ORIGINALS, replace

_BACKENDS: dict[str | None, Any] = {}  # host name -> moto backend name (or None: no backend)
_LOCK = threading.Lock()
# What werkzeug parses from the stream (`FormDataParser.parse`), which then reads no data from it.
_FORM_TYPES = frozenset({"multipart/form-data", "application/x-www-form-urlencoded"})


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


def request_from_primitives(cls: Any, method: str, url: str, headers: Any, body: Any = None) -> Any:
    """`Request.from_primitives`: moto's request, its body's bytes taken as the data it reads."""
    from moto.core.request import Request

    if isinstance(body, io.BytesIO):  # a PutObject's body, as botocore sends it
        body = body.read()  # what werkzeug's `EnvironBuilder` does with a stream it is given
    request = ORIGINALS[(Request, "from_primitives")].__func__(cls, method, url, headers, body)
    if (
        isinstance(body, bytes)
        and request.content_length == len(body)
        and request.mimetype not in _FORM_TYPES
        and request.content_encoding != "gzip"  # moto decompresses it (`decompress_request_body`)
    ):
        request._cached_data = body  # werkzeug's cache of `get_data`, which `request.data` reads
    return request


def apply_in_process() -> None:
    """Fix 25, for botocore's requests that moto answers in process (`mock_aws`: the embedded AWS); the
    HTTP server hands moto werkzeug requests, which never pass through `from_primitives`."""
    from moto.core.request import Request

    replace(Request, "from_primitives", classmethod(request_from_primitives))
