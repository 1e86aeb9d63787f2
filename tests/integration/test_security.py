"""Security by default, through the Flask test client: response headers, session
cookie flags, signing out ends the session (a cookie saved before no longer works),
redirects only to the portal's own paths, and failed sign-ins rate limited per user
and per address with a clear message."""
from __future__ import annotations

import pytest

from test_pages import csrf, sign_in

pytestmark = pytest.mark.usefixtures("clean_state")


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def fresh_limits(app):
    from portal.extensions import limiter

    with app.app_context():
        limiter.reset()
    yield
    with app.app_context():
        limiter.reset()


def test_every_page_carries_the_security_headers(client, app):
    for path in ("/sign-in", "/static/css/portal.css"):
        headers = client.get(path).headers
        assert headers["X-Frame-Options"] == "DENY"
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"] == "same-origin"
        assert "Strict-Transport-Security" not in headers  # plain HTTP: no HSTS
    sign_in(client, "msuyama", "northwind")
    assert client.get("/customers").headers["X-Frame-Options"] == "DENY"
    assert "Strict-Transport-Security" in client.get("/sign-in", base_url="https://portal.example").headers


def test_the_session_cookie_is_http_only_and_same_site(client, app):
    res = client.get("/sign-in")
    cookie = res.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # served over http: the browser must still send it
    from portal.config import Config

    import os

    old = os.environ.get("PORTAL_BASE_URL")
    os.environ["PORTAL_BASE_URL"] = "https://portal.example"
    try:
        config = Config()
    finally:
        if old is None:
            os.environ.pop("PORTAL_BASE_URL")
        else:
            os.environ["PORTAL_BASE_URL"] = old
    assert config.SESSION_COOKIE_SECURE and config.REMEMBER_COOKIE_SECURE


def test_signing_out_ends_the_session_a_saved_cookie_no_longer_works(app):
    browser = app.test_client()
    sign_in(browser, "msuyama", "northwind")
    assert browser.get("/customers").status_code == 200
    saved = browser.get_cookie("session").value  # what an attacker copied before sign-out
    page = browser.get("/customers").get_data(as_text=True)
    res = browser.post("/sign-out", data={"csrf_token": csrf(page)})
    assert res.status_code == 302 and "/sign-in" in res.headers["Location"]

    replay = app.test_client()
    replay.set_cookie("session", saved)
    res = replay.get("/customers")
    assert res.status_code == 302 and "/sign-in" in res.headers["Location"]
    # signing in again works, with a new cookie
    sign_in(browser, "msuyama", "northwind")
    assert browser.get("/customers").status_code == 200


@pytest.mark.parametrize("target", [
    "//evil.example/x", "/%09/evil.example", "/\\evil.example", "\\\\evil.example", "https://evil.example/",
    "http:evil.example", "/%0a/evil.example", "javascript:alert(1)",
])
def test_next_after_sign_in_never_leaves_the_portal(client, target, fresh_limits):
    page = client.get("/sign-in").get_data(as_text=True)
    res = client.post(f"/sign-in?next={target}", data={"user_name": "msuyama", "password": "northwind", "csrf_token": csrf(page)})
    assert res.status_code == 302
    assert res.headers["Location"] == "/", target


def test_next_after_sign_in_goes_to_a_portal_path(client, fresh_limits):
    page = client.get("/sign-in").get_data(as_text=True)
    res = client.post("/sign-in?next=/customers%3Fq%3Dberlin", data={"user_name": "msuyama", "password": "northwind",
                                                                     "csrf_token": csrf(page)})
    assert res.headers["Location"] == "/customers?q=berlin"


def test_next_after_enabling_a_workflow_never_leaves_the_portal(client, app):
    from portal.extensions import db
    from portal.workflow.models import Workflow

    with app.app_context():
        code = db.session.query(Workflow.code).filter(Workflow.template.is_(False)).order_by(Workflow.code).first()[0]
    sign_in(client, "admin", "admin")
    page = client.get(f"/workflows/{code}").get_data(as_text=True)
    for target in ("//evil.example", "/\t/evil.example", "/\\evil.example"):
        res = client.post(f"/workflows/{code}/disable", data={"csrf_token": csrf(page), "next": target})
        assert res.status_code == 302 and res.headers["Location"] == f"/workflows/{code}"


def test_failed_sign_ins_are_limited_per_user_with_a_clear_message(client, fresh_limits):
    for _ in range(5):
        res = sign_in(client, "msuyama", "wrong")
        assert res.status_code == 200 and "The user name or password is incorrect." in res.get_data(as_text=True)
    res = sign_in(client, "msuyama", "northwind")  # even the right password waits now
    assert res.status_code == 429
    assert "Too many failed sign-ins. Wait a minute, then try again." in res.get_data(as_text=True)
    # another user from the same address is not held up by msuyama's failures
    assert sign_in(client, "sbuchanan", "northwind").status_code == 200


def test_failed_sign_ins_are_limited_per_address(client, fresh_limits):
    for i in range(20):  # a different (unknown) user name each time: only the address repeats
        assert sign_in(client, f"nobody{i}", "x").status_code == 200
    assert sign_in(client, "sbuchanan", "northwind").status_code == 429


def test_successful_sign_ins_are_not_counted(client, fresh_limits):
    for _ in range(8):
        assert sign_in(client, "msuyama", "northwind").status_code == 200
        client.post("/sign-out", data={"csrf_token": csrf(client.get("/customers").get_data(as_text=True))})


def test_unknown_users_are_checked_against_a_password_hash_too(monkeypatch, client, fresh_limits):
    """Same work (one password hash check) for an unknown user as for a wrong
    password, so the response time doesn't tell which user names exist."""
    import portal.auth.views as views

    checked = []
    real = views.check_password_hash
    monkeypatch.setattr(views, "check_password_hash", lambda h, p: checked.append(h) or real(h, p))
    sign_in(client, "nobody-at-all", "x")
    sign_in(client, "msuyama", "wrong")
    assert len(checked) == 2 and checked[0] == views._NO_USER_HASH and checked[1] != views._NO_USER_HASH
