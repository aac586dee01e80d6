"""Keeping a command's stdout for its results: what else writes there is sent elsewhere.

The Lambda code logs with powertools (JSON on stdout, as Lambda expects) and prints EMF
metrics on stdout; a command that runs that code in-process (`redrive`, `up`) sends those
lines to stderr or a log file, so its stdout holds only what it means to print.
"""

from __future__ import annotations

import io
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO, cast


def _stream_handlers() -> list[logging.StreamHandler[TextIO]]:
    loggers = [logging.getLogger(), *(logging.getLogger(name) for name in list(logging.root.manager.loggerDict))]
    return [h for lg in loggers for h in lg.handlers if isinstance(h, logging.StreamHandler)]


@contextmanager
def diverted_stdout(target: TextIO | io.TextIOBase) -> Iterator[TextIO]:
    """Within the block, print(), EMF and log handlers bound to stdout write to `target`
    (handlers made later bind to it too); yields the real stdout, for the results."""
    real = sys.stdout
    stream = cast(TextIO, target)  # a text stream either way (LambdaOutput is an io.TextIOBase)
    moved = [h for h in _stream_handlers() if h.stream is real]
    for handler in moved:
        handler.setStream(stream)
    sys.stdout = stream
    try:
        yield real
    finally:
        sys.stdout = real
        for handler in moved:
            handler.setStream(real)
