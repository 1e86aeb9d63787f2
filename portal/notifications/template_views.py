"""Notification Templates (admins): the list with export and import, the editor with
a live preview (htmx, as you type) against a record chosen from a picker, and the
placeholders help list."""
from __future__ import annotations

import json
import secrets

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import StringField, TextAreaField

from portal.util import InputRejected, ids_of, loads_json
from portal.auth.permissions import require_role
from portal.extensions import db
from portal.notifications import templates as service
from portal.notifications.models import NotificationTemplate
from portal.notifications.placeholders import HELP
from portal.records.registry import RECORD_TYPES

bp = Blueprint("notification_templates", __name__, url_prefix="/notification-templates")


class TemplateForm(FlaskForm):
    description = StringField("Description")
    subject = StringField("Subject")
    body = TextAreaField("Body")


def _get(template_id: int) -> NotificationTemplate:
    tmpl = db.session.get(NotificationTemplate, template_id)
    if tmpl is None:
        abort(404, description="There is no such notification template.")
    return tmpl


def _picker_types() -> list[tuple[str, str]]:
    return sorted(((key, rt.label) for key, rt in RECORD_TYPES.items()), key=lambda kv: kv[1])


@bp.route("")
@require_role("admin")
def list_page():
    return render_template("notifications/templates_list.html", templates=service.list_templates(db.session))


@bp.route("/<int:template_id>", methods=["GET", "POST"])
@require_role("admin")
def edit(template_id: int):
    """The editor: subject, body, description; Save checks the template (sandbox
    rules and a trial render) and re-renders with the problems under their fields."""
    tmpl = _get(template_id)
    form = TemplateForm(obj=tmpl)
    status = 200
    if form.validate_on_submit():
        try:
            service.save_template(db.session, tmpl, form.subject.data or "", form.body.data or "", form.description.data)
            db.session.commit()
            flash(f"Template {tmpl.code} ({tmpl.method}) saved.")
            return redirect(url_for("notification_templates.edit", template_id=tmpl.id))
        except service.TemplateProblems as exc:
            db.session.rollback()
            for name, msgs in exc.problems.items():
                getattr(form, name).errors = list(msgs)
            status = 422
    return render_template("notifications/template_edit.html", tmpl=tmpl, form=form, help=HELP,
                           record_types=_picker_types(), default_type="sales_header"), status


@bp.route("/<int:template_id>/preview", methods=["POST"])
@require_role("admin")
def preview(template_id: int):
    """The preview fragment for the editor's current subject and body (htmx)."""
    tmpl = _get(template_id)
    record_id = request.form.get("record_id", "")
    result = service.preview(db.session, request.form.get("subject", ""), request.form.get("body", ""), tmpl.method,
                             request.form.get("record_type"), int(record_id) if record_id.isdigit() else None, current_user)
    token = ""
    if result.html and not result.error:
        from portal.queue import get_redis

        token = secrets.token_urlsafe(16)
        get_redis().set(PREVIEW_KEY.format(token), result.html.encode(), ex=PREVIEW_TTL)
    return render_template("notifications/_template_preview.html", p=result, tmpl=tmpl, token=token)


#: a rendered preview's HTML waits in Redis for its frame to load it (10 minutes)
PREVIEW_KEY = "portal:template-preview:{}"
PREVIEW_TTL = 600


@bp.route("/<int:template_id>/preview/<token>")
@require_role("admin")
def preview_body(template_id: int, token: str):
    """The HTML of a preview rendered by :func:`preview`, as a document of its own for
    the preview's sandboxed frame (the mail's inline CSS is allowed there only)."""
    from portal.errors import mail_body_response
    from portal.queue import get_redis

    _get(template_id)
    html = get_redis().get(PREVIEW_KEY.format(token)) if token.replace("-", "").replace("_", "").isalnum() else None
    if html is None:
        abort(404)
    return mail_body_response(html.decode())


@bp.route("/records")
@require_role("admin")
def records():
    """The record picker's options for a record type and search text (htmx)."""
    found = service.search_records(db.session, request.args.get("record_type", ""), request.args.get("record_q", ""))
    return render_template("notifications/_record_options.html", found=found)


@bp.route("/export", methods=["POST"])
@require_role("admin")
def export():
    ids = ids_of(request.form.getlist("template_id"))
    query = select(NotificationTemplate).order_by(NotificationTemplate.code, NotificationTemplate.method)
    if ids:
        query = query.where(NotificationTemplate.id.in_(ids))
    chosen = list(db.session.scalars(query))
    body = json.dumps(service.export_templates(chosen), indent=2, ensure_ascii=False)
    return Response(body, mimetype="application/json",
                    headers={"Content-Disposition": 'attachment; filename="notification-templates.json"'})


@bp.route("/import", methods=["POST"])
@require_role("admin")
def import_():
    """Import a template export file: all or nothing, each problem named by its place."""
    upload = request.files.get("file")
    problems: dict[str, list[str]] = {}
    if upload is None or not upload.filename:
        problems = {"file": ["Choose a notification template export file (.json) to import."]}
    else:
        try:
            data = loads_json(upload.read().decode("utf-8"))
            created, replaced = service.import_templates(db.session, data)
            db.session.commit()
            flash(f"Imported {created + replaced} template(s): {created} new, {replaced} replaced.")
            return redirect(url_for("notification_templates.list_page"))
        except service.TemplateProblems as exc:
            db.session.rollback()
            problems = exc.problems
        except InputRejected as exc:  # a value too long for its column
            db.session.rollback()
            problems = {"file": list(exc.errors.values())}
        except ValueError as exc:  # not UTF-8, not JSON, or nested too deeply
            db.session.rollback()
            problems = {"file": [f"The file is not valid JSON: {exc}"]}
    return render_template("notifications/templates_list.html", templates=service.list_templates(db.session),
                           import_problems=problems, filename=upload.filename if upload else ""), 422
