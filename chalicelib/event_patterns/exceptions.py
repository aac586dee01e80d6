"""The one error a pattern can raise: it mirrors AWS's InvalidEventPatternException."""

from __future__ import annotations

#: AWS prefixes every reason with this sentence; we keep it so messages compare 1:1.
MESSAGE_PREFIX = "Event pattern is not valid. Reason: "


class InvalidEventPattern(ValueError):
    """The pattern would be rejected by AWS (``InvalidEventPatternException``).

    ``message`` is the full text AWS reports (prefix included); ``reason`` is the part
    after the prefix, handy for assertions and logs.
    """

    def __init__(self, reason: str) -> None:
        self.reason = reason
        self.message = MESSAGE_PREFIX + reason
        super().__init__(self.message)
