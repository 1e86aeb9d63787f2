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

    from portal.approvals.setup_views import bp as approval_setup_bp
    from portal.approvals.views import bp as approvals_bp
    from portal.auth.views import bp as auth_bp
    from portal.flows.views import bp as flows_bp
    from portal.jobqueue.views import bp as jobqueue_bp
    from portal.notifications.template_views import bp as notification_templates_bp
    from portal.notifications.views import bp as notifications_bp
    from portal.records.views import bp as records_bp
    from portal.workflow.views import bp as workflows_bp

    for bp in (auth_bp, records_bp, approvals_bp, approval_setup_bp, flows_bp, notifications_bp, workflows_bp, jobqueue_bp,
               notification_templates_bp):
        app.register_blueprint(bp)
    from portal.records.no_series_views import bp as no_series_bp  # No. Series (admins)

    app.register_blueprint(no_series_bp)

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
        """Headers every answer carries: no framing by other sites, no MIME sniffing,
        no full URLs (with record ids) leaked to other sites, and HSTS over HTTPS."""
        headers = response.headers
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Content-Security-Policy", "frame-ancestors 'none'; object-src 'none'; base-uri 'self'; form-action 'self'")
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "same-origin")
        if request.is_secure or app.config["PORTAL_BASE_URL"].startswith("https://"):
            headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        return response

    from portal.ui import register as register_ui

    register_ui(app)
    return app
