"""Opaque page tokens: base64url JSON of a DynamoDB LastEvaluatedKey, checked for shape.

A token a client edits or invents is refused with a 400 unless it names a key the query
could itself have returned, so it can never widen a query or reach another partition.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from chalicelib.api.exceptions import BadRequest

KeyShape = Mapping[str, Callable[[str], bool]]
_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,2048}")


def bounded(max_bytes: int) -> Callable[[str], bool]:
    """A key value DynamoDB would accept: non-empty UTF-8 of at most `max_bytes`."""

    def check(value: str) -> bool:
        try:
            return 0 < len(value.encode()) <= max_bytes
        except UnicodeEncodeError:  # a lone surrogate from a forged \ud800 escape
            return False

    return check


def encode_token(key: Mapping[str, Any] | None) -> str | None:
    if not key:
        return None
    raw = json.dumps(dict(key), sort_keys=True, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode_token(token: str | None, shape: KeyShape) -> dict[str, str] | None:
    """The start key a token stands for, or None to start at the beginning."""
    if token is None:
        return None
    if not _TOKEN.fullmatch(token):
        raise BadRequest("'next_token' is not a token this API issued", "next_token")
    try:
        key = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, ValueError, RecursionError) as err:
        raise BadRequest("'next_token' is not a token this API issued", "next_token") from err
    if not (
        isinstance(key, dict)
        and set(key) == set(shape)
        and all(isinstance(v, str) and shape[k](v) for k, v in key.items())
    ):
        raise BadRequest("'next_token' does not belong to this query", "next_token")
    return key


def page_body(items: list[Any], resume: Mapping[str, Any] | None, **header: Any) -> dict[str, Any]:
    """A page as clients see it: `next_token` only when there may be more."""
    body = {**header, "items": items}
    token = encode_token(resume)
    if token:
        body["next_token"] = token
    return body
