"""The action bar of a card or document page: which actions apply to a record, for
whom, and — when one can't be done now — why.

One function answers "may this user do this to this record now, and if not, why":
:func:`refusal` (used by the POST handlers, which refuse with its words) and
:func:`record_actions` (the page: every action in Business Central's groups, each
enabled or disabled with the same words). Actions that can never apply to the record
type (Post on a customer card, Release on a posted invoice) are left out; so are
Approve / Reject / Delegate for a user with no Open approval entry to act on.

Groups (Business Central's action bar): Home (New, Edit, Delete), Process (Release,
Reopen, Post), Request Approval (Send, Cancel; Approve, Reject, Delegate), Automate
(the Automate menu, rendered by its own template) and Related (Approval entries,
Changes, Flow runs)."""
from __future__ import annotations

from dataclasses import dataclass

from flask import url_for
from sqlalchemy.orm import Session

from portal.approvals import service as approvals
from portal.auth.models import User
from portal.records import posting, service
from portal.records.registry import LIST_VIEWS, SLUG_OF, RecordType

GROUPS = ("Home", "Process", "Request Approval", "Automate", "Related")

NOT_PERMITTED = "You are not permitted to change records."

#: the area (header menu) of each record type, for breadcrumbs
AREAS = {
    "customer": "Sales", "sales_header": "Sales", "vendor": "Purchasing", "item": "Purchasing",
    "purchase_header": "Purchasing", "gen_journal_batch": "Finance", "gen_journal_line": "Finance",
}

#: the keys of the actions a user POSTs, with their group and label
LABELS = {
    "new": ("Home", "New"), "edit": ("Home", "Edit"), "delete": ("Home", "Delete"),
    "release": ("Process", "Release"), "reopen": ("Process", "Reopen"), "post": ("Process", "Post"),
    "send": ("Request Approval", "Send Approval Request"), "cancel": ("Request Approval", "Cancel Approval Request"),
    "approve": ("Request Approval", "Approve"), "reject": ("Request Approval", "Reject"),
    "delegate": ("Request Approval", "Delegate"),
}
DELETABLE = ("customer", "vendor", "item", "gen_journal_line")


@dataclass(frozen=True)
class Action:
    """One action of the bar: ``enabled`` False comes with the ``reason`` in words;
    ``method`` "post" is a form button, "get" a link; ``entry_id`` the approval
    entry Approve / Reject / Delegate act on."""

    group: str
    key: str
    label: str
    url: str
    enabled: bool = True
    reason: str | None = None
    method: str = "get"
    primary: bool = False
    entry_id: int | None = None
    confirm: str | None = None


def applies(rt: RecordType, key: str) -> bool:
    """True if action ``key`` can ever apply to records of ``rt`` (else the page
    leaves it out and the handler answers 404)."""
    if key == "new":
        return bool(rt.new_fields) and not rt.read_only
    if key == "edit":
        return not rt.read_only
    if key == "delete":
        return rt.key in DELETABLE
    if key in ("release", "reopen"):
        return rt.releasable
    if key == "post":  # a quote is made into an order or invoice first
        return rt.postable and (rt.doc_type is None or (rt.key, rt.doc_type) in posting.POSTED_KIND)
    if key in ("send", "cancel", "approve", "reject", "delegate"):
        return rt.approvable
    return True


def refusal(session: Session, user: User, rt: RecordType, record, key: str,
            decisions: approvals.Decisions | None = None) -> str | None:
    """Why ``user`` can't do action ``key`` to ``record`` now, or None if they can.
    The same rules the services enforce (records' release / reopen / post / delete /
    modify checks, approvals' send / cancel / decide checks), in the services' words.

    Args: ``key`` one of :data:`LABELS`; ``decisions`` (optional) the user's
    :func:`portal.approvals.service.decisions_for` on the record, if already known."""
    if not applies(rt, key):
        return f"{LABELS[key][1]} doesn't apply to {rt.plural.lower()}."
    title = rt.title(record)
    if key in ("approve", "reject", "delegate"):
        d = decisions or approvals.decisions_for(session, rt.key, record.id, user)
        if key == "delegate":
            if d.delegable is None:
                return f"You have no open approval request to delegate for {title}."
            return d.delegate_refusal
        if d.entry is None:
            return f"You have no open approval request to act on for {title}."
        return None
    if key == "send":
        return approvals.send_refusal(session, rt.key, record, user)
    if key == "cancel":
        return approvals.cancel_refusal(session, rt.key, record, user)
    if not user.has_role("business_user"):
        return NOT_PERMITTED
    try:
        if key == "edit":
            if rt.key == "gen_journal_line":
                service.check_lines_changeable(session, "gen_journal_batch", record.batch)
            service.check_changeable(session, rt.key, record)
        elif key == "delete":
            service.check_deletable(session, rt.key, record)
        elif key in ("release", "reopen"):
            return service.status_action_refusal(session, rt.key, record, key)
        elif key == "post":
            posting.check_postable(session, record, by_hand=True)
    except service.RecordError as exc:
        return str(exc)
    return None


def record_actions(session: Session, user: User, rt: RecordType, record, slug: str) -> list[Action]:
    """Every action of the record page's bar that applies to ``record`` (see the
    module), in group order, each with its URL and, when disabled, the reason.
    Automate is not listed (the Automate menu is its own template)."""
    base = url_for("records.record_page", slug=slug, record_id=record.id)
    title = rt.title(record)
    out: list[Action] = []

    def add(key: str, url: str, method: str = "post", primary: bool = False, reason: str | None = None, **kw) -> None:
        group, label = LABELS[key]
        out.append(Action(group, key, label, url, reason is None, reason, method, primary, **kw))

    if applies(rt, "new"):
        add("new", url_for("records.new", slug=slug), "get", reason=refusal(session, user, rt, record, "new"))
    if applies(rt, "edit"):
        add("edit", f"{base}/edit", "get", reason=refusal(session, user, rt, record, "edit"))
    if applies(rt, "delete"):
        add("delete", f"{base}/delete", reason=refusal(session, user, rt, record, "delete"), confirm=f"Delete {title}?")
    for key in ("release", "reopen", "post"):
        if applies(rt, key):
            reason = refusal(session, user, rt, record, key)
            add(key, f"{base}/{key}", primary=key == "release" and reason is None, reason=reason)
    if rt.approvable:
        send = refusal(session, user, rt, record, "send")
        add("send", url_for("approvals.send", record_type=rt.key, record_id=record.id), primary=send is None, reason=send)
        add("cancel", url_for("approvals.cancel", record_type=rt.key, record_id=record.id),
            reason=refusal(session, user, rt, record, "cancel"))
        d = approvals.decisions_for(session, rt.key, record.id, user)
        decide = url_for("approvals.decide")
        if d.entry is not None:
            add("approve", decide, primary=True, entry_id=d.entry.id)
            add("reject", decide, entry_id=d.entry.id)
        if d.delegable is not None:
            add("delegate", decide, reason=d.delegate_refusal, entry_id=d.delegable.id)
    # Related
    if rt.approvable:
        out.append(Action("Related", "approval_entries", "Approval entries",
                          url_for("approvals.record_entries", record_type=rt.key, record_id=record.id)))
    out.append(Action("Related", "changes", "Changes", url_for("records.changes", slug=slug, record_id=record.id)))
    runs = "flows.history" if user.has_role("admin", "flow_maker") else "flows.my_runs"
    out.append(Action("Related", "flow_runs", "Flow runs", url_for(runs, record=title)))
    return out


def breadcrumbs(rt: RecordType, record, slug: str) -> list[tuple[str, str | None]]:
    """The trail above a card or document's title: area, list, (a journal line's
    batch), the record — as (text, URL or None)."""
    key = rt.key
    area = AREAS.get(key) or ("Sales" if "sales" in key else "Purchasing" if "purchase" in key else "Records")
    trail: list[tuple[str, str | None]] = [(area, None), (LIST_VIEWS[slug].plural, url_for("records.list_page", slug=slug))]
    if key == "gen_journal_line" and record.batch is not None:
        batch_slug = SLUG_OF["gen_journal_batch"]
        trail[1] = (LIST_VIEWS[batch_slug].plural, url_for("records.list_page", slug=batch_slug))
        trail.append((record.batch.title, url_for("records.record_page", slug=batch_slug, record_id=record.batch.id)))
    trail.append((rt.title(record), None))
    return trail
