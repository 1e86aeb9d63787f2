"""Notification entries, sent notification entries and notification templates."""
from __future__ import annotations

from datetime import datetime
from datetime import time as time_of_day

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.auth.models import User
from portal.extensions import db
from portal.util import utcnow

TYPE_NEW_RECORD = "New Record"
TYPE_APPROVAL = "Approval"
TYPE_OVERDUE = "Overdue"
METHOD_EMAIL = "Email"
METHOD_NOTE = "Note"
NOTIFICATION_TYPES = (TYPE_NEW_RECORD, TYPE_APPROVAL, TYPE_OVERDUE)
METHODS = (METHOD_EMAIL, METHOD_NOTE)


class NotificationEntry(db.Model):
    """A notification waiting to be sent to ``recipient``. ``link`` is a portal path
    to the record. ``template_code`` picks the notification template."""

    __tablename__ = "notification_entry"
    id: Mapped[int] = mapped_column(primary_key=True)
    type: Mapped[str] = mapped_column(String(20))
    recipient_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    sender_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    record_type: Mapped[str | None] = mapped_column(String(40))
    record_id: Mapped[int | None]
    approval_entry_id: Mapped[int | None] = mapped_column(ForeignKey("approval_entry.id"))
    template_code: Mapped[str | None] = mapped_column(String(40))
    link: Mapped[str | None] = mapped_column(String(300))
    custom_message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    send_after: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    attempts: Mapped[int] = mapped_column(default=0)
    error: Mapped[str | None] = mapped_column(Text)
    claimed_by: Mapped[str | None] = mapped_column(String(120))  # the worker sending it
    lease_until: Mapped[datetime | None]  # a claim whose lease ran out is taken over
    recipient: Mapped[User] = relationship(foreign_keys=[recipient_id], lazy="joined")


class SentNotificationEntry(db.Model):
    """A notification that went out: a mail, or a note in the recipient's inbox
    (``method``). ``entry_count`` > 1 for a digest (one message listing that many
    notification entries). ``read_at`` (naive UTC): when the recipient marked it
    read; None = unread."""

    __tablename__ = "sent_notification_entry"
    __table_args__ = (Index("ix_sent_notification_entry_recipient_read", "recipient_id", "read_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    type: Mapped[str] = mapped_column(String(20))
    recipient_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    record_type: Mapped[str | None] = mapped_column(String(40))
    record_id: Mapped[int | None]
    approval_entry_id: Mapped[int | None]
    method: Mapped[str] = mapped_column(String(10))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    link: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime] = mapped_column(default=utcnow)
    entry_count: Mapped[int] = mapped_column(default=1, server_default="1")
    read_at: Mapped[datetime | None]
    recipient: Mapped[User] = relationship(lazy="joined")


class NotificationSetup(db.Model):
    """How a user is told about notifications of one type (Business Central's table
    "Notification Setup"): ``method`` Email or Note. The row without a user
    (``user_id`` None) is the default for everyone without their own row."""

    __tablename__ = "notification_setup"
    __table_args__ = (UniqueConstraint("user_id", "notification_type"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    notification_type: Mapped[str] = mapped_column(String(20))
    method: Mapped[str] = mapped_column(String(10), default=METHOD_EMAIL)


class NotificationSchedule(db.Model):
    """When a user gets notifications of one type (Business Central's table
    "Notification Schedule"): only schedules other than Instantly are stored (no row
    = Instantly). ``time`` is read in the user's time zone; ``weekdays`` seven 0/1
    characters, Monday first; see :mod:`portal.notifications.schedule`.
    ``job_queue_entry_id``: the job queue entry that sends this schedule's digest
    (one per user and type, reused when the schedule changes)."""

    __tablename__ = "notification_schedule"
    __table_args__ = (UniqueConstraint("user_id", "notification_type"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    notification_type: Mapped[str] = mapped_column(String(20))
    recurrence: Mapped[str] = mapped_column(String(10), default="Daily")
    time: Mapped[time_of_day] = mapped_column(default=time_of_day(12, 0))
    daily_frequency: Mapped[str] = mapped_column(String(20), default="Working days")
    weekdays: Mapped[str] = mapped_column(String(7), default="1111100")
    monthly_date: Mapped[str] = mapped_column(String(20), default="First working day")
    date_of_month: Mapped[int] = mapped_column(default=1)
    job_queue_entry_id: Mapped[int | None] = mapped_column(ForeignKey("job_queue_entry.id", ondelete="SET NULL"))
    modified_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    user: Mapped[User] = relationship(lazy="joined")


class NotificationTemplate(db.Model):
    """One message's template per notification method: ``code`` names the message
    (e.g. ``approval_request``), ``type`` its notification type, ``method`` Email (an
    HTML ``body``) or Note (a text ``body``). Rendered in the limited Jinja2 sandbox
    (:mod:`portal.workflow.rendering`); placeholders: see
    :mod:`portal.notifications.templates`."""

    __tablename__ = "notification_template"
    __table_args__ = (UniqueConstraint("code", "method"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40))
    type: Mapped[str] = mapped_column(String(20))
    method: Mapped[str] = mapped_column(String(10), default=METHOD_EMAIL)
    description: Mapped[str | None] = mapped_column(String(200))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    modified_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
