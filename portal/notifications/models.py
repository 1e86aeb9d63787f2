"""Notification entries, sent notification entries and notification templates."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.auth.models import User
from portal.extensions import db
from portal.util import utcnow

TYPE_NEW_RECORD = "New Record"
TYPE_APPROVAL = "Approval"
TYPE_OVERDUE = "Overdue"
METHOD_EMAIL = "Email"
METHOD_NOTE = "Note"


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
    __tablename__ = "sent_notification_entry"
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
    recipient: Mapped[User] = relationship(lazy="joined")


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
