"""``POST /hooks/<token>``: an HTTP request that starts a flow (see
:mod:`portal.workflow.http_in`). No sign-in and no CSRF token — the request is
authenticated by its HMAC signature instead; rate-limited per address and client."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request, url_for
from flask_limiter.util import get_remote_address

from portal.extensions import csrf, db, limiter
from portal.workflow import http_in

bp = Blueprint("hooks", __name__, url_prefix="/hooks")


def _limit_key() -> str:
    return f"hook:{request.view_args.get('token', '')[:64]}:{get_remote_address()}"


@bp.route("/<token>", methods=["POST"])
@csrf.exempt
@limiter.limit(lambda: current_app.config["HOOK_RATE_LIMIT"], key_func=_limit_key)
def receive(token: str):
    """Queue a run of the flow at ``token``: 202 ``{"run_id", "status", "run_url"}``;
    refusals answer ``{"error": words}`` with 401 (signature), 400 (not JSON), 404,
    409 (flow off), 413 (body over ``HOOK_MAX_BODY_BYTES``) or 429 (rate limit)."""
    limit = current_app.config["HOOK_MAX_BODY_BYTES"]
    if (request.content_length or 0) > limit:
        return jsonify(error=f"The body is larger than {limit:,} bytes."), 413
    body = request.stream.read(limit + 1)
    if len(body) > limit:
        return jsonify(error=f"The body is larger than {limit:,} bytes."), 413
    try:
        run = http_in.receive(db.session, token, request.headers.get(http_in.TIMESTAMP_HEADER),
                              request.headers.get(http_in.SIGNATURE_HEADER), body, get_remote_address())
    except http_in.HookRefused as exc:
        db.session.commit()  # the refusal counters
        return jsonify(error=exc.message), exc.status
    db.session.commit()
    return jsonify(run_id=run.id, status="Queued", run_url=url_for("flows.run_detail", instance_id=run.id, _external=True)), 202
