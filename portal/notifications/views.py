"""The user's notification inbox and the SMTP sink's mailbox (development mail)."""
from __future__ import annotations

import mailbox
from email.header import decode_header, make_header
from pathlib import Path

from flask import Blueprint, abort, current_app, render_template
from flask_login import current_user, login_required

from portal.auth.permissions import require_role
from portal.extensions import db
from portal.notifications import service

bp = Blueprint("notifications", __name__)


@bp.route("/notifications")
@login_required
def inbox():
    return render_template("notifications/inbox.html", entries=service.inbox(db.session, current_user))


def _decode(value: str | None) -> str:
    return str(make_header(decode_header(value or "")))


def sink_messages() -> list[dict]:
    """Messages received by the SMTP sink (Maildir), newest first, one per
    Message-ID (a mail retried with the same id shows once): dicts with key, date,
    from, to, subject, message_id and the html/text body."""
    path = Path(current_app.config["MAIL_SINK_DIR"])
    if not path.exists():
        return []
    box = mailbox.Maildir(str(path), create=False)
    out = []
    seen: set[str] = set()
    for key, msg in box.items():
        msgid = (msg.get("Message-ID") or "").strip()
        if msgid and msgid in seen:
            continue
        seen.add(msgid)
        body = ""
        for part in msg.walk():
            if part.get_content_type() in ("text/html", "text/plain") and not part.is_multipart():
                body = part.get_payload(decode=True).decode(part.get_content_charset() or "utf-8", "replace")
                if part.get_content_type() == "text/html":
                    break
        out.append({
            "key": key, "date": msg.get("Date", ""), "from": _decode(msg.get("From")), "to": _decode(msg.get("To")),
            "subject": _decode(msg.get("Subject")), "body": body, "message_id": msgid,
            "mtime": (path / "new" / key).stat().st_mtime if (path / "new" / key).exists() else 0,
        })
    out.sort(key=lambda m: m["mtime"], reverse=True)
    return out


@bp.route("/mailbox")
@require_role("admin")
def mailbox_page():
    return render_template("notifications/mailbox.html", messages=sink_messages(), sink=current_app.config["MAIL_SINK"])


@bp.route("/mailbox/<key>")
@require_role("admin")
def mailbox_message(key: str):
    for m in sink_messages():
        if m["key"] == key:
            return render_template("notifications/mail_message.html", m=m)
    abort(404)
