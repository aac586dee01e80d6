"""Narrow errors of the real-time flow's tooling."""

from __future__ import annotations


class RedriveError(Exception):
    """A failure that cannot be redriven as asked (the message says why)."""


class StreamDataGone(RedriveError):
    """The stream no longer holds the records (trimmed after 24 h, or the shard is gone)."""
