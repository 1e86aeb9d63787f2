"""Notifications: create notification entries, render templates (sandboxed), send
due entries by the recipient's method (Email or Note, :mod:`portal.notifications.setup`)
and keep them as sent notification entries; the inbox (read state) of sent ones.

Business Central's rules (codeunit "Notification Management", codeunit "Notification
Entry Dispatcher"): no entry is made for a blank recipient, a recipient without
approval user setup or a record that no longer exists (no error); the dispatcher
drops entries whose record has since been deleted (no error); one recipient's failure
never stops the others' delivery; entries of a recipient and type with a Daily /
Weekly / Monthly schedule wait for its digest (:mod:`portal.notifications.digest`).

Sending happens in workers (the ``jobs.notifications.send_notifications`` job), never
in a web request."""
from __future__ import annotations

import logging
import time
from datetime import timedelta

from flask import current_app
from sqlalchemy import delete, exists, func, insert, select, update
from sqlalchemy.orm import Session

from portal.approvals.models import ApprovalEntry
from portal.auth.models import User
from portal.notifications.defaults import all_defaults
from portal.notifications.mail import SmtpSession, build_messages
from portal.notifications.models import (
    METHOD_EMAIL,
    METHOD_NOTE,
    NotificationEntry,
    NotificationSchedule,
    NotificationTemplate,
    SentNotificationEntry,
)
from portal.notifications.placeholders import add_template_extras, preload_batch
from portal.notifications.rendering import TemplateRenderError, render
from portal.records.registry import RECORD_TYPES, SLUG_OF
from portal.util import utcnow
from portal.workflow.engine import ResponseError, batch_cache, enqueue_after_commit
from portal.workflow.rendering import record_context

log = logging.getLogger(__name__)
MAX_SEND_ATTEMPTS = 5
SEND_JOB = "jobs.notifications.send_notifications"
SETTINGS_PATH = "/notifications/settings"


def ensure_default_templates(session: Session) -> int:
    """Create the default notification templates (per code and method) that don't
    exist yet. Returns count."""
    existing = {(c, m) for c, m in session.execute(select(NotificationTemplate.code, NotificationTemplate.method))}
    n = 0
    for t in all_defaults():
        if (t["code"], t["method"]) not in existing:
            session.add(NotificationTemplate(**t))
            n += 1
    session.flush()
    return n


def create_notification(
    session: Session,
    recipient_id: int,
    type_: str,
    record_type: str | None = None,
    record_id: int | None = None,
    template_code: str | None = None,
    approval_entry_id: int | None = None,
    sender_id: int | None = None,
    custom_message: str | None = None,
    link: str | None = None,
) -> NotificationEntry | None:
    """Add a notification entry for ``recipient_id`` (sent after the commit: at once by
    the instant dispatcher, or in the digest of the recipient's schedule for
    ``type_``). Returns None and makes no entry — raising nothing — for a blank
    recipient, a recipient without approval user setup, or a record
    (``record_type``/``record_id``) that no longer exists (Business Central's
    ``CreateNotificationEntry``). The caller commits."""
    from portal.notifications import setup

    if not recipient_id or not has_approval_user_setup(session, recipient_id):
        return None
    if record_type in RECORD_TYPES and record_id is not None and session.get(RECORD_TYPES[record_type].model, record_id) is None:
        return None
    if link is None and record_type:
        link = record_link(record_type, record_id)
    entry = NotificationEntry(
        type=type_, recipient_id=recipient_id, sender_id=sender_id, record_type=record_type, record_id=record_id,
        approval_entry_id=approval_entry_id, template_code=template_code, custom_message=custom_message,
        link=link, created_by_id=sender_id,
    )
    session.add(entry)
    schedule = setup.scheduled(session, recipient_id, type_)
    if schedule is not None:
        setup.arm_schedule(session, schedule)  # its digest sends it; an entry already Ready stays as it is
    else:
        setup.ensure_dispatch_entry(session)
        enqueue_after_commit(session, SEND_JOB)
    return entry


def has_approval_user_setup(session: Session, user_id: int) -> bool:
    """True when ``user_id`` has an approval user setup (Business Central's User Setup:
    only users in it get notifications). Looked up once per user per transaction."""
    from portal.approvals.models import ApprovalUserSetup

    cache = batch_cache(session).setdefault("approval_user_setup_ids", {})
    if user_id not in cache:
        with session.no_autoflush:
            cache[user_id] = session.scalar(select(ApprovalUserSetup.id).where(ApprovalUserSetup.user_id == user_id)) is not None
    return cache[user_id]


def record_exists(session: Session, record_type: str | None, record_id: int | None) -> bool:
    """False only for a record of a registered type that no longer exists (entries
    without a record, e.g. a job queue notice, always count as existing)."""
    if record_type not in RECORD_TYPES or record_id is None:
        return True
    return session.get(RECORD_TYPES[record_type].model, record_id) is not None


def settings_link() -> str:
    """The absolute address of the "change notification settings" page."""
    return current_app.config["PORTAL_BASE_URL"].rstrip("/") + SETTINGS_PATH


def with_settings_link(body: str, link: str) -> str:
    """``body`` (HTML) ending with a "Change notification settings" link (unless the
    template already put the link in). No style attribute: a note's body is shown in
    the inbox, whose policy allows no inline styles."""
    if link in body:
        return body
    return body + f'\n<p><small><a href="{link}">Change notification settings</a></small></p>'


def record_link(record_type: str, record_id: int | None) -> str:
    """The portal path of a record's card or document page."""
    slug = SLUG_OF.get(record_type)
    return f"/{slug}/{record_id}" if slug else "/"


def _template(session: Session, code: str | None, method: str = METHOD_EMAIL) -> NotificationTemplate:
    """The notification template ``code`` for ``method`` (Email: HTML, Note: text); a
    message without a Note version uses its Email one; a shipped template not
    installed yet gives its default text (not saved). Raises ResponseError."""
    tmpl = session.scalar(select(NotificationTemplate).where(NotificationTemplate.code == (code or ""),
                                                             NotificationTemplate.method == method))
    if tmpl is None:
        default = next((t for t in all_defaults() if t["code"] == code and t["method"] == method), None)
        if default is not None:
            return NotificationTemplate(**default)
        if method != METHOD_EMAIL:
            return _template(session, code, METHOD_EMAIL)
        raise ResponseError(f"Notification template {code!r} does not exist.")
    return tmpl


def render_template_code(session: Session, code: str | None, context: dict, tmpl: NotificationTemplate | None = None) -> tuple[str, str]:
    """Render template ``code`` (or the already loaded ``tmpl``) → ``(subject,
    html_body)``. Raises ResponseError."""
    tmpl = tmpl or _template(session, code)
    try:
        return render(tmpl.subject, context, html=False).strip(), render(tmpl.body, context)
    except TemplateRenderError as exc:
        raise ResponseError(f"Template {code}: {exc}") from exc


def _entry_context(session: Session, n: NotificationEntry, needs: str | None = None) -> dict:
    base = current_app.config["PORTAL_BASE_URL"].rstrip("/")
    record = None
    if n.record_type in RECORD_TYPES and n.record_id is not None:
        record = session.get(RECORD_TYPES[n.record_type].model, n.record_id)
    ctx = record_context(session, n.record_type, record, needs=needs)
    recipient = n.recipient
    ctx["recipient"] = {"full_name": recipient.full_name, "user_name": recipient.user_name, "email": recipient.email}
    ctx["link"] = base + (n.link or "/")
    ctx["requests_link"] = base + "/approvals/requests"
    ctx["settings_link"] = base + SETTINGS_PATH
    ctx["message"] = n.custom_message or ""
    entry = session.get(ApprovalEntry, n.approval_entry_id) if n.approval_entry_id else None
    ctx["entry"] = (
        {
            "record_title": entry.record_title,
            "amount": entry.amount,
            "currency_code": entry.currency_code,
            "due_date": entry.due_date.isoformat() if entry.due_date else "",
            "sender": entry.sender.full_name,
            "approver": entry.approver.full_name,
            "status": entry.status,
        }
        if entry
        else {"record_title": ctx["record"].get("title", ""), "amount": 0, "currency_code": "", "due_date": "", "sender": "", "approver": "", "status": ""}
    )
    add_template_extras(session, ctx, n, entry, needs)  # settings link, one-click links, comments
    return ctx


def claim_due(session: Session, limit: int = 100) -> list[int]:
    """Claim up to ``limit`` due notification entries for this worker (a conditional
    UPDATE with a lease; ``FOR UPDATE SKIP LOCKED`` on PostgreSQL): two workers never
    send the same entry; a dead worker's claims are taken over when their lease runs
    out. Entries whose recipient has a Daily / Weekly / Monthly schedule for their
    type are left for its digest. Commits. Returns the ids."""
    from sqlalchemy import or_

    from portal.workflow.leases import claim_rows

    now = utcnow()
    table = NotificationEntry.__table__

    sch = NotificationSchedule.__table__

    def claimable(c):
        scheduled_c = exists().where(sch.c.user_id == c.c.recipient_id, sch.c.notification_type == c.c.type)
        return ((c.c.send_after <= now) & (c.c.attempts < MAX_SEND_ATTEMPTS) & or_(c.c.lease_until.is_(None), c.c.lease_until < now)
                & ~scheduled_c)

    return claim_rows(session, table, claimable, limit, attempts=table.c.attempts + 1)


class Dropped(Exception):
    """An entry that can't be delivered any more (its record or its recipient was
    deleted): removed without a sent entry and without an error."""


def prepare_entry(session: Session, n: NotificationEntry, templates: dict[tuple, NotificationTemplate],
                  methods: dict | None = None, addresses: dict | None = None) -> dict:
    """Render one notification entry for its recipient: ``{"subject", "body" (HTML,
    ending with the settings link), "link", "method", "address"}``; ``method`` is the
    recipient's setup (:func:`portal.notifications.setup.notification_method`), Email
    without an address falling back to Note. Raises :class:`Dropped` when the record
    or the recipient no longer exists, ResponseError when the template can't render.
    ``templates`` and ``methods`` cache templates by code and methods by (recipient,
    type) across a batch."""
    from portal.notifications.setup import notification_method

    if n.recipient is None:
        raise Dropped(f"recipient {n.recipient_id} no longer exists")
    if not record_exists(session, n.record_type, n.record_id):
        raise Dropped(f"{n.record_type} {n.record_id} no longer exists")
    methods = {} if methods is None else methods
    if (n.recipient_id, n.type) not in methods:
        methods[(n.recipient_id, n.type)] = notification_method(session, n.recipient_id, n.type)
    method = methods[(n.recipient_id, n.type)]
    address = None
    if method == METHOD_EMAIL:
        address = addresses[n.recipient_id] if addresses and n.recipient_id in addresses else recipient_address(session, n.recipient)
    method = METHOD_EMAIL if address else METHOD_NOTE
    code = n.template_code or "approval_request"
    if (code, method) not in templates:
        templates[(code, method)] = _template(session, code, method)
    tmpl = templates[(code, method)]
    context = _entry_context(session, n, tmpl.subject + tmpl.body)
    subject, body = render_template_code(session, code, context, tmpl)  # (escaped: text templates too)
    if tmpl.method == METHOD_NOTE:
        body = body.replace("\n", "<br>\n")  # a text note, shown as HTML in the inbox
    return {"subject": subject, "body": with_settings_link(body, context["settings_link"]), "link": n.link,
            "method": method, "address": address}


def sent_values(n: NotificationEntry, p: dict, entry_count: int = 1) -> dict:
    """The column values of the sent notification entry of ``n`` delivered as ``p``
    (see :func:`prepare_entry`), for one multi-row insert per batch."""
    return dict(
        type=n.type, recipient_id=n.recipient_id, record_type=n.record_type, record_id=n.record_id,
        approval_entry_id=n.approval_entry_id, method=p["method"], subject=p["subject"][:300], body=p["body"],
        link=p.get("link", n.link), created_at=n.created_at, sent_at=utcnow(), entry_count=entry_count,
    )


def sent_entry(n: NotificationEntry, p: dict, entry_count: int = 1) -> SentNotificationEntry:
    """The sent notification entry of ``n`` delivered as ``p`` (see :func:`prepare_entry`)."""
    return SentNotificationEntry(**sent_values(n, p, entry_count))


def send_due(session: Session, limit: int = 100, max_seconds: float | None = None) -> dict[str, int]:
    """Send the notification entries that are due, batch after batch: claim a batch
    (:func:`claim_due`: entries of recipients with a digest schedule are left for it),
    render it (:func:`prepare_entry`: the recipient's method, Email or Note), end the
    transaction, e-mail the Email ones over one SMTP connection kept open from batch to
    batch (a new connection's greeting and EHLO cost ~40 ms) (each with the stable
    Message-ID ``<notification-<id>-<created>@…>``), then in one transaction move the
    sent ones to sent notification entries (Notes go straight there: the inbox),
    drop those whose record or recipient was deleted, and keep failures with their
    error, retried after a back-off up to ``MAX_SEND_ATTEMPTS`` times — one entry's
    failure never stops the others. First makes sure the default setup exists and arms
    the digest entries of schedules with notifications waiting
    (:func:`portal.notifications.setup.rearm_waiting_schedules`).
    ``max_seconds``: after this long the rest goes to a new job (other jobs get their
    turn). Returns ``{"sent": n, "failed": n, "dropped": n}``."""
    from portal.notifications.setup import ensure_default_setup, notification_methods, rearm_waiting_schedules
    from portal.workflow.leases import KEEPER, worker_id

    sent = failed = dropped = 0
    templates: dict[str, NotificationTemplate] = {}
    started = time.monotonic()
    try:
        if ensure_default_setup(session) + rearm_waiting_schedules(session):
            session.commit()
        else:
            session.rollback()
    except Exception:  # noqa: BLE001 - the instant notifications still go out
        session.rollback()
        log.exception("arming notification digests failed")
    with KEEPER.holding(session.get_bind(), NotificationEntry.__table__), SmtpSession() as smtp:
        while True:
            if max_seconds is not None and time.monotonic() - started > max_seconds:
                from portal.queue import enqueue_once

                enqueue_once(SEND_JOB)
                break
            ids = claim_due(session, limit)
            if not ids:
                break
            if len(ids) == limit:
                from portal.queue import enqueue_once

                enqueue_once(SEND_JOB)  # a full batch: more may be due, another worker can help
            prepared: list[tuple[int, dict | None, Exception | None]] = []
            batch = list(session.scalars(select(NotificationEntry).where(NotificationEntry.id.in_(ids)).order_by(NotificationEntry.id)).unique())
            methods = notification_methods(session, {(n.recipient_id, n.type) for n in batch})  # one query for the batch
            addresses, _loaded = preload_batch(session, batch)  # records, approval entries, addresses: a query per kind
            attempts = {n.id: n.attempts for n in batch}  # (a failure's back-off)
            for n in batch:
                try:
                    p = prepare_entry(session, n, templates, methods, addresses)
                    p["key"] = f"notification-{n.id}-{n.created_at:%Y%m%d%H%M%S%f}"
                    p["sent"] = sent_values(n, p)
                    prepared.append((n.id, p, None))
                except Exception as exc:  # noqa: BLE001 - kept with its error (or dropped), the others go on
                    prepared.append((n.id, None, exc))
            for n in batch:
                session.expunge(n)  # not used after this: nothing to expire at the rollback
            session.rollback()  # no transaction stays open while mail goes out
            mails = [(i, p) for i, p, e in prepared if p and p["method"] == METHOD_EMAIL]
            built, bad = build_messages([(p["address"], p["subject"], p["body"], p["key"]) for _, p in mails])
            errors = {mails[index][0]: exc for index, exc in bad.items()}
            errors.update(zip([mails[index][0] for index, _ in built], smtp.send([m for _, m in built])))
            table = NotificationEntry.__table__
            still_ours = set(session.scalars(select(table.c.id).where(table.c.id.in_(ids), table.c.claimed_by == worker_id())))
            done: list[dict] = []  # the sent ones: moved with two statements, not an ORM flush per row
            moved: list[int] = []
            for entry_id, p, error in prepared:
                error = error or errors.get(entry_id)
                if entry_id not in still_ours:
                    continue  # taken over meanwhile: the other worker records it
                if isinstance(error, Dropped):
                    log.info("notification %s dropped: %s", entry_id, error)
                    moved.append(entry_id)
                    dropped += 1
                elif error is None:
                    sent_row = p["sent"]
                    sent_row["sent_at"] = utcnow()
                    done.append(sent_row)
                    moved.append(entry_id)
                    sent += 1
                else:
                    log.warning("notification %s failed: %s", entry_id, error)
                    session.execute(update(table).where(table.c.id == entry_id).values(
                        error=f"{error.__class__.__name__}: {error}", send_after=utcnow() + timedelta(seconds=30 * attempts[entry_id]),
                        lease_until=None))
                    failed += 1
            if done:
                session.execute(insert(SentNotificationEntry), done)
            if moved:  # sent or dropped
                session.execute(delete(NotificationEntry).where(NotificationEntry.id.in_(moved))
                                .execution_options(synchronize_session=False))
            session.commit()
    return {"sent": sent, "failed": failed, "dropped": dropped}


def recipient_address(session: Session, user: User) -> str | None:
    """Where a user's notifications are e-mailed: the e-mail of their Approval User
    Setup when filled in (Business Central's User Setup e-mail), else their own;
    None when neither exists (the notification becomes a Note in the inbox)."""
    from portal.approvals.models import ApprovalUserSetup

    setup_email = session.scalar(select(ApprovalUserSetup.email).where(ApprovalUserSetup.user_id == user.id))
    return (setup_email or "").strip() or user.email or None


def inbox(session: Session, user: User, limit: int = 50, unread_only: bool = False) -> list[SentNotificationEntry]:
    """The user's sent notifications (notes and mails), newest first; with
    ``unread_only`` those not marked read."""
    q = select(SentNotificationEntry).where(SentNotificationEntry.recipient_id == user.id)
    if unread_only:
        q = q.where(SentNotificationEntry.read_at.is_(None))
    return list(session.scalars(q.order_by(SentNotificationEntry.sent_at.desc(), SentNotificationEntry.id.desc()).limit(limit)).unique())


def unread_count(session: Session, user_id: int) -> int:
    """How many of the user's sent notifications are not marked read (the header's count)."""
    return session.scalar(select(func.count(SentNotificationEntry.id)).where(
        SentNotificationEntry.recipient_id == user_id, SentNotificationEntry.read_at.is_(None))) or 0


def mark_read(session: Session, user_id: int, ids: list[int] | None = None, now=None) -> int:
    """Mark the user's sent notifications ``ids`` read (all unread ones when ``ids`` is
    None); others' notifications are never touched. Returns how many changed. The
    caller commits."""
    q = update(SentNotificationEntry).where(SentNotificationEntry.recipient_id == user_id, SentNotificationEntry.read_at.is_(None))
    if ids is not None:
        if not ids:
            return 0
        q = q.where(SentNotificationEntry.id.in_(ids))
    return session.execute(q.values(read_at=now or utcnow()).execution_options(synchronize_session=False)).rowcount or 0


def record_notes(session: Session, user_id: int, record_type: str, record_id: int, limit: int = 10) -> list[SentNotificationEntry]:
    """The user's notes (method Note) about one record, newest first (the record
    page's Notifications fact box)."""
    return list(session.scalars(
        select(SentNotificationEntry).where(SentNotificationEntry.recipient_id == user_id, SentNotificationEntry.method == METHOD_NOTE,
                                            SentNotificationEntry.record_type == record_type, SentNotificationEntry.record_id == record_id)
        .order_by(SentNotificationEntry.id.desc()).limit(limit)).unique())
