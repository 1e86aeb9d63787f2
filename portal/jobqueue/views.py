"""Job queue pages (admins only): Job Queue Entries (filter by status and category,
cues for failed / in process / waiting / on hold entries), the entry card (edit with
field errors; actions Set Status to Ready, Set On Hold, Restart, Run now, Delete),
Show Error and Log Entries. Views parse the request and call
:mod:`portal.jobqueue.service`."""
from __future__ import annotations

import json

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from sqlalchemy.orm.exc import StaleDataError
from wtforms import DateTimeLocalField, IntegerField, SelectField, SelectMultipleField, StringField, TextAreaField, TimeField
from wtforms.validators import InputRequired, Length, NumberRange, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from portal.auth.models import User
from portal.auth.permissions import require_role
from portal.extensions import db
from portal.jobqueue import service
from portal.jobqueue.models import (
    ENTRY_STATUSES,
    LOG_STATUSES,
    PRIORITIES,
    JobQueueCategory,
    JobQueueEntry,
    JobQueueLogEntry,
)
from portal.jobqueue.recurrence import WEEKDAY_NAMES
from portal.util import loads_json, page_no, utcnow
from portal.versioning import CONFLICT_MESSAGE, Conflict, check_version, differences, form_version

try:  # WTForms 3.3+: options as SelectChoice (tuples are deprecated there)
    from wtforms.fields.choices import SelectChoice
except ImportError:  # pragma: no cover - WTForms 3.1/3.2 take (value, label) tuples
    SelectChoice = None

bp = Blueprint("jobqueue", __name__, url_prefix="/job-queue")


def _choices(pairs, groups: bool = False):
    """Select options from ``(value, label)`` pairs, or from ``(group, pairs)`` with
    ``groups`` (rendered as optgroups)."""
    if not groups:
        return [SelectChoice(v, label) for v, label in pairs] if SelectChoice else list(pairs)
    if SelectChoice:
        return [SelectChoice(v, label, optgroup=group) for group, items in pairs for v, label in items]
    return {group: list(items) for group, items in pairs}

RECURRENCE_CHOICES = [("", "One time"), ("minutes", "Every N minutes"), ("cron", "Cron expression"), ("formula", "Next run date formula")]
CATCH_UP_CHOICES = [("run_once", "Run once when the scheduler is back"), ("skip", "Skip to the next due time")]
COMMON_ZONES = ("UTC", "Europe/Berlin", "Europe/London", "Europe/Paris", "America/New_York", "America/Chicago",
                "America/Los_Angeles", "Asia/Tokyo", "Australia/Sydney")


class CheckboxesField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class EntryForm(FlaskForm):
    """The job queue entry card's fields. Date/times are in the entry's time zone."""

    class Meta:
        csrf = False  # CSRFProtect checks every POST already (the hidden csrf_token input)

    description = StringField("Description", validators=[InputRequired("Enter a description."), Length(max=250)])
    target = SelectField("What to run", choices=[])
    parameters = TextAreaField("Parameters (JSON object)", default="{}")
    earliest_start_local = DateTimeLocalField("Earliest start date/time", format="%Y-%m-%dT%H:%M", validators=[Optional()])
    expires_local = DateTimeLocalField("Expiration date/time", format="%Y-%m-%dT%H:%M", validators=[Optional()])
    recurrence_kind = SelectField("Recurrence", choices=_choices(RECURRENCE_CHOICES), default="")
    minutes_between_runs = IntegerField("Minutes between runs", validators=[Optional()])
    run_on_weekdays = CheckboxesField("Run on", choices=_choices((str(i), name) for i, name in enumerate(WEEKDAY_NAMES)),
                                      default=[str(i) for i in range(7)])
    starting_time = TimeField("Starting time", validators=[Optional()])
    ending_time = TimeField("Ending time", validators=[Optional()])
    cron_expression = StringField("Cron expression", validators=[Optional(), Length(max=120)])
    next_run_date_formula = StringField("Next run date formula", validators=[Optional(), Length(max=60)])
    time_zone = StringField("Time zone", default="UTC", validators=[InputRequired("Enter a time zone, e.g. UTC or Europe/Berlin.")])
    max_attempts = IntegerField("Maximum no. of attempts", default=3, validators=[InputRequired("Enter the maximum number of attempts."), NumberRange(1, 100)])
    rerun_delay_seconds = IntegerField("Rerun delay (seconds)", default=60, validators=[InputRequired("Enter the rerun delay in seconds."), NumberRange(0, 604800)])
    timeout_seconds = IntegerField("Job timeout (seconds)", default=3600, validators=[InputRequired("Enter the job timeout in seconds."), NumberRange(1, 604800)])
    category_code = StringField("Job queue category", validators=[Optional(), Length(max=20)])
    priority = SelectField("Priority within category", coerce=int, choices=_choices(PRIORITIES.items()), default=2)
    catch_up = SelectField("Missed runs", choices=_choices(CATCH_UP_CHOICES), default="run_once")
    owner_id = SelectField("Owner (told about failures)", coerce=int, choices=[])

    def load_choices(self) -> None:
        self.target.choices = _choices([(g, items) for g, items in service.target_choices(db.session) if items], groups=True)
        self.owner_id.choices = _choices((u.id, f"{u.full_name} ({u.user_name})") for u in db.session.scalars(select(User).order_by(User.full_name)))

    def fill(self, data: service.EntryData) -> None:
        """Show ``data`` (an existing entry's values) in the form."""
        for name in ("description", "target", "earliest_start_local", "expires_local", "minutes_between_runs", "starting_time",
                     "ending_time", "cron_expression", "next_run_date_formula", "time_zone", "max_attempts", "rerun_delay_seconds",
                     "timeout_seconds", "category_code", "priority", "catch_up", "owner_id"):
            getattr(self, name).data = getattr(data, name)
        self.parameters.data = json.dumps(data.parameters or {}, indent=1)
        self.recurrence_kind.data = data.recurrence_kind or ""
        self.run_on_weekdays.data = [str(i) for i, c in enumerate(data.run_on_weekdays) if c == "1"]

    def to_data(self) -> tuple[service.EntryData, dict[str, str]]:
        """The form's values for :func:`service.save_entry` and the form's own errors
        (a field that didn't parse is None in the data)."""
        errors = {name: msgs[0] for name, msgs in self.errors.items() if msgs}
        params: dict = {}
        try:
            params = loads_json(self.parameters.data or "{}")
        except ValueError:
            errors["parameters"] = 'Parameters must be a JSON object, e.g. {"older_than_days": 30}.'
        if not isinstance(params, dict):
            errors["parameters"] = 'Parameters must be a JSON object, e.g. {"older_than_days": 30}.'
            params = {}
        days = set(self.run_on_weekdays.data or [])
        data = service.EntryData(
            description=self.description.data or "", target=self.target.data or "", parameters=params,
            earliest_start_local=self.earliest_start_local.data, expires_local=self.expires_local.data,
            recurrence_kind=self.recurrence_kind.data or None, minutes_between_runs=self.minutes_between_runs.data,
            run_on_weekdays="".join("1" if str(i) in days else "0" for i in range(7)),
            starting_time=self.starting_time.data, ending_time=self.ending_time.data,
            cron_expression=self.cron_expression.data, next_run_date_formula=self.next_run_date_formula.data,
            time_zone=(self.time_zone.data or "").strip(), max_attempts=self.max_attempts.data or 0,
            rerun_delay_seconds=self.rerun_delay_seconds.data, timeout_seconds=self.timeout_seconds.data or 0,
            category_code=self.category_code.data, priority=self.priority.data or 0, catch_up=self.catch_up.data,
            owner_id=self.owner_id.data or None,
        )
        return data, errors


@bp.context_processor
def _helpers():
    return {"local_time": service.local_time, "describe_recurrence": service.describe_recurrence,
            "describe_target": service.describe_target, "priorities": PRIORITIES}


def _entry(entry_id: int) -> JobQueueEntry:
    return db.session.get(JobQueueEntry, entry_id) or abort(404)


@bp.route("/")
@require_role("admin")
def list_page():
    """Job Queue Entries: filter by status and category; an htmx request gets the
    results fragment (the page refreshes it every 5 s)."""
    status = request.args.get("status") or ""
    category = request.args.get("category") or ""
    q = select(JobQueueEntry).order_by(JobQueueEntry.next_run_at.is_(None), JobQueueEntry.next_run_at, JobQueueEntry.id)
    if status in ENTRY_STATUSES:
        q = q.where(JobQueueEntry.status == status)
    if category:
        q = q.where(JobQueueEntry.category_code == category)
    entries = db.session.scalars(q).unique().all()
    ctx = dict(entries=entries, status=status, category=category, counts=service.status_counts(db.session),
               statuses=ENTRY_STATUSES, categories=db.session.scalars(select(JobQueueCategory.code).order_by(JobQueueCategory.code)).all(),
               lease=service.lease_holder(db.session), now=utcnow())
    if request.headers.get("HX-Request") and request.headers.get("HX-Target") == "jq-results":
        return render_template("jobqueue/_results.html", **ctx)
    return render_template("jobqueue/list.html", **ctx)


def _render_card(entry: JobQueueEntry | None, form: EntryForm, errors: dict, status: int = 200, conflict: list | None = None):
    recent = []
    if entry is not None:
        recent = db.session.scalars(
            select(JobQueueLogEntry).where(JobQueueLogEntry.entry_id == entry.id).order_by(JobQueueLogEntry.id.desc()).limit(10)
        ).all()
    return render_template("jobqueue/card.html", entry=entry, form=form, errors=errors, recent=recent, conflict=conflict or [],
                           zones=COMMON_ZONES, categories=db.session.scalars(select(JobQueueCategory.code)).all()), status


def _save(entry: JobQueueEntry | None):
    form = EntryForm()
    form.load_choices()
    form.validate()
    data, errors = form.to_data()
    for name, message in service.validate_entry(db.session, data).items():
        errors.setdefault(name, message)
    db.session.rollback()
    if not errors:
        try:
            if entry is not None:
                check_version(entry, form_version(request.form))
            saved = service.save_entry(db.session, entry, data, current_user)
            db.session.commit()
            flash(f"Job queue entry saved. {saved.status}; next run {service.local_time(saved.next_run_at, saved.time_zone) or '—'}.")
            return redirect(url_for("jobqueue.card", entry_id=saved.id))
        except service.EntryErrors as exc:
            db.session.rollback()
            errors = exc.errors
        except (Conflict, StaleDataError):  # saved by someone else since the form was loaded
            db.session.rollback()
            entry = db.session.get(JobQueueEntry, entry.id)
            saved_values = vars(service.EntryData.of(entry))
            labels = {name: field.label.text for name, field in form._fields.items() if name in saved_values}
            return _render_card(entry, form, {"_": CONFLICT_MESSAGE}, 409,
                                conflict=differences(saved_values, vars(data), labels))
    return _render_card(entry, form, errors, 422)


@bp.route("/new", methods=["GET", "POST"])
@require_role("admin")
def new():
    """A new job queue entry (Ready when saved)."""
    if request.method == "POST":
        return _save(None)
    form = EntryForm()
    form.load_choices()
    form.owner_id.data = current_user.id
    return _render_card(None, form, {})


@bp.route("/<int:entry_id>", methods=["GET", "POST"])
@require_role("admin")
def card(entry_id: int):
    """The job queue entry card: facts, actions, the form (POST saves it)."""
    entry = _entry(entry_id)
    if request.method == "POST":
        return _save(entry)
    form = EntryForm()
    form.load_choices()
    form.fill(service.EntryData.of(entry))
    return _render_card(entry, form, {})


ACTIONS = {
    "set-ready": service.set_ready,
    "set-on-hold": service.set_on_hold,
    "restart": service.restart,
    "run-now": service.run_now,
}


@bp.route("/<int:entry_id>/<action>", methods=["POST"])
@require_role("admin")
def act(entry_id: int, action: str):
    """Set Status to Ready, Set On Hold, Restart, Run now or Delete; back to the card
    (or the list) with a message."""
    entry = _entry(entry_id)
    back = request.form.get("back") == "list"
    try:
        if action == "delete":
            service.delete_entry(db.session, entry)
            db.session.commit()
            flash("Job queue entry deleted.")
            return redirect(url_for("jobqueue.list_page"))
        if action not in ACTIONS:
            abort(404)
        message = ACTIONS[action](db.session, entry, current_user)
        db.session.commit()
        flash(message)
    except service.JobQueueError as exc:
        db.session.rollback()
        flash(str(exc), "error")
    return redirect(url_for("jobqueue.list_page") if back else url_for("jobqueue.card", entry_id=entry_id))


@bp.route("/<int:entry_id>/error")
@require_role("admin")
def show_error(entry_id: int):
    """Show Error: the entry's last error and the traceback of its last failed run."""
    entry = _entry(entry_id)
    return render_template("jobqueue/error.html", entry=entry, failure=service.last_failure(db.session, entry))


@bp.route("/log")
@bp.route("/<int:entry_id>/log")
@require_role("admin")
def log_entries(entry_id: int | None = None):
    """Log Entries: one row per run (start, end, duration, status, error, who or what
    started it), newest first; for one entry or all, filtered by status."""
    entry = _entry(entry_id) if entry_id is not None else None
    status = request.args.get("status") or ""
    q = select(JobQueueLogEntry).order_by(JobQueueLogEntry.id.desc())
    if entry is not None:
        q = q.where(JobQueueLogEntry.entry_id == entry.id)
    if status in LOG_STATUSES:
        q = q.where(JobQueueLogEntry.status == status)
    pagination = db.paginate(q, page=request.args.get("page", 1, type=page_no), per_page=50, error_out=False)
    return render_template("jobqueue/log.html", entry=entry, pagination=pagination, status=status, statuses=LOG_STATUSES)
