"""Errors of the local runtime, each with a message a user can act on."""

from __future__ import annotations


class LocalStackError(RuntimeError):
    """The local stack cannot start or run as configured."""


class IngestError(RuntimeError):
    """A file could not be handed to the local stack, or its workflow could not be followed."""
