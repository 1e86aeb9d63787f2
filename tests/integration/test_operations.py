"""Operations: the health endpoint (database and Redis), the RQ dashboard for admins
only, and gunicorn (the production web server) serving the portal."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from test_pages import sign_in

pytestmark = pytest.mark.usefixtures("clean_state")
ROOT = Path(__file__).resolve().parents[2]


def test_health_says_ok_when_database_and_redis_answer(app):
    res = app.test_client().get("/health")
    assert res.status_code == 200
    assert res.get_json() == {"status": "ok", "database": "ok", "redis": "ok"}


def test_health_names_the_part_that_does_not_answer(app):
    from portal import queue

    client = app.test_client()
    saved = dict(queue._connections)
    try:
        with app.app_context():
            from redis import Redis

            queue._connections[app.config["REDIS_URL"]] = Redis(host="127.0.0.1", port=1, socket_connect_timeout=1)
            res = client.get("/health")
    finally:
        queue._connections.clear()
        queue._connections.update(saved)
    assert res.status_code == 503
    body = res.get_json()
    assert body["status"] == "unavailable" and body["database"] == "ok" and body["redis"].startswith("error")


@pytest.mark.parametrize("user,password,status", [
    ("admin", "admin", 200), ("afuller", "northwind", 200), ("msuyama", "northwind", 403), ("lcallahan", "northwind", 403),
])
def test_the_queue_dashboard_is_for_admins_only(app, user, password, status):
    client = app.test_client()
    assert client.get("/rq/").status_code == 302  # anonymous: sign in first
    sign_in(client, user, password)
    res = client.get("/rq/")
    assert res.status_code == status
    if status == 200:
        assert "RQ" in res.get_data(as_text=True)
        assert client.get("/rq/0/data/queues.json").status_code == 200
        assert client.get("/rq/requeue/portal").status_code == 405  # changes things: never by a link


def test_gunicorn_serves_the_portal(app, tmp_path):
    from portal.cli import gunicorn_command

    from effect_helpers import free_port

    port = free_port()
    env = dict(os.environ, FLASK_APP="app", WEB_CONCURRENCY="1", PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(gunicorn_command("127.0.0.1", port), cwd=ROOT, env=env,
                            stdout=open(tmp_path / "gunicorn.log", "wb"), stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                res = requests.get(f"http://127.0.0.1:{port}/health", timeout=30)  # (a worker boots first)
                break
            except (requests.ConnectionError, requests.Timeout):
                assert proc.poll() is None, (tmp_path / "gunicorn.log").read_text()
                assert time.monotonic() < deadline, "gunicorn did not answer"
                time.sleep(0.3)
        assert res.status_code == 200 and res.json()["status"] == "ok"
        assert res.headers["Server"] == "gunicorn"  # its name, no version
        page = requests.get(f"http://127.0.0.1:{port}/sign-in", timeout=30)
        assert page.status_code == 200 and "Sign in" in page.text and page.headers["X-Frame-Options"] == "DENY"
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    assert sys.executable  # (the same interpreter as the suite)


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_flask_up_stops_cleanly(tmp_path, sig):
    """``flask up`` in a fresh instance (SQLite, the embedded Redis-compatible server and
    SMTP sink on free ports) answers, then Ctrl+C (SIGINT to the whole process group, as
    a terminal sends it) or SIGTERM stops the web server, worker, scheduler, sink and
    embedded server: exit code 0 and no traceback."""
    import signal

    from effect_helpers import free_port

    env = {k: v for k, v in os.environ.items()
           if k not in ("REDIS_URL", "MAIL_SERVER", "MAIL_PORT", "MAIL_SINK", "MAIL_SINK_DIR", "DATABASE_URL")}
    web, redis_port, mail_port = free_port(), free_port(), free_port()
    env.update(FLASK_APP="app", PORTAL_INSTANCE=str(tmp_path / "instance"), EMBEDDED_REDIS_PORT=str(redis_port),
               MAIL_SINK_PORT=str(mail_port), RQ_QUEUE=f"up-{web}", PYTHONUNBUFFERED="1", PYTHONPATH=str(ROOT))
    log = tmp_path / "up.log"
    proc = subprocess.Popen([sys.executable, "-m", "flask", "up", "--port", str(web), "--no-import"], cwd=ROOT, env=env,
                            stdout=open(log, "wb"), stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if requests.get(f"http://127.0.0.1:{web}/health", timeout=10).status_code == 200:
                    break
            except (requests.ConnectionError, requests.Timeout):
                pass
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "flask up did not answer:\n" + log.read_text()
            time.sleep(0.3)
        # everything busy with Redis, as after a while of use: the worker listening and its RQ scheduler holding
        # its locks, our scheduler active (stopping the embedded server first made them print tracebacks)
        while not all(mark in log.read_text() for mark in ("Listening on", "Acquired scheduler lock", "is active")):
            assert time.monotonic() < deadline, "the worker and scheduler did not start:\n" + log.read_text()
            time.sleep(0.3)
        time.sleep(1)
        banner = log.read_text()
        assert f"Redis: redis://127.0.0.1:{redis_port}/0 (embedded)" in banner
        assert f"127.0.0.1:{mail_port} (local sink" in banner and "lcallahan" in banner
        if sig == "SIGINT":
            os.killpg(proc.pid, signal.SIGINT)
        else:
            proc.send_signal(signal.SIGTERM)
        code = proc.wait(60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
    out = log.read_text()
    assert code == 0, out
    assert "Traceback" not in out and "while stopping" not in out, out
    assert out.rstrip().endswith("Stopped."), out[-2000:]
    with pytest.raises(requests.ConnectionError):  # the web server is gone
        requests.get(f"http://127.0.0.1:{web}/health", timeout=5)
