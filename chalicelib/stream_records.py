"""DynamoDB stream records in Lambda wire format: exactly what Lambda and Pipes receive.

The local runtime and the tests need records indistinguishable from AWS's, because the pipe
filters are matched against them (``chalicelib.event_patterns``) and the handlers parse them.
Wire format: typed attribute values (``{"N": "500"}``: numbers are strings), keys under
``dynamodb``; ``ApproximateCreationDateTime`` is epoch seconds as a JSON number;
``SequenceNumber`` is a numeric string; ``eventVersion`` "1.1"; ``eventSource`` "aws:dynamodb".
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import Enum
from typing import Any, TypedDict

#: A typed DynamoDB attribute value, e.g. ``{"S": "abc"}`` or ``{"N": "12.5"}``.
AttributeValue = Mapping[str, Any]
#: A whole item in typed form.
TypedImage = Mapping[str, AttributeValue]

EVENT_SOURCE = "aws:dynamodb"
EVENT_VERSION = "1.1"


class StreamEventName(str, Enum):
    INSERT = "INSERT"
    MODIFY = "MODIFY"
    REMOVE = "REMOVE"


class StreamViewType(str, Enum):
    KEYS_ONLY = "KEYS_ONLY"
    NEW_IMAGE = "NEW_IMAGE"
    OLD_IMAGE = "OLD_IMAGE"
    NEW_AND_OLD_IMAGES = "NEW_AND_OLD_IMAGES"


class StreamRecordData(TypedDict, total=False):
    """The ``dynamodb`` member; images are present only when the view type carries them."""

    ApproximateCreationDateTime: float  # epoch seconds; this module writes whole seconds
    Keys: dict[str, AttributeValue]
    NewImage: dict[str, AttributeValue]
    OldImage: dict[str, AttributeValue]
    SequenceNumber: str
    SizeBytes: int
    StreamViewType: str


class StreamRecord(TypedDict):
    eventID: str
    eventName: str
    eventVersion: str
    eventSource: str
    awsRegion: str
    dynamodb: StreamRecordData
    eventSourceARN: str


def stream_arn(table_name: str, region: str, account_id: str, label: str) -> str:
    """A table stream's ARN (``label`` is the stream's creation timestamp in AWS)."""
    return f"arn:aws:dynamodb:{region}:{account_id}:table/{table_name}/stream/{label}"


def event_name_for_write(old_image: TypedImage | None, new_image: TypedImage | None) -> StreamEventName | None:
    """The stream event a write produces, or None when the write changes nothing.

    DynamoDB writes no stream record for a put/update that leaves the item unchanged (and
    none for deleting a missing item).
    """
    if new_image is None:
        return StreamEventName.REMOVE if old_image is not None else None
    if old_image is None:
        return StreamEventName.INSERT
    return None if dict(old_image) == dict(new_image) else StreamEventName.MODIFY


def _number_size(text: str) -> int:
    digits = text.lstrip("+-").replace(".", "").split("e")[0].split("E")[0].strip("0") or "0"
    return (len(digits) + 1) // 2 + 1


def _binary_size(value: Any) -> int:
    return len(value) if isinstance(value, (bytes, bytearray)) else len(base64.b64decode(value))


def attribute_size(value: AttributeValue) -> int:
    """DynamoDB's size of one typed value (its documented item-size rules)."""
    ((type_key, inner),) = value.items()
    if type_key == "S":
        return len(inner.encode("utf-8"))
    if type_key == "N":
        return _number_size(inner)
    if type_key == "B":
        return _binary_size(inner)
    if type_key in ("BOOL", "NULL"):
        return 1
    if type_key == "SS":
        return sum(len(item.encode("utf-8")) for item in inner)
    if type_key == "NS":
        return sum(_number_size(item) for item in inner)
    if type_key == "BS":
        return sum(_binary_size(item) for item in inner)
    if type_key == "L":
        return 3 + sum(1 + attribute_size(item) for item in inner)
    if type_key == "M":
        return 3 + sum(1 + len(name.encode("utf-8")) + attribute_size(item) for name, item in inner.items())
    raise ValueError(f"unknown DynamoDB type {type_key!r}")


def image_size(image: TypedImage) -> int:
    return sum(len(name.encode("utf-8")) + attribute_size(value) for name, value in image.items())


def build_stream_record(
    *,
    event_name: StreamEventName,
    keys: TypedImage,
    old_image: TypedImage | None,
    new_image: TypedImage | None,
    sequence_number: str,
    approximate_creation_time: float | Decimal,
    stream_arn: str,
    view_type: StreamViewType = StreamViewType.NEW_AND_OLD_IMAGES,
    event_id: str | None = None,
) -> StreamRecord:
    """One record as Lambda/Pipes receive it; images are kept only if ``view_type`` carries them.

    ``SizeBytes`` follows DynamoDB's item-size rules over the keys and images sent; AWS's own
    figure can differ by a few bytes of overhead.
    """
    data: StreamRecordData = {
        # Epoch seconds, a JSON number, truncated to the second as AWS does by default.
        "ApproximateCreationDateTime": int(approximate_creation_time),
        "Keys": dict(keys),
    }
    if new_image is not None and view_type in (StreamViewType.NEW_IMAGE, StreamViewType.NEW_AND_OLD_IMAGES):
        data["NewImage"] = dict(new_image)
    if old_image is not None and view_type in (StreamViewType.OLD_IMAGE, StreamViewType.NEW_AND_OLD_IMAGES):
        data["OldImage"] = dict(old_image)
    data["SequenceNumber"] = sequence_number
    data["SizeBytes"] = sum(image_size(data[part]) for part in ("Keys", "NewImage", "OldImage") if part in data)
    data["StreamViewType"] = view_type.value
    return {
        "eventID": event_id or hashlib.sha256(f"{stream_arn}#{sequence_number}".encode()).hexdigest()[:32],
        "eventName": event_name.value,
        "eventVersion": EVENT_VERSION,
        "eventSource": EVENT_SOURCE,
        "awsRegion": stream_arn.split(":")[3],
        "dynamodb": data,
        "eventSourceARN": stream_arn,
    }


@dataclass
class StreamRecordFactory:
    """Turns successive writes to one table into its stream's records, in order.

    Owns what AWS assigns: increasing sequence numbers, creation times, event IDs, and the
    INSERT/MODIFY/REMOVE decision from the item's previous and new images.
    """

    stream_arn: str
    key_attributes: tuple[str, ...]
    view_type: StreamViewType = StreamViewType.NEW_AND_OLD_IMAGES
    clock: Callable[[], float] = time.time
    first_sequence_number: int = 100_000_000_000_000_000_000
    _sequence: Iterator[int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._sequence = itertools.count(self.first_sequence_number)

    def record(self, old_image: TypedImage | None, new_image: TypedImage | None) -> StreamRecord | None:
        """The record for a write from ``old_image`` to ``new_image`` (None: no record)."""
        event_name = event_name_for_write(old_image, new_image)
        if event_name is None:
            return None
        image = new_image if new_image is not None else old_image
        assert image is not None  # an event name means at least one image
        try:
            keys = {name: image[name] for name in self.key_attributes}
        except KeyError as error:
            raise ValueError(f"item lacks key attribute {error.args[0]!r}") from error
        return build_stream_record(
            event_name=event_name,
            keys=keys,
            old_image=old_image,
            new_image=new_image,
            sequence_number=str(next(self._sequence)),
            approximate_creation_time=self.clock(),
            stream_arn=self.stream_arn,
            view_type=self.view_type,
        )
