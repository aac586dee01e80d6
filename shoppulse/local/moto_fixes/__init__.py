"""Every adaptation of moto 5.2.5 the local runtime needs, one module per service.

Each fix says what moto does, what AWS does, and where upstream tracks it, so that it can be
deleted when moto catches up (pin: moto[server]==5.2.5); tests/local/moto_fixes/test_moto_fixes_*.py run moto as
released (`patching.upstream`) and fail, saying which fix to delete, once moto behaves. Nothing
else in the project patches or works around moto.

- `settings`: 1 (account-based DynamoDB endpoints), 2 (executing state machines), 11 (S3
  aws-chunked uploads): client and server settings, no patch.
- `stepfunctions`: 3, 5, 6, 12 (the `ecs:runTask.sync` integration), 8 (executions: names,
  `$$.Execution.StartTime`), 13 (S3 `CopySource` as given), 14 (execution status changes).
- `ecs`: 4 (tasks run as local processes; RunTask of Fargate definitions), 12 (RunTask failures).
- `events`: 7 (EventBridge delivery and the S3 events' shape).
- `dynamodb`: 9 (stream records in the wire format), 10 (transactions without table copies),
  15 (atomic conditional writes), 17 (GetRecords encoded without the generic serializer),
  26 (Query and Scan likewise).
- `server`: 16 (request dispatch remembers each host's service), 19 (action lookup by name),
  25 (an in-process request's body not read back through werkzeug).
- `asl_parsing`: 20 (a state machine definition parsed once, not once per execution).
- `s3`: 21 (ListObjectVersions without a deep copy of the bucket), 23 (a body stored and hashed
  once), 24 (CopyObject keeps the source's ETag).
- `instances`: 22 (no reference kept to every model instance moto made).
- `patching`: how a fix replaces a moto attribute, and moto's originals.
"""

from __future__ import annotations

import threading

from shoppulse.local.ecs_runner import LocalEcsRunner
from shoppulse.local.moto_fixes import asl_parsing, dynamodb, ecs, events, instances, s3, server, stepfunctions
from shoppulse.local.moto_fixes.dynamodb import (
    DYNAMODB_WRITES,
    WriteSignal,
    fix_dynamodb_transaction_snapshots,
    wire_stream_record,
)
from shoppulse.local.moto_fixes.events import aws_event
from shoppulse.local.moto_fixes.patching import HOOKS, EventDelivery
from shoppulse.local.moto_fixes.settings import CLIENT_ENVIRONMENT, configure_server_process

__all__ = [
    "CLIENT_ENVIRONMENT",
    "DYNAMODB_WRITES",
    "EventDelivery",
    "WriteSignal",
    "aws_event",
    "configure_server_process",
    "fix_dynamodb_transaction_snapshots",
    "fix_embedded_aws",
    "install",
    "uninstall",
    "wire_stream_record",
]

_INSTALL_LOCK = threading.Lock()


def fix_embedded_aws() -> None:
    """The fixes the in-process embedded AWS (`shoppulse.embedded`) applies too: they need no stack."""
    fix_dynamodb_transaction_snapshots()
    dynamodb.encode_item_reads_directly()
    dynamodb.size_items_once()
    s3.apply()
    instances.apply()
    server.apply_in_process()


def install(ecs_runner: LocalEcsRunner, event_delivery: EventDelivery | None = None) -> None:
    """Apply every fix (once per process) and route tasks and events to this stack."""
    from moto.moto_api import state_manager

    HOOKS.ecs = ecs_runner
    HOOKS.events = event_delivery
    # Only the runner moves a task's status: moto must never advance it on reads.
    state_manager.set_transition(ecs.TASK_MODEL, {"progression": "manual", "times": 2**62})
    with _INSTALL_LOCK:
        if HOOKS.installed:
            return
        fix_embedded_aws()
        stepfunctions.apply()
        ecs.apply()
        events.apply()
        dynamodb.apply()
        server.apply()
        asl_parsing.apply()
        HOOKS.installed = True


def uninstall() -> None:
    """Detach the stack's runner and bus; moto's own ECS task lifecycle applies again."""
    from moto.moto_api import state_manager

    HOOKS.ecs = None
    HOOKS.events = None
    state_manager.unset_transition(ecs.TASK_MODEL)
