"""Approval pages and actions: Send / Cancel Approval Request on a record, Requests
to Approve (multi-select approve / reject with a comment), Requests Sent for Approval."""
from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from wtforms import TextAreaField
from wtforms.validators import Length

from portal.approvals import links, service
from portal.approvals.models import ApprovalEntry
from portal.extensions import db, htmx, login
from portal.util import CappedPage, ids_of, local_path, page_no
from portal.records.registry import RECORD_TYPES, SLUG_OF

bp = Blueprint("approvals", __name__, url_prefix="/approvals")


def _record(record_type: str, record_id: int):
    rt = RECORD_TYPES.get(record_type)
    if rt is None or not rt.approvable:
        abort(404)
    record = db.session.get(rt.model, record_id)
    if record is None:
        abort(404)
    return rt, record


def _back(record_type: str, record_id: int):
    return redirect(url_for("records.record_page", slug=SLUG_OF[record_type], record_id=record_id))


def _act_on(record_type: str, ids: list[int], action: str) -> list[tuple[str, str]]:
    """Send or cancel approval requests for the records ``ids``; one message per
    record as (category, text) (a failure for one record doesn't stop the others)."""
    fn = service.send_approval_request if action == "send" else service.cancel_approval_request
    messages: list[tuple[str, str]] = []
    if not ids:
        messages.append(("error", "Select at least one record."))
    for record_id in ids:
        rt, record = _record(record_type, record_id)
        try:
            fn(db.session, record_type, record, current_user)
            db.session.commit()
            messages.append(("message", f"An approval request for {rt.title(record)} is being {'sent' if action == 'send' else 'canceled'}."))
        except service.ApprovalError as exc:
            db.session.rollback()
            messages.append(("error", str(exc)))
    return messages


def _flash_all(messages: list[tuple[str, str]]) -> None:
    for category, text in messages:
        flash(text, category)


def _may_send() -> None:
    if not current_user.has_role("business_user"):
        abort(403, description="You are not permitted to send approval requests.")


@bp.route("/send/<record_type>/<int:record_id>", methods=["POST"])
@login_required
def send(record_type: str, record_id: int):
    _may_send()
    _flash_all(_act_on(record_type, [record_id], "send"))
    return _back(record_type, record_id)


@bp.route("/cancel/<record_type>/<int:record_id>", methods=["POST"])
@login_required
def cancel(record_type: str, record_id: int):
    _flash_all(_act_on(record_type, [record_id], "cancel"))
    return _back(record_type, record_id)


@bp.route("/<any(send, cancel):action>/<record_type>", methods=["POST"])
@login_required
def act_on_selected(action: str, record_type: str):
    """Send / Cancel Approval Request for the rows selected on a list page."""
    if action == "send":
        _may_send()
    messages = _act_on(record_type, ids_of(request.form.getlist("ids")), action)
    if htmx:
        # the list page: this answer replaces its banner; its rows follow the worker (recordsChanged)
        return render_template("records/_banner.html", messages=messages), {"HX-Trigger": "recordsChanged"}
    _flash_all(messages)
    # back to the list the user came from (e.g. Purchase Quotes)
    return redirect(local_path(request.form.get("next"),
                               url_for("records.list_page", slug=SLUG_OF[record_type], q=request.form.get("q") or None)))


@bp.route("/factbox/<record_type>/<int:record_id>")
@login_required
def factbox(record_type: str, record_id: int):
    """The Approvals fact box of one record (for the row selected on a list page)."""
    rt, record = _record(record_type, record_id)
    return render_template(
        "approvals/_factbox.html",
        entries=service.entries_for_record(db.session, record_type, record_id),
        comments=service.comments_for_record(db.session, record_type, record_id)
        if service.may_see_comments(db.session, record_type, record_id, current_user) else [],
        record_label=rt.title(record),
    )


@bp.route("/requests")
@login_required
def requests_to_approve():
    """Requests to Approve: the signed-in approver's Open entries; the approval
    administrator may switch to every Open entry (``?all=1``); ``?overdue=1`` /
    ``?delegated=1``: only the overdue / delegated ones. Paged
    (``?page=``, ``APPROVALS_PAGE_SIZE`` a page)."""
    is_admin = service.is_approval_administrator(db.session, current_user.id)
    show_all = is_admin and request.args.get("all") == "1"
    page = max(request.args.get("page", 1, type=page_no), 1)
    q = service.requests_to_approve_query(None if show_all else current_user)
    # the role center's cues: ?overdue=1 (due today or earlier in the user's time zone), ?delegated=1
    only = "overdue" if request.args.get("overdue") == "1" else "delegated" if request.args.get("delegated") == "1" else ""
    if only == "overdue":
        q = q.where(ApprovalEntry.due_date <= current_user.local_date())
    elif only == "delegated":
        q = q.where(ApprovalEntry.delegation_date.is_not(None))
    pagination = CappedPage(db.session, q, page, current_app.config["APPROVALS_PAGE_SIZE"])
    entries = pagination.items
    todays: dict[int, object] = {}  # each approver's today (their time zone), worked out once a page
    for e in entries:
        if e.approver is not None and e.approver_id not in todays:
            todays[e.approver_id] = e.approver.local_date()
    # the rows' "Entries & comments" links: one url_for a record type, the record id appended per row
    entries_urls = {t: url_for("approvals.record_entries", record_type=t, record_id=0)[:-1] for t in {e.record_type for e in entries}}
    return render_template("approvals/requests_to_approve.html", entries=entries, slugs=SLUG_OF, entries_urls=entries_urls,
                           is_admin=is_admin, show_all=show_all, pagination=pagination, filter_only=only,
                           overdue_ids={e.id for e in entries if service.is_overdue(e, today=todays.get(e.approver_id))})


def _safe_next(default: str):
    return redirect(local_path(request.form.get("next"), default))


@bp.route("/decide", methods=["POST"])
@login_required
def decide():
    """Approve, reject or delegate the selected entries (form: ``entry_id``
    (repeated), ``action`` approve|reject|delegate, ``comment``, ``next`` — a path to
    return to). Each entry is decided on its own; refusals are flashed one by one."""
    action = request.form.get("action")
    if action not in ("approve", "reject", "delegate"):
        abort(400, description="Choose Approve, Reject or Delegate.")
    ids = ids_of(request.form.getlist("entry_id"))
    comment = (request.form.get("comment") or "").strip() or None
    if not ids:
        flash("Select at least one request.", "error")
    done, errors = service.decide_many(db.session, action, ids, current_user, comment)
    for message in errors:
        flash(message, "error")
    if done:
        verb = {"approve": "Approved", "reject": "Rejected", "delegate": "Delegated"}[action]
        flash(f"{verb}: {'; '.join(done)}")
    return _safe_next(url_for("approvals.requests_to_approve"))


@bp.route("/sent")
@login_required
def requests_sent():
    entries = service.requests_sent(db.session, current_user)
    return render_template("approvals/requests_sent.html", entries=entries, slugs=SLUG_OF)


@bp.route("/entries/<record_type>/<int:record_id>")
@login_required
def record_entries(record_type: str, record_id: int):
    """Approval Entries of one record, with its approval comments (add a comment here)."""
    rt, record = _record(record_type, record_id)
    may_see = service.may_see_comments(db.session, record_type, record_id, current_user)
    return render_template(
        "approvals/record_entries.html", rt=rt, record=record, slug=SLUG_OF[record_type],
        entries=service.entries_for_record(db.session, record_type, record_id),
        comments=service.comments_for_record(db.session, record_type, record_id) if may_see else [],
        may_comment=may_see,
    )


@bp.route("/comments/<record_type>/<int:record_id>", methods=["POST"])
@login_required
def add_comment(record_type: str, record_id: int):
    """Add an approval comment to a record (its senders and approvers only)."""
    _record(record_type, record_id)
    try:
        service.add_comment(db.session, record_type, record_id, current_user, request.form.get("comment", ""))
        db.session.commit()
        flash("Comment added.")
    except service.ApprovalError as exc:
        db.session.rollback()
        flash(str(exc), "error")
    return _safe_next(url_for("approvals.record_entries", record_type=record_type, record_id=record_id))


@bp.route("/overdue")
@login_required
def overdue():
    """Overdue Approval Entries: every overdue notification sent (the approval
    administrator and admins see all; others those sent to them)."""
    sees_all = current_user.has_role("admin") or service.is_approval_administrator(db.session, current_user.id)
    entries = service.overdue_log(db.session, None if sees_all else current_user.id)
    return render_template("approvals/overdue.html", entries=entries, slugs=SLUG_OF,
                           open_overdue=service.overdue_entries(db.session))


class LinkForm(FlaskForm):
    comment = TextAreaField("Comment (optional)", validators=[Length(max=2000, message="A comment can have at most 2,000 characters.")])


def _link_refused(exc: links.LinkError):
    return render_template("approvals/link_result.html", ok=False, message=exc.message), exc.status


@bp.route("/link/<token>", methods=["GET", "POST"])
def one_click(token: str):
    """A one-click Approve / Reject link from an approval request mail: GET shows the
    confirmation page (comment box, one button), POST decides through the same
    service as the portal's buttons. Not signed in: a link with a good signature
    leads to sign-in first and back here (``next``). Refusals (tampered, used,
    expired, decided, not the approver) are pages in words with a 4xx status."""
    if not current_user.is_authenticated:
        try:
            links.check_signature(token)
        except links.LinkError as exc:
            return _link_refused(exc)
        return login.unauthorized()
    form = LinkForm()
    try:
        link = links.verify(db.session, token, user=current_user)
    except links.LinkError as exc:
        return _link_refused(exc)
    if form.validate_on_submit():
        try:
            entry = links.use(db.session, token, current_user, (form.comment.data or "").strip() or None)
        except links.LinkError as exc:
            return _link_refused(exc)
        verb = "Approved" if link.action == "approve" else "Rejected"
        return render_template("approvals/link_result.html", ok=True, message=f"{verb}: {entry.record_title}.",
                               record_url=f"/{SLUG_OF.get(entry.record_type, '')}/{entry.record_id}")
    status = 422 if form.errors else 200
    return render_template("approvals/link_confirm.html", form=form, link=link, entry=link.entry), status
