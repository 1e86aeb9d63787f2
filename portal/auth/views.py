"""Sign-in and sign-out."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import login_required, login_user, logout_user
from flask_wtf import FlaskForm
from sqlalchemy import func, select
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired

from portal.auth.models import User
from portal.extensions import db, login

bp = Blueprint("auth", __name__)


@login.user_loader
def _load_user(user_id: str):
    return db.session.get(User, int(user_id))


class SignInForm(FlaskForm):
    user_name = StringField("User name", validators=[DataRequired()])
    password = PasswordField("Password", validators=[DataRequired()])


def _safe_next(target: str | None) -> str:
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return url_for("records.home")


@bp.route("/sign-in", methods=["GET", "POST"])
def sign_in():
    form = SignInForm()
    if form.validate_on_submit():
        user = db.session.scalar(select(User).where(func.lower(User.user_name) == form.user_name.data.strip().lower()))
        if user is None or not user.check_password(form.password.data) or not user.active:
            form.password.errors.append("The user name or password is incorrect.")
        else:
            login_user(user)
            return redirect(_safe_next(request.args.get("next")))
    return render_template("auth/sign_in.html", form=form)


@bp.route("/sign-out", methods=["POST"])
@login_required
def sign_out():
    logout_user()
    flash("You are signed out.")
    return redirect(url_for("auth.sign_in"))
