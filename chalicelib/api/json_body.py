"""The API's JSON bodies: every value DynamoDB can hold, written exactly.

Chalice's own serializer turns a Decimal into a float (38 digits become 17, 1E+125 keeps its
magnitude only). DynamoDB numbers have up to 38 significant digits
(https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/HowItWorks.NamingRulesDataTypes.html),
so bodies are written by simplejson with `use_decimal`: a Decimal is written digit for digit.
Sets (SS/NS/BS) become sorted lists and binary values base64 text.
"""

from __future__ import annotations

import base64
from typing import Any

import simplejson
from boto3.dynamodb.types import Binary


def _extra(value: Any) -> Any:
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=lambda v: (type(v).__name__, v))
    if isinstance(value, Binary):
        return base64.b64encode(vars(value)["value"]).decode("ascii")  # the stubs omit `.value`
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(bytes(value)).decode("ascii")
    raise TypeError(f"{type(value).__name__} is not a value DynamoDB holds")


def dumps(body: Any) -> str:
    text: str = simplejson.dumps(body, use_decimal=True, default=_extra, separators=(",", ":"))
    return text
