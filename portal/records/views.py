"""List, card and document pages of business records (one set of views driven by the
record-type registry), the home page and the document actions Release / Reopen."""
from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import func, or_, select

from portal.approvals import service as approvals
from portal.extensions import db, htmx
from portal.flows.service import instant_flows, may_run_flows
from portal.records import service
from portal.records.models import Customer, SalesHeader
from portal.records.registry import RECORD_TYPES, SLUG_OF, SLUGS, RecordType
from portal.workflow.engine import pending_count

bp = Blueprint("records", __name__)


def _rt(slug: str) -> RecordType:
    key = SLUGS.get(slug)
    if key is None:
        abort(404)
    return RECORD_TYPES[key]


def _get(rt: RecordType, record_id: int):
    record = db.session.get(rt.model, record_id)
    if record is None or (rt.key == "sales_header" and record.document_type != "Order"):
        abort(404, description=f"{rt.label} {record_id} does not exist.")
    return record


def _column(rt: RecordType, name: str):
    if rt.key == "sales_header" and name in ("customer_no", "customer_name"):
        return Customer.no if name == "customer_no" else Customer.name
    return getattr(rt.model, name, None)


def list_query(rt: RecordType, search: str, sort: str):
    """The list page's SELECT: search across the record type's search fields
    (case-insensitive, substring) and sort by ``sort`` ("field" or "-field")."""
    model = rt.model
    q = select(model)
    if rt.list_filter:
        q = rt.list_filter(q)
    columns = [getattr(model, f) for f in rt.search_fields]
    if rt.key == "sales_header":
        q = q.join(Customer, SalesHeader.customer_id == Customer.id)
        columns += [Customer.no, Customer.name]
    if search:
        pattern = f"%{search.lower()}%"
        q = q.where(or_(*[func.lower(c).like(pattern) for c in columns]))
    field = sort.lstrip("-")
    col = _column(rt, field) if field in rt.list_columns else None
    if col is None:
        field = rt.default_sort.lstrip("-")
        col = _column(rt, field)
        sort = rt.default_sort
    if rt.key == "sales_header" and field == "no":
        col = func.length(SalesHeader.no), SalesHeader.no
    else:
        col = (col,)
    q = q.order_by(*[c.desc() if sort.startswith("-") else c.asc() for c in col], model.id)
    return q, sort


@bp.route("/")
@login_required
def home():
    stats = {}
    for rt in RECORD_TYPES.values():
        q = select(rt.model.id)
        if rt.list_filter:
            q = rt.list_filter(q)
        stats[rt.plural] = db.session.scalar(select(func.count()).select_from(q.subquery()))
    return render_template(
        "records/home.html",
        stats=stats,
        slugs=SLUG_OF,
        sent=approvals.requests_sent(db.session, current_user)[:5],
    )


@bp.route("/<slug>")
@login_required
def list_page(slug: str):
    rt = _rt(slug)
    search = request.args.get("q", "").strip()
    sort = request.args.get("sort", rt.default_sort)
    page = max(request.args.get("page", 1, type=int), 1)
    q, sort = list_query(rt, search, sort)
    pagination = db.paginate(q, page=page, per_page=current_app.config["PAGE_SIZE"], error_out=False)
    ctx = dict(rt=rt, slug=slug, pagination=pagination, search=search, sort=sort)
    if htmx and htmx.target == "list-results":
        return render_template("records/_list_results.html", **ctx)
    ctx["flows"] = instant_flows(db.session, rt.key, current_user)
    ctx["may_run_flows"] = may_run_flows(current_user)
    return render_template("records/list.html", **ctx)


def record_page_context(rt: RecordType, record) -> dict:
    """What a card/document page and its fragments need."""
    user = current_user
    pending = approvals.pending_request(db.session, rt.key, record.id) if rt.approvable else None
    busy = pending_count(db.session, rt.key, record.id)
    return dict(
        rt=rt,
        record=record,
        slug=SLUG_OF[rt.key],
        flows=instant_flows(db.session, rt.key, user),
        may_run_flows=may_run_flows(user),
        entries=approvals.entries_for_record(db.session, rt.key, record.id) if rt.approvable else [],
        comments=approvals.comments_for_record(db.session, rt.key, record.id) if rt.approvable else [],
        pending=pending,
        my_entry=approvals.open_entry_for(db.session, rt.key, record.id, user.id) if rt.approvable else None,
        can_cancel=bool(pending) and (pending.sender_id == user.id or approvals.is_approval_administrator(db.session, user.id)),
        busy=busy,
        restricted=service.is_restricted(rt.key, record),
    )


@bp.route("/<slug>/<int:record_id>")
@login_required
def record_page(slug: str, record_id: int):
    rt = _rt(slug)
    record = _get(rt, record_id)
    ctx = record_page_context(rt, record)
    if htmx and htmx.target == "record-state":
        return render_template("records/_record_state.html", **ctx)
    return render_template(f"records/{rt.page}.html", **ctx)


@bp.route("/<slug>/<int:record_id>/edit", methods=["GET", "POST"])
@login_required
def edit(slug: str, record_id: int):
    rt = _rt(slug)
    record = _get(rt, record_id)
    if not current_user.has_role("business_user"):
        abort(403, description="You are not permitted to change records.")
    errors: dict[str, str] = {}
    form_values = {f.name: f.value(record) for f in rt.fields}
    if request.method == "POST":
        form_values.update(request.form.to_dict())
        try:
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
    return render_template("records/edit.html", rt=rt, record=record, slug=slug, values=form_values, errors=errors), (422 if errors else 200)


@bp.route("/sales-orders/<int:record_id>/<any(release, reopen):action>", methods=["POST"])
@login_required
def document_action(record_id: int, action: str):
    rt = RECORD_TYPES["sales_header"]
    doc = _get(rt, record_id)
    if not current_user.has_role("business_user"):
        abort(403)
    try:
        (service.release if action == "release" else service.reopen)(db.session, doc, current_user.id)
        db.session.commit()
        flash(f"{doc.title} is now {doc.status}.")
    except service.RecordError as exc:
        db.session.rollback()
        flash(str(exc), "error")
    return redirect(url_for("records.record_page", slug="sales-orders", record_id=record_id))
