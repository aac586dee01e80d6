"""IP addresses the way AWS reads them, for ``cidr`` and for exact strings that are IPs.

AWS only treats text shaped like ``d.d.d.d`` or hex-and-colons as an address (so a host name
is never looked up), compares addresses as 4- or 16-byte numbers, and matches an exact pattern
string that is an IP against any spelling of the same address. A CIDR's range starts at the
address as written (AWS does not clear the host bits) and ends at the last address of the mask.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

_IPV4_SHAPE = re.compile(r"[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+")
_IPV6_SHAPE = re.compile(r"[0-9a-fA-F:]*:[0-9a-fA-F:]*")
_MASK = re.compile(r"[+-]?[0-9]+")


class IpError(ValueError):
    """The text is not an address AWS accepts; the message is AWS's reason."""


def _looks_like_ip(text: str) -> bool:
    return bool(_IPV4_SHAPE.fullmatch(text) or _IPV6_SHAPE.fullmatch(text))


def _parse(text: str) -> bytes | None:
    """4 or 16 bytes for a well-formed address of either shape, else None."""
    if _IPV4_SHAPE.fullmatch(text):
        parts = text.split(".")
        # Modern Java rejects ambiguous (zero-padded) octets rather than reading them as octal.
        if any(len(part) > 1 and part.startswith("0") for part in parts):
            return None
        octets = [int(part) for part in parts]
        return bytes(octets) if all(octet <= 255 for octet in octets) else None
    try:
        address = ipaddress.IPv6Address(text)
    except ValueError:
        return None
    mapped = address.ipv4_mapped  # Java hands back an IPv4 address for ::ffff:a.b.c.d
    return mapped.packed if mapped is not None else address.packed


def address_bytes(text: str) -> bytes:
    """The address in ``text`` or an IpError worded as AWS words it."""
    if not _looks_like_ip(text):
        raise IpError(f"Nonstandard IP address: {text}")
    parsed = _parse(text)
    if parsed is None:
        raise IpError(f"Invalid IP address: {text}")
    return parsed


def address_bytes_if_possible(text: str) -> bytes | None:
    """The address in an event value, or None when the value is not one."""
    return _parse(text) if _looks_like_ip(text) else None


@dataclass(frozen=True)
class IpRange:
    """Inclusive range of addresses of one family (``size`` bytes)."""

    size: int
    low: int
    high: int

    def contains(self, text: str) -> bool:
        address = address_bytes_if_possible(text)
        if address is None or len(address) != self.size:
            return False
        return self.low <= int.from_bytes(address, "big") <= self.high


def exact_ip_range(text: str) -> IpRange | None:
    """An exact pattern string that is an IP matches that address only, in any spelling."""
    address = address_bytes_if_possible(text)
    if address is None:
        return None
    value = int.from_bytes(address, "big")
    return IpRange(len(address), value, value)


def cidr_range(text: str) -> IpRange:
    """Parse a ``cidr`` operand; raises IpError with AWS's reason."""
    parts = text.split("/")
    while parts and parts[-1] == "":  # Java's split drops trailing empty strings
        parts.pop()
    if len(parts) != 2:
        raise IpError("Malformed CIDR, one '/' required")
    if not _MASK.fullmatch(parts[1]) or not -(2**31) <= int(parts[1]) < 2**31:
        raise IpError("Malformed CIDR, mask bits must be an integer")
    mask = int(parts[1])
    if mask < 0:
        raise IpError("Malformed CIDR, mask bits must not be negative")
    address = address_bytes(parts[0])
    if len(address) == 4 and mask > 31:
        raise IpError("IPv4 mask bits must be < 32")
    if len(address) == 16 and mask > 127:
        raise IpError("IPv6 mask bits must be < 128")
    low = int.from_bytes(address, "big")
    host_bits = len(address) * 8 - mask
    return IpRange(len(address), low, low | ((1 << host_bits) - 1))
