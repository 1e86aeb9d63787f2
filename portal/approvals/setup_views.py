"""Approval setup pages (admins and the approval administrator only): Approval User
Setup (list of every user's setup, edit form per user, Test Setup) and Workflow User
Groups (list, card with members, delete). Views parse the form, call
:mod:`portal.approvals.setup` and commit."""
from __future__ import annotations

from functools import wraps

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from sqlalchemy import select
from sqlalchemy.orm.exc import StaleDataError
from wtforms import BooleanField, DecimalField, IntegerField, SelectField, StringField
from wtforms.validators import Length, Optional

from portal.approvals import setup
from portal.approvals.models import WorkflowUserGroup, WorkflowUserGroupMember
from portal.auth.models import User
from portal.extensions import db
from portal.records.models import Salesperson
from portal.versioning import CONFLICT_MESSAGE, Conflict, check_version, differences, form_version
from portal.util import db_int

try:  # WTForms 3.3+: options as SelectChoice (tuples are deprecated there)
    from wtforms.fields.choices import SelectChoice
except ImportError:  # pragma: no cover - WTForms 3.1/3.2 take (value, label) tuples
    SelectChoice = None

bp = Blueprint("approval_setup", __name__, url_prefix="/approvals/setup")

NOT_PERMITTED = "You are not permitted to change the approval setup: only admins and the approval administrator are."


def admin_only(view):
    """Decorator: the signed-in user must be an admin or the approval administrator;
    otherwise 403 with a message."""

    @wraps(view)
    @login_required
    def wrapped(*args, **kwargs):
        if not setup.may_administer(db.session, current_user):
            abort(403, description=NOT_PERMITTED)
        return view(*args, **kwargs)

    return wrapped


@bp.app_context_processor
def _nav():
    # Lazy: the query runs only where base.html asks (the header's admin links).
    return {"may_edit_approval_setup": lambda: setup.may_administer(db.session, current_user)}


def _choices(pairs):
    return [SelectChoice(v, label) for v, label in pairs] if SelectChoice else list(pairs)


def _optional_int(value):
    if value in (None, "", "None"):
        return None
    return db_int(value)  # beyond the id range: a ValueError, "choose from the list"


def _user_choices(blank: str | None = "—"):
    users = db.session.scalars(select(User).order_by(User.full_name, User.user_name))
    pairs = [(u.id, f"{u.full_name} ({u.user_name})") for u in users]
    return _choices(([("", blank)] if blank is not None else []) + pairs)


# ---------------------------------------------------------------- Approval User Setup

class SetupForm(FlaskForm):
    """One user's approval user setup."""

    class Meta:
        csrf = False  # CSRFProtect checks every POST already (the hidden csrf_token input)

    approver_id = SelectField("Approver", coerce=_optional_int, choices=[])
    salespers_purch_code = StringField("Salespers./Purch. Code", validators=[Optional(), Length(max=20)])
    sales_amount_approval_limit = DecimalField("Sales Amount Approval Limit", places=2, validators=[Optional()])
    unlimited_sales_approval = BooleanField("Unlimited Sales Approval")
    purchase_amount_approval_limit = DecimalField("Purchase Amount Approval Limit", places=2, validators=[Optional()])
    unlimited_purchase_approval = BooleanField("Unlimited Purchase Approval")
    request_amount_approval_limit = DecimalField("Request Amount Approval Limit", places=2, validators=[Optional()])
    unlimited_request_approval = BooleanField("Unlimited Request Approval")
    substitute_id = SelectField("Substitute", coerce=_optional_int, choices=[])
    email = StringField("E-Mail", validators=[Optional(), Length(max=200)])
    approval_administrator = BooleanField("Approval Administrator")
    time_zone = StringField("Time Zone", validators=[Optional(), Length(max=64)])

    def load_choices(self) -> None:
        """Fill the approver and substitute lists with every user."""
        self.approver_id.choices = _user_choices()
        self.substitute_id.choices = _user_choices()

    def fill(self, data: setup.SetupData) -> None:
        """Show ``data`` (the saved setup) in the form."""
        self.approver_id.data = data.approver_id
        self.salespers_purch_code.data = data.salespers_purch_code
        for kind in setup.LIMIT_KINDS:
            getattr(self, f"{kind}_amount_approval_limit").data = data.limits.get(kind)
            getattr(self, f"unlimited_{kind}_approval").data = data.unlimited.get(kind)
        self.substitute_id.data = data.substitute_id
        self.email.data = data.email
        self.approval_administrator.data = data.approval_administrator
        self.time_zone.data = data.time_zone

    def to_data(self) -> tuple[setup.SetupData, dict[str, str]]:
        """The form's values and its own field errors (first message per field)."""
        errors = {name: msgs[0] for name, msgs in self.errors.items() if msgs}
        for kind in setup.LIMIT_KINDS:
            name = f"{kind}_amount_approval_limit"
            if name in errors:
                errors[name] = f"Enter the {kind} amount approval limit as a number, e.g. 1500.00."
        if "approver_id" in errors:
            errors["approver_id"] = "Choose an approver from the list."
        if "substitute_id" in errors:
            errors["substitute_id"] = "Choose a substitute from the list."
        data = setup.SetupData(
            approver_id=self.approver_id.data,
            salespers_purch_code=(self.salespers_purch_code.data or "").strip() or None,
            limits={k: getattr(self, f"{k}_amount_approval_limit").data for k in setup.LIMIT_KINDS},
            unlimited={k: bool(getattr(self, f"unlimited_{k}_approval").data) for k in setup.LIMIT_KINDS},
            substitute_id=self.substitute_id.data,
            email=(self.email.data or "").strip() or None,
            approval_administrator=bool(self.approval_administrator.data),
            # blank or left out: the user's time zone stays as it is
            time_zone=(self.time_zone.data or "").strip() or None,
        )
        if "time_zone" in errors:
            errors["time_zone"] = "A time zone name has at most 64 characters, e.g. Europe/Berlin."
        return data, errors


@bp.route("/users")
@admin_only
def users():
    """Approval User Setup: every user with their setup (or New for users without)."""
    return render_template("approvals/setup_users.html", rows=setup.users_with_setups(db.session), limit_kinds=setup.LIMIT_KINDS)


def _render_setup(user: User, form: SetupForm, errors: dict, status: int = 200, conflict: list | None = None):
    codes = db.session.scalars(select(Salesperson).order_by(Salesperson.code)).all()
    return render_template("approvals/setup_user.html", user=user, existing=setup.setup_for(db.session, user.id),
                           form=form, errors=errors, codes=codes, limit_kinds=setup.LIMIT_KINDS,
                           time_zones=setup.TIME_ZONES, conflict=conflict or []), status


@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
@admin_only
def user_setup(user_id: int):
    """One user's approval user setup: the form (POST saves it; a user without a
    setup gets one)."""
    user = db.session.get(User, user_id) or abort(404)
    form = SetupForm()
    form.load_choices()
    if request.method == "GET":
        form.fill(setup.SetupData.of(setup.setup_for(db.session, user.id), user))
        return _render_setup(user, form, {})
    form.validate()
    data, errors = form.to_data()
    for name, message in setup.validate_setup(db.session, user, data).items():
        errors.setdefault(name, message)
    if not errors:
        try:
            existing = setup.setup_for(db.session, user.id)
            if existing is not None:
                check_version(existing, form_version(request.form))
            setup.save_setup(db.session, user, data, current_user.id)
            db.session.commit()
            flash(f"Approval user setup of {user.full_name} saved.")
            return redirect(url_for("approval_setup.users"))
        except setup.SetupErrors as exc:
            errors = exc.errors
        except (Conflict, StaleDataError):  # saved by someone else since the form was loaded
            db.session.rollback()
            saved = setup.SetupData.of(setup.setup_for(db.session, user.id), user)
            return _render_setup(user, form, {"_": CONFLICT_MESSAGE}, 409, conflict=_setup_differences(saved, data))
    db.session.rollback()
    return _render_setup(user, form, errors, 422)


def _setup_differences(saved: "setup.SetupData", yours: "setup.SetupData") -> list[tuple[str, str, str]]:
    """The approval user setup fields that differ between the saved setup and the
    form, in words (user names, not ids)."""
    names = dict(db.session.execute(select(User.id, User.full_name)).all())

    def flat(d: setup.SetupData) -> dict:
        out = {"approver": names.get(d.approver_id), "substitute": names.get(d.substitute_id),
               "salespers_purch_code": d.salespers_purch_code, "email": d.email,
               "approval_administrator": d.approval_administrator}
        for k in setup.LIMIT_KINDS:
            out[f"{k}_limit"] = d.limits.get(k)
            out[f"{k}_unlimited"] = d.unlimited.get(k)
        return out

    labels = {"approver": "Approver ID", "substitute": "Substitute", "salespers_purch_code": "Salespers./Purch. Code",
              "email": "E-Mail", "approval_administrator": "Approval Administrator"}
    for k in setup.LIMIT_KINDS:
        labels[f"{k}_limit"] = f"{k.capitalize()} Amount Approval Limit"
        labels[f"{k}_unlimited"] = f"Unlimited {k.capitalize()} Approval"
    return differences(flat(saved), flat(yours), labels)


@bp.route("/test")
@admin_only
def test_setup():
    """Test Setup: the gaps in the approval user setup, one message each."""
    return render_template("approvals/setup_test.html", gaps=setup.find_setup_gaps(db.session))


# ---------------------------------------------------------------- Workflow User Groups

class GroupForm(FlaskForm):
    """A workflow user group's header fields."""

    class Meta:
        csrf = False

    code = StringField("Code")
    description = StringField("Description")
    all_must_approve = BooleanField("All Must Approve")

    def to_data(self) -> setup.GroupData:
        """The form's values for :func:`setup.save_group`."""
        return setup.GroupData(code=self.code.data or "", description=self.description.data,
                               all_must_approve=bool(self.all_must_approve.data))


class MemberForm(FlaskForm):
    """Add a member (user and sequence no.) or change a member's sequence no."""

    class Meta:
        csrf = False

    user_id = SelectField("User", coerce=_optional_int, choices=[])
    sequence_no = IntegerField("Sequence No.", validators=[Optional()])

    def parsed(self) -> tuple[int | None, int | None, dict[str, str]]:
        """``(user_id, sequence_no, errors)`` with the form's own parse errors."""
        self.validate()
        errors = {}
        if self.sequence_no.errors:
            errors["sequence_no"] = "Enter the sequence no. as a whole number, 1 or more."
        if self.user_id.errors:
            errors["user_id"] = "Choose a user from the list."
        return self.user_id.data, self.sequence_no.data, errors


def _group_form(group: WorkflowUserGroup) -> GroupForm:
    form = GroupForm(formdata=None)
    form.code.data, form.description.data, form.all_must_approve.data = group.code, group.description, group.all_must_approve
    return form


def _group(group_id: int) -> WorkflowUserGroup:
    return db.session.get(WorkflowUserGroup, group_id) or abort(404)


@bp.route("/groups")
@admin_only
def groups():
    """Workflow User Groups: code, description, number of members, all must approve."""
    return render_template("approvals/group_list.html", rows=setup.groups_with_counts(db.session))


def _render_group(group: WorkflowUserGroup | None, form: GroupForm, errors: dict, status: int = 200,
                  member_form: MemberForm | None = None, member_errors: dict | None = None, edit_member: dict | None = None):
    ctx = dict(group=group, form=form, errors=errors)
    if group is not None:
        if member_form is None:
            member_form = MemberForm(formdata=None)
            member_form.sequence_no.data = setup.next_sequence_no(group)
        member_form.user_id.choices = _user_choices("Choose a user…")
        ctx.update(member_form=member_form, member_errors=member_errors or {}, edit_member=edit_member or {},
                   used_by=setup.workflows_using_group(db.session, group.code, enabled_only=False))
    return render_template("approvals/group_card.html", **ctx), status


def _save_group(group: WorkflowUserGroup | None):
    form = GroupForm()
    data = form.to_data()
    try:
        saved = setup.save_group(db.session, group, data, current_user.id)
        db.session.commit()
        flash(f"Workflow user group {saved.code} saved.")
        return redirect(url_for("approval_setup.group_card", group_id=saved.id))
    except setup.SetupErrors as exc:
        db.session.rollback()
        return _render_group(group, form, exc.errors, 422)


@bp.route("/groups/new", methods=["GET", "POST"])
@admin_only
def group_new():
    """A new workflow user group (members are added on its card once saved)."""
    if request.method == "POST":
        return _save_group(None)
    return _render_group(None, GroupForm(formdata=None), {})


@bp.route("/groups/<int:group_id>", methods=["GET", "POST"])
@admin_only
def group_card(group_id: int):
    """The workflow user group card: code, description, All Must Approve (POST saves
    them) and its members."""
    group = _group(group_id)
    if request.method == "POST":
        return _save_group(group)
    return _render_group(group, _group_form(group), {})


def _members_done(group: WorkflowUserGroup, message: str):
    """After a member change: back to the card's members with a message."""
    flash(message)
    return redirect(url_for("approval_setup.group_card", group_id=group.id) + "#group-members")


@bp.route("/groups/<int:group_id>/delete", methods=["POST"])
@admin_only
def group_delete(group_id: int):
    """Delete the group, unless an enabled workflow uses it."""
    group = _group(group_id)
    code = group.code
    try:
        setup.delete_group(db.session, group, current_user.id)
        db.session.commit()
        flash(f"Workflow user group {code} deleted.")
        return redirect(url_for("approval_setup.groups"))
    except setup.SetupError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("approval_setup.group_card", group_id=group_id))


@bp.route("/groups/<int:group_id>/members", methods=["POST"])
@admin_only
def member_add(group_id: int):
    """Add a member (user and sequence no.) to the group."""
    group = _group(group_id)
    form = MemberForm()
    form.user_id.choices = _user_choices("Choose a user…")
    user_id, sequence_no, errors = form.parsed()
    if not errors:
        try:
            member = setup.add_member(db.session, group, user_id, sequence_no, current_user.id)
            name = member.user.full_name
            db.session.commit()
            return _members_done(group, f"{name} added to workflow user group {group.code}.")
        except setup.SetupErrors as exc:
            errors = exc.errors
    db.session.rollback()
    return _render_group(group, _group_form(group), {}, 422, member_form=form, member_errors=errors)


def _member(group: WorkflowUserGroup, member_id: int) -> WorkflowUserGroupMember:
    member = db.session.get(WorkflowUserGroupMember, member_id)
    if member is None or member.group_id != group.id:
        abort(404)
    return member


@bp.route("/groups/<int:group_id>/members/<int:member_id>", methods=["POST"])
@admin_only
def member_change(group_id: int, member_id: int):
    """Change a member's sequence no."""
    group = _group(group_id)
    member = _member(group, member_id)
    form = MemberForm()
    form.user_id.choices = _user_choices("Choose a user…")
    _, sequence_no, errors = form.parsed()
    errors.pop("user_id", None)  # only the sequence no. is posted here
    if not errors:
        try:
            setup.change_member(db.session, member, sequence_no, current_user.id)
            name = member.user.full_name
            db.session.commit()
            return _members_done(group, f"{name} is now at sequence no. {sequence_no}.")
        except setup.SetupErrors as exc:
            errors = exc.errors
    db.session.rollback()
    posted = request.form.get("sequence_no", "")
    return _render_group(group, _group_form(group), {}, 422,
                         edit_member={"id": member_id, "value": posted, "error": errors.get("sequence_no")})


@bp.route("/groups/<int:group_id>/members/<int:member_id>/delete", methods=["POST"])
@admin_only
def member_remove(group_id: int, member_id: int):
    """Remove a member from the group."""
    group = _group(group_id)
    member = _member(group, member_id)
    name = member.user.full_name
    setup.remove_member(db.session, member, current_user.id)
    db.session.commit()
    return _members_done(group, f"{name} removed from workflow user group {group.code}.")
