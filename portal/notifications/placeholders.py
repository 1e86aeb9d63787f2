"""What notification templates may use: the placeholders (for the save-time checks
and the editor's help list), the values the dispatcher adds beyond the record and
the approval entry (settings link, one-click Approve / Reject links, the entry's
comments) and the sample data of the save-time trial render."""
from __future__ import annotations

from typing import Any

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

#: The page where a user changes how and when they are notified.
SETTINGS_PATH = "/notifications/settings"

ENTRY_KEYS = ("record_title", "amount", "currency_code", "due_date", "sender", "approver", "status", "comments",
              "approve_link", "reject_link")
RECIPIENT_KEYS = ("full_name", "user_name", "email")

#: (placeholder, what it is) for the editor's help list, in the order shown.
HELP = (
    ("{{ record.title }}", "The record's title, e.g. Sales Order 10249"),
    ("{{ record.no }}", "A field of the record (any field name of its record type)"),
    ("{{ record.amount|money }}", "An amount, formatted 1,863.40"),
    ("{% for line in record.lines %}{{ line.item_no }} {{ line.description }} {{ line.quantity }} {{ line.line_amount|money }}\n{% endfor %}",
     "The document's lines"),
    ("{{ link }}", "Link to the record in the portal"),
    ("{{ entry.record_title }}", "Approval entry: the record it is for"),
    ("{{ entry.amount|money }} {{ entry.currency_code }}", "Approval entry: amount and currency"),
    ("{{ entry.due_date }}", "Approval entry: due date"),
    ("{{ entry.sender }}", "Approval entry: who sent the request"),
    ("{{ entry.approver }}", "Approval entry: who approves it"),
    ("{{ entry.status }}", "Approval entry: status"),
    ("{{ entry.comments }}", "Approval entry: its approval comments, one per line"),
    ('<a href="{{ entry.approve_link }}">Approve</a>', "One-click Approve link (approval requests; single use)"),
    ('<a href="{{ entry.reject_link }}">Reject</a>', "One-click Reject link (approval requests; single use)"),
    ("{{ recipient.full_name }}", "The recipient's name"),
    ("{{ recipient.email }}", "The recipient's e-mail address"),
    ("{{ message }}", "The message or comment the notification carries"),
    ("{{ requests_link }}", "Link to Requests to Approve"),
    ('<a href="{{ settings_link }}">change notification settings</a>', "Link to the recipient's notification settings"),
    ("{% for o in open_orders %}{{ o.no }} {{ o.amount|money }}\n{% endfor %}{{ open_orders_total|money }}",
     "A customer's open orders and their total"),
)


def placeholders() -> dict[str, Any]:
    """The placeholder spec for :func:`portal.workflow.rendering.check_template`:
    top-level names and the keys they offer."""
    from portal.workflow.rendering import record_placeholders

    return {
        "record": record_placeholders(),
        "entry": set(ENTRY_KEYS),
        "recipient": set(RECIPIENT_KEYS),
        "link": None, "requests_link": None, "settings_link": None, "message": None, "inputs": None,
        "open_orders": None, "open_orders_total": None,
        # a digest (Daily / Weekly / Monthly schedules): portal.notifications.digest.digest_context
        "notification_type": None, "count": None, "entries": None, "inbox_link": None,
    }


def sample_context() -> dict:
    """The sample data a template is trial-rendered with when it is saved."""
    from portal.workflow.rendering import sample_record

    base = "https://portal.example"
    return {
        "record": sample_record() | {"title": "Sales Order 10249 — Toms Spezialitäten — 1,863.40", "no": "10249", "name": "Toms Spezialitäten",
                   "amount": 1863.40, "lines": [{"line_no": 10000, "item_no": "14", "description": "Tofu", "quantity": 9,
                                                 "unit_price": 18.6, "line_amount": 167.4}]},
        "entry": {"record_title": "Sales Order 10249 — Toms Spezialitäten — 1,863.40", "amount": 1863.40, "currency_code": "",
                  "due_date": "2026-12-31", "sender": "Michael Suyama", "approver": "Steven Buchanan", "status": "Open",
                  "comments": "", "approve_link": f"{base}/approvals/link/sample", "reject_link": f"{base}/approvals/link/sample"},
        "recipient": {"full_name": "Steven Buchanan", "user_name": "sbuchanan", "email": "sbuchanan@northwind.test"},
        "link": f"{base}/sales-orders/1", "requests_link": f"{base}/approvals/requests",
        "settings_link": base + SETTINGS_PATH, "message": "Sample message", "inputs": {},
        "open_orders": [{"no": "10249", "order_date": "2026-11-30", "status": "Open", "amount": 1863.40}], "open_orders_total": 1863.40,
        "notification_type": "Approval", "count": 2, "inbox_link": f"{base}/notifications",
        "entries": [{"subject": "Approval requested: Sales Order 10249", "link": f"{base}/sales-orders/1", "created_at": "2026-11-30 09:00"},
                    {"subject": "Approval requested: Sales Order 10250", "link": f"{base}/sales-orders/2", "created_at": "2026-11-30 10:00"}],
    }


def add_template_extras(session: Session, ctx: dict, n, entry, needs: str | None = None) -> None:
    """Add to a notification's template values ``ctx`` (built for notification entry
    ``n`` about approval ``entry`` or None): ``settings_link`` (absolute), and in
    ``ctx["entry"]`` the one-click ``approve_link`` / ``reject_link`` (only for an Open
    entry sent to its approver, and only when ``needs`` — the template source — names
    them or is None) and ``comments`` (the entry's approval comments, one per line,
    when named). Changes ``ctx`` in place."""
    base = current_app.config["PORTAL_BASE_URL"].rstrip("/")
    ctx["settings_link"] = base + SETTINGS_PATH
    values = ctx.setdefault("entry", {})
    values.setdefault("approve_link", "")
    values.setdefault("reject_link", "")
    values.setdefault("comments", "")
    if entry is None:
        return
    if (needs is None or "_link" in needs) and entry.approver_id == getattr(n, "recipient_id", None):
        from portal.approvals.links import link_urls

        values.update(link_urls(entry, base))
    if needs is None or "comments" in needs:
        from portal.approvals.models import ApprovalCommentLine

        lines = session.scalars(select(ApprovalCommentLine).where(
            ApprovalCommentLine.record_type == entry.record_type, ApprovalCommentLine.record_id == entry.record_id)
            .order_by(ApprovalCommentLine.id)).unique()
        values["comments"] = "\n".join(f"{c.user.full_name}: {c.comment}" for c in lines)


def preload_batch(session: Session, batch: list) -> tuple[dict[int, str | None], list]:
    """Load what rendering a batch of notification entries needs with one query per
    kind instead of one per entry: their records (per record type) and approval
    entries (kept in the session's identity map by the returned list, so
    ``session.get`` finds them), and each recipient's address (as
    :func:`portal.notifications.service.recipient_address`: the Approval User Setup
    e-mail, else the user's). Returns ``({recipient_id: address or None}, loaded)``."""
    from portal.approvals.models import ApprovalEntry, ApprovalUserSetup
    from portal.records.registry import RECORD_TYPES

    loaded: list = []
    by_type: dict[str, set[int]] = {}
    for n in batch:
        if n.record_type in RECORD_TYPES and n.record_id is not None:
            by_type.setdefault(n.record_type, set()).add(n.record_id)
    for record_type, ids in by_type.items():
        model = RECORD_TYPES[record_type].model
        loaded += list(session.scalars(select(model).where(model.id.in_(ids))).unique())
    entry_ids = {n.approval_entry_id for n in batch if n.approval_entry_id}
    if entry_ids:
        loaded += list(session.scalars(select(ApprovalEntry).where(ApprovalEntry.id.in_(entry_ids))).unique())
    users = {n.recipient_id: n.recipient for n in batch}
    setup = dict(session.execute(select(ApprovalUserSetup.user_id, ApprovalUserSetup.email)
                                 .where(ApprovalUserSetup.user_id.in_(users))).all())
    addresses = {uid: (setup.get(uid) or "").strip() or user.email or None for uid, user in users.items()}
    return addresses, loaded
