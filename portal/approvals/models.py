"""Approval setup and approval entries.

Amount limits are in the local currency; ``None`` with the matching ``unlimited_*``
flag set means no limit (Business Central's Approval User Setup)."""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, Index, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.auth.models import User
from portal.extensions import db
from portal.versioning import Versioned
from portal.util import utcnow

Money = Numeric(18, 2)

# Approval entry statuses
CREATED = "Created"
OPEN = "Open"
APPROVED = "Approved"
REJECTED = "Rejected"
CANCELED = "Canceled"


class ApprovalUserSetup(Versioned, db.Model):
    __tablename__ = "approval_user_setup"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), unique=True)
    approver_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    salespers_purch_code: Mapped[str | None] = mapped_column(String(20), index=True)
    sales_amount_approval_limit: Mapped[Decimal | None] = mapped_column(Money)
    unlimited_sales_approval: Mapped[bool] = mapped_column(default=False)
    purchase_amount_approval_limit: Mapped[Decimal | None] = mapped_column(Money)
    unlimited_purchase_approval: Mapped[bool] = mapped_column(default=False)
    request_amount_approval_limit: Mapped[Decimal | None] = mapped_column(Money)
    unlimited_request_approval: Mapped[bool] = mapped_column(default=False)
    substitute_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    email: Mapped[str | None] = mapped_column(String(200))
    approval_administrator: Mapped[bool] = mapped_column(default=False)
    user: Mapped[User] = relationship(foreign_keys=[user_id], lazy="joined")
    approver: Mapped[User | None] = relationship(foreign_keys=[approver_id], lazy="joined")
    substitute: Mapped[User | None] = relationship(foreign_keys=[substitute_id], lazy="joined")


class WorkflowUserGroup(db.Model):
    __tablename__ = "workflow_user_group"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(20), unique=True)
    description: Mapped[str | None] = mapped_column(String(100))
    all_must_approve: Mapped[bool] = mapped_column(default=False)
    members: Mapped[list["WorkflowUserGroupMember"]] = relationship(
        cascade="all, delete-orphan", order_by="WorkflowUserGroupMember.sequence_no"
    )


class WorkflowUserGroupMember(db.Model):
    __tablename__ = "workflow_user_group_member"
    __table_args__ = (UniqueConstraint("group_id", "user_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("workflow_user_group.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    sequence_no: Mapped[int] = mapped_column(default=1)
    user: Mapped[User] = relationship(lazy="joined")


class ApprovalEntry(db.Model):
    """A request to one approver for one record. Status Created → Open → Approved /
    Rejected / Canceled. ``amount`` is in ``currency_code`` (empty = local currency)."""

    __tablename__ = "approval_entry"
    __table_args__ = (
        Index("ix_approval_entry_record", "record_type", "record_id", "status"),
        # Requests to Approve (and the header's count): an approver's Open entries, in
        # due date order, read from the index alone
        Index("ix_approval_entry_approver_status_due", "approver_id", "status", "due_date", "id"),
        # Sent for Approval and the home page's latest requests: a sender's entries, newest first
        Index("ix_approval_entry_sender", "sender_id", "id"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    record_type: Mapped[str] = mapped_column(String(40))
    record_id: Mapped[int]
    document_type: Mapped[str | None] = mapped_column(String(20))
    document_no: Mapped[str | None] = mapped_column(String(20))
    record_title: Mapped[str | None] = mapped_column(String(200))
    sequence_no: Mapped[int] = mapped_column(default=1)
    sender_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    approver_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    status: Mapped[str] = mapped_column(String(20), default=CREATED)
    approval_type: Mapped[str | None] = mapped_column(String(40))
    limit_type: Mapped[str | None] = mapped_column(String(40))
    workflow_user_group_code: Mapped[str | None] = mapped_column(String(20))
    # Entries sharing a sequence no.: False = any one approval suffices (the others are
    # canceled), True = every one of them must approve.
    all_must_approve: Mapped[bool] = mapped_column(default=False)
    amount: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))
    currency_code: Mapped[str] = mapped_column(String(10), default="")
    date_time_sent: Mapped[datetime] = mapped_column(default=utcnow)
    due_date: Mapped[date | None]
    delegation_date: Mapped[date | None]
    last_modified_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_modified_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    workflow_instance_id: Mapped[int | None] = mapped_column(ForeignKey("workflow_instance.id"), index=True)
    workflow_step_instance_id: Mapped[int | None] = mapped_column(ForeignKey("workflow_step_instance.id"))
    sender: Mapped[User] = relationship(foreign_keys=[sender_id], lazy="joined")
    approver: Mapped[User] = relationship(foreign_keys=[approver_id], lazy="joined")
    last_modified_by: Mapped[User | None] = relationship(foreign_keys=[last_modified_by_id])


class OverdueApprovalEntry(db.Model):
    """One overdue notification about an Open approval entry past its due date
    (Business Central's Overdue Approval Entry): who it was sent to, about which entry
    and record, and when. The entry id is kept as a plain number, since approval
    entries move to posted approval entries when their document is posted."""

    __tablename__ = "overdue_approval_entry"
    __table_args__ = (Index("ix_overdue_approval_entry_entry", "approval_entry_id", "created_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    approval_entry_id: Mapped[int]
    record_type: Mapped[str] = mapped_column(String(40))
    record_id: Mapped[int]
    record_title: Mapped[str | None] = mapped_column(String(200))
    sent_to_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    approver_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    sender_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    due_date: Mapped[date | None]
    sent_to_role: Mapped[str] = mapped_column(String(20))  # Approver, Approver's approver, Sender
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_to: Mapped[User] = relationship(foreign_keys=[sent_to_id], lazy="joined")
    approver: Mapped[User] = relationship(foreign_keys=[approver_id], lazy="joined")
    sender: Mapped[User] = relationship(foreign_keys=[sender_id], lazy="joined")


class ApprovalCommentLine(db.Model):
    __tablename__ = "approval_comment_line"
    __table_args__ = (Index("ix_approval_comment_line_record", "record_type", "record_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    record_type: Mapped[str] = mapped_column(String(40))
    record_id: Mapped[int]
    approval_entry_id: Mapped[int | None] = mapped_column(ForeignKey("approval_entry.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    comment: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    user: Mapped[User] = relationship(lazy="joined")


class PostedApprovalEntry(db.Model):
    """An approval entry archived when its document was posted (Business Central's
    Posted Approval Entry): the entry's fields, the record it was for
    (``record_type``/``record_id``, which no longer exists) and the posted record
    (``posted_record_type``/``posted_record_id``)."""

    __tablename__ = "posted_approval_entry"
    __table_args__ = (Index("ix_posted_approval_entry_posted_record", "posted_record_type", "posted_record_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    posted_record_type: Mapped[str] = mapped_column(String(40))
    posted_record_id: Mapped[int]
    record_type: Mapped[str] = mapped_column(String(40))
    record_id: Mapped[int]
    original_entry_id: Mapped[int | None]
    document_type: Mapped[str | None] = mapped_column(String(20))
    document_no: Mapped[str | None] = mapped_column(String(20))
    record_title: Mapped[str | None] = mapped_column(String(200))
    sequence_no: Mapped[int] = mapped_column(default=1)
    sender_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    approver_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    status: Mapped[str] = mapped_column(String(20))
    approval_type: Mapped[str | None] = mapped_column(String(40))
    limit_type: Mapped[str | None] = mapped_column(String(40))
    amount: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))
    currency_code: Mapped[str] = mapped_column(String(10), default="")
    date_time_sent: Mapped[datetime | None]
    due_date: Mapped[date | None]
    delegation_date: Mapped[date | None]
    last_modified_at: Mapped[datetime | None]
    last_modified_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    workflow_instance_id: Mapped[int | None]
    posted_at: Mapped[datetime] = mapped_column(default=utcnow)
    sender: Mapped[User] = relationship(foreign_keys=[sender_id], lazy="joined")
    approver: Mapped[User] = relationship(foreign_keys=[approver_id], lazy="joined")


class PostedApprovalCommentLine(db.Model):
    """An approval comment archived with its posted approval entry."""

    __tablename__ = "posted_approval_comment_line"
    __table_args__ = (Index("ix_posted_approval_comment_line_posted_record", "posted_record_type", "posted_record_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    posted_record_type: Mapped[str] = mapped_column(String(40))
    posted_record_id: Mapped[int]
    posted_approval_entry_id: Mapped[int | None] = mapped_column(ForeignKey("posted_approval_entry.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    comment: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    user: Mapped[User] = relationship(lazy="joined")


class ApprovalLinkUse(db.Model):
    """A one-click approval link (from an approval request mail) that was used: its
    token id ``jti`` is unique, so a link decides at most once (see
    :mod:`portal.approvals.links`)."""

    __tablename__ = "approval_link_use"
    id: Mapped[int] = mapped_column(primary_key=True)
    jti: Mapped[str] = mapped_column(String(40), unique=True)
    approval_entry_id: Mapped[int] = mapped_column(index=True)
    action: Mapped[str] = mapped_column(String(10))
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    used_at: Mapped[datetime] = mapped_column(default=utcnow)
