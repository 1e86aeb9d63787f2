"""Approvals: approver resolution, approval entries and the actions on them.

Rules follow Business Central's approvals management:
- Approver Chain: start at the first approver and climb ``approver_id`` links until an
  approver's limit covers the amount (a limit of 0 without "unlimited" covers
  nothing); Direct Approver: the first approver only; First Qualified Approver: only
  the first one whose limit covers the amount; Specific Approver: the named user.
- Approver types: Salesperson/Purchaser starts at the user whose setup carries the
  document's salesperson/purchaser code; Approver starts at the requester's approver.
- Approver type Approver with limit type Approver Chain or First Qualified Approver
  starts with the sender's own entry (approved at once); when the sender's own limit
  covers the amount no one else is asked (``CreateApprReqForApprTypeApprover``).
- Entries are created ``Created``; sending opens the lowest sequence still Created.
  An entry whose approver is the sender is approved at once.
- Canceling a request cancels every one of its entries that isn't Rejected or
  Canceled, the sender's approved one included (``CancelApprovalRequestsForRecord``).
- An Open entry is overdue once its due date is today or earlier in the approver's
  time zone (the overdue notifications report filters ``Due Date <= Today``).
- While an enabled approval workflow's entry point matches an Open record, it can't
  be released or posted by hand (:func:`approval_required`; ``IsSalesHeaderPendingApproval``).
- Only Open entries can be acted on, only by their approver or the approval
  administrator; a decision is one conditional UPDATE, so two people acting at once
  produce exactly one decision.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import NamedTuple

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from portal.approvals.setup import is_approval_administrator
from portal.approvals.models import (
    APPROVED,
    CANCELED,
    CREATED,
    OPEN,
    REJECTED,
    ApprovalCommentLine,
    ApprovalEntry,
    ApprovalUserSetup,
    OverdueApprovalEntry,
    PostedApprovalCommentLine,
    PostedApprovalEntry,
    WorkflowUserGroup,
)
from portal.audit.models import AuditEntry
from portal.audit.service import record_audit
from portal.auth.models import User
from portal.records.registry import LIST_VIEWS, RECORD_TYPES, slug_for
from portal.util import read_memo, text_problem, utcnow
from portal.workflow.models import (
    OUTBOX_FAILED,
    OUTBOX_PENDING,
    OUTBOX_PROCESSING,
    OutboxEvent,
    Workflow,
    WorkflowStep,
    WorkflowStepRun,
)
from portal.workflow.engine import ResponseError, StepContext, event_values, events_in_flight, matching_workflows, raise_event


class ApprovalError(Exception):
    """An approval action isn't allowed (message for the user)."""


def notify_about(session: Session, entry: ApprovalEntry, recipient_id: int, template_code: str, sender_id: int | None,
                 type_: str = "Approval", message: str | None = None) -> None:
    """A notification entry about approval ``entry`` (link to its record) for
    ``recipient_id``, rendered with ``template_code``; sent by the dispatcher after
    the commit."""
    from portal.notifications.service import create_notification

    create_notification(session, recipient_id=recipient_id, type_=type_, record_type=entry.record_type,
                        record_id=entry.record_id, approval_entry_id=entry.id, template_code=template_code,
                        sender_id=sender_id, custom_message=message)


# ---------------------------------------------------------------- queries

def pending_approvals(session: Session, record_type: str | None, record_id: int | None, instance_id: int | None = None) -> int:
    """Entries of the record (and instance, if given) still Created or Open."""
    q = select(func.count(ApprovalEntry.id)).where(
        ApprovalEntry.record_type == record_type,
        ApprovalEntry.record_id == record_id,
        ApprovalEntry.status.in_([CREATED, OPEN]),
    )
    if instance_id:
        q = q.where(ApprovalEntry.workflow_instance_id == instance_id)
    return session.scalar(q) or 0


def _entries_query(record_type: str, record_id: int):
    return (select(ApprovalEntry)
            .where(ApprovalEntry.record_type == record_type, ApprovalEntry.record_id == record_id)
            .order_by(ApprovalEntry.workflow_instance_id.desc(), ApprovalEntry.sequence_no, ApprovalEntry.id))


def _read_entries(session: Session, record_type: str, record_id: int) -> list[ApprovalEntry] | None:
    """Every approval entry of the record as the database has them now, read once per
    request while the session has no pending change (:func:`portal.util.read_memo`;
    entries already in the session are refreshed from their rows), so that a record page's
    questions (a request under way? an entry for me to decide? may I see the
    comments?) share one SELECT. None while the session has pending changes: the
    callers then ask the database with a query of their own."""
    if session.new or session.dirty or session.deleted:
        return None

    def load() -> list[ApprovalEntry]:
        # entries read earlier in this session may have changed since (a bulk UPDATE):
        # expired, the SELECT below fills them in afresh (their users stay as loaded)
        for obj in list(session.identity_map.values()):
            if isinstance(obj, ApprovalEntry) and obj.record_type == record_type and obj.record_id == record_id:
                session.expire(obj)
        return list(session.scalars(_entries_query(record_type, record_id)).unique())

    return read_memo(session, ("approval_entries", record_type, record_id), load)


def entries_for_record(session: Session, record_type: str, record_id: int) -> list[ApprovalEntry]:
    """All approval entries of a record, newest request first, then by sequence."""
    entries = _read_entries(session, record_type, record_id)
    if entries is not None:
        return list(entries)
    return list(session.scalars(_entries_query(record_type, record_id)).unique())


def comments_for_record(session: Session, record_type: str, record_id: int) -> list[ApprovalCommentLine]:
    return list(
        session.scalars(
            select(ApprovalCommentLine)
            .where(ApprovalCommentLine.record_type == record_type, ApprovalCommentLine.record_id == record_id)
            .order_by(ApprovalCommentLine.id)
        ).unique()
    )


def requests_to_approve_query(user: User | None = None):
    """The SELECT of Requests to Approve: the Open entries ``user`` must decide (every
    Open entry when ``user`` is None: the approval administrator's view), by due date
    (none last), then id. Page it with :class:`portal.util.CappedPage`."""
    q = select(ApprovalEntry).where(ApprovalEntry.status == OPEN)
    if user is not None:
        q = q.where(ApprovalEntry.approver_id == user.id)
    return q.order_by(ApprovalEntry.due_date.is_(None), ApprovalEntry.due_date, ApprovalEntry.id)


def requests_to_approve(session: Session, user: User) -> list[ApprovalEntry]:
    """Open entries the user must decide (all Open entries for the approval administrator
    are reachable by id but this list shows the user's own)."""
    return list(session.scalars(requests_to_approve_query(user)).unique())


def count_requests_to_approve(session: Session, user_id: int) -> int:
    return session.scalar(
        select(func.count(ApprovalEntry.id)).where(ApprovalEntry.approver_id == user_id, ApprovalEntry.status == OPEN)
    ) or 0


def requests_sent(session: Session, user: User, limit: int = 200) -> list[ApprovalEntry]:
    """The latest ``limit`` approval entries ``user`` sent, newest first."""
    return list(
        session.scalars(
            select(ApprovalEntry).where(ApprovalEntry.sender_id == user.id).order_by(ApprovalEntry.id.desc()).limit(limit)
        ).unique()
    )


def open_entry_for(session: Session, record_type: str, record_id: int, user_id: int, admin: bool = False) -> ApprovalEntry | None:
    """The Open entry of the record that ``user_id`` may decide: their own (the lowest
    id), else (with ``admin`` and when the user is the approval administrator) the
    first Open one (:func:`open_entry_of_record`)."""
    entries = _read_entries(session, record_type, record_id)
    if entries is not None:
        own = min((e for e in entries if e.status == OPEN and e.approver_id == user_id), key=lambda e: e.id, default=None)
    else:
        own = session.scalars(
            select(ApprovalEntry).where(
                ApprovalEntry.record_type == record_type,
                ApprovalEntry.record_id == record_id,
                ApprovalEntry.status == OPEN,
                ApprovalEntry.approver_id == user_id,
            ).order_by(ApprovalEntry.id)
        ).first()
    if own is None and admin and is_approval_administrator(session, user_id):
        return open_entry_of_record(session, record_type, record_id)
    return own


def open_entry_of_record(session: Session, record_type: str, record_id: int) -> ApprovalEntry | None:
    """The record's first Open entry (lowest sequence, then id), if any."""
    entries = _read_entries(session, record_type, record_id)
    if entries is not None:
        return min((e for e in entries if e.status == OPEN), key=lambda e: (e.sequence_no, e.id), default=None)
    return session.scalars(
        select(ApprovalEntry)
        .where(ApprovalEntry.record_type == record_type, ApprovalEntry.record_id == record_id, ApprovalEntry.status == OPEN)
        .order_by(ApprovalEntry.sequence_no, ApprovalEntry.id)
    ).first()


def pending_request(session: Session, record_type: str, record_id: int) -> ApprovalEntry | None:
    """The record's first entry (lowest id) still Created or Open: the record has a
    request under way. Read once per request while nothing changes
    (:func:`_read_entries`)."""
    entries = _read_entries(session, record_type, record_id)
    if entries is not None:
        return min((e for e in entries if e.status in (CREATED, OPEN)), key=lambda e: e.id, default=None)
    return session.scalars(
        select(ApprovalEntry)
        .where(
            ApprovalEntry.record_type == record_type,
            ApprovalEntry.record_id == record_id,
            ApprovalEntry.status.in_([CREATED, OPEN]),
        )
        .order_by(ApprovalEntry.id)
    ).first()


def _event_in_flight(session: Session, code: str, record_type: str, record_id: int) -> bool:
    return code in events_in_flight(session, record_type, record_id)


# ---------------------------------------------------------------- approval controls

def approval_workflows_for(session: Session, record_type: str, record) -> list[Workflow]:
    """The enabled approval workflows whose entry point — the record type's "approval
    of this record requested" event with its conditions, line conditions included —
    matches the record as it is now (the engine's :func:`matching_workflows` on the
    values :func:`event_values` gives conditions).

    Business Central: ``WorkflowManagement.CanExecuteWorkflow(Rec,
    RunWorkflowOnSend...ForApprovalCode)``, i.e. ``IsSalesApprovalsWorkflowEnabled``,
    ``IsPurchaseApprovalsWorkflowEnabled``, ``IsGeneralJournalBatchApprovalsWorkflowEnabled``
    and ``IsGeneralJournalLineApprovalsWorkflowEnabled``.

    Args: ``record_type`` a record type key; ``record`` its ORM object (None: none).
    Returns the workflows, by code; [] for record types that can't be sent for approval."""
    rt = RECORD_TYPES.get(record_type)
    if rt is None or not rt.approvable or not rt.approval_event or record is None:
        return []
    probe = OutboxEvent(event_code=rt.approval_event, record_type=record_type, record_id=record.id, payload={})
    return matching_workflows(session, rt.approval_event, record_type, event_values(session, probe, record))


def approval_workflow_enabled(session: Session, record_type: str) -> bool:
    """True if some enabled workflow starts with the record type's "approval
    requested" event (whatever its conditions): a cheap test before checking many
    records with :func:`approval_workflows_for` (e.g. every line of a journal batch)."""
    rt = RECORD_TYPES.get(record_type)
    if rt is None or not rt.approval_event:
        return False
    return session.scalar(
        select(WorkflowStep.id).join(Workflow, WorkflowStep.workflow_id == Workflow.id).where(
            Workflow.enabled.is_(True), Workflow.template.is_(False), WorkflowStep.entry_point.is_(True),
            WorkflowStep.function_name == rt.approval_event).limit(1)
    ) is not None


def approved_and_unchanged(session: Session, record_type: str, record_id: int) -> bool:
    """True if the record's newest approval request ended approved — its entries are
    Approved (or Canceled, as the others of an any-one sequence are), none Created,
    Open or Rejected — and the record has not been changed by hand since the last
    decision (an audit entry ``modify`` of the record after it).

    This is the approval state of a record without a status, such as a general
    journal line: Business Central restricts a journal line whenever it is inserted
    or modified while a line approval workflow applies to it
    (``RecordRestrictionMgt.RestrictGenJournalLine``) and lifts the restriction only
    when the line is approved."""
    newest = session.scalar(select(ApprovalEntry.workflow_instance_id).where(
        ApprovalEntry.record_type == record_type, ApprovalEntry.record_id == record_id,
    ).order_by(ApprovalEntry.id.desc()).limit(1))
    if newest is None:
        return False
    entries = list(session.scalars(select(ApprovalEntry).where(
        ApprovalEntry.record_type == record_type, ApprovalEntry.record_id == record_id,
        ApprovalEntry.workflow_instance_id == newest)).unique())
    statuses = {e.status for e in entries}
    if APPROVED not in statuses or statuses & {CREATED, OPEN, REJECTED}:
        return False
    decided_at = max(e.last_modified_at for e in entries)
    changed = session.scalar(select(AuditEntry.id).where(
        AuditEntry.record_type == record_type, AuditEntry.record_id == record_id,
        AuditEntry.action == "modify", AuditEntry.at > decided_at).limit(1))
    return changed is None


def approval_required(session: Session, record_type: str, record) -> list[Workflow]:
    """The enabled approval workflows that hold the record now: it can't be released
    or posted by hand until its approval is complete. Empty when nothing holds it.

    - Sales and purchase documents and journal batches: held while their Status is
      Open and an approval workflow's entry point matches them (Business Central's
      ``IsSalesHeaderPendingApproval`` / ``IsPurchaseHeaderPendingApproval``: Status
      Open and the approval workflow enabled for the document). Approval releases
      them; a rejected or canceled request reopens them, so they are held again.
    - General journal lines (no status of their own): held while a line approval
      workflow matches them and they are not :func:`approved_and_unchanged`.
    - Other records (customers, vendors, items) are never released or posted: [].

    Args: ``record_type`` a record type key, ``record`` its ORM object.
    Returns the matching workflows (their codes name what holds the record)."""
    if record_type == "gen_journal_line":
        workflows = approval_workflows_for(session, record_type, record)
        if workflows and approved_and_unchanged(session, record_type, record.id):
            return []
        return workflows
    if record_type not in ("sales_header", "purchase_header", "gen_journal_batch"):
        return []
    if getattr(record, "status", None) != "Open":
        return []
    return approval_workflows_for(session, record_type, record)


class SendFailure(NamedTuple):
    """Why the newest Send Approval Request of a record did not go through: the
    ``reason`` in words, when it was sent and by whom (a :class:`User` or None)."""

    reason: str
    sent_at: datetime
    sender: User | None


def last_send_failure(session: Session, record_type: str, record_id: int) -> SendFailure | None:
    """The outcome of the record's newest Send Approval Request when it failed:
    the worker handling its event (``<record type>_approval_requested``) refused it
    — no approver, the approver chain ends before a limit covers the amount, no
    approval user setup, … (the workflow's responses raised a business error and
    everything they did was rolled back, so the record is still Open with no new
    entries) — or, when it was handled, no enabled approval workflow applied to the
    record any more. None while it is still being handled, after it went through, or
    when the record was never sent.

    The record page shows this (it polls its state while the event is in flight), so
    the sender learns why without opening Run History."""
    rt = RECORD_TYPES.get(record_type)
    if rt is None or not rt.approval_event:
        return None
    ev = session.scalars(select(OutboxEvent).where(
        OutboxEvent.event_code == rt.approval_event, OutboxEvent.record_type == record_type,
        OutboxEvent.record_id == record_id).order_by(OutboxEvent.id.desc()).limit(1)).first()
    if ev is None or ev.status in (OUTBOX_PENDING, OUTBOX_PROCESSING):
        return None
    sender = session.get(User, ev.user_id) if ev.user_id else None
    if ev.status == OUTBOX_FAILED:
        error = (ev.error or "").strip()
        if not error or "Traceback (most recent call last)" in error:
            reason = "An unexpected error stopped it; an administrator can see the details in Run History."
        else:
            reason = error
        return SendFailure(reason, ev.created_at, sender)
    ran = session.scalar(select(WorkflowStepRun.id).where(WorkflowStepRun.event_id == ev.id).limit(1))
    if ran is None:
        return SendFailure("When the request was handled, no enabled approval workflow applied to the record any more, "
                           "so nothing was sent.", ev.created_at, sender)
    return None


# ---------------------------------------------------------------- send / cancel

def send_refusal(session: Session, record_type: str, record, user: User | None = None) -> str | None:
    """Why Send Approval Request can't be done on ``record`` now, or None: the user
    (when given) lacks the business user role, a request is already pending or being
    sent, the record isn't Open, or no enabled approval workflow's entry point
    matches the record (:func:`approval_workflows_for`). The same words the record
    page shows on its disabled Send button and :func:`send_approval_request` raises."""
    rt = RECORD_TYPES[record_type]
    if not rt.approvable:
        return f"{rt.plural} can't be sent for approval."
    if user is not None and not user.has_role("business_user"):
        return "You are not permitted to send approval requests."
    if pending_request(session, record_type, record.id):
        return f"An approval request for {rt.title(record)} already exists."
    if _event_in_flight(session, rt.approval_event, record_type, record.id):
        return f"An approval request for {rt.title(record)} is already being sent."
    status = getattr(record, "status", None)
    if status is not None and status != "Open":
        return f"{rt.title(record)} must have Status Open to be sent for approval; it is {status}."
    if not approval_workflows_for(session, record_type, record):
        return f"No enabled approval workflow applies to this {_kind(record_type, record)}."
    return None


def _kind(record_type: str, record) -> str:
    """The record's kind in words, e.g. "customer", "sales order"."""
    return LIST_VIEWS[slug_for(record_type, record)].label.lower()


def send_approval_request(session: Session, record_type: str, record, user: User) -> None:
    """Send Approval Request: raise the record type's approval event. Raises
    :class:`ApprovalError` with :func:`send_refusal`'s reason (a request already
    pending, the record isn't Open, no enabled approval workflow applies)."""
    rt = RECORD_TYPES[record_type]
    reason = send_refusal(session, record_type, record)
    if reason:
        raise ApprovalError(reason)
    raise_event(session, rt.approval_event, record_type, record.id, {}, user.id)
    record_audit(session, "approval", "send_approval_request", user_id=user.id, record_type=record_type, record_id=record.id,
                 record_title=rt.title(record))


def cancel_refusal(session: Session, record_type: str, record, user: User) -> str | None:
    """Why ``user`` can't Cancel Approval Request on ``record`` now, or None: no
    request is pending, the user is neither its sender nor the approval
    administrator, or it is already being canceled."""
    rt = RECORD_TYPES[record_type]
    entry = pending_request(session, record_type, record.id)
    if entry is None:
        return f"There is no approval request to cancel for {rt.title(record)}."
    if entry.sender_id != user.id and not is_approval_administrator(session, user.id):
        return "Only the sender or the approval administrator can cancel this approval request."
    if _event_in_flight(session, rt.cancel_event, record_type, record.id):
        return f"The approval request for {rt.title(record)} is already being canceled."
    return None


def cancel_approval_request(session: Session, record_type: str, record, user: User) -> None:
    """Cancel Approval Request: only the sender or the approval administrator. Raises
    :class:`ApprovalError` with :func:`cancel_refusal`'s reason."""
    rt = RECORD_TYPES[record_type]
    reason = cancel_refusal(session, record_type, record, user)
    if reason:
        raise ApprovalError(reason)
    entry = pending_request(session, record_type, record.id)
    raise_event(session, rt.cancel_event, record_type, record.id, {"instance_id": entry.workflow_instance_id}, user.id)
    record_audit(session, "approval", "cancel_approval_request", user_id=user.id, record_type=record_type, record_id=record.id,
                 record_title=rt.title(record))


class Decisions(NamedTuple):
    """The approval decisions ``user`` may take on a record now: ``entry`` the Open
    entry they may approve or reject (None: none), ``delegable`` the Open entry they
    may delegate (as its approver, its sender or the approval administrator), and
    ``delegate_refusal`` why it can't be delegated (no one to delegate to), or None."""

    entry: ApprovalEntry | None
    delegable: ApprovalEntry | None
    delegate_refusal: str | None


def decisions_for(session: Session, record_type: str, record_id: int, user: User) -> Decisions:
    """What :func:`approve`, :func:`reject` and :func:`delegate` would allow ``user``
    on the record's current Open entry (the record page's Approve / Reject /
    Delegate)."""
    entry = open_entry_for(session, record_type, record_id, user.id, admin=True)
    delegable = entry
    if delegable is None:
        first = open_entry_of_record(session, record_type, record_id)
        if first is not None and first.sender_id == user.id:
            delegable = first
    refusal = None
    if delegable is not None:
        try:
            delegate_target(session, delegable.approver_id)
        except ApprovalError as exc:
            refusal = str(exc)
    return Decisions(entry, delegable, refusal)


# ---------------------------------------------------------------- decisions

def _decide(session: Session, entry_id: int, user: User, new_status: str, event_code: str, comment: str | None) -> ApprovalEntry:
    entry = session.get(ApprovalEntry, entry_id)
    if entry is None:
        raise ApprovalError(f"Approval entry {entry_id} does not exist.")
    if entry.approver_id != user.id and not is_approval_administrator(session, user.id):
        raise ApprovalError(f"You are not permitted to act on the request for {entry.record_title}: you are not its approver.")
    if entry.status != OPEN:
        raise ApprovalError(f"The request for {entry.record_title} has already been decided ({entry.status}).")
    res = session.execute(
        update(ApprovalEntry)
        .where(ApprovalEntry.id == entry_id, ApprovalEntry.status == OPEN)
        .values(status=new_status, last_modified_at=utcnow(), last_modified_by_id=user.id)
        .execution_options(synchronize_session=False)
    )
    if res.rowcount != 1:
        session.rollback()
        raise ApprovalError(f"The request for {entry.record_title} has already been decided by someone else.")
    session.refresh(entry)
    if new_status == APPROVED and not entry.all_must_approve:
        # any one approval settles the sequence: the others sharing it are canceled
        session.execute(
            update(ApprovalEntry)
            .where(ApprovalEntry.workflow_instance_id == entry.workflow_instance_id,
                   ApprovalEntry.record_type == entry.record_type, ApprovalEntry.record_id == entry.record_id,
                   ApprovalEntry.sequence_no == entry.sequence_no, ApprovalEntry.id != entry.id,
                   ApprovalEntry.status.in_([CREATED, OPEN]))
            .values(status=CANCELED, last_modified_at=utcnow(), last_modified_by_id=user.id)
            .execution_options(synchronize_session=False)
        )
    if comment:
        session.add(ApprovalCommentLine(record_type=entry.record_type, record_id=entry.record_id, approval_entry_id=entry.id, user_id=user.id, comment=comment))
    if new_status == APPROVED and entry.sender_id != user.id and not pending_approvals(
            session, entry.record_type, entry.record_id, entry.workflow_instance_id):
        # the last approval needed: the sender learns the request is approved (and released by the workflow)
        notify_about(session, entry, entry.sender_id, "approval_approved", user.id, message=comment)
    record_audit(session, "approval", new_status.lower(), user_id=user.id, record_type=entry.record_type, record_id=entry.record_id,
                 record_title=entry.record_title,
                 detail=f"Approval entry {entry.id} (sequence {entry.sequence_no})" + (f": {comment}" if comment else ""))
    raise_event(session, event_code, entry.record_type, entry.record_id,
                {"instance_id": entry.workflow_instance_id, "entry_id": entry.id, "comment": comment}, user.id)
    return entry


def approve(session: Session, entry_id: int, user: User, comment: str | None = None) -> ApprovalEntry:
    """Approve one Open entry. Raises :class:`ApprovalError` (not permitted, already
    decided). The caller commits."""
    return _decide(session, entry_id, user, APPROVED, "approval_request_approved", comment)


def reject(session: Session, entry_id: int, user: User, comment: str | None = None) -> ApprovalEntry:
    """Reject one Open entry (the workflow then rejects the record's other entries and
    reopens the document). Raises :class:`ApprovalError`. The caller commits."""
    return _decide(session, entry_id, user, REJECTED, "approval_request_rejected", comment)


def decide_many(session: Session, action: str, entry_ids: list[int], user: User, comment: str | None = None) -> tuple[list[str], list[str]]:
    """Approve, reject or delegate (``action``) each entry in its own transaction, so
    one refusal doesn't undo the others. Returns (record titles done, error messages).
    Commits."""
    fn = {"approve": approve, "reject": reject, "delegate": delegate}[action]
    done: list[str] = []
    errors: list[str] = []
    for entry_id in entry_ids:
        try:
            entry = fn(session, entry_id, user, comment)
            session.commit()
            done.append(entry.record_title or f"approval entry {entry_id}")
        except ApprovalError as exc:
            session.rollback()
            errors.append(str(exc))
    return done, errors


# ---------------------------------------------------------------- delegation

def delegate_target(session: Session, approver_id: int) -> int:
    """Who an entry of ``approver_id`` is delegated to: their substitute, else their
    approver, else the approval administrator (Business Central's delegation rule).
    Raises :class:`ApprovalError` when there is none (or only the approver themself)."""
    rows = session.execute(
        select(ApprovalUserSetup.user_id, ApprovalUserSetup.substitute_id, ApprovalUserSetup.approver_id,
               ApprovalUserSetup.approval_administrator)
        .where((ApprovalUserSetup.user_id == approver_id) | ApprovalUserSetup.approval_administrator.is_(True))
        .order_by(ApprovalUserSetup.id)
    ).all()
    candidates = []
    for row in rows:
        if row.user_id == approver_id:
            candidates += [row.substitute_id, row.approver_id]
    candidates.append(next((row.user_id for row in rows if row.approval_administrator), None))
    for user_id in candidates:
        if user_id and user_id != approver_id:
            return user_id
    user = session.get(User, approver_id)
    raise ApprovalError(
        f"The request can't be delegated: {user.full_name if user else approver_id} has no substitute and no approver "
        "in Approval User Setup, and there is no other approval administrator."
    )


def delegate(session: Session, entry_id: int, user: User | None, comment: str | None = None) -> ApprovalEntry:
    """Delegate one Open entry to the approver's substitute / approver / the approval
    administrator (:func:`delegate_target`). Allowed for the approver, the sender and
    the approval administrator; ``user`` None means the system (the delegate-after
    job). Notifies the new approver and the sender and raises
    ``approval_request_delegated`` (the workflow's delegated branch waits again). A
    delegation date moves on by the same interval. The caller commits.
    Raises :class:`ApprovalError` (not found, not permitted, already decided or
    delegated by someone else, no one to delegate to)."""
    entry = session.get(ApprovalEntry, entry_id)
    if entry is None:
        raise ApprovalError(f"Approval entry {entry_id} does not exist.")
    if user is not None and user.id not in (entry.approver_id, entry.sender_id) and not is_approval_administrator(session, user.id):
        raise ApprovalError(
            f"You are not permitted to delegate the request for {entry.record_title}: only its approver, its sender "
            "or the approval administrator can."
        )
    if entry.status != OPEN:
        raise ApprovalError(f"The request for {entry.record_title} has already been decided ({entry.status}).")
    old_approver_id = entry.approver_id
    target = delegate_target(session, old_approver_id)
    today = utcnow().date()
    next_delegation = None
    if entry.delegation_date is not None:
        interval = max((entry.delegation_date - entry.date_time_sent.date()).days, 1)
        next_delegation = today + timedelta(days=interval)
    res = session.execute(
        update(ApprovalEntry)
        .where(ApprovalEntry.id == entry_id, ApprovalEntry.status == OPEN, ApprovalEntry.approver_id == old_approver_id)
        .values(approver_id=target, delegation_date=next_delegation, last_modified_at=utcnow(),
                last_modified_by_id=user.id if user else None)
        .execution_options(synchronize_session=False)
    )
    if res.rowcount != 1:
        session.rollback()
        raise ApprovalError(f"The request for {entry.record_title} has already been decided or delegated by someone else.")
    session.refresh(entry)
    old_name = session.get(User, old_approver_id).full_name
    by = user.full_name if user else "the delegate-after job"
    session.add(ApprovalCommentLine(
        record_type=entry.record_type, record_id=entry.record_id, approval_entry_id=entry.id,
        user_id=user.id if user else entry.sender_id,
        comment=f"Delegated by {by} from {old_name} to {entry.approver.full_name}." + (f" {comment}" if comment else ""),
    ))
    record_audit(session, "approval", "delegate", user_id=user.id if user else None, record_type=entry.record_type,
                 record_id=entry.record_id, record_title=entry.record_title,
                 detail=f"Approval entry {entry.id}: {old_name} → {entry.approver.full_name}" + ("" if user else " (delegate after)"))
    for recipient in dict.fromkeys([entry.approver_id, entry.sender_id]):
        if user is not None and recipient == user.id:
            continue
        notify_about(session, entry, recipient, "approval_request" if recipient == entry.approver_id else "approval_delegated",
                     user.id if user else entry.sender_id, message=comment)
    raise_event(session, "approval_request_delegated", entry.record_type, entry.record_id,
                {"instance_id": entry.workflow_instance_id, "entry_id": entry.id, "comment": comment},
                user.id if user else None)
    return entry


def delegate_due(session: Session, today: date | None = None) -> list[str]:
    """The delegate-approval-requests job: delegate every Open entry whose delegation
    date is today or earlier, each in its own transaction. Returns one line per entry
    (delegated to whom, or why not). Commits."""
    today = today or utcnow().date()
    ids = list(session.scalars(
        select(ApprovalEntry.id).where(ApprovalEntry.status == OPEN, ApprovalEntry.delegation_date.is_not(None),
                                       ApprovalEntry.delegation_date <= today).order_by(ApprovalEntry.id)
    ))
    report = []
    for entry_id in ids:
        try:
            entry = delegate(session, entry_id, None)
            session.commit()
            report.append(f"{entry.record_title}: delegated to {entry.approver.full_name}")
        except ApprovalError as exc:
            session.rollback()
            report.append(str(exc))
    return report


# ---------------------------------------------------------------- overdue

def is_overdue(entry: ApprovalEntry, now: datetime | None = None, today: date | None = None) -> bool:
    """True if the Open ``entry`` is overdue: its due date is today or earlier —
    Business Central's overdue notifications take ``Due Date <= Today`` — where today
    is the date in the approver's time zone at ``now`` (naive UTC, default now), or
    ``today`` when given (one date for everyone)."""
    if entry.status != OPEN or entry.due_date is None:
        return False
    return entry.due_date <= (today or entry.approver.local_date(now))


def overdue_entries(session: Session, today: date | None = None, now: datetime | None = None) -> list[ApprovalEntry]:
    """The Open entries that are overdue (:func:`is_overdue`): due today or earlier in
    their approver's time zone at ``now`` (naive UTC, default now); with ``today``
    given, due on or before that date. By due date, then entry no."""
    now = now or utcnow()
    # No time zone is more than a day ahead of UTC: entries due later can't be overdue.
    latest = today or (now.date() + timedelta(days=1))
    candidates = session.scalars(
        select(ApprovalEntry).where(ApprovalEntry.status == OPEN, ApprovalEntry.due_date.is_not(None),
                                    ApprovalEntry.due_date <= latest)
        .order_by(ApprovalEntry.due_date, ApprovalEntry.id)
    ).unique()
    return [e for e in candidates if is_overdue(e, now, today)]


def create_overdue_notifications(session: Session, today: date | None = None, sender_id: int | None = None) -> list[OverdueApprovalEntry]:
    """Create Overdue notifications for every overdue entry (:func:`overdue_entries`:
    due today or earlier in the approver's time zone, or on/before ``today`` if given)
    to its approver, the approver's approver and the sender (each person once), and log
    each in an overdue approval entry. An entry already reported today is skipped, so
    running the job twice a day doesn't notify twice. Returns the new overdue approval
    entries. The caller commits."""
    start_of_day = datetime.combine(today or utcnow().date(), datetime.min.time())
    logged = []
    for entry in overdue_entries(session, today):
        already = session.scalar(select(OverdueApprovalEntry.id).where(
            OverdueApprovalEntry.approval_entry_id == entry.id, OverdueApprovalEntry.created_at >= start_of_day))
        if already:
            continue
        setup = session.scalar(select(ApprovalUserSetup).where(ApprovalUserSetup.user_id == entry.approver_id))
        recipients = {entry.approver_id: "Approver"}
        if setup is not None and setup.approver_id:
            recipients.setdefault(setup.approver_id, "Approver's approver")
        recipients.setdefault(entry.sender_id, "Sender")
        for user_id, role in recipients.items():
            notify_about(session, entry, user_id, "approval_overdue", sender_id, type_="Overdue")
            row = OverdueApprovalEntry(
                approval_entry_id=entry.id, record_type=entry.record_type, record_id=entry.record_id,
                record_title=entry.record_title, sent_to_id=user_id, approver_id=entry.approver_id,
                sender_id=entry.sender_id, due_date=entry.due_date, sent_to_role=role,
            )
            session.add(row)
            logged.append(row)
    session.flush()
    return logged


def overdue_log(session: Session, user_id: int | None = None, limit: int = 500) -> list[OverdueApprovalEntry]:
    """The newest overdue approval entries (the Overdue Approval Entries page): all,
    or with ``user_id`` those sent to, about the approvals of, or sent by that user."""
    q = select(OverdueApprovalEntry)
    if user_id is not None:
        q = q.where((OverdueApprovalEntry.sent_to_id == user_id) | (OverdueApprovalEntry.approver_id == user_id)
                    | (OverdueApprovalEntry.sender_id == user_id))
    return list(session.scalars(q.order_by(OverdueApprovalEntry.id.desc()).limit(limit)).unique())


def create_overdue_notifications_response(ctx: StepContext) -> str:
    """Response: create notifications for overdue approval requests (the Overdue
    Approval Requests workflow runs it when the overdue approvals job has run)."""
    rows = create_overdue_notifications(ctx.session, sender_id=ctx.user_id)
    entries = len({r.approval_entry_id for r in rows})
    return f"Overdue notifications: {len(rows)} for {entries} overdue approval requests"


# ---------------------------------------------------------------- comments

def may_see_comments(session: Session, record_type: str, record_id: int, user: User) -> bool:
    """Approval comments are visible to the record's senders and approvers, the
    approval administrator and admins."""
    if user.has_role("admin") or is_approval_administrator(session, user.id):
        return True
    entries = _read_entries(session, record_type, record_id)
    if entries is not None:
        return any(user.id in (e.sender_id, e.approver_id) for e in entries)
    return bool(session.scalar(select(ApprovalEntry.id).where(
        ApprovalEntry.record_type == record_type, ApprovalEntry.record_id == record_id,
        (ApprovalEntry.sender_id == user.id) | (ApprovalEntry.approver_id == user.id),
    ).limit(1)))


def add_comment(session: Session, record_type: str, record_id: int, user: User, comment: str) -> ApprovalCommentLine:
    """Add an approval comment to a record (to its newest request's entry if any).
    Raises :class:`ApprovalError` for an empty comment or a user who is neither sender
    nor approver of the record's requests. The caller commits."""
    comment = (comment or "").strip()
    if not comment:
        raise ApprovalError("Write a comment first.")
    if len(comment) > 2000:
        raise ApprovalError("A comment can have at most 2,000 characters.")
    if "\x00" in comment:
        raise ApprovalError(text_problem(comment, "A comment"))
    if not may_see_comments(session, record_type, record_id, user):
        raise ApprovalError("You are not permitted to comment: only the sender and the approvers of this record's approval requests can.")
    latest = session.scalar(select(ApprovalEntry.id).where(
        ApprovalEntry.record_type == record_type, ApprovalEntry.record_id == record_id).order_by(ApprovalEntry.id.desc()).limit(1))
    line = ApprovalCommentLine(record_type=record_type, record_id=record_id, approval_entry_id=latest, user_id=user.id, comment=comment)
    session.add(line)
    session.flush()
    return line


# ---------------------------------------------------------------- responses

def _setup(session: Session, user_id: int) -> ApprovalUserSetup:
    setup = session.scalar(select(ApprovalUserSetup).where(ApprovalUserSetup.user_id == user_id))
    if setup is None:
        user = session.get(User, user_id)
        raise ResponseError(f"User {user.user_name if user else user_id} has no approval user setup.")
    return setup


def limit_covers(setup: ApprovalUserSetup, record_type: str, amount: Decimal, document_type: str | None = None) -> bool:
    """True if ``setup``'s limit for the record covers ``amount``. A zero limit covers
    nothing unless unlimited. Which limit (Business Central's rules):
    - sales documents: the sales amount approval limit;
    - purchase documents: the purchase amount approval limit, except purchase
      **quotes**, which use the request amount approval limit;
    - everything else (general journal batches, master data): the request amount
      approval limit."""
    if record_type == "sales_header":
        unlimited, limit = setup.unlimited_sales_approval, setup.sales_amount_approval_limit
    elif record_type == "purchase_header" and document_type != "Quote":
        unlimited, limit = setup.unlimited_purchase_approval, setup.purchase_amount_approval_limit
    else:
        unlimited, limit = setup.unlimited_request_approval, setup.request_amount_approval_limit
    if unlimited:
        return True
    return bool(limit) and Decimal(amount) <= Decimal(limit)


class Approver(NamedTuple):
    """One approver of a new request: the user, the entry's sequence no. and whether
    every approver sharing that sequence no. must approve (False: any one suffices)."""

    user_id: int
    sequence_no: int
    all_must_approve: bool = False


def resolve_approvers(session: Session, record_type: str, record, sender_id: int, options: dict) -> list[Approver]:
    """The approvers of a new request, in sequence (the create-approval-requests
    response's routing; Business Central's approvals management):

    - ``limit_type`` Specific Approver: the user named by ``specific_approver``.
    - ``approver_type`` Workflow User Group: the members of the group named by
      ``workflow_user_group``, each with their sequence no.; equal numbers are opened
      together; ``group_approval`` (the response's option: "Any one suffices" / "All
      must approve" / "As set on the group", the default) says whether every one of
      them must approve. Limits are not checked.
    - Salesperson/Purchaser starts at the user whose setup carries the record's
      salesperson/purchaser code; Approver starts at the sender's approver. Then
      Direct Approver takes that user; Approver Chain climbs ``approver_id`` links
      until a limit covers the amount (every user on the way approves); First Qualified
      Approver climbs the same way but only the one whose limit covers approves.
    - Approver with Approver Chain or First Qualified Approver puts the **sender's own
      entry first** (sequence 1; :func:`create_requests` creates it Approved): when
      the sender's own limit covers the amount that is the only entry and the record
      is approved without anyone else; otherwise the climb from the sender's approver
      follows (Business Central's ``CreateApprReqForApprTypeApprover``:
      ``CreateApprovalRequestForUser`` and then ``CreateApprovalRequestForApproverChain``,
      which starts at the sender). Record types without an amount (customer, vendor,
      item) have nothing a sender's limit could cover: their chain starts at the
      sender's approver, as Direct Approver would (Business Central routes those
      approvals to the direct approver).

    Raises :class:`ResponseError` with a clear message when no suitable approver exists
    (no setup, no code, chain ends or loops before a limit covers the amount, unknown
    or empty group, unknown specific approver)."""
    rt = RECORD_TYPES[record_type]
    amount = rt.amount(record) if rt.amount else Decimal("0")
    approver_type = options.get("approver_type", "Salesperson/Purchaser")
    limit_type = options.get("limit_type", "Approver Chain")

    if approver_type == "Workflow User Group":
        return _group_approvers(session, options)

    if limit_type == "Specific Approver":
        user = session.scalar(select(User).where(User.user_name == (options.get("specific_approver") or "")))
        if user is None:
            raise ResponseError(f"The specific approver {options.get('specific_approver')!r} does not exist.")
        return [Approver(user.id, 1)]

    if approver_type == "Salesperson/Purchaser":
        code = getattr(record, "salesperson_code", None) or getattr(record, "purchaser_code", None)
        if not code:
            raise ResponseError(f"{rt.title(record)} has no salesperson/purchaser code.")
        start = session.scalar(select(ApprovalUserSetup).where(ApprovalUserSetup.salespers_purch_code == code))
        if start is None:
            raise ResponseError(f"No user is set up for salesperson/purchaser code {code} in Approval User Setup.")
    elif approver_type == "Approver":
        sender = _setup(session, sender_id)
        if limit_type in ("Approver Chain", "First Qualified Approver") and rt.amount is not None:
            own = [Approver(sender_id, 1)]
            if limit_covers(sender, record_type, amount, getattr(record, "document_type", None)):
                return own  # the sender's own limit covers it: no one else is asked
            if sender.approver_id is None:
                raise ResponseError(
                    f"{sender.user.full_name}'s approval limit doesn't cover {amount:,.2f} and "
                    f"{sender.user.full_name} has no approver in Approval User Setup."
                )
            climbed = _climb(session, _setup(session, sender.approver_id), record_type, amount,
                             getattr(record, "document_type", None), seen={sender_id}, chain_of=sender.user)
            if limit_type == "First Qualified Approver":
                return own + [Approver(climbed[-1].user_id, 2)]
            return own + [Approver(s.user_id, seq) for seq, s in enumerate(climbed, start=2)]
        if sender.approver_id is None:
            raise ResponseError(f"{sender.user.full_name} has no approver in Approval User Setup.")
        start = _setup(session, sender.approver_id)
    else:
        raise ResponseError(f"Unknown approver type {approver_type!r}.")

    if limit_type == "Direct Approver":
        return [Approver(start.user_id, 1)]

    chain = _climb(session, start, record_type, amount, getattr(record, "document_type", None))
    if limit_type == "First Qualified Approver":
        return [Approver(chain[-1].user_id, 1)]
    return [Approver(s.user_id, seq) for seq, s in enumerate(chain, start=1)]


def _climb(session: Session, start: ApprovalUserSetup, record_type: str, amount: Decimal, document_type: str | None,
           seen: set[int] | None = None, chain_of: User | None = None) -> list[ApprovalUserSetup]:
    """The approver chain from ``start`` up to the first user whose limit covers
    ``amount`` (both included). Raises :class:`ResponseError` when the chain ends or
    loops (back to a user in ``seen`` or already in the chain) first; the message
    names the chain after ``chain_of`` (default: the user of ``start``)."""
    owner = (chain_of or start.user).full_name
    chain = [start]
    seen = set(seen or ()) | {start.user_id}
    current = start
    while not limit_covers(current, record_type, amount, document_type):
        if current.approver_id is None:
            raise ResponseError(
                f"No approver in the chain of {owner} has an approval limit covering {amount:,.2f}: "
                f"the chain ends at {current.user.full_name}."
            )
        if current.approver_id in seen:
            raise ResponseError(f"The approver chain of {owner} loops back to {current.approver.full_name}.")
        current = _setup(session, current.approver_id)
        seen.add(current.user_id)
        chain.append(current)
    return chain


def group_by_code(session: Session, code: str | None) -> WorkflowUserGroup | None:
    """The workflow user group named ``code`` (codes are compared in capitals, as
    the Workflow User Groups page stores them), or None."""
    code = (code or "").strip().upper()
    if not code:
        return None
    return session.scalar(select(WorkflowUserGroup).where(func.upper(WorkflowUserGroup.code) == code))


def _group_approvers(session: Session, options: dict) -> list[Approver]:
    code = (options.get("workflow_user_group") or "").strip()
    if not code:
        raise ResponseError("Approver type Workflow User Group needs a workflow user group code.")
    group = group_by_code(session, code)
    if group is None:
        raise ResponseError(f"The workflow user group {code} does not exist.")
    if not group.members:
        raise ResponseError(f"The workflow user group {code} has no members.")
    choice = options.get("group_approval") or "As set on the group"
    all_must = {"Any one suffices": False, "All must approve": True}.get(choice, group.all_must_approve)
    return [Approver(m.user_id, m.sequence_no, all_must) for m in sorted(group.members, key=lambda m: (m.sequence_no, m.id))]


def create_requests(ctx: StepContext) -> str:
    """Response: create approval entries for the record (status Created; an entry whose
    approver is the sender is created Approved, Business Central's rule). Options:
    approver type, limit type, specific approver, workflow user group, all must
    approve, due date (days after today) and delegate after (days)."""
    session, record, rt = ctx.session, ctx.record, ctx.record_type
    if record is None:
        raise ResponseError("The record no longer exists.")
    sender_id = ctx.user_id
    approvers = resolve_approvers(session, rt.key, record, sender_id, ctx.options)
    today = utcnow().date()
    due_days = int(ctx.options.get("due_date_days") or 0)
    delegate_after = ctx.options.get("delegate_after_days")
    group_code = None
    if ctx.options.get("approver_type") == "Workflow User Group":
        group_code = (ctx.options.get("workflow_user_group") or "").strip().upper() or None
    for a in approvers:
        own = a.user_id == sender_id
        entry = ApprovalEntry(
            record_type=rt.key,
            record_id=record.id,
            document_type=getattr(record, "document_type", None),
            document_no=getattr(record, "no", None),
            record_title=_entry_title(rt, record),
            sequence_no=a.sequence_no,
            sender_id=sender_id,
            approver_id=a.user_id,
            status=APPROVED if own else CREATED,
            approval_type=ctx.options.get("approver_type"),
            limit_type=ctx.options.get("limit_type"),
            workflow_user_group_code=group_code,
            all_must_approve=a.all_must_approve,
            amount=rt.amount(record) if rt.amount else Decimal("0"),
            currency_code=getattr(record, "currency_code", "") or "",
            due_date=today + timedelta(days=due_days),
            delegation_date=(today + timedelta(days=int(delegate_after))) if delegate_after not in (None, "") else None,
            workflow_instance_id=ctx.instance.id,
            workflow_step_instance_id=ctx.step.id,
            last_modified_by_id=sender_id if own else None,
        )
        session.add(entry)
        if own:
            session.flush()
            session.add(ApprovalCommentLine(record_type=rt.key, record_id=record.id, approval_entry_id=entry.id,
                                            user_id=sender_id, comment="Approved automatically: the approver is the sender."))
    session.flush()
    names = [session.get(User, a.user_id).full_name for a in approvers]
    return f"Approval requests created for {', '.join(names)}"


def _entry_title(rt, record) -> str:
    if rt.key in ("sales_header", "purchase_header"):
        return f"{rt.title(record)} — {record.partner_name} — {record.amount:,.2f}"
    return rt.title(record)


def send_requests(ctx: StepContext) -> str:
    """Response: open the lowest sequence of entries still Created (all entries
    sharing that sequence no. at once) and notify their approvers. A sequence already
    settled by an approval (the sender's own entry, created Approved) when any one
    suffices has its other entries canceled, and the next sequence is opened. If
    nothing is left to approve, raise ``approval_request_approved``. After a delegation nothing new is opened (the delegation notified the new
    approver)."""
    session = ctx.session
    base = select(ApprovalEntry).where(
        ApprovalEntry.workflow_instance_id == ctx.instance.id,
        ApprovalEntry.record_type == ctx.instance.record_type,
        ApprovalEntry.record_id == ctx.instance.record_id,
    )
    notified: list[str] = []
    while True:
        if session.scalars(base.where(ApprovalEntry.status == OPEN)).first():
            break  # someone still has to decide
        created = list(session.scalars(base.where(ApprovalEntry.status == CREATED).order_by(ApprovalEntry.sequence_no)).unique())
        if not created:
            break
        seq = created[0].sequence_no
        batch = [e for e in created if e.sequence_no == seq]
        # an approval already given at this sequence (the sender's own entry, created
        # Approved) settles it unless all must approve: the others are canceled
        settled = not batch[0].all_must_approve and session.scalars(
            base.where(ApprovalEntry.sequence_no == seq, ApprovalEntry.status == APPROVED)).first() is not None
        for entry in batch:
            entry.date_time_sent = utcnow()
            entry.last_modified_at = utcnow()
            if settled:
                entry.status = CANCELED
                continue
            entry.status = OPEN
            notify_about(session, entry, entry.approver_id, ctx.options.get("notification_template") or "approval_request",
                         entry.sender_id)
            notified.append(entry.approver.full_name)
        session.flush()
    if notified:
        return f"Approval request sent to {', '.join(notified)}"
    if ctx.event.event_code == "approval_request_delegated":
        waiting = [e.approver.full_name for e in session.scalars(base.where(ApprovalEntry.status == OPEN)).unique()]
        return f"Delegated: waiting for {', '.join(waiting) or 'nobody'}"
    if not pending_approvals(session, ctx.instance.record_type, ctx.instance.record_id, ctx.instance.id):
        if session.scalars(base.where(ApprovalEntry.status == APPROVED)).first():
            ctx.raise_event("approval_request_approved", comment=None)
            return "Approved automatically: the approver is the sender"
    return "No approval request left to send"


def _close_all(ctx: StepContext, statuses: list[str], new_status: str, notify: bool, template: str) -> int:
    session = ctx.session
    entries = list(
        session.scalars(
            select(ApprovalEntry).where(
                ApprovalEntry.record_type == ctx.instance.record_type,
                ApprovalEntry.record_id == ctx.instance.record_id,
                ApprovalEntry.workflow_instance_id == ctx.instance.id,
                ApprovalEntry.status.in_(statuses),
            )
        ).unique()
    )
    for entry in entries:
        entry.status = new_status
        entry.last_modified_at = utcnow()
        entry.last_modified_by_id = ctx.user_id
    if notify:
        any_entry = session.scalars(select(ApprovalEntry).where(ApprovalEntry.workflow_instance_id == ctx.instance.id)).first()
        if any_entry is not None:
            notify_about(session, any_entry, any_entry.sender_id, template, ctx.user_id, message=ctx.event.payload.get("comment"))
    session.flush()
    return len(entries)


def reject_all(ctx: StepContext) -> str:
    """Response: reject the record's remaining Created, Open and Approved entries and
    (option ``notify_sender``, default on) notify the sender."""
    n = _close_all(ctx, [CREATED, OPEN, APPROVED], REJECTED, ctx.options.get("notify_sender", True), "approval_rejected")
    return f"Approval request rejected ({n} other entries rejected)"


def cancel_all(ctx: StepContext) -> str:
    """Response: cancel every entry of the request (this workflow instance's entries
    of the record) that isn't Rejected or Canceled yet — Created, Open and Approved
    ones, the sender's automatically approved entry included (Business Central's
    ``CancelApprovalRequestsForRecord`` filters ``Status <> Rejected & <> Canceled``).
    The approvers of the entries that were Open are told (except the one canceling);
    option ``notify_sender`` (default off) tells the sender."""
    open_entries_before = list(open_entries_of_request(ctx))
    n = _close_all(ctx, [CREATED, OPEN, APPROVED], CANCELED, bool(ctx.options.get("notify_sender", False)), "approval_canceled")
    for approver_id, entry in {e.approver_id: e for e in open_entries_before}.items():
        if approver_id != ctx.user_id:  # the approvers who were asked learn they needn't answer
            notify_about(ctx.session, entry, approver_id, "approval_request_canceled", ctx.user_id)
    return f"Approval request canceled ({n} entries canceled)"


def cancel_entries_of_canceled_run(session: Session, inst, user_id: int | None) -> None:
    """A run canceled by hand (Flow runs → Cancel) that asked for approval: its
    entries that aren't Rejected or Canceled yet are canceled, as Cancel Approval
    Request cancels them (:func:`cancel_all`), and the approvers who were asked are
    told — an approver can no longer decide a request nobody waits for. Registered
    in :data:`portal.workflow.catalog.RUN_CANCELED_HANDLERS`."""
    entries = list(session.scalars(select(ApprovalEntry).where(
        ApprovalEntry.workflow_instance_id == inst.id, ApprovalEntry.status.in_([CREATED, OPEN, APPROVED]))
        .order_by(ApprovalEntry.id)).unique())
    asked = {e.approver_id: e for e in entries if e.status == OPEN}
    for entry in entries:
        entry.status, entry.last_modified_at, entry.last_modified_by_id = CANCELED, utcnow(), user_id
    for approver_id, entry in asked.items():
        if approver_id != user_id:
            notify_about(session, entry, approver_id, "approval_request_canceled", user_id)


def open_entries_of_request(ctx: StepContext) -> list[ApprovalEntry]:
    """The Open entries of the running instance's request (whose approvers were asked)."""
    return list(ctx.session.scalars(select(ApprovalEntry).where(
        ApprovalEntry.workflow_instance_id == ctx.instance.id, ApprovalEntry.record_type == ctx.instance.record_type,
        ApprovalEntry.record_id == ctx.instance.record_id, ApprovalEntry.status == OPEN).order_by(ApprovalEntry.id)).unique())


# ---------------------------------------------------------------- posting

def archive_entries(session: Session, record_type: str, record_id: int, posted_record_type: str, posted_record_id: int) -> int:
    """Move the record's approval entries and comment lines to posted approval entries
    and posted comment lines of the posted record (when a document is posted).
    Notification entries keep their message but no longer point at the moved entry.
    Returns the number of entries archived. The caller commits."""
    from portal.notifications.models import NotificationEntry

    entries = list(session.scalars(
        select(ApprovalEntry)
        .where(ApprovalEntry.record_type == record_type, ApprovalEntry.record_id == record_id)
        .order_by(ApprovalEntry.id)
    ).unique())
    posted: dict[int, PostedApprovalEntry] = {}
    for e in entries:
        posted[e.id] = PostedApprovalEntry(
            posted_record_type=posted_record_type, posted_record_id=posted_record_id,
            record_type=e.record_type, record_id=e.record_id, original_entry_id=e.id,
            document_type=e.document_type, document_no=e.document_no, record_title=e.record_title,
            sequence_no=e.sequence_no, sender_id=e.sender_id, approver_id=e.approver_id, status=e.status,
            approval_type=e.approval_type, limit_type=e.limit_type, amount=e.amount, currency_code=e.currency_code,
            date_time_sent=e.date_time_sent, due_date=e.due_date, delegation_date=e.delegation_date,
            last_modified_at=e.last_modified_at, last_modified_by_id=e.last_modified_by_id,
            workflow_instance_id=e.workflow_instance_id,
        )
        session.add(posted[e.id])
    session.flush()
    comments = comments_for_record(session, record_type, record_id)
    for c in comments:
        target = posted.get(c.approval_entry_id) if c.approval_entry_id else None
        session.add(PostedApprovalCommentLine(
            posted_record_type=posted_record_type, posted_record_id=posted_record_id,
            posted_approval_entry_id=target.id if target else None,
            user_id=c.user_id, comment=c.comment, created_at=c.created_at,
        ))
        session.delete(c)
    if entries:
        session.execute(
            update(NotificationEntry)
            .where(NotificationEntry.approval_entry_id.in_(list(posted)))
            .values(approval_entry_id=None)
            .execution_options(synchronize_session=False)
        )
    session.flush()
    for e in entries:
        session.delete(e)
    session.flush()
    return len(entries)


def posted_entries_for_record(session: Session, posted_record_type: str, posted_record_id: int) -> list[PostedApprovalEntry]:
    """The posted approval entries of a posted record, by request and sequence."""
    return list(session.scalars(
        select(PostedApprovalEntry)
        .where(PostedApprovalEntry.posted_record_type == posted_record_type, PostedApprovalEntry.posted_record_id == posted_record_id)
        .order_by(PostedApprovalEntry.workflow_instance_id.desc(), PostedApprovalEntry.sequence_no, PostedApprovalEntry.id)
    ).unique())


def posted_comments_for_record(session: Session, posted_record_type: str, posted_record_id: int) -> list[PostedApprovalCommentLine]:
    return list(session.scalars(
        select(PostedApprovalCommentLine)
        .where(PostedApprovalCommentLine.posted_record_type == posted_record_type,
               PostedApprovalCommentLine.posted_record_id == posted_record_id)
        .order_by(PostedApprovalCommentLine.id)
    ).unique())
