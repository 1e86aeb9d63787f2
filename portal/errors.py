"""Error pages and the answers every page shares: the portal's layout (header, a way
back) for 400, 403, 404, 405, 413, 429 and 500, a small fragment instead of a page for
htmx requests, ``/favicon.ico``, the Content-Security-Policy and no ``Server`` version
banner from the development server.

Which status a view answers is decided by the view (``abort(404)``, ...); this module
only decides how the answer looks."""
from __future__ import annotations

import logging

from flask import Flask, Response, render_template, request, send_from_directory
from werkzeug.exceptions import HTTPException, InternalServerError

log = logging.getLogger(__name__)

#: status → (page title, what the user can do about it)
ERROR_PAGES: dict[int, tuple[str, str]] = {
    400: ("Bad request", "The request could not be understood. Go back, reload the page and try again."),
    403: ("Not permitted", "You are not permitted to open this page or do this."),
    404: ("Not found", "There is no page or record at this address. It may have been deleted."),
    405: ("Not allowed here", "This address does not take this kind of request (a link to an action?)."),
    413: ("Too large", "What was sent is larger than the portal accepts."),
    429: ("Too many requests", "Wait a minute, then try again."),
    500: ("Something went wrong", "The portal could not answer. Nothing of this request was saved; try again later."),
}

#: script and styles only from the portal's own files (no inline script, no eval, no
#: style attributes or <style> elements); e-mail bodies (inline CSS) are served as
#: documents of their own under MAIL_BODY_POLICY and shown in sandboxed frames.
CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; "
                           "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; "
                           "object-src 'none'; base-uri 'self'; form-action 'self'")
#: rq-dashboard (admins only, a third-party page) builds its tables with inline script
#: and underscore templates (``new Function``) and styles them inline.
QUEUE_DASHBOARD_POLICY = (CONTENT_SECURITY_POLICY.replace("script-src 'self'", "script-src 'self' 'unsafe-inline' 'unsafe-eval'")
                          .replace("style-src 'self'", "style-src 'self' 'unsafe-inline'"))
#: an e-mail body shown in the portal (mailbox, template preview): a sandboxed document
#: (no script, an opaque origin) whose CSS is inline, as mailed; images only inline.
MAIL_BODY_POLICY = "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'"

SERVER_NAME = "Workflow Portal"


def content_security_policy(blueprint: str | None) -> str:
    """The Content-Security-Policy header value for a page of ``blueprint``."""
    return QUEUE_DASHBOARD_POLICY if blueprint == "rq_dashboard" else CONTENT_SECURITY_POLICY


def mail_body_response(html: str) -> Response:
    """An e-mail body as a document of its own for a sandboxed ``<iframe src>`` of a
    portal page: its inline CSS is allowed (MAIL_BODY_POLICY), script never."""
    response = Response(html, mimetype="text/html")
    response.headers["Content-Security-Policy"] = MAIL_BODY_POLICY
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    response.headers["Cache-Control"] = "no-store"
    return response


def render_error(error: HTTPException) -> tuple[str, int] | Response:
    """The answer for ``error`` (an ``HTTPException``): a view's own response when it
    carries one; for htmx requests a one-line fragment (``errors/_fragment.html``), else
    the page ``errors/page.html`` in the portal's layout. Returns (html, status)."""
    if error.response is not None:
        return error.response
    code = error.code or 500
    title, hint = ERROR_PAGES.get(code, (error.name, ""))
    default = type(error).description
    # a view's own description says more than the generic one (e.g. "Only admins may ...")
    message = error.description if error.description and error.description != default and code != 500 else hint
    template = "errors/_fragment.html" if request.headers.get("HX-Request") else "errors/page.html"
    try:
        return render_template(template, code=code, title=title, message=message), code
    except Exception:  # noqa: BLE001 - the layout itself failed (e.g. the database is down)
        log.exception("rendering the %s page failed", code)
        return f"{code} {title}. {message}", code


def _server_error(error: InternalServerError):
    """500: roll back what the request had started (so the layout's queries can run),
    then the error page."""
    from portal.extensions import db

    try:
        db.session.rollback()
    except Exception:  # noqa: BLE001
        log.exception("rollback after a server error failed")
    return render_error(error)


def hide_server_version() -> None:
    """The development server (werkzeug, ``flask run`` / ``flask up``) answers
    ``Server: Workflow Portal`` instead of ``Werkzeug/x.y Python/x.y``. (gunicorn sends
    ``Server: gunicorn`` without a version.)"""
    from werkzeug.serving import WSGIRequestHandler

    WSGIRequestHandler.version_string = lambda self: SERVER_NAME  # type: ignore[method-assign]


def register(app: Flask) -> None:
    """Install the error pages (codes that already have a handler, e.g. sign-in's 429,
    keep it), ``/favicon.ico`` and the development server's banner on ``app``."""
    for code in ERROR_PAGES:
        if app.error_handler_spec[None].get(code):
            continue
        app.register_error_handler(code, _server_error if code == 500 else render_error)

    @app.route("/favicon.ico")
    def favicon():
        """The portal's icon (browsers ask for it on every page)."""
        return send_from_directory(app.static_folder, "favicon.ico", mimetype="image/vnd.microsoft.icon", max_age=86400)

    hide_server_version()
