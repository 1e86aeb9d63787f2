"""One-click approval links in approval request mails: **Approve** and **Reject**
links signed with ``itsdangerous`` (the app's ``SECRET_KEY``, a salt of their own),
single use (a used link's token id is kept in ``approval_link_use``), valid until the
end of the entry's due date in the approver's time zone (or :data:`MAX_AGE_DAYS` days
when it has no due date) and only while the entry is Open. Using one calls the same
:func:`portal.approvals.service.approve` / ``reject`` as the portal's buttons (same
checks, events and notifications)."""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portal.approvals import service
from portal.approvals.models import OPEN, ApprovalEntry, ApprovalLinkUse
from portal.auth.models import User
from portal.util import utcnow

SALT = "approval-link"
ACTIONS = ("approve", "reject")
#: How long a link of an entry without a due date stays valid.
MAX_AGE_DAYS = 30


class LinkError(Exception):
    """A link can't be used; ``message`` says why in words, ``status`` is the HTTP
    status of the page that says so (400 tampered, 403 not yours, 404 gone, 409
    decided, 410 used or expired)."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass
class Link:
    """A verified link: its token id, entry and action."""

    jti: str
    entry: ApprovalEntry
    action: str


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=SALT)


def make_token(entry_id: int, action: str) -> str:
    """A signed token for ``action`` (approve or reject) on approval entry
    ``entry_id``, with a fresh random token id. Needs an app context."""
    if action not in ACTIONS:
        raise ValueError(action)
    return _serializer().dumps({"e": entry_id, "a": action, "j": secrets.token_urlsafe(12)})


def link_urls(entry: ApprovalEntry, base_url: str) -> dict[str, str]:
    """``{"approve_link": url, "reject_link": url}`` for an Open entry (absolute URLs
    under ``base_url``); empty strings when the entry is not Open."""
    if entry.status != OPEN:
        return {"approve_link": "", "reject_link": ""}
    base = base_url.rstrip("/")
    return {f"{a}_link": f"{base}/approvals/link/{make_token(entry.id, a)}" for a in ACTIONS}


def expires_at(entry: ApprovalEntry) -> datetime | None:
    """When the entry's links stop working (naive UTC): the end of its due date in
    the approver's time zone; None when it has no due date (then the token's age
    counts, :data:`MAX_AGE_DAYS`)."""
    if entry.due_date is None:
        return None
    from datetime import timezone
    from zoneinfo import ZoneInfo

    try:
        zone = ZoneInfo(entry.approver.time_zone or "UTC")
    except Exception:  # noqa: BLE001 - an unknown zone counts as UTC
        zone = ZoneInfo("UTC")
    end = datetime.combine(entry.due_date + timedelta(days=1), datetime.min.time(), tzinfo=zone)
    return end.astimezone(timezone.utc).replace(tzinfo=None)


def check_signature(token: str) -> dict:
    """The token's data when its signature is good (nothing else is checked: for a
    visitor who is not signed in yet). Raises :class:`LinkError`."""
    return _load(token)


def _load(token: str) -> dict:
    try:
        data = _serializer().loads(token, max_age=MAX_AGE_DAYS * 86400)
    except SignatureExpired:
        raise LinkError(f"This approval link has expired (links work for {MAX_AGE_DAYS} days). "
                        "Open the request from Requests to Approve instead.", 410) from None
    except BadSignature:
        raise LinkError("This approval link is not valid: it was changed or cut short. "
                        "Open the request from Requests to Approve instead.", 400) from None
    if not isinstance(data, dict) or data.get("a") not in ACTIONS or not isinstance(data.get("e"), int):
        raise LinkError("This approval link is not valid.", 400)
    return data


def verify(session: Session, token: str, now: datetime | None = None, user: User | None = None) -> Link:
    """Check ``token``: signature, single use, entry still there and Open, not
    expired (``now``: naive UTC, default now) and, with ``user``, that the user may
    decide it (its approver or the approval administrator). Returns the
    :class:`Link`; raises :class:`LinkError` with the reason in words."""
    data = _load(token)
    used = session.scalar(select(ApprovalLinkUse).where(ApprovalLinkUse.jti == str(data.get("j"))))
    if used is not None:
        raise LinkError(f"This link was already used on {used.used_at:%Y-%m-%d at %H:%M} UTC: a link works only once.", 410)
    entry = session.get(ApprovalEntry, data["e"])
    if entry is None:
        raise LinkError("This approval request no longer exists (its document may have been posted or deleted).", 404)
    if entry.status != OPEN:
        raise LinkError(f"The request for {entry.record_title} has already been decided ({entry.status}); "
                        "the link no longer works.", 409)
    end = expires_at(entry)
    if end is not None and (now or utcnow()) >= end:
        raise LinkError(f"This approval link expired at the end of the request's due date ({entry.due_date:%Y-%m-%d}). "
                        "Open the request from Requests to Approve instead.", 410)
    if user is not None and entry.approver_id != user.id and not service.is_approval_administrator(session, user.id):
        raise LinkError(f"This request is for {entry.approver.full_name}; you are signed in as {user.full_name}. "
                        "Sign out and sign in as the approver to use the link.", 403)
    return Link(str(data["j"]), entry, data["a"])


def use(session: Session, token: str, user: User, comment: str | None = None) -> ApprovalEntry:
    """Decide the link's entry as ``user``: :func:`verify`, then
    :func:`portal.approvals.service.approve` or ``reject`` (which check that ``user``
    is its approver or the approval administrator and raise the workflow's event),
    and mark the link used — in one transaction, committed here. Raises
    :class:`LinkError` (a refusal by the approvals service is status 403, or 409 when
    someone decided it meanwhile)."""
    link = verify(session, token)
    fn = service.approve if link.action == "approve" else service.reject
    try:
        entry = fn(session, link.entry.id, user, comment)
        session.add(ApprovalLinkUse(jti=link.jti, approval_entry_id=entry.id, action=link.action, user_id=user.id))
        session.commit()
    except service.ApprovalError as exc:
        session.rollback()
        status = 409 if "already been decided" in str(exc) else 403
        raise LinkError(str(exc), status) from exc
    except IntegrityError as exc:  # the same link used at the same moment in another request
        session.rollback()
        raise LinkError("This link was already used: a link works only once.", 410) from exc
    return entry
