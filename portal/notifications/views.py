"""The user's notification inbox (unread count, mark read), the "change notification
settings" page, a record's notes fact box, and the SMTP sink's mailbox (development
mail)."""
from __future__ import annotations

import mailbox
from email.header import decode_header, make_header
from pathlib import Path

from flask import Blueprint, abort, current_app, flash, make_response, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import select

from portal.auth.models import User
from portal.auth.permissions import require_role
from portal.jobqueue.service import JobQueueError
from portal.extensions import db
from portal.notifications import schedule as sched
from portal.notifications import service, setup
from portal.notifications.forms import SettingsForm
from portal.notifications.models import SentNotificationEntry
from portal.util import utcnow

bp = Blueprint("notifications", __name__)


@bp.app_context_processor
def _unread_notifications():
    """The header's unread count (signed-in users)."""
    if not current_user.is_authenticated:
        return {}
    return {"unread_notifications": service.unread_count(db.session, current_user.id)}


def _changed(response, status: int = 200):
    """An htmx answer that tells the page the notifications changed (the header's
    count refreshes itself on ``notificationsChanged``)."""
    response = make_response(response, status)
    response.headers["HX-Trigger"] = "notificationsChanged"
    response.headers["Vary"] = "HX-Request"
    return response


@bp.route("/notifications")
@login_required
def inbox():
    unread_only = request.args.get("show") == "unread"
    entries = service.inbox(db.session, current_user, limit=200, unread_only=unread_only)
    response = make_response(render_template("notifications/inbox.html", entries=entries, unread_only=unread_only))
    response.headers["Vary"] = "HX-Request"
    return response


@bp.route("/notifications/count")
@login_required
def unread_count():
    """The header's unread badge (polled by htmx every 30 s and on ``notificationsChanged``)."""
    return render_template("notifications/_count.html", unread_notifications=service.unread_count(db.session, current_user.id))


@bp.route("/notifications/<int:entry_id>/read", methods=["POST"])
@login_required
def mark_read(entry_id: int):
    service.mark_read(db.session, current_user.id, [entry_id])
    db.session.commit()
    if request.headers.get("HX-Request"):
        row = db.session.get(SentNotificationEntry, entry_id)
        if row is None or row.recipient_id != current_user.id:
            abort(404)
        return _changed(render_template("notifications/_row.html", n=row))
    return redirect(url_for("notifications.inbox"))


@bp.route("/notifications/read-all", methods=["POST"])
@login_required
def mark_all_read():
    n = service.mark_read(db.session, current_user.id)
    db.session.commit()
    flash(f"{n} notification{'s' if n != 1 else ''} marked read." if n else "There were no unread notifications.", "info")
    return redirect(url_for("notifications.inbox"))


@bp.route("/notifications/record/<record_type>/<int:record_id>")
@login_required
def record_notes(record_type: str, record_id: int):
    """The Notifications fact box of a record page: the signed-in user's notes about it."""
    notes = service.record_notes(db.session, current_user.id, record_type, record_id)
    response = make_response(render_template("notifications/_record_notes.html", notes=notes))
    response.headers["Vary"] = "HX-Request"
    return response


# ---------------------------------------------------------------- change notification settings

def _target(who: str | None):
    """(user or None for the default setup, label) the page edits: the signed-in user
    unless an admin names another user or "default"."""
    if not who or who == current_user.user_name:
        return current_user, None
    if not current_user.has_role("admin"):
        abort(403, description="You can only change your own notification settings.")
    if who == "default":
        return None, "the default setup"
    user = db.session.scalar(select(User).where(User.user_name == who))
    if user is None:
        abort(404, description=f"There is no user {who!r}.")
    return user, None


@bp.route("/notifications/settings", methods=["GET", "POST"])
@login_required
def settings():
    user, _ = _target(request.values.get("user"))
    form = SettingsForm()
    if user is None:
        form.for_default()
    errors: dict[str, str] = {}
    if request.method == "POST":
        form.validate()
        errors = form.field_errors()
        if user is not None:  # the schedule's own rules, shown together with the form's
            for t, sub in form.rows():
                for field, message in setup.validate_schedule(sub.schedule_data()).items():
                    errors.setdefault(f"{t}.{field}", message)
        if not errors:
            methods = {t: (sub.method.data or None) for t, sub in form.rows()}
            schedules = {t: sub.schedule_data() for t, sub in form.rows()} if user is not None else None
            try:
                setup.save_settings(db.session, user, methods, schedules)
                db.session.commit()
                flash("Notification settings saved." if user is current_user else
                      f"Notification settings of {user.full_name if user else 'the default setup'} saved.", "info")
                return redirect(url_for("notifications.settings", user=request.values.get("user") or None))
            except setup.SettingsError as exc:
                db.session.rollback()
                errors = exc.errors
            except JobQueueError as exc:  # the digest is being sent right now
                db.session.rollback()
                errors = {"form": str(exc)}
    else:
        methods = setup.setup_methods(db.session, user.id if user else None)
        schedules = setup.schedules_of(db.session, user.id) if user else {}
        for t, sub in form.rows():
            sub.fill(methods.get(t), schedules.get(t))
    default_methods = setup.setup_methods(db.session, None)
    schedules = setup.schedules_of(db.session, user.id) if user else {}
    next_runs = {}
    for t, row in schedules.items():
        if row is not None:
            due = sched.next_run(setup.spec_of(row, user), utcnow())
            next_runs[t] = (sched.to_local(due, sched.zone(user.time_zone)) if due else None, sched.describe(setup.spec_of(row, user)))
    users = db.session.scalars(select(User).order_by(User.full_name)).all() if current_user.has_role("admin") else []
    body = render_template("notifications/settings.html", form=form, user=user, errors=errors, users=users,
                           default_methods={t: m or "Email" for t, m in default_methods.items()}, next_runs=next_runs,
                           who=request.values.get("user") or "")
    return make_response(body, 422 if errors else 200)


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


@bp.route("/mailbox/<key>/body")
@require_role("admin")
def mailbox_message_body(key: str):
    """A received mail's body alone, for the sandboxed frame of its page (inline CSS
    allowed there only)."""
    from portal.errors import mail_body_response

    for m in sink_messages():
        if m["key"] == key:
            return mail_body_response(m["body"])
    abort(404)
