"""List, card and document pages of business records (one set of views driven by the
record-type registry), the home page, New records, document lines, record
restrictions and the document actions Release / Reopen / Post.

URLs are ``/<slug>`` (a list view from :data:`~portal.records.registry.LIST_VIEWS`,
e.g. ``/purchase-orders``) and ``/<slug>/<id>`` for one record; a document opened
under another document type's slug is redirected to its own."""
from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import false, select
from sqlalchemy.orm import joinedload
from sqlalchemy.orm.exc import StaleDataError

from portal.util import db_int, ids_of, page_no, text_problem
from portal.approvals import service as approvals
from portal.extensions import db, htmx
from portal.flows.service import automate_menu, record_runs, status_word
from portal.records import actions, listing, posting, service
from portal.records.models import (
    STATUS_OPEN,
    STATUS_PENDING_APPROVAL,
    STATUS_RELEASED,
    Item,
)
from portal.records.registry import LIST_VIEWS, POSTED_KEYS, SLUG_OF, RecordType, slug_for
from portal.util import CappedPage
from portal.versioning import CONFLICT_MESSAGE, Conflict, check_version, form_version
from portal.workflow.engine import pending_count

bp = Blueprint("records", __name__)


def _rt(slug: str) -> RecordType:
    rt = LIST_VIEWS.get(slug)
    if rt is None:
        abort(404)
    return rt


def _get(rt: RecordType, record_id: int):
    record = db.session.get(rt.model, record_id)
    if record is None or not rt.covers(record):
        abort(404, description=f"{rt.label} {record_id} does not exist.")
    return record


def _may_change() -> None:
    if not current_user.has_role("business_user"):
        abort(403, description="You are not permitted to change records.")


@bp.route("/")
@login_required
def home():
    """The role center: per role the user holds, cues (bounded counts) that open the
    filtered lists (:mod:`portal.rolecenter`), and the user's latest requests sent for
    approval."""
    from portal.rolecenter import cue_groups
    from portal.ui import header_counts

    return render_template(
        "records/home.html",
        groups=cue_groups(db.session, current_user, header_counts().get("requests_to_approve_count")),
        slugs=SLUG_OF,
        sent=approvals.requests_sent(db.session, current_user, limit=5),
    )


def _list_filters(rt: RecordType) -> tuple[list, dict[str, str]]:
    """The list page's filters from the role center's cues: ``?status=`` (a document
    status) and ``?mine=1`` (documents whose salesperson / purchaser is the user's
    Salesperson/Purchaser code). Returns the conditions (on the record type's model)
    and the filters applied (for the page's links)."""
    filters: dict[str, str] = {}
    where = []
    status = request.args.get("status") or ""
    if status in (STATUS_OPEN, STATUS_PENDING_APPROVAL, STATUS_RELEASED) and rt.partner and not rt.read_only:
        where.append(rt.model.status == status)
        filters["status"] = status
    if request.args.get("mine") == "1" and rt.partner and not rt.read_only:
        from portal.rolecenter import salesperson_code

        column = getattr(rt.model, "salesperson_code", None) or getattr(rt.model, "purchaser_code")
        code = salesperson_code(db.session, current_user)
        where.append(column == code if code else false())  # no code: none are "mine"
        filters["mine"] = "1"
    return where, filters


def _filter_words(rt: RecordType, filters: dict[str, str]) -> str:
    """The filters in words: "Status is Open · my documents"."""
    words = []
    if "status" in filters:
        words.append(f"Status is {filters['status']}")
    if "mine" in filters:
        words.append("your " + ("sales" if rt.partner == "customer" else "purchase") + " documents (your salesperson/purchaser code)")
    return " · ".join(words)


@bp.route("/<slug>")
@login_required
def list_page(slug: str):
    """A list page: search (``?q=``), sort (``?sort=``), page (``?page=``) and, for
    documents, the role center's filters ``?status=`` and ``?mine=1``."""
    rt = _rt(slug)
    search = request.args.get("q", "").strip()
    sort = request.args.get("sort", rt.default_sort)
    page = max(request.args.get("page", 1, type=page_no), 1)
    where, filters = _list_filters(rt)  # the role center's ?status= / ?mine=1
    q, sort, ids = listing.list_query(rt, search, sort, db.session.get_bind().dialect.name, where)
    # the page's rows by id alone: the search (and sort joins) ran once, for the ids
    pagination = CappedPage(db.session, q, page, current_app.config["PAGE_SIZE"], rows=select(rt.model), ids=ids)
    ctx = dict(rt=rt, slug=slug, pagination=pagination, search=search, sort=sort, filters=filters,
               filter_words=_filter_words(rt, filters),
               selected_ids=set(ids_of(request.args.getlist("ids"))),
               busy_ids=listing.in_flight(db.session, rt.key, [r.id for r in pagination.items]))
    if htmx and htmx.target == "list-results":
        return render_template("records/_list_results.html", **ctx)
    ctx.update(automate_menu(db.session, rt.key, current_user))
    ctx["can_create"] = bool(rt.new_fields) and not rt.read_only and current_user.has_role("business_user")
    return render_template("records/list.html", **ctx)


@bp.route("/<slug>/new", methods=["GET", "POST"])
@login_required
def new(slug: str):
    """New record (a document for a chosen customer/vendor, or a journal batch)."""
    rt = _rt(slug)
    if not rt.new_fields or rt.read_only:
        abort(404)
    _may_change()
    errors: dict[str, str] = {}
    values = request.form.to_dict() if request.method == "POST" else {}
    if request.method == "POST":
        try:
            # a field left out of the post counts as blank (a required one is then refused, not a NOT NULL error)
            parsed = service.parse_fields(rt.new_fields, {f.name: "" for f in rt.new_fields} | values, model=rt.model)
            record = service.create_record(db.session, rt, parsed, current_user.id)
            db.session.commit()
            flash(f"{rt.title(record)} created.")
            return redirect(url_for("records.record_page", slug=slug_for(rt.key, record), record_id=record.id))
        except service.FieldErrors as exc:
            db.session.rollback()
            errors = exc.errors
        except service.RecordError as exc:
            db.session.rollback()
            errors = {"_": str(exc)}
    partners = []
    model = listing.partner_model(rt)
    if model is not None:
        partners = db.session.execute(select(model.no, model.name).where(model.blocked.is_(False)).order_by(model.name)).all()
    return render_template("records/new.html", rt=rt, slug=slug, values=values, errors=errors, partners=partners), (422 if errors else 200)


def record_page_context(rt: RecordType, record, slug: str | None = None) -> dict:
    """What a card/document page and its fragments need."""
    user = current_user
    session = db.session
    pending = approvals.pending_request(session, rt.key, record.id) if rt.approvable else None
    restrictions = service.restrictions_for(session, rt.key, record.id)
    status = getattr(record, "status", None)
    may_change = user.has_role("business_user")
    post_blocked = None
    if rt.postable:
        try:
            posting.check_postable(session, record, by_hand=True)
        except service.RecordError as exc:
            post_blocked = str(exc)
    busy = pending_count(session, rt.key, record.id)
    slug = slug or slug_for(rt.key, record)
    return dict(
        rt=rt,
        record=record,
        slug=slug,
        actions=actions.record_actions(session, user, rt, record, slug),
        groups=actions.GROUPS,
        crumbs=actions.breadcrumbs(rt, record, slug),
        **automate_menu(session, rt.key, user),
        flow_runs=record_runs(session, rt.key, record.id),
        words=status_word,
        entries=approvals.entries_for_record(session, rt.key, record.id) if rt.approvable else [],
        comments=approvals.comments_for_record(session, rt.key, record.id)
        if (rt.approvable and approvals.may_see_comments(session, rt.key, record.id, user)) else [],
        posted_entries=approvals.posted_entries_for_record(session, rt.key, record.id) if rt.read_only else [],
        posted_comments=approvals.posted_comments_for_record(session, rt.key, record.id) if rt.read_only else [],
        pending=pending,
        busy=busy,
        # Send Approval Request that didn't go through (shown until the next send)
        send_failure=approvals.last_send_failure(session, rt.key, record.id) if (rt.approvable and not busy and not pending) else None,
        # Release by hand refused while approval workflows hold the Open document
        release_blocked=service.release_blocked(session, rt.key, record) if (rt.releasable and status == STATUS_OPEN) else None,
        # a line approval workflow holds the journal line: it needs (new) approval
        line_needs_approval=bool(approvals.approval_required(session, rt.key, record)) if rt.key == "gen_journal_line" else False,
        released=status == STATUS_RELEASED,
        released_locked=service.released_locked_fields(rt.key, record),
        restricted=service.is_restricted(rt.key, record),
        restrictions=restrictions,
        may_change=may_change,
        may_restrict=user.has_role("admin") and not rt.read_only,
        lines_editable=(rt.has_lines and not rt.read_only and may_change and status == STATUS_OPEN and not restrictions),
        post_blocked=post_blocked,
        pending_approval=status == STATUS_PENDING_APPROVAL,
        item_options=_item_options(rt) if (rt.has_lines and not rt.read_only and may_change and status == STATUS_OPEN and not restrictions) else [],
        line_errors={},
        line_values={},
        editing_line_id=None,
        # journal lines with their own approval under way or restricted: not editable on the batch page
        held_line_ids={line.id for line in service.journal_lines_held(session, record)} if rt.key == "gen_journal_batch" else set(),
        batch=record.batch if rt.key == "gen_journal_line" else None,
    )


def _item_options(rt: RecordType) -> list:
    if "item_no" not in {f.name for f in rt.line_fields}:
        return []
    return db.session.execute(select(Item.no, Item.description).where(Item.blocked.is_(False)).order_by(Item.no)).all()


@bp.route("/<slug>/<int:record_id>")
@login_required
def record_page(slug: str, record_id: int):
    rt = _rt(slug)
    # a document's lines come with it (one statement): the page shows them all
    lines = [joinedload(rt.model.lines)] if rt.has_lines and hasattr(rt.model, "lines") else []
    record = db.session.get(rt.model, record_id, options=lines)
    if record is None:
        abort(404, description=f"{rt.label} {record_id} does not exist.")
    if not rt.covers(record):  # e.g. /sales-orders/<id of a quote>: open it as a quote
        own = slug_for(rt.key, record)
        if own == slug or LIST_VIEWS[own].key != rt.key:
            abort(404)
        return redirect(url_for("records.record_page", slug=own, record_id=record_id))
    ctx = record_page_context(rt, record, slug)
    if htmx and htmx.target == "record-state":
        return render_template("records/_record_refresh.html", **ctx)
    if htmx and htmx.target == "doc-lines":
        ctx["editing_line_id"] = request.args.get("edit_line", type=db_int)
        return render_template("records/_lines.html", **ctx)
    ctx["editing_line_id"] = request.args.get("edit_line", type=db_int)
    return render_template(f"records/{rt.page}.html", **ctx)


@bp.route("/<slug>/<int:record_id>/changes")
@login_required
def changes(slug: str, record_id: int):
    """The record's audit rows (who changed which field from what to what, approval
    actions, flow runs, …), newest first, paged; whoever may open the record may
    read them. Read-only."""
    from portal.audit.service import record_audit_rows
    from portal.audit.views import table_context

    rt = _rt(slug)
    record = _get(rt, record_id)
    page = request.args.get("page", 1, type=int)
    page = page if 0 < page < 100_000 else 1
    rows, has_more = record_audit_rows(db.session, rt.key, record.id, page, current_app.config["PAGE_SIZE"])
    return render_template("audit/record.html", rt=rt, record=record, slug=slug, page=page, has_more=has_more,
                           args={}, show_record=False, **table_context(rows))


@bp.route("/<slug>/<int:record_id>/edit", methods=["GET", "POST"])
@login_required
def edit(slug: str, record_id: int):
    rt = _rt(slug)
    record = _get(rt, record_id)
    if rt.read_only:
        abort(404)
    _may_change()
    errors: dict[str, str] = {}
    conflict: list[tuple] = []
    form_values = {f.name: f.value(record) for f in rt.fields}
    refused = actions.refusal(db.session, current_user, rt, record, "edit")
    if refused and request.method == "GET":
        flash(refused, "error")
        return redirect(url_for("records.record_page", slug=slug, record_id=record.id))
    if refused:
        form_values.update(request.form.to_dict())
        errors = {"_": refused}
    elif request.method == "POST":
        form_values.update(request.form.to_dict())
        try:
            check_version(record, form_version(request.form))
            values = service.parse_values(rt, request.form.to_dict())
            changes = service.modify_record(db.session, rt.key, record, values, current_user.id)
            db.session.commit()
            flash(f"{rt.title(record)} saved ({len(changes)} field(s) changed)." if changes else "Nothing changed.")
            return redirect(url_for("records.record_page", slug=slug, record_id=record.id))
        except service.FieldErrors as exc:
            db.session.rollback()
            errors = exc.errors
        except service.RecordError as exc:
            db.session.rollback()
            errors = {"_": str(exc)}
        except (Conflict, StaleDataError):  # saved by someone else since the form was loaded
            db.session.rollback()
            record = _get(rt, record_id)
            conflict = service.conflicting_fields(rt, record, request.form)
            errors = {"_": CONFLICT_MESSAGE}
    status = 409 if conflict else (422 if errors else 200)
    return render_template("records/edit.html", rt=rt, record=record, slug=slug, values=form_values, errors=errors,
                           conflict=conflict, locked=service.released_locked_fields(rt.key, record)), status


# ---------------------------------------------------------------- lines

def _lines_response(rt: RecordType, slug: str, record_id: int, errors: dict | None = None, values: dict | None = None,
                    editing_line_id: int | None = None, message: str | None = None):
    """After a line change: the lines fragment (htmx) or the document page (plain)."""
    if not errors and not htmx:
        if message:
            flash(message)
        return redirect(url_for("records.record_page", slug=slug, record_id=record_id))
    record = _get(rt, record_id)
    ctx = record_page_context(rt, record, slug)
    ctx.update(line_errors=errors or {}, line_values=values or {}, editing_line_id=editing_line_id, line_message=message)
    if htmx:
        # errors are shown in the fragment: answer 200 so that htmx swaps it in
        return render_template("records/_lines.html", oob=True, **ctx)
    if errors and errors.get("_"):
        flash(errors["_"], "error")
    return render_template(f"records/{rt.page}.html", **ctx), 422


def _lines_target(slug: str, record_id: int):
    """The record type and document whose lines a request changes (404 when it has no
    editable lines, 403 when the user may not change records)."""
    rt = _rt(slug)
    record = _get(rt, record_id)
    if not rt.has_lines or rt.read_only:
        abort(404)
    _may_change()
    return rt, record


@bp.route("/<slug>/<int:record_id>/lines", methods=["POST"])
@login_required
def add_line(slug: str, record_id: int):
    rt, record = _lines_target(slug, record_id)
    form = request.form.to_dict()
    try:
        values = service.parse_fields(rt.line_fields, form, blank_as_none=True, model=rt.line_model)
        line = service.add_line(db.session, rt.key, record, values, current_user.id)
        db.session.commit()
        return _lines_response(rt, slug, record_id, message=f"Line {line.line_no} added.")
    except service.FieldErrors as exc:
        db.session.rollback()
        return _lines_response(rt, slug, record_id, {f"new.{k}": v for k, v in exc.errors.items()}, {"new": form})
    except service.RecordError as exc:
        db.session.rollback()
        return _lines_response(rt, slug, record_id, {"_": str(exc)}, {"new": form})


@bp.route("/<slug>/<int:record_id>/lines/<int:line_id>", methods=["POST"])
@login_required
def update_line(slug: str, record_id: int, line_id: int):
    rt, record = _lines_target(slug, record_id)
    form = request.form.to_dict()
    try:
        values = service.parse_fields(rt.line_fields, form, blank_as_none=True, model=rt.line_model)
        line = service.update_line(db.session, rt.key, record, line_id, values, current_user.id)
        db.session.commit()
        return _lines_response(rt, slug, record_id, message=f"Line {line.line_no} saved.")
    except service.FieldErrors as exc:
        db.session.rollback()
        return _lines_response(rt, slug, record_id, {f"{line_id}.{k}": v for k, v in exc.errors.items()}, {line_id: form}, line_id)
    except service.RecordError as exc:
        db.session.rollback()
        return _lines_response(rt, slug, record_id, {"_": str(exc)})


@bp.route("/<slug>/<int:record_id>/lines/<int:line_id>/delete", methods=["POST"])
@login_required
def delete_line(slug: str, record_id: int, line_id: int):
    rt, record = _lines_target(slug, record_id)
    try:
        service.delete_line(db.session, rt.key, record, line_id, current_user.id)
        db.session.commit()
        return _lines_response(rt, slug, record_id, message="Line removed.")
    except service.RecordError as exc:
        db.session.rollback()
        return _lines_response(rt, slug, record_id, {"_": str(exc)})


# ---------------------------------------------------------------- actions

@bp.route("/<slug>/<int:record_id>/<any(release, reopen, post):action>", methods=["POST"])
@login_required
def document_action(slug: str, record_id: int, action: str):
    """Release, Reopen or Post a document. Posting redirects to the posted document."""
    rt = _rt(slug)
    doc = _get(rt, record_id)
    if not rt.releasable or (action == "post" and not rt.postable):
        abort(404)
    _may_change()
    title = rt.title(doc)
    refused = actions.refusal(db.session, current_user, rt, doc, action)
    if refused:  # the reason the page shows on the disabled button
        flash(refused, "error")
        return redirect(url_for("records.record_page", slug=slug, record_id=record_id))
    try:
        if action == "post":
            posted = posting.post(db.session, doc, current_user.id, by_hand=True)
            db.session.commit()
            flash(f"{title} has been posted as {posted.title}.")
            return redirect(url_for("records.record_page", slug=slug_for(_posted_key(posted), posted), record_id=posted.id))
        (service.release if action == "release" else service.reopen)(db.session, doc, current_user.id)
        db.session.commit()
        flash(f"{title} is now {doc.status}.")
    except service.RecordError as exc:
        db.session.rollback()
        flash(str(exc), "error")
    return redirect(url_for("records.record_page", slug=slug, record_id=record_id))


def _posted_key(posted) -> str:
    return POSTED_KEYS[posted.kind]


@bp.route("/<slug>/<int:record_id>/delete", methods=["POST"])
@login_required
def delete(slug: str, record_id: int):
    """Delete a customer, vendor, item or general journal line (refused with a message
    when not allowed)."""
    rt = _rt(slug)
    record = _get(rt, record_id)
    if not actions.applies(rt, "delete"):
        abort(404)
    _may_change()
    title = rt.title(record)
    refused = actions.refusal(db.session, current_user, rt, record, "delete")
    if refused:
        flash(refused, "error")
        return redirect(url_for("records.record_page", slug=slug, record_id=record_id))
    try:
        batch_id = record.batch_id if rt.key == "gen_journal_line" else None
        service.delete_record(db.session, rt.key, record, current_user.id)
        db.session.commit()
        flash(f"{title} deleted.")
        if batch_id is not None:  # a journal line: back to its batch
            return redirect(url_for("records.record_page", slug=SLUG_OF["gen_journal_batch"], record_id=batch_id))
        return redirect(url_for("records.list_page", slug=slug))
    except service.RecordError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("records.record_page", slug=slug, record_id=record_id))


@bp.route("/<slug>/<int:record_id>/restriction", methods=["POST"])
@login_required
def restriction(slug: str, record_id: int):
    """Add (``action=add``, with ``details``) or lift (``action=remove``) the record's
    restriction by hand: approval administrators and admins only."""
    rt = _rt(slug)
    record = _get(rt, record_id)
    if rt.read_only:
        abort(404)
    if not current_user.has_role("admin"):
        abort(403, description="Only administrators can restrict records or lift restrictions.")
    if request.form.get("action") == "remove":
        n = service.remove_restriction(db.session, rt.key, record.id, current_user.id)
        flash(f"The restriction on {rt.title(record)} has been lifted." if n else f"{rt.title(record)} has no restriction.")
    else:
        details = (request.form.get("details") or "").strip() or f"Restricted by {current_user.full_name}"
        problem = text_problem(details, "The details", 250)
        if problem:  # nothing restricted: the record page says why
            flash(f"{rt.title(record)} was not restricted: {problem}", "error")
            return redirect(url_for("records.record_page", slug=slug, record_id=record_id))
        service.add_restriction(db.session, rt.key, record.id, details, current_user.id)
        flash(f"{rt.title(record)} is restricted: it can't be modified, released or posted until the restriction is lifted.")
    db.session.commit()
    return redirect(url_for("records.record_page", slug=slug, record_id=record_id))
