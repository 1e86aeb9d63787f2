"""Users and roles. (The audit trail's table lives in :mod:`portal.audit.models`;
``AuditEntry`` is importable from here too.)"""
from __future__ import annotations

from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask_login import UserMixin
from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from portal.audit.models import AuditEntry  # noqa: F401  (re-exported)
from portal.extensions import db
from portal.util import utcnow

ROLES = ("business_user", "approver", "flow_maker", "admin")

#: The time zone of a user who has not chosen one.
DEFAULT_TIME_ZONE = "UTC"


def time_zone_error(name: str | None) -> str | None:
    """None if ``name`` is a known IANA time zone name (e.g. ``Europe/Berlin``,
    ``UTC``), else a message for the user."""
    try:
        if not name or name != name.strip():
            raise ValueError(name)
        ZoneInfo(name)
        return None
    except (ZoneInfoNotFoundError, ValueError, TypeError, OSError):  # OSError: a name too long for a file
        return f"“{name or ''}” is not a known time zone: use an IANA name such as Europe/Berlin, America/New_York or UTC."


class User(UserMixin, db.Model):
    """A portal user. ``user_name`` is the sign-in name (unique, case-insensitive by
    convention: stored lower-case)."""

    __tablename__ = "user"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_name: Mapped[str] = mapped_column(String(50), unique=True)
    full_name: Mapped[str] = mapped_column(String(100))
    email: Mapped[str | None] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(255), default="")
    active: Mapped[bool] = mapped_column(default=True)
    automation_notice_accepted_at: Mapped[datetime | None]
    # IANA time zone name: the user's "today" (e.g. when an approval entry is overdue)
    time_zone: Mapped[str] = mapped_column(String(64), default=DEFAULT_TIME_ZONE, server_default=DEFAULT_TIME_ZONE)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # part of the id in the session cookie: signing out raises it, so a cookie saved
    # before (on any device) no longer signs anyone in
    session_version: Mapped[int] = mapped_column(default=0, server_default="0")
    # loaded with the signed-in user (:func:`portal.auth.views._load_user`), else when first
    # asked: users read as an entry's sender or approver don't need their roles
    roles: Mapped[list["UserRole"]] = relationship(cascade="all, delete-orphan")

    def get_id(self) -> str:
        """The id kept in the session cookie (Flask-Login's alternative id):
        ``"<user id>.<session version>"``."""
        return f"{self.id}.{self.session_version or 0}"

    def end_sessions(self) -> None:
        """Make every session cookie issued so far invalid (signing out)."""
        self.session_version = (self.session_version or 0) + 1

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        return bool(self.password_hash) and check_password_hash(self.password_hash, password)

    def local_date(self, at: datetime | None = None) -> date:
        """The calendar date in the user's time zone at ``at`` (a naive UTC date/time,
        as the portal stores them; default now). An unknown time zone counts as UTC.

        Business Central compares due dates with the user's ``Today`` (the work date
        of their session, in their time zone); this is that date."""
        at = at or utcnow()
        if at.tzinfo is None:
            at = at.replace(tzinfo=timezone.utc)
        try:
            zone = ZoneInfo(self.time_zone or DEFAULT_TIME_ZONE)
        except (ZoneInfoNotFoundError, ValueError, TypeError, OSError):  # OSError: a name too long for a file
            zone = timezone.utc
        return at.astimezone(zone).date()

    @property
    def is_active(self) -> bool:  # Flask-Login
        return self.active

    @property
    def role_names(self) -> set[str]:
        return {r.role for r in self.roles}

    def has_role(self, *roles: str) -> bool:
        """True if the user holds any of ``roles``; admins hold every role."""
        names = self.role_names
        return "admin" in names or any(r in names for r in roles)

    def __repr__(self) -> str:
        return f"<User {self.user_name}>"


class UserRole(db.Model):
    __tablename__ = "user_role"
    __table_args__ = (UniqueConstraint("user_id", "role"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(30))
