"""Sign-in and sign-out."""
from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_limiter.util import get_remote_address
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload
from wtforms import PasswordField, StringField
from werkzeug.security import check_password_hash, generate_password_hash
from wtforms.validators import DataRequired

from portal.audit.service import record_audit
from portal.auth.models import User
from portal.extensions import db, limiter, login
from portal.util import local_path

bp = Blueprint("auth", __name__)


@login.user_loader
def _load_user(session_id: str):
    """The user of a session cookie's id ``"<user id>.<session version>"``, or None
    when it is malformed, the user is gone or inactive, or they signed out since."""
    user_id, _, version = session_id.partition(".")
    if not (user_id.isdigit() and version.isdigit()) or len(user_id) > 12 or len(version) > 12:
        return None
    user = db.session.get(User, int(user_id), options=[joinedload(User.roles)])
    if user is None or not user.active or (user.session_version or 0) != int(version):
        return None
    return user


class SignInForm(FlaskForm):
    user_name = StringField("User name", validators=[DataRequired()])
    password = PasswordField("Password", validators=[DataRequired()])


# checked against when the user name is unknown, so that an unknown user takes as long
# to refuse as a wrong password (no telling which user names exist)
_NO_USER_HASH = generate_password_hash("no user has this password")
TOO_MANY = "Too many failed sign-ins. Wait a minute, then try again."


def _user_name_key() -> str:
    return "sign-in:user:" + (request.form.get("user_name") or "").strip().lower()[:100]


def _failed(response) -> bool:
    return response.status_code != 302  # a successful sign-in redirects


def _limit(config_key: str):
    return lambda: current_app.config[config_key]


@bp.route("/sign-in", methods=["GET", "POST"])
@limiter.limit(_limit("SIGN_IN_LIMIT_PER_ADDRESS"), methods=["POST"], deduct_when=_failed, key_func=get_remote_address)
@limiter.limit(_limit("SIGN_IN_LIMIT_PER_USER"), methods=["POST"], deduct_when=_failed, key_func=_user_name_key)
def sign_in():
    form = SignInForm()
    if form.validate_on_submit():
        user = db.session.scalar(select(User).where(func.lower(User.user_name) == form.user_name.data.strip().lower()))
        valid = check_password_hash(user.password_hash if user is not None and user.password_hash else _NO_USER_HASH,
                                    form.password.data)
        if user is None or not valid or not user.active:
            form.password.errors.append("The user name or password is incorrect.")
            # the name as typed, never the user it may belong to: the audit trail tells
            # no more about which user names exist than this page does
            record_audit(db.session, "sign_in", "sign_in_failed", user_name=form.user_name.data.strip(),
                         detail=f"From {get_remote_address()}")
            db.session.commit()
        else:
            login_user(user)
            record_audit(db.session, "sign_in", "sign_in", user_id=user.id, user_name=user.user_name,
                         detail=f"From {get_remote_address()}")
            db.session.commit()
            return redirect(local_path(request.args.get("next"), url_for("records.home")))
    return render_template("auth/sign_in.html", form=form)


@bp.app_errorhandler(429)
def too_many_sign_ins(_error):
    """429 for sign-in attempts over the limit: the sign-in page with the reason. A
    refused sign-in is audited like a failed one (the name as typed, the address)."""
    if request.endpoint == "auth.sign_in" and request.method == "POST":
        db.session.rollback()
        typed = (request.form.get("user_name") or "").replace("\x00", "").strip()[:100]
        record_audit(db.session, "sign_in", "sign_in_refused", user_name=typed, detail=f"From {get_remote_address()}")
        db.session.commit()
    form = SignInForm()
    form.password.errors = [TOO_MANY]
    return render_template("auth/sign_in.html", form=form), 429


@bp.route("/sign-out", methods=["POST"])
@login_required
def sign_out():
    """End the session everywhere: the user's session version goes up, so a session
    cookie saved before no longer signs in (Flask-Login's alternative id)."""
    current_user.end_sessions()
    record_audit(db.session, "sign_in", "sign_out", user_id=current_user.id, user_name=current_user.user_name,
                 detail=f"From {get_remote_address()}")
    db.session.commit()
    logout_user()
    session.clear()
    flash("You are signed out.")
    return redirect(url_for("auth.sign_in"))
