"""Browser tests: the portal served by a live werkzeug server in a thread, a real RQ
worker in a subprocess, and the system Chromium driven by pytest-playwright.

Fixtures:
- ``live_server``: the base URL of the running portal (also pytest-playwright's
  ``base_url``, so ``page.goto("/sign-in")`` works);
- ``worker``: a ``flask worker`` subprocess on the session's queue, for the browser
  tests only (package scope); its output goes to ``worker.log`` in a tmp dir and the
  log's tail is added to the report of a failed test;
- ``sign_in`` / ``sign_out`` / ``open_nav``: sign a demo user in and out, follow a
  header link (opening the area menu that holds it);
- every test with a ``page`` fails when the browser reports a Content-Security-Policy
  violation (a ``securitypolicyviolation`` event or a "Refused to ..." console message):
  inline script and, since the policy has no ``style-src 'unsafe-inline'``, style
  attributes and ``<style>`` elements too (e-mail bodies are separate documents);
Every test here is marked ``browser`` (deselect with ``-m "not browser"``).
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
PROJECT_ROOT = HERE.parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


DEMO_PASSWORDS = {"msuyama": "northwind", "sbuchanan": "northwind", "afuller": "northwind", "lcallahan": "northwind", "admin": "admin"}


def pytest_collection_modifyitems(config, items):
    """Mark every test in this folder ``browser``."""
    for item in items:
        if HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.browser)


# ---------------------------------------------------------------- browser


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """pytest-playwright's launch options plus the system Chromium (``playwright
    install`` can't download browsers here), headless, without a sandbox (root)."""
    args = dict(browser_type_launch_args)
    if os.path.exists(CHROMIUM):
        args["executable_path"] = CHROMIUM
    args["headless"] = True
    args["args"] = [*args.get("args", []), *CHROMIUM_ARGS]
    return args


@pytest.fixture(scope="session")
def base_url(live_server) -> str:
    return live_server


# ---------------------------------------------------------------- server and worker


@pytest.fixture(scope="session")
def live_server(app):
    """Serve the portal app on a free port in a daemon thread; yields the base URL."""
    from werkzeug.serving import make_server

    port = free_port()
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}"
    server.shutdown()
    server.server_close()
    thread.join(10)


class WorkerProcess:
    def __init__(self, proc: subprocess.Popen, log_path: Path):
        self.proc = proc
        self.log_path = log_path

    def log_tail(self, lines: int = 80) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def assert_alive(self) -> None:
        if self.proc.poll() is not None:
            raise AssertionError(f"the RQ worker exited with {self.proc.returncode}:\n{self.log_tail()}")


@pytest.fixture(scope="package")
def worker(app, services, tmp_path_factory):
    """A real RQ worker (``flask worker``) in a subprocess on the session's queue.
    Package-scoped: it stops when the browser tests are done, so it can't take the
    jobs of later tests that run the queue themselves (``run_jobs``)."""
    log_path = tmp_path_factory.mktemp("worker") / "worker.log"
    log = open(log_path, "wb")
    env = dict(os.environ)
    env.setdefault("FLASK_APP", "app")
    env["PYTHONUNBUFFERED"] = "1"
    proc = subprocess.Popen(
        [sys.executable, "-m", "flask", "worker"],
        cwd=str(PROJECT_ROOT),
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    w = WorkerProcess(proc, log_path)
    # Wait until it listens on the queue (jobs enqueued before that just wait, but an
    # early crash is better reported here).
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        w.assert_alive()
        if b"Listening on" in log_path.read_bytes():
            break
        time.sleep(0.2)
    yield w
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)
    log.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call" and report.failed:
        w = item.funcargs.get("worker") if hasattr(item, "funcargs") else None
        if isinstance(w, WorkerProcess):
            report.sections.append(("RQ worker log (tail)", w.log_tail()))
        app = item.funcargs.get("app") if hasattr(item, "funcargs") else None
        if app is not None:
            report.sections.append(("Engine state (latest rows)", _engine_state(app)))


def _engine_state(app) -> str:
    """The latest outbox events, workflow runs and effects, for a failed browser test's
    report (what the worker did with the page's request)."""
    from sqlalchemy import text

    from portal.extensions import db

    out = []
    try:
        with app.app_context():
            for sql in ("SELECT id, event_code, record_type, record_id, status, attempts, claimed_by, error, created_at, processed_at"
                        " FROM outbox_event ORDER BY id DESC LIMIT 12",
                        "SELECT id, workflow_code, record_type, record_id, status, error FROM workflow_instance ORDER BY id DESC LIMIT 8",
                        "SELECT id, kind, status, attempts, error FROM workflow_effect ORDER BY id DESC LIMIT 8",
                        "SELECT code, enabled, modified_at FROM workflow WHERE template = false ORDER BY code"):
                out.append(sql.split(" FROM ")[1].split()[0])
                out.extend("  " + repr(tuple(r)) for r in db.session.execute(text(sql)))
            db.session.remove()
    except Exception as exc:  # noqa: BLE001 - a report, never a second failure
        out.append(f"(could not read: {exc!r})")
    return "\n".join(out)


# ---------------------------------------------------------------- Content-Security-Policy

REPORT_VIOLATIONS = """document.addEventListener("securitypolicyviolation", (e) => {
  console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || "inline"} at ${e.sourceFile}:${e.lineNumber}`);
}, true);"""


def policy_violation(text: str) -> bool:
    """True for a console message that reports a Content-Security-Policy violation."""
    return text.startswith("CSP violation") or "Content Security Policy" in text or text.startswith("Refused to")


@pytest.fixture(autouse=True)
def no_policy_violations(request):
    """Collect the Content-Security-Policy violations ``page`` reports (the listener
    is added by the test tool, outside the page's policy) and fail the test on any."""
    if "page" not in request.fixturenames:
        yield []
        return
    page = request.getfixturevalue("page")
    violations: list[str] = []
    page.add_init_script(REPORT_VIOLATIONS)
    page.on("console", lambda msg: violations.append(f"{page.url}: {msg.text}") if policy_violation(msg.text) else None)
    yield violations
    assert violations == [], "Content-Security-Policy violations:\n" + "\n".join(violations)


# ---------------------------------------------------------------- helpers


def _sign_in(page, user_name: str, password: str | None = None) -> None:
    from playwright.sync_api import expect

    page.goto("/sign-in")
    page.get_by_label("User name").fill(user_name)
    page.get_by_label("Password").fill(password or DEMO_PASSWORDS[user_name])
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#nav-user-button")).to_have_count(1)  # the header's user menu: signed in (folded on a phone)
    page.wait_for_load_state("load")


def _open_header_menu_of(page, link) -> None:
    """Open what hides the header's ``link``: the phone's Menu button, then the area
    menu (or user menu) holding it."""
    toggle = page.locator("[data-nav-toggle]")
    if toggle.is_visible() and toggle.get_attribute("aria-expanded") != "true":
        toggle.click()
    if not link.is_visible():
        button = link.locator("xpath=ancestor::*[@data-nav-menu][1]/button[@aria-expanded]")
        if button.get_attribute("aria-expanded") != "true":
            button.click()


def _sign_out(page) -> None:
    from playwright.sync_api import expect

    button = page.get_by_role("button", name="Sign out", include_hidden=True)  # in the (closed) user menu
    _open_header_menu_of(page, button)
    button.click()
    expect(page.get_by_role("button", name="Sign out")).to_have_count(0)


def _open_nav(page, name) -> None:
    """Click header link ``name`` (a string matched exactly, or a regex), opening its
    area menu first, and wait for the page (and htmx) to load: typing into an htmx
    search box before htmx initialised would not trigger the search."""
    exact = {"exact": True} if isinstance(name, str) else {}
    link = page.locator("#main-nav").get_by_role("link", name=name, include_hidden=True, **exact)  # in a closed menu
    _open_header_menu_of(page, link)
    link.click()
    page.wait_for_load_state("load")


@pytest.fixture
def open_nav():
    """``open_nav(page, "Customers")``: follow a header link; waits for the load event."""
    return _open_nav


@pytest.fixture
def sign_in():
    """``sign_in(page, user_name, password=None)``: sign a demo user in (the demo
    password is used when none is given)."""
    return _sign_in


@pytest.fixture
def sign_out():
    return _sign_out


def record_id(app, model, **where) -> int:
    """The id of the first ``model`` row whose columns equal ``where`` (browser tests
    open pages by id)."""
    from sqlalchemy import select

    from portal.extensions import db

    with app.app_context():
        query = select(model.id)
        for name, value in where.items():
            query = query.where(getattr(model, name) == value)
        return db.session.scalar(query.limit(1))
