"""Small shared helpers: UTC time and money rounding."""
from __future__ import annotations

from datetime import datetime, timezone
from decimal import ROUND_HALF_UP, Decimal


def utcnow() -> datetime:
    """The current time in UTC as a naive datetime (the database stores UTC without zone)."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def money(value) -> Decimal:
    """Round ``value`` (str, int, float or Decimal) to 2 decimals, half up. Raises
    ``decimal.InvalidOperation`` (an ArithmeticError) for text that is not a number."""
    if value is None or value == "":
        return Decimal("0.00")
    return Decimal(str(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def local_path(target: str | None, default: str) -> str:
    """``target`` if it is a path of this portal (``/…``), else ``default``: a
    redirect after sign-in or an action never leaves the portal. Refused: absolute
    URLs, scheme-relative ``//host``, backslashes (``/\\host``, which browsers read as
    ``//host``) and control characters (browsers drop a tab or newline, so
    ``/%09/host`` becomes ``//host``)."""
    from urllib.parse import urlsplit

    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in target):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return default
    return target
