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


#: A list page counts its rows up to this many; beyond it, it says "more than …"
#: instead of counting the whole table on every page.
COUNT_CAP = 1000


class CappedPage:
    """One page of a SELECT without ``count(*)`` over the whole result: the rows of
    page ``page`` (1-based, ``per_page`` each; OFFSET paging) and ``total`` counted up
    to :data:`COUNT_CAP` (``more`` is True when there are more than that; ``pages`` is
    then None). Offers what templates used from Flask-SQLAlchemy's pagination:
    ``items``, ``page``, ``pages``, ``total``, ``has_prev``/``has_next``,
    ``prev_num``/``next_num``."""

    def __init__(self, session, query, page: int, per_page: int, count_by=None):
        """``query``: an ORM ``select()`` (its ORDER BY kept for the rows);
        ``count_by``: the column the bounded count selects (default: the first
        entity's primary key)."""
        from sqlalchemy import func, select

        self.page, self.per_page = max(page, 1), per_page
        rows = list(session.scalars(query.limit(per_page + 1).offset((self.page - 1) * per_page)).unique())
        self.items = rows[:per_page]
        self.has_next = len(rows) > per_page
        key = count_by if count_by is not None else query.column_descriptions[0]["entity"].id
        bounded = query.with_only_columns(key).order_by(None).limit(COUNT_CAP + 1).subquery()
        counted = session.scalar(select(func.count()).select_from(bounded)) or 0
        self.more = counted > COUNT_CAP
        self.total = min(counted, COUNT_CAP)
        self.pages = None if self.more else max(-(-self.total // per_page), 1)
        self.has_prev = self.page > 1
        self.prev_num = self.page - 1 if self.has_prev else None
        self.next_num = self.page + 1 if self.has_next else None
