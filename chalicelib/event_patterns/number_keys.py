"""Numbers as AWS compares them: within +/-5e9, to six decimal places.

AWS turns a number into a fixed-point key ``floor((5e9 + value) * 1e6)``; two numbers are
equal for matching when their keys are equal, and a number outside the range has no key (it
can then only match by literal text). Decimal arithmetic keeps the six places exact.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

FIVE_BILLION = Decimal("5E9")
_SCALE = Decimal(10) ** 6
#: Java prints the bounds as doubles; AWS's message quotes them that way.
OUT_OF_RANGE = "Value must be between -5.0E9 and 5.0E9, inclusive"


def comparable(text: str) -> int | None:
    """The matching key of a JSON number literal, or None when AWS cannot compare it."""
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    if not value.is_finite() or value < -FIVE_BILLION or value > FIVE_BILLION:
        return None
    return int(((FIVE_BILLION + value) * _SCALE).to_integral_value(rounding="ROUND_FLOOR"))


def required_comparable(text: str) -> int:
    """The key of a number written in a pattern, where an out-of-range value is an error."""
    key = comparable(text)
    if key is None:
        raise ValueError(OUT_OF_RANGE)
    return key
