"""Error pages in the portal's layout with a way back (400, 403, 404, 405, 413, 500), a
one-line fragment for htmx requests, ``/favicon.ico``, the Content-Security-Policy (no
inline script anywhere in the templates) and no ``Server`` version banner from the
development server."""
from __future__ import annotations

import re
import threading
import urllib.request
from pathlib import Path

import pytest

from test_pages import sign_in

pytestmark = pytest.mark.usefixtures("clean_state")

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"


@pytest.fixture
def client(app):
    return app.test_client()


def assert_error_page(res, status: int, title: str, message: str | None = None):
    html = res.get_data(as_text=True)
    assert res.status_code == status, html[:300]
    assert '<header class="topbar">' in html and f"<h1>{title}</h1>" in html
    assert 'href="/">Go to the home page</a>' in html and "data-history-back" in html
    if message:
        assert message in html


def test_404_403_405_400_pages_are_in_the_layout_with_a_way_back(client):
    assert_error_page(client.get("/no-such-page/1/2"), 404, "Not found", "There is no page or record at this address.")
    sign_in(client, "msuyama", "northwind")
    res = client.get("/customers/999999999")
    assert_error_page(res, 404, "Not found", "Customer 999999999 does not exist.")  # the view's own words
    assert ">Customers</a>" in res.get_data(as_text=True)  # the signed-in header
    assert_error_page(client.get("/mailbox"), 403, "Not permitted")
    assert_error_page(client.get("/rq/"), 403, "Not permitted", "Only admins may open the queue dashboard.")
    assert_error_page(client.get("/approvals/decide"), 405, "Not allowed here")
    assert_error_page(client.post("/flows/get-started"), 400, "Bad request", "The CSRF token is missing.")


def test_an_htmx_request_that_errors_gets_a_fragment(client):
    sign_in(client, "msuyama", "northwind")
    res = client.get("/customers/999999999", headers={"HX-Request": "true"})
    html = res.get_data(as_text=True)
    assert res.status_code == 404
    assert "<html" not in html and "topbar" not in html
    assert 'data-error-fragment' in html and "Not found: Customer 999999999 does not exist." in html
    res = client.get("/mailbox", headers={"HX-Request": "true"})
    assert res.status_code == 403 and "<html" not in res.get_data(as_text=True)


def test_500_and_413_pages(app):
    """A fresh app (routes can't be added to one that served requests) with a route
    that fails and a small request size limit."""
    from portal import create_app

    fresh = create_app({"TESTING": False, "PROPAGATE_EXCEPTIONS": False, "MAX_CONTENT_LENGTH": 1000})

    @fresh.route("/boom")
    def boom():
        raise RuntimeError("a bug")

    client = fresh.test_client()
    res = client.get("/boom")
    assert_error_page(res, 500, "Something went wrong", "Nothing of this request was saved")
    assert "a bug" not in res.get_data(as_text=True)
    res = client.get("/boom", headers={"HX-Request": "true"})
    assert res.status_code == 500 and "<html" not in res.get_data(as_text=True)
    assert_error_page(client.post("/sign-in", data={"user_name": "x" * 5000}), 413, "Too large")


def test_favicon(client):
    res = client.get("/favicon.ico")
    assert res.status_code == 200 and res.mimetype == "image/vnd.microsoft.icon"
    assert res.data[:4] == b"\0\0\1\0" and b"PNG" in res.data
    page = client.get("/sign-in").get_data(as_text=True)
    icon = re.search(r'<link rel="icon" href="([^"]+)"', page).group(1)
    assert client.get(icon).status_code == 200


def test_the_policy_allows_script_from_the_portal_files_only(client):
    policy = client.get("/sign-in").headers["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["script-src"] == "'self'"
    assert directives["default-src"] == "'self'" and directives["frame-ancestors"] == "'none'"
    assert "unsafe" not in directives["script-src"]
    assert directives["style-src"] == "'self'"  # no style attributes, no <style> elements
    sign_in(client, "afuller", "northwind")
    assert "script-src 'self' 'unsafe-inline'" in client.get("/rq/").headers["Content-Security-Policy"]  # third-party dashboard
    assert "script-src 'self';" in client.get("/customers").headers["Content-Security-Policy"]
    assert "style-src 'self';" in client.get("/customers").headers["Content-Security-Policy"]


def test_no_template_has_inline_script():
    """No <script> without src, no on…= handler, no hx-on / javascript: URL: the policy
    would refuse them (the browser tests check the pages too)."""
    found = []
    for path in TEMPLATES.rglob("*.html"):
        text = path.read_text()
        for pattern in (r"<script(?![^>]*\bsrc=)[^>]*>", r"\son[a-z]+\s*=", r"\bhx-on", r"javascript:", r"hx-vals=['\"]\s*js:"):
            found += [f"{path.relative_to(TEMPLATES)}: {m.group(0)}" for m in re.finditer(pattern, text, re.I)]
    assert found == []


def test_the_development_server_sends_no_version_banner(app):
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.server_port}/sign-in", timeout=10) as res:
            assert res.headers["Server"] == "Workflow Portal"
            assert "Werkzeug" not in str(res.headers) and "Python" not in str(res.headers)
    finally:
        server.shutdown()
        server.server_close()


def test_mail_bodies_are_documents_of_their_own_with_inline_css_allowed_there_only(app):
    from portal.errors import mail_body_response

    with app.test_request_context():
        res = mail_body_response('<p style="color:#c00000">Hello</p>')
    policy = dict(d.strip().split(" ", 1) if " " in d.strip() else (d.strip(), "") for d in res.headers["Content-Security-Policy"].split(";"))
    assert "sandbox" in policy and policy["default-src"] == "'none'" and policy["style-src"] == "'unsafe-inline'"
    assert "script-src" not in policy and res.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert res.get_data(as_text=True) == '<p style="color:#c00000">Hello</p>'
