"""The workflow portal: :func:`create_app` builds the Flask app."""
from __future__ import annotations

from flask import Flask, g, request

from portal.config import ROOT, Config, instance_dir
from portal.extensions import csrf, db, htmx, include_object, limiter, login, mail, migrate


def create_app(overrides: dict | None = None) -> Flask:
    """Build the app: configuration (environment, then ``overrides``), extensions,
    blueprints and CLI commands. Returns the Flask app."""
    app = Flask(
        __name__,
        instance_path=str(instance_dir()),
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    app.config.from_object(Config())
    if overrides:
        app.config.update(overrides)

    db.init_app(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"), render_as_batch=True, compare_type=True,
                    include_object=include_object)
    mail.init_app(app)
    htmx.init_app(app)
    csrf.init_app(app)
    login.init_app(app)
    app.config.setdefault("RATELIMIT_STORAGE_URI", app.config["REDIS_URL"])
    app.config.setdefault("RATELIMIT_KEY_PREFIX", f"portal:{app.config['RQ_QUEUE']}:limits")
    limiter.init_app(app)
    login.login_view = "auth.sign_in"
    login.login_message = "Please sign in to open that page."

    from portal import models  # noqa: F401  (registers every table)
    from portal.areas import register as register_areas

    register_areas()
    from portal.db_events import install as install_db_events

    install_db_events(app)

    install_bad_input_handling(app)  # before the blueprints: their <int:…> rules use the bounded converter

    from portal.approvals.setup_views import bp as approval_setup_bp
    from portal.approvals.views import bp as approvals_bp
    from portal.auth.views import bp as auth_bp
    from portal.flows.views import bp as flows_bp
    from portal.jobqueue.views import bp as jobqueue_bp
    from portal.notifications.template_views import bp as notification_templates_bp
    from portal.notifications.views import bp as notifications_bp
    from portal.records.views import bp as records_bp
    from portal.workflow.views import bp as workflows_bp
    from portal.workflow.hook_views import bp as hooks_bp  # flows started by signed HTTP requests

    for bp in (auth_bp, records_bp, approvals_bp, approval_setup_bp, flows_bp, notifications_bp, workflows_bp, jobqueue_bp,
               notification_templates_bp, hooks_bp):
        app.register_blueprint(bp)
    from portal.records.no_series_views import bp as no_series_bp  # No. Series (admins)

    app.register_blueprint(no_series_bp)
    from portal.audit.views import bp as audit_bp  # the Audit page (admins)

    app.register_blueprint(audit_bp)

    from portal.ops.views import bp as ops_bp, mount_rq_dashboard  # health, queue dashboard

    app.register_blueprint(ops_bp)
    mount_rq_dashboard(app)

    from portal.cli import register as register_cli

    register_cli(app)

    @app.after_request
    def _vary(response):
        if request.headers.get("HX-Request"):
            response.headers["Vary"] = "HX-Request"
        elif "Vary" not in response.headers:
            response.headers["Vary"] = "HX-Request"
        return response

    from sqlalchemy.orm.exc import StaleDataError

    @app.errorhandler(StaleDataError)
    def _changed_meanwhile(_error):
        """A save that raced with another save of the same row (a user's, or a flow's):
        nothing was saved; 409 with a message instead of a 500 (forms that carry a
        version show both values themselves, see :mod:`portal.versioning`)."""
        from flask import render_template

        db.session.rollback()
        return render_template("changed_meanwhile.html"), 409

    @app.after_request
    def _security_headers(response):
        """Headers every answer carries: script only from the portal's own files (see
        :mod:`portal.errors`), no framing by other sites, no MIME sniffing, no full URLs
        (with record ids) leaked to other sites, and HSTS over HTTPS."""
        from portal.errors import content_security_policy

        headers = response.headers
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Content-Security-Policy", content_security_policy(request.blueprint))
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "same-origin")
        if request.is_secure or app.config["PORTAL_BASE_URL"].startswith("https://"):
            headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        return response

    from portal.ui import register as register_ui

    register_ui(app)

    from portal.navigation import register as register_navigation  # header menus, Tell me (/search)

    register_navigation(app)

    # --- error pages in the layout, /favicon.ico, no Server version banner (portal/errors.py)
    from portal.errors import register as register_errors

    register_errors(app)
    # --- end error pages
    return app


# ---------------------------------------------------------------- bad input: a clear 4xx, never a 500

def install_bad_input_handling(app: Flask) -> None:
    """Bad input gets a clear 4xx and writes nothing: ``<int:…>`` URL parts beyond the
    database's integer range don't match (404); a body above ``MAX_CONTENT_LENGTH`` is
    413 naming the limit; values that don't fit their columns (the flush-time safety
    net, :class:`portal.util.InputRejected`) are 422 with the messages, rolled back;
    a value the database driver refuses is 400. (How 400/413 look: :mod:`portal.errors`.)"""
    from flask import render_template
    from sqlalchemy.exc import DataError
    from werkzeug.exceptions import BadRequest, RequestEntityTooLarge
    from werkzeug.routing import IntegerConverter

    from portal.errors import render_error  # the layout's error page, with these messages
    from portal.util import MAX_BIGINT, InputRejected

    class DbInteger(IntegerConverter):
        """``<int:…>`` that matches only ids the database can hold."""

        def __init__(self, url_map, fixed_digits=0, min=None, max=MAX_BIGINT, signed=False):  # noqa: A002
            super().__init__(url_map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)

    app.url_map.converters["int"] = DbInteger

    @app.context_processor
    def _upload_limit():
        return {"max_upload": size_text(app.config.get("MAX_CONTENT_LENGTH") or 0)}

    @app.errorhandler(RequestEntityTooLarge)
    def _too_large(_error):
        limit = size_text(app.config.get("MAX_CONTENT_LENGTH") or 0)
        return render_error(RequestEntityTooLarge(f"The upload is too large: the portal accepts at most {limit} per request."))

    @app.errorhandler(InputRejected)
    def _rejected(error):
        db.session.rollback()
        return render_template("bad_input.html", title="Not saved", messages=list(error.errors.values())), 422

    @app.errorhandler(DataError)
    @app.errorhandler(OverflowError)
    def _unstorable(_error):
        """The last line: a value the database driver refuses (PostgreSQL: a NUL
        byte even in a search; SQLite: an integer beyond 64 bits) that no check
        caught first. 400, rolled back."""
        db.session.rollback()
        return render_error(BadRequest("The request has a value the database can't take (a NUL character, or a number out of range)."))


def size_text(size: int) -> str:
    """A byte count in words: "5 MB", "512 KB", "900 bytes"."""
    for unit, factor in (("MB", 1024 * 1024), ("KB", 1024)):
        if size >= factor:
            return f"{size / factor:g} {unit}"
    return f"{size} bytes"
