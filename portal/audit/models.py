"""The audit trail's table: one row per user action that changes state (and per
changed field of a record), written in the same transaction as the change."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.util import utcnow

#: Kinds of audit rows (the Audit page's filter), in the order the filter lists them.
KINDS: dict[str, str] = {
    "record": "Record changes",
    "approval": "Approval requests",
    "workflow": "Workflows",
    "flow_run": "Flow runs",
    "approval_setup": "Approval setup",
    "sign_in": "Sign-ins",
}

#: What each action code means on the pages (codes not listed are shown as they are).
ACTIONS: dict[str, str] = {
    "create": "Created",
    "modify": "Changed",
    "workflow_modify": "Changed by a workflow",
    "status": "Status changed",
    "delete": "Deleted",
    "post": "Posted",
    "release": "Released",
    "reopen": "Reopened",
    "add_restriction": "Restriction added",
    "remove_restriction": "Restriction removed",
    "send_approval_request": "Sent approval request",
    "cancel_approval_request": "Canceled approval request",
    "approved": "Approved",
    "rejected": "Rejected",
    "delegate": "Delegated",
    "enable": "Enabled",
    "disable": "Disabled",
    "edit": "Edited",
    "copy": "Copied",
    "import": "Imported",
    "run_flow": "Ran flow",
    "retry_run": "Retried run",
    "cancel_run": "Canceled run",
    "edit_input_fields": "Edited input fields",
    "flow_schedule": "Schedule set",
    "create_from_gallery": "Created from the gallery",
    "accept_automation_notice": "Accepted the automation notice",
    "add_member": "Member added",
    "modify_member": "Member changed",
    "remove_member": "Member removed",
    "sign_in": "Signed in",
    "sign_in_failed": "Sign-in failed",
    "sign_in_refused": "Sign-in refused (too many attempts)",
    "sign_out": "Signed out",
}


class AuditEntry(db.Model):
    """Who did what, when (``at``: naive UTC). ``kind`` is one of :data:`KINDS`,
    ``action`` one of :data:`ACTIONS`. A record field change has ``field_name``,
    ``old_value`` and ``new_value`` (as text, cut to
    :data:`portal.audit.service.VALUE_LIMIT` characters); ``record_title`` keeps the
    record's title as it was (the record may be gone). ``user_name`` is the user's sign-in
    name when the row was written (the user may be deleted later), and on a failed
    sign-in the name as typed (no ``user_id`` then, whether or not such a user exists).
    Rows are only ever added: the portal has no way to change or delete them."""

    __tablename__ = "audit_entry"
    __table_args__ = (Index("ix_audit_entry_record", "record_type", "record_id", "id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    # a user deleted later keeps their rows (SET NULL), which still name them (user_name)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"), index=True)
    kind: Mapped[str] = mapped_column(String(30), default="record", server_default="record", index=True)
    action: Mapped[str] = mapped_column(String(60))
    record_type: Mapped[str | None] = mapped_column(String(40))
    record_id: Mapped[int | None]
    record_title: Mapped[str | None] = mapped_column(String(250))
    field_name: Mapped[str | None] = mapped_column(String(60))
    old_value: Mapped[str | None] = mapped_column(Text)
    new_value: Mapped[str | None] = mapped_column(Text)
    user_name: Mapped[str | None] = mapped_column(String(100))
    detail: Mapped[str | None] = mapped_column(Text)

    user = relationship("User", lazy="joined", viewonly=True)

    @property
    def action_text(self) -> str:
        """The action in words (e.g. "Sent approval request")."""
        return ACTIONS.get(self.action, self.action.replace("_", " ").capitalize())

    @property
    def kind_text(self) -> str:
        return KINDS.get(self.kind, self.kind)
