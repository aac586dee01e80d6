"""The two EventBridge Pipes on the Orders stream: defined once, as data.

Infra renders these into AWS::Pipes::Pipe resources (filters as JSON strings), the local runtime
polls the stream with them, the handlers name their functions after them, and the tests check
the filters against the typed business rules (chalicelib/orders/rules.py).

Why the filters look like this (AWS limits they must live within):
- DynamoDB stream filters can only look at the record's `dynamodb` key, so INSERT/MODIFY/REMOVE
  are told apart by the images: REMOVE has no NewImage, INSERT has no OldImage.
- Numbers reach the filter as strings ({"N": "100.5"}) and numeric matching never matches them;
  "not containing test.com" needs a wildcard inside anything-but, which Pipes reject. The rules
  are therefore matched on the string helper attributes the repository writes
  (chalicelib/orders/routing.py), with plain equality / anything-but on plain strings.
- Items without the helpers (other writers) must not be dropped: each rule has a companion
  filter for "helper absent" that passes the record to the handler, whose typed rule decides.
- At most 5 filters per pipe (OR-ed), each at most 4096 characters: checked at import.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from itertools import product
from typing import TYPE_CHECKING, Any

from chalicelib.event_patterns import MAX_PIPE_FILTERS, MAX_PIPE_PATTERN_CHARS, Mode, compile_pattern
from chalicelib.messaging import QueueSpec
from chalicelib.orders.routing import AMOUNT_BAND, EMAIL_CLASS, AmountBand, EmailClass
from chalicelib.orders.rules import PREMIUM_FROM, PREMIUM_TO, STANDARD_STATUSES
from chalicelib.tables import ORDERS, TableSpec

if TYPE_CHECKING:
    from mypy_boto3_pipes.literals import DynamoDBStreamStartPositionType, OnPartialBatchItemFailureStreamsType
    from mypy_boto3_pipes.type_defs import (
        FilterCriteriaTypeDef,
        PipeSourceParametersTypeDef,
        PipeTargetParametersTypeDef,
    )

# The dead-letter handlers are SQS-triggered functions that return
# {"batchItemFailures": [...]}; their event source mappings need this response type.
# Chalice 1.34 does not emit it, so infra adds it to the packaged mappings.
DEAD_LETTER_FUNCTION_RESPONSE_TYPES = ("ReportBatchItemFailures",)
# Up to 10 dead-letter messages per invocation: each is one small write and one SNS publish.
DEAD_LETTER_BATCH_SIZE = 10
# Keep dead-letter messages as long as SQS allows (14 days): they are the only pointer to a
# failed batch, and redrive needs them after the cause is fixed.
DEAD_LETTER_RETENTION_SECONDS = 14 * 24 * 3600


# What CreatePipe accepts in PipeSourceDynamoDBStreamParameters (the local pipe refuses the
# rest too, instead of running a pipe AWS would never create):
# https://docs.aws.amazon.com/eventbridge/latest/pipes-reference/API_PipeSourceDynamoDBStreamParameters.html
STREAM_PARAMETER_RANGES: Mapping[str, tuple[int, int]] = {
    "BatchSize": (1, 10_000),
    "MaximumBatchingWindowInSeconds": (0, 300),
    "MaximumRecordAgeInSeconds": (-1, 604_800),  # -1: never too old
    "MaximumRetryAttempts": (-1, 10_000),  # -1: retried until the record is too old
    "ParallelizationFactor": (1, 10),
}
STARTING_POSITIONS = ("TRIM_HORIZON", "LATEST")
ON_PARTIAL_BATCH_ITEM_FAILURE = ("AUTOMATIC_BISECT",)


@dataclass(frozen=True)
class PipeSpec:
    """One pipe: Orders stream -> filters -> a Chalice Lambda function, dead letters to SQS."""

    key: str
    logical_id: str
    default_name: str
    function_name: str
    dead_letter_function_name: str
    dead_letter_queue: QueueSpec
    filters: tuple[Mapping[str, Any], ...]
    batch_size: int
    maximum_batching_window_seconds: int
    maximum_retry_attempts: int
    maximum_record_age_seconds: int
    # Halve a batch whose invocation fails as a whole (timeout, crash) until the bad record is
    # alone; record-level failures are reported precisely through batchItemFailures anyway.
    on_partial_batch_item_failure: OnPartialBatchItemFailureStreamsType = "AUTOMATIC_BISECT"
    # From the oldest retained record: a pipe created after the table (same stack) must not
    # miss the first orders; re-reading is harmless because the handlers are idempotent.
    starting_position: DynamoDBStreamStartPositionType = "TRIM_HORIZON"
    # Batches in flight at once per shard. Pipes keep a stream's order per item (an order's
    # events are handled in the order they happened) whatever the factor (see shoppulse/local/pipes.py).
    parallelization_factor: int = 1
    source_table: TableSpec = field(default=ORDERS)

    def filter_patterns(self) -> list[str]:
        """The patterns as Pipes take them: compact JSON strings."""
        return [json.dumps(f, separators=(",", ":")) for f in self.filters]

    def filter_criteria(self) -> FilterCriteriaTypeDef:
        return {"Filters": [{"Pattern": p} for p in self.filter_patterns()]}

    def source_parameters(self, dead_letter_arn: Any) -> PipeSourceParametersTypeDef:
        """`SourceParameters` of AWS::Pipes::Pipe / CreatePipe (same keys in both); the ARN is
        a string for CreatePipe, infra's `GetAtt` for the template."""
        return {
            "FilterCriteria": self.filter_criteria(),
            "DynamoDBStreamParameters": {
                "StartingPosition": self.starting_position,
                "BatchSize": self.batch_size,
                "MaximumBatchingWindowInSeconds": self.maximum_batching_window_seconds,
                "MaximumRetryAttempts": self.maximum_retry_attempts,
                "MaximumRecordAgeInSeconds": self.maximum_record_age_seconds,
                "OnPartialBatchItemFailure": self.on_partial_batch_item_failure,
                "ParallelizationFactor": self.parallelization_factor,
                "DeadLetterConfig": {"Arn": dead_letter_arn},
            },
        }

    @staticmethod
    def target_parameters() -> PipeTargetParametersTypeDef:
        # Synchronous: Pipes only see the function's errors and batchItemFailures this way.
        return {"LambdaFunctionParameters": {"InvocationType": "REQUEST_RESPONSE"}}

    @cached_property
    def _compiled(self) -> tuple[Any, ...]:
        return tuple(compile_pattern(p, mode=Mode.PIPES) for p in self.filter_patterns())

    def accepts(self, record: Mapping[str, Any]) -> bool:
        """Whether the pipe passes this wire-format stream record to its function (any filter)."""
        return any(pattern.matches(record) for pattern in self._compiled)

    def validate(self) -> None:
        """Fail fast (at import, hence in every test run and `shoppulse synth`) on what AWS rejects."""
        parameters: Mapping[str, object] = self.source_parameters(dead_letter_arn=None)["DynamoDBStreamParameters"]
        for name, (low, high) in STREAM_PARAMETER_RANGES.items():
            value = parameters[name]
            if not isinstance(value, int) or not low <= value <= high:
                raise ValueError(f"pipe {self.key}: {name} {value} is outside {low}..{high}, which Pipes refuse")
        if self.starting_position not in STARTING_POSITIONS:
            raise ValueError(
                f"pipe {self.key}: StartingPosition {self.starting_position!r} not in {STARTING_POSITIONS}"
            )
        if self.on_partial_batch_item_failure not in ON_PARTIAL_BATCH_ITEM_FAILURE:
            raise ValueError(
                f"pipe {self.key}: OnPartialBatchItemFailure {self.on_partial_batch_item_failure!r} "
                f"not in {ON_PARTIAL_BATCH_ITEM_FAILURE}"
            )
        if not 1 <= len(self.filters) <= MAX_PIPE_FILTERS:
            raise ValueError(f"pipe {self.key}: {len(self.filters)} filters; Pipes allow 1..{MAX_PIPE_FILTERS}")
        for pattern in self.filter_patterns():
            if len(pattern) > MAX_PIPE_PATTERN_CHARS:
                raise ValueError(
                    f"pipe {self.key}: a filter has {len(pattern)} characters (> {MAX_PIPE_PATTERN_CHARS})"
                )
        _ = self._compiled  # compiles every pattern in Mode.PIPES: raises InvalidEventPattern


def _string(*values: str) -> dict[str, list[Any]]:
    return {"S": list(values)}


_ABSENT: dict[str, list[Any]] = {"S": [{"exists": False}]}


def _image_filter(new: Mapping[str, Any], old: Mapping[str, Any] | None = None) -> dict[str, Any]:
    images: dict[str, Any] = {"NewImage": dict(new)}
    if old:
        images["OldImage"] = dict(old)
    return {"dynamodb": images}


# Standard processing: new image pending or shipped, amount > 100, e-mail not test.com.
# Each helper is either present and not the excluded value, or absent (-> the handler judges):
# 2 x 2 = 4 filters. "anything-but" (not a list of the allowed values) so that an unexpected
# helper value also reaches the handler instead of being dropped.
_STANDARD_AMOUNT = ({"S": [{"anything-but": [AmountBand.UP_TO_100.value]}]}, _ABSENT)
_STANDARD_EMAIL = ({"S": [{"anything-but": [EmailClass.TEST.value]}]}, _ABSENT)
STANDARD_FILTERS = tuple(
    _image_filter({"status": _string(*(s.value for s in STANDARD_STATUSES)), AMOUNT_BAND: amount, EMAIL_CLASS: email})
    for amount, email in product(_STANDARD_AMOUNT, _STANDARD_EMAIL)
)

# Premium service: old image pending (so a MODIFY: INSERT has no old image), new image shipped,
# new amount > 1000 (band neither of the two lower ones, or absent).
_PREMIUM_AMOUNT = (
    {"S": [{"anything-but": [AmountBand.UP_TO_100.value, AmountBand.OVER_100.value]}]},
    _ABSENT,
)
PREMIUM_FILTERS = tuple(
    _image_filter(
        {"status": _string(PREMIUM_TO.value), AMOUNT_BAND: amount}, old={"status": _string(PREMIUM_FROM.value)}
    )
    for amount in _PREMIUM_AMOUNT
)

STANDARD_PIPE = PipeSpec(
    key="standard",
    logical_id="StandardOrdersPipe",
    default_name="shoppulse-standard-orders",
    function_name="standard_order_processing",
    dead_letter_function_name="standard_order_dead_letters",
    dead_letter_queue=QueueSpec(
        "StandardOrdersDeadLetterQueue", "shoppulse-standard-orders-dlq", "STANDARD_ORDERS_DLQ"
    ),
    filters=STANDARD_FILTERS,
    # 100: each record is one conditional PutItem (a few ms), so a full batch is well under a
    # second of work; larger batches would only lengthen replays after a failure.
    batch_size=100,
    # 0: DynamoDB streams are polled several times a second per shard, so batches fill on
    # their own under load; any window (whole seconds) would break the < 1 s write-to-effect
    # target at low traffic, where the extra invocations cost next to nothing.
    maximum_batching_window_seconds=0,
    # 10: bisecting a 100-record batch to one record takes 7 halvings, plus 3 retries for
    # transient faults (throttling). Then the batch is dead-lettered so the shard moves on.
    maximum_retry_attempts=10,
    # 1 h: a record still failing after an hour is dead-lettered, leaving it 23 h of the
    # stream's 24 h retention for `shoppulse redrive` to read it back from the stream.
    maximum_record_age_seconds=3600,
)

PREMIUM_PIPE = PipeSpec(
    key="premium",
    logical_id="PremiumOrdersPipe",
    default_name="shoppulse-premium-orders",
    function_name="premium_order_service",
    dead_letter_function_name="premium_order_dead_letters",
    dead_letter_queue=QueueSpec("PremiumOrdersDeadLetterQueue", "shoppulse-premium-orders-dlq", "PREMIUM_ORDERS_DLQ"),
    filters=PREMIUM_FILTERS,
    # 10: premium transitions are rare and each one writes a case and publishes to SNS; small
    # batches keep a replay (and its duplicate-notification window) small.
    batch_size=10,
    # 0: the premium team is notified as soon as the order ships.
    maximum_batching_window_seconds=0,
    # 7: 4 halvings isolate one record of 10, plus 3 retries for transient faults.
    maximum_retry_attempts=7,
    maximum_record_age_seconds=3600,
)

PIPES: tuple[PipeSpec, ...] = (STANDARD_PIPE, PREMIUM_PIPE)
PIPES_BY_KEY: Mapping[str, PipeSpec] = {p.key: p for p in PIPES}

for _pipe in PIPES:
    _pipe.validate()
