"""A validation stopped mid-file (ECS StopTask: SIGTERM) keeps nothing of its attempt: it ends
at its next batch with TaskStopped (a transient failure, retried), no staged part is left
behind, and its retry stages the whole file. The transformation's stop is tested on a task
process (test_batch_tasks.py); here the signal must land while a batch is being staged, which
only an in-process hook on the staging upload can time."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from chalicelib.storage_layout import CURATED_BUCKET, STAGING_PREFIX
from containers.engine import csv_source
from containers.tasks import stop_signal
from containers.tasks.stop_signal import TaskStopped, checkpoint, stop_on_sigterm
from shoppulse.embedded import embedded_aws
from tests.containers.validation_support import validated

ORDERS = "order_id,user_id,status,created_at,returned_at,shipped_at,delivered_at,num_of_item"
ROWS = 40_000  # the header's read (1 MiB), then many 20 kB batches


@pytest.fixture
def sigterm_noted(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The task process's handler, in this process for one test (then pytest's own again)."""
    monkeypatch.setattr(stop_signal, "_STOPPED", threading.Event())
    previous = signal.getsignal(signal.SIGTERM)
    stop_on_sigterm()
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _stopped() -> bool:
    try:
        checkpoint()
    except TaskStopped:
        return True
    return False


def _sigterm_at_first_staged_part(s3: Any) -> threading.Event:
    """SIGTERM as the first staged part is uploaded; the upload goes on once the main thread
    has noted it (it is then waiting for this upload, or validating the next batch). Set once
    that upload is stored: the attempt may end while it is in flight."""
    sent, stored = threading.Event(), threading.Event()

    def stop(params: dict[str, Any], **_: Any) -> None:
        if params["Key"].startswith(STAGING_PREFIX) and not sent.is_set():
            sent.set()
            os.kill(os.getpid(), signal.SIGTERM)
            deadline = time.monotonic() + 30
            while not _stopped() and time.monotonic() < deadline:
                time.sleep(0.001)

    s3.meta.events.register("before-parameter-build.s3.PutObject", stop)
    s3.meta.events.register("after-call.s3.PutObject", lambda **_: stored.set() if sent.is_set() else None)
    return stored


def _staged(clients: Any) -> list[str]:
    listed = clients.s3.list_objects_v2(Bucket=CURATED_BUCKET.name(), Prefix=STAGING_PREFIX)
    return [o["Key"] for o in listed.get("Contents", [])]


@pytest.mark.usefixtures("sigterm_noted")
def test_a_stopped_validation_keeps_no_staged_part_and_its_retry_stages_the_whole_file(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(csv_source, "CHUNK_BYTES", 20_000)
    body = "\n".join([ORDERS, *(f"{i},7,pending,2025-03-01 10:00:00,,,,1" for i in range(1, ROWS + 1)), ""]).encode()
    with embedded_aws() as clients:
        stored = _sigterm_at_first_staged_part(clients.s3)
        with pytest.raises(TaskStopped):
            validated(clients, body)
        assert _stopped() and stored.wait(30)
        assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL  # a second SIGTERM kills
        assert _staged(clients) == []
        monkeypatch.setattr(stop_signal, "_STOPPED", threading.Event())  # the retry: a new task process
        summary = validated(clients, body)
        assert (summary["status"], summary["valid_rows"], summary["rejected_rows"]) == ("VALID", ROWS, 0)
        staged = _staged(clients)
        assert len(staged) > 2 and all(key.startswith(STAGING_PREFIX) for key in staged)
