"""Notification digests: at a Daily / Weekly / Monthly schedule's time, one message
per recipient and notification type listing every pending entry (Business Central's
"Notification Entry Dispatcher" run for a scheduled job queue entry, whose parameter
string filters the entries by recipient and type).

The job queue entry of the schedule (:mod:`portal.notifications.setup`) calls
``jobs.notifications.send_digest(recipient_id, notification_type)``, which calls
:func:`send_digest`: claim the entries (conditional UPDATE with a lease, as the
instant dispatcher does), render each one and the digest around them, end the
transaction, send the one mail (or make the one note), then record: one sent
notification entry for the digest (``entry_count`` = how many it lists) and the
entries removed. Entries whose record was deleted are dropped silently.
"""
from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from portal.auth.models import User
from portal.notifications.mail import build_messages, send_messages
from portal.notifications.models import METHOD_EMAIL, METHOD_NOTE, NotificationEntry, NotificationTemplate
from portal.notifications.service import (
    MAX_SEND_ATTEMPTS,
    SETTINGS_PATH,
    Dropped,
    _template,
    prepare_entry,
    recipient_address,
    render_template_code,
    sent_entry,
    with_settings_link,
)
from portal.util import utcnow

log = logging.getLogger(__name__)
DIGEST_TEMPLATE = "notification_digest"
MAX_DIGEST_ENTRIES = 1000  # a digest lists at most this many; the rest goes in the next one


def claim_pending(session: Session, recipient_id: int, type_: str, limit: int = MAX_DIGEST_ENTRIES) -> list[int]:
    """Claim the recipient's pending entries of ``type_`` (any send time: a digest
    takes everything waiting; not while another worker holds them; not those that
    failed ``MAX_SEND_ATTEMPTS`` times). Commits. Returns the ids, oldest first."""
    from portal.workflow.leases import claim_rows

    now = utcnow()
    table = NotificationEntry.__table__

    def claimable(c):
        return ((c.c.recipient_id == recipient_id) & (c.c.type == type_) & (c.c.attempts < MAX_SEND_ATTEMPTS)
                & or_(c.c.lease_until.is_(None), c.c.lease_until < now))

    return claim_rows(session, table, claimable, limit, attempts=table.c.attempts + 1)


def digest_context(session: Session, recipient: User, type_: str, items: list[dict]) -> dict:
    """The placeholders of the digest template: ``recipient`` (full_name, user_name,
    email), ``notification_type``, ``count``, ``entries`` (each ``{"subject", "link"
    (absolute), "created_at"}``, oldest first), ``settings_link`` and ``inbox_link``."""
    from flask import current_app

    base = current_app.config["PORTAL_BASE_URL"].rstrip("/")
    return {
        "recipient": {"full_name": recipient.full_name, "user_name": recipient.user_name, "email": recipient.email},
        "notification_type": type_,
        "count": len(items),
        "entries": [{"subject": i["subject"], "link": base + (i["link"] or "/"), "created_at": i["created_at"].strftime("%Y-%m-%d %H:%M")}
                    for i in items],
        "settings_link": base + SETTINGS_PATH,
        "inbox_link": base + "/notifications",
        "link": base + "/notifications",
    }


def send_digest(session: Session, recipient_id: int, type_: str) -> dict[str, int]:
    """Send ``recipient_id``'s digest of pending ``type_`` notifications: ONE mail or
    ONE note (the recipient's method for the type) listing every pending entry.
    Nothing pending → nothing sent. Entries whose record (or recipient) was deleted
    are dropped silently; an entry that can't be rendered keeps its error and is
    retried in the next digest; a failed send keeps all of them for the next run and
    raises nothing (the report says why). Never holds a transaction open while
    mailing. Returns ``{"entries": n listed, "digests": 0|1, "dropped": n, "failed": n}``
    plus ``"error"`` (text) when the digest could not be rendered or sent."""
    from portal.notifications.setup import notification_method
    from portal.workflow.leases import KEEPER, worker_id

    report = {"entries": 0, "digests": 0, "dropped": 0, "failed": 0}
    recipient = session.get(User, recipient_id)
    if recipient is None:
        session.rollback()
        return report
    with KEEPER.holding(session.get_bind(), NotificationEntry.__table__):
        ids = claim_pending(session, recipient_id, type_)
        if not ids:
            return report
        templates: dict[str, NotificationTemplate] = {}
        items, dropped, failed = [], [], {}
        for n in session.scalars(select(NotificationEntry).where(NotificationEntry.id.in_(ids)).order_by(NotificationEntry.id)).unique():
            try:
                p = prepare_entry(session, n, templates)
                items.append({"id": n.id, "subject": p["subject"], "link": n.link, "created_at": n.created_at})
            except Dropped:
                dropped.append(n.id)
            except Exception as exc:  # noqa: BLE001 - kept with its error, the others go in the digest
                failed[n.id] = f"{exc.__class__.__name__}: {exc}"
        digest, error = None, None
        if items:
            try:
                context = digest_context(session, recipient, type_, items)
                subject, body = render_template_code(session, DIGEST_TEMPLATE, context, _template(session, DIGEST_TEMPLATE))
                method = notification_method(session, recipient_id, type_)
                address = recipient_address(session, recipient) if method == METHOD_EMAIL else None
                digest = {"subject": subject, "body": with_settings_link(body, context["settings_link"]), "link": "/notifications",
                          "method": METHOD_EMAIL if address else METHOD_NOTE, "address": address,
                          "key": f"notification-digest-{recipient_id}-{items[0]['id']}-{items[-1]['id']}"}
            except Exception as exc:  # noqa: BLE001 - the entries wait for the next digest
                error = f"{exc.__class__.__name__}: {exc}"
        session.rollback()  # no transaction stays open while mail goes out
        if digest is not None and digest["method"] == METHOD_EMAIL:
            built, bad = build_messages([(digest["address"], digest["subject"], digest["body"], digest["key"])])
            sent_error = bad[0] if bad else send_messages([built[0][1]])[0]
            if sent_error is not None:
                error = f"{sent_error.__class__.__name__}: {sent_error}"
        first = None
        for entry_id in ids:
            n = session.get(NotificationEntry, entry_id)
            if n is None or n.claimed_by != worker_id():
                continue  # taken over meanwhile
            if entry_id in dropped:
                session.delete(n)
                report["dropped"] += 1
            elif entry_id in failed or error is not None or digest is None:
                n.error = failed.get(entry_id) or error
                n.send_after = utcnow() + timedelta(seconds=30 * n.attempts)
                n.lease_until = None
                report["failed"] += 1
            else:
                first = first or n
                session.delete(n)
                report["entries"] += 1
        if first is not None:
            row = sent_entry(first, digest, entry_count=report["entries"])
            row.record_type = row.record_id = row.approval_entry_id = None  # about several records: the inbox
            session.add(row)
            report["digests"] = 1
        if error:
            log.warning("notification digest for user %s (%s) failed: %s", recipient_id, type_, error)
            report["error"] = error
        session.commit()
    return report
