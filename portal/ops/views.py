"""Operations: a health endpoint for load balancers and process managers, and the RQ
dashboard (queues, workers, failed jobs) for admins behind the portal's sign-in."""
from __future__ import annotations

import logging

from flask import Blueprint, Flask, abort, current_app, jsonify, redirect, request, url_for
from flask_login import current_user
from sqlalchemy import text

from portal.extensions import csrf, db

log = logging.getLogger(__name__)
bp = Blueprint("ops", __name__)


def health_checks() -> dict[str, str]:
    """Check the database (``SELECT 1``) and Redis (``PING``, 2 s timeout). Returns
    ``{"database": "ok" | "error: …", "redis": "ok" | "error: …"}``."""
    from portal.queue import get_redis

    checks: dict[str, str] = {}
    try:
        db.session.execute(text("SELECT 1"))
        db.session.rollback()
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        db.session.rollback()
        checks["database"] = f"error: {exc.__class__.__name__}"
    try:
        get_redis().ping()
        checks["redis"] = "ok"
    except Exception as exc:  # noqa: BLE001
        checks["redis"] = f"error: {exc.__class__.__name__}"
    return checks


@bp.route("/health")
def health():
    """200 ``{"status": "ok", "database": "ok", "redis": "ok"}`` when both answer, else
    503 with the failing part named (no details: anyone may ask)."""
    checks = health_checks()
    ok = all(v == "ok" for v in checks.values())
    return jsonify(status="ok" if ok else "unavailable", **checks), (200 if ok else 503)


def mount_rq_dashboard(app: Flask, prefix: str = "/rq") -> None:
    """Mount rq-dashboard at ``prefix`` for admins only (others get 403, anonymous
    users the sign-in page), on the portal's Redis. Its own buttons (requeue, delete)
    post without the portal's CSRF token, so the blueprint is exempt from it; the
    session cookie's ``SameSite=Lax`` keeps other sites' posts from carrying the
    sign-in."""
    import rq_dashboard

    app.config.setdefault("RQ_DASHBOARD_REDIS_URL", app.config["REDIS_URL"])
    app.config.setdefault("RQ_DASHBOARD_POLL_INTERVAL", 5000)
    rq_dashboard.web.setup_rq_connection(app)

    @app.before_request
    def _queue_dashboard_for_admins_only():
        if request.blueprint != rq_dashboard.blueprint.name:
            return None
        if not current_user.is_authenticated:
            return redirect(url_for("auth.sign_in", next=request.full_path.rstrip("?")))
        if not current_user.has_role("admin"):
            abort(403, description="Only admins may open the queue dashboard.")
        if request.method not in ("GET", "HEAD") and request.headers.get("Sec-Fetch-Site", "same-origin") not in (
                "same-origin", "none"):
            abort(403, description="The queue dashboard's actions can only be used from the dashboard.")
        if request.method == "GET" and request.endpoint and request.endpoint.endswith(".requeue_all"):
            abort(405)  # it changes things: a link from elsewhere must not do it
        return None

    csrf.exempt(rq_dashboard.blueprint)
    app.register_blueprint(rq_dashboard.blueprint, url_prefix=prefix)
