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
