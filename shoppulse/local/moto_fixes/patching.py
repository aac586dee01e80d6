"""How the fixes change moto: every replaced attribute goes through `replace`, which keeps moto's
own, so that a test can run moto as released (`upstream`) and show a fix is still needed."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from shoppulse.local.ecs_runner import LocalEcsRunner


class EventDelivery(Protocol):
    """What fix 7 hands matched events to (`shoppulse.local.event_bus.LocalEventBus`)."""

    def matches(self, pattern_text: str, event: Mapping[str, Any]) -> bool: ...

    def deliver(self, rule_arn: str, target: Mapping[str, Any], event: Mapping[str, Any]) -> bool:
        """True when the target was taken care of; False to let moto deliver it."""
        ...


@dataclass
class Hooks:
    """Where the patched moto hands work to the running stack (none: moto's own behaviour)."""

    ecs: LocalEcsRunner | None = None
    events: EventDelivery | None = None
    installed: bool = False


HOOKS = Hooks()
_ABSENT = object()  # the attribute was inherited: restoring deletes the override
# moto's own value of every attribute a fix replaced, by (owner, attribute name).
ORIGINALS: dict[tuple[Any, str], Any] = {}


def replace(owner: Any, name: str, replacement: Any) -> None:
    """One patch of moto: `owner.name` becomes `replacement`; moto's own stays in ORIGINALS."""
    ORIGINALS.setdefault((owner, name), vars(owner).get(name, _ABSENT))
    setattr(owner, name, replacement)


@contextmanager
def upstream() -> Iterator[None]:
    """moto as released while the block runs: every replaced attribute is moto's own again."""
    patched = {key: vars(key[0]).get(key[1], _ABSENT) for key in ORIGINALS}
    try:
        for (owner, name), original in ORIGINALS.items():
            _put(owner, name, original)
        yield
    finally:
        for (owner, name), value in patched.items():
            _put(owner, name, value)


def _put(owner: Any, name: str, value: Any) -> None:
    if value is not _ABSENT:
        setattr(owner, name, value)
    elif name in vars(owner):
        delattr(owner, name)


def utc_now() -> datetime:
    return datetime.now(UTC)
