"""Real parts for the effect and dispatch tests: a webhook stub that counts
Idempotency-Keys (and can hang), an SMTP server that counts Message-IDs (and can
answer late), and `flask worker` / `flask scheduler` processes that can be killed."""
from __future__ import annotations

import asyncio
import email
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FLASK = str(Path(sys.executable).parent / "flask")


class WebhookStub:
    """A local HTTP server: counts requests per ``Idempotency-Key`` and keeps each
    one's path, headers and body (``requests``); ``hang[path]`` seconds are slept
    before answering the first ``hang_times[path]`` calls; ``answer[path]`` =
    ``(status, reason)`` instead of 201 (``{authorization}`` in the reason: the
    request's Authorization header, as a receiver that echoes it)."""

    def __init__(self):
        stub = self
        self.calls: list[tuple[str, str | None]] = []
        self.requests: list[dict] = []
        self.answer: dict[str, tuple[int, str]] = {}
        self.hang: dict[str, float] = {}
        self.hang_times: dict[str, int] = {}
        self.lock = threading.Lock()
        self.started = threading.Event()
        self.in_flight = self.max_in_flight = 0  # requests being answered at the same time

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode("utf-8", "replace")
                key = self.headers.get("Idempotency-Key")
                with stub.lock:
                    stub.calls.append((self.path, key))
                    stub.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                    stub.in_flight += 1
                    stub.max_in_flight = max(stub.max_in_flight, stub.in_flight)
                    delay = 0.0
                    if stub.hang_times.get(self.path, 0) > 0:
                        stub.hang_times[self.path] -= 1
                        delay = stub.hang.get(self.path, 0.0)
                stub.started.set()
                if delay:
                    time.sleep(delay)
                try:
                    status, reason = stub.answer.get(self.path, (201, None))
                    self.send_response(status, reason and reason.format(authorization=self.headers.get("Authorization")))
                    self.end_headers()
                except OSError:
                    pass  # the caller gave up (timeout or killed)
                finally:
                    with stub.lock:
                        stub.in_flight -= 1

            def log_message(self, *args):
                pass

        class Server(ThreadingHTTPServer):
            request_queue_size = 128  # a real receiver's listen backlog, not socketserver's 5

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def keys(self, path: str | None = None) -> Counter:
        with self.lock:
            return Counter(k for p, k in self.calls if path is None or p == path)

    def stop(self):
        self.server.shutdown()


class CountingSmtp:
    """An SMTP server (aiosmtpd) that counts every DATA it accepts per Message-ID
    (``received``), keeps the first copy of each (``messages``) and, with
    ``late_answer`` seconds, stores the mail and only then answers — after a client
    with a shorter timeout has given up."""

    def __init__(self, late_answer: float = 0.0):
        from aiosmtpd.controller import Controller

        self.received: Counter = Counter()
        self.messages: dict[str, email.message.Message] = {}
        self.late_answer = late_answer
        sink = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                message = email.message_from_bytes(envelope.original_content or envelope.content)
                msgid = (message["Message-ID"] or "").strip()
                sink.received[msgid] += 1
                first = msgid not in sink.messages
                sink.messages.setdefault(msgid, message)
                if first and sink.late_answer:
                    await asyncio.sleep(sink.late_answer)
                return "250 OK"

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def to(self, address: str) -> list:
        return [m for m in list(self.messages.values()) if address in (m["To"] or "")]

    def stop(self):
        self.controller.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def process_env(**extra: str) -> dict:
    env = dict(os.environ)
    env.update({k: str(v) for k, v in extra.items()})
    env["FLASK_APP"] = "app"
    return env


def start_worker(simple: bool = False, burst: bool = False, **env: str) -> subprocess.Popen:
    """A `flask worker` process (its own process group, so killing it kills its work
    horse too)."""
    args = [FLASK, "worker"] + (["--simple"] if simple else []) + (["--burst"] if burst else [])
    log = open(os.environ["EFFECT_TEST_LOG"], "ab") if os.environ.get("EFFECT_TEST_LOG") else subprocess.DEVNULL
    return subprocess.Popen(args, cwd=ROOT, env=process_env(**env), stdout=log, stderr=log, start_new_session=True)


def start_scheduler(**env: str) -> subprocess.Popen:
    return subprocess.Popen([FLASK, "scheduler"], cwd=ROOT, env=process_env(**env), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)


def kill(proc: subprocess.Popen, sig=signal.SIGKILL) -> None:
    """Kill the process and its group (work horses included)."""
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)


def wait_until(predicate, timeout: float, step: float = 0.1, what="condition"):
    """Poll ``predicate`` until it returns a truthy value; AssertionError on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what() if callable(what) else what}")
        time.sleep(step)
