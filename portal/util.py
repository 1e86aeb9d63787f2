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
    page ``page`` (1-based, ``per_page`` each) and ``total`` counted up to
    :data:`COUNT_CAP` (``more`` is True when there are more than that; ``pages`` is
    then None). Offers what templates used from Flask-SQLAlchemy's pagination:
    ``items``, ``page``, ``pages``, ``total``, ``has_prev``/``has_next``,
    ``prev_num``/``next_num``.

    Two queries: the ids in the query's order, up to the cap (or to the end of the
    page, if that is further) — one pass over the matching rows, served by the same
    indexes, that both counts and places the page — then the page's rows by id."""

    def __init__(self, session, query, page: int, per_page: int):
        """``query``: an ORM ``select()`` of one entity with an ORDER BY."""
        self.page, self.per_page = max(page, 1), per_page
        key = query.column_descriptions[0]["entity"].id
        start, end = (self.page - 1) * per_page, self.page * per_page
        ids = list(session.scalars(query.with_only_columns(key).limit(max(COUNT_CAP, end) + 1)))
        page_ids = ids[start:end]
        rows = {}
        if page_ids:
            rows = {r.id: r for r in session.scalars(query.where(key.in_(page_ids))).unique()}
        self.items = [rows[i] for i in page_ids if i in rows]
        self.has_next = len(ids) > end
        self.more = len(ids) > COUNT_CAP
        self.total = min(len(ids), COUNT_CAP)
        self.pages = None if self.more else max(-(-self.total // per_page), 1)
        self.has_prev = self.page > 1
        self.prev_num = self.page - 1 if self.has_prev else None
        self.next_num = self.page + 1 if self.has_next else None
