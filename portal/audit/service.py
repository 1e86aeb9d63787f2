"""Writing and reading the audit trail. :func:`record_audit` is the one way rows are
written: it adds to the caller's session (no flush, no commit), so a row exists only
if the change it describes is committed with it."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from portal.audit.models import KINDS, AuditEntry

#: Longest old / new value kept (characters); longer ones are cut with "…".
VALUE_LIMIT = 1000
#: Longest detail kept (characters).
DETAIL_LIMIT = 2000


def cut(text: str | None, limit: int) -> str | None:
    """``text`` cut to at most ``limit`` characters (the last one "…" when cut), NUL
    characters shown as "\\0" (a database can't store them; e.g. a sign-in name as typed)."""
    if text is not None and "\x00" in text:
        text = text.replace("\x00", "\\0")
    if text is None or len(text) <= limit:
        return text
    return text[: limit - 1] + "…"


def as_text(value: Any) -> str | None:
    """A field value as the audit trail keeps it: None stays None, Yes / No for
    booleans, ISO dates, numbers as written (Decimal without exponent)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return str(value)


def record_audit(session: Session, kind: str, action: str, *, user_id: int | None = None,
                 record_type: str | None = None, record_id: int | None = None, record_title: str | None = None,
                 field_name: str | None = None, old: Any = None, new: Any = None,
                 detail: str | None = None, user_name: str | None = None) -> AuditEntry:
    """Add one audit row to ``session`` (the caller's transaction: it is written only
    if the change is committed). ``kind``: a key of :data:`KINDS`; ``action``: an
    action code (:data:`portal.audit.models.ACTIONS`); ``user_id``: who did it (None:
    the system or an unknown sign-in); ``old`` / ``new``: a field's values (any type,
    kept as text via :func:`as_text`, cut to :data:`VALUE_LIMIT`). Returns the row.
    Raises ValueError for an unknown ``kind``."""
    if kind not in KINDS:
        raise ValueError(f"unknown audit kind {kind!r}")
    if user_name is None and user_id is not None:
        user_name = _user_name(session, user_id)
    entry = AuditEntry(
        kind=kind, action=action[:60], user_id=user_id, record_type=record_type, record_id=record_id,
        record_title=cut(record_title, 250), field_name=cut(field_name, 60),
        old_value=cut(as_text(old), VALUE_LIMIT), new_value=cut(as_text(new), VALUE_LIMIT),
        detail=cut(detail, DETAIL_LIMIT), user_name=cut(user_name, 100),
    )
    session.add(entry)
    return entry


def _user_name(session: Session, user_id: int) -> str | None:
    """The sign-in name of user ``user_id`` (from the session's identity map where it is
    there; the users table is reached through the row's relationship, as this module
    stands below the auth area)."""
    user_model = AuditEntry.user.property.mapper.class_
    with session.no_autoflush:
        user = session.get(user_model, user_id)
    return user.user_name if user is not None else None


def record_field_changes(session: Session, changes: dict[str, tuple], *, user_id: int | None, record_type: str,
                         record_id: int, record_title: str | None, prefix: str = "", kind: str = "record") -> None:
    """One ``modify`` row per changed field: ``changes`` maps field name → (old, new);
    ``prefix`` goes before each field name (e.g. ``"line 10000."`` for a line's
    fields); ``kind`` as for :func:`record_audit`."""
    for name, (old, new) in changes.items():
        record_audit(session, kind, "modify", user_id=user_id, record_type=record_type, record_id=record_id,
                     record_title=record_title, field_name=f"{prefix}{name}", old=old, new=new)


def zone_of(name: str | None):
    """The time zone named ``name`` (IANA), or UTC when unknown."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        return timezone.utc


def local_time(at: datetime | None, zone_name: str | None) -> str:
    """A naive UTC instant as "2026-11-30 17:40:05 CET" in the time zone ``zone_name``
    (IANA; unknown → UTC); "" for None."""
    if at is None:
        return ""
    return at.replace(tzinfo=timezone.utc).astimezone(zone_of(zone_name)).strftime("%Y-%m-%d %H:%M:%S %Z")


def utc_start_of(day: date, zone_name: str | None) -> datetime:
    """The naive UTC instant at which ``day`` begins in the time zone ``zone_name``."""
    return datetime.combine(day, time(), zone_of(zone_name)).astimezone(timezone.utc).replace(tzinfo=None)


@dataclass
class AuditFilter:
    """The Audit page's filters (all optional): ``user_id``; ``kind`` (a key of
    :data:`KINDS`); ``record_type``; ``record`` (text found in the record's title);
    ``record_id``; ``date_from`` / ``date_to`` (whole days, inclusive, in the time zone
    ``zone``: the viewer's)."""

    user_id: int | None = None
    kind: str | None = None
    record_type: str | None = None
    record: str | None = None
    record_id: int | None = None
    date_from: date | None = None
    date_to: date | None = None
    zone: str | None = None


def audit_query(f: AuditFilter) -> Select:
    """SELECT of the audit rows matching ``f``, newest first."""
    q = select(AuditEntry)
    if f.user_id:
        q = q.where(AuditEntry.user_id == f.user_id)
    if f.kind:
        q = q.where(AuditEntry.kind == f.kind)
    if f.record_type:
        q = q.where(AuditEntry.record_type == f.record_type)
    if f.record_id:
        q = q.where(AuditEntry.record_id == f.record_id)
    if f.record:
        q = q.where(func.lower(AuditEntry.record_title).contains(f.record.lower(), autoescape=True))
    if f.date_from:
        q = q.where(AuditEntry.at >= utc_start_of(f.date_from, f.zone))
    if f.date_to:
        q = q.where(AuditEntry.at < utc_start_of(f.date_to + timedelta(days=1), f.zone))
    return q.order_by(AuditEntry.at.desc(), AuditEntry.id.desc())


def audit_page(session: Session, f: AuditFilter, page: int, per_page: int) -> tuple[list[AuditEntry], bool]:
    """One page (1-based) of :func:`audit_query`: ``(rows, has_more)``; no count of
    the whole table (it only grows)."""
    rows = list(session.scalars(audit_query(f).offset((page - 1) * per_page).limit(per_page + 1)).unique())
    return rows[:per_page], len(rows) > per_page


def record_audit_rows(session: Session, record_type: str, record_id: int, page: int, per_page: int) -> tuple[list[AuditEntry], bool]:
    """One page of one record's audit rows, newest first: ``(rows, has_more)``."""
    return audit_page(session, AuditFilter(record_type=record_type, record_id=record_id), page, per_page)
