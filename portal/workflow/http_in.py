"""Flows started from outside: "An HTTP request is received".

Each such flow has an unguessable address ``/hooks/<token>`` and a signing secret
(:class:`~portal.workflow.models.WorkflowHttpTrigger`; the secret stored encrypted
and shown once, when it is made or made anew). A caller signs each request::

    X-Portal-Timestamp: <Unix time in seconds>
    X-Portal-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>" under the secret>

A request whose signature is missing or wrong, or whose timestamp is more than
:data:`MAX_AGE_SECONDS` away from now (a replay), is refused (401), logged on the
app logger and counted on the flow. A good one with a JSON body queues a run (like
an instant flow: a Queued instance plus an outbox event naming it); the run's
templates see the body as ``trigger.body`` and ``event.body``, its conditions as
fields ``body.<name>`` (nested: ``body.a.b``).
"""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets as random_secrets
import time
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.util import utcnow
from portal.workflow import vault
from portal.workflow.catalog import VALUE_PROVIDERS
from portal.workflow.engine import create_instance, raise_event
from portal.workflow.models import RUN_QUEUED, TRIGGER_AUTOMATED, Workflow, WorkflowHttpTrigger, WorkflowInstance

log = logging.getLogger(__name__)

HOOK_EVENT = "http_request_received"
TIMESTAMP_HEADER = "X-Portal-Timestamp"
SIGNATURE_HEADER = "X-Portal-Signature"
MAX_AGE_SECONDS = 300


class HookRefused(Exception):
    """A request that starts no run: ``status`` (HTTP status code) and ``message``
    (words for the caller; never a secret)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def uses_http_trigger(wf: Workflow) -> bool:
    """True if ``wf``'s entry-point event is "An HTTP request is received"."""
    return any(s.entry_point and s.function_name == HOOK_EVENT for s in wf.steps)


def trigger_of(session: Session, wf: Workflow) -> WorkflowHttpTrigger | None:
    """``wf``'s address and secret row, or None before they are made."""
    return session.scalar(select(WorkflowHttpTrigger).where(WorkflowHttpTrigger.workflow_id == wf.id))


def new_secret(session: Session, wf: Workflow) -> str:
    """Make ``wf``'s address (once: it stays the same afterwards) and a new signing
    secret (replacing the old one). Returns the secret in plain text — to be shown
    this once; it is stored encrypted. The caller commits."""
    secret = "whsec_" + random_secrets.token_urlsafe(32)
    row = trigger_of(session, wf)
    if row is None:
        row = WorkflowHttpTrigger(workflow_id=wf.id, token=random_secrets.token_urlsafe(32), accepted_count=0,
                                  rejected_count=0)
        session.add(row)
    row.secret, row.secret_set_at = vault.seal(secret), utcnow()
    return secret


def sign(secret: str, timestamp: str | int, body: bytes) -> str:
    """The signature header value of ``body`` sent at ``timestamp`` (Unix seconds):
    ``sha256=`` + hex HMAC-SHA256 of ``"<timestamp>.<body>"`` under ``secret``."""
    digest = hmac.new(secret.encode("utf-8"), str(timestamp).encode("ascii") + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def _signature_problem(secret: str, timestamp: str | None, signature: str | None, body: bytes, now: float) -> str | None:
    """Why the request's signature doesn't hold (words), or None when it does."""
    if not timestamp or not signature:
        return f"missing {TIMESTAMP_HEADER} or {SIGNATURE_HEADER} header"
    if not timestamp.strip().isdigit():
        return f"{TIMESTAMP_HEADER} is not a Unix time in seconds"
    if abs(now - int(timestamp)) > MAX_AGE_SECONDS:
        return f"timestamp more than {MAX_AGE_SECONDS // 60} minutes from now (a replay?)"
    if not hmac.compare_digest(sign(secret, timestamp.strip(), body), signature.strip()):
        return "the signature does not match"
    return None


def _refuse(row: WorkflowHttpTrigger, status: int, reason: str, address: str | None) -> HookRefused:
    row.rejected_count = (row.rejected_count or 0) + 1
    row.last_rejected_at, row.last_rejected_reason = utcnow(), reason[:200]
    log.warning("HTTP trigger of flow %s refused a request from %s: %s", row.workflow.code, address or "?", reason)
    return HookRefused(status, "Invalid or missing signature." if status == 401 else reason[:1].upper() + reason[1:] + ".")


def receive(session: Session, token: str, timestamp: str | None, signature: str | None, body: bytes,
            address: str | None = None, now: float | None = None) -> WorkflowInstance:
    """Handle a request to ``/hooks/<token>``: check its signature (see the module),
    parse its JSON body and queue a run of the flow (status Queued; the dispatcher
    runs it after the commit). Returns the run. Raises :class:`HookRefused`: 404 no
    such address, 401 bad or missing signature or a replay (counted on the flow and
    logged), 400 a body that is not JSON (counted too), 409 the flow is disabled or
    no longer starts from HTTP requests. The caller commits in every case (the
    counters are written then)."""
    row = session.scalar(select(WorkflowHttpTrigger).where(WorkflowHttpTrigger.token == token))
    if row is None or row.workflow is None:
        raise HookRefused(404, "There is no flow at this address.")
    try:
        secret = vault.open_sealed(row.secret)
    except vault.SecretError as exc:
        log.error("HTTP trigger of flow %s can't open its secret: %s", row.workflow.code, exc)
        raise HookRefused(500, "The flow's signing secret can't be read; ask an administrator.") from exc
    problem = _signature_problem(secret, timestamp, signature, body, time.time() if now is None else now)
    if problem:
        raise _refuse(row, 401, problem, address)
    try:
        data = json.loads(body.decode("utf-8")) if body.strip() else None
    except (UnicodeDecodeError, ValueError):
        data = None
    if data is None:
        raise _refuse(row, 400, "the body is not JSON", address)
    wf = row.workflow
    if not wf.enabled or not uses_http_trigger(wf) or wf.trigger_kind != TRIGGER_AUTOMATED:
        raise HookRefused(409, f"The flow {wf.code} is turned off.")
    inst = create_instance(session, wf, None, None, HOOK_EVENT, {}, None, status=RUN_QUEUED)
    raise_event(session, HOOK_EVENT, None, None, {"instance_id": inst.id, "body": data})
    row.accepted_count = (row.accepted_count or 0) + 1
    row.last_accepted_at = utcnow()
    return inst


def panel(session: Session, wf: Workflow, base_url: str) -> dict | None:
    """What the flow's pages show about its HTTP trigger (None when it has none):
    ``url`` (None before it is made), ``secret_set_at``, ``accepted``, ``rejected``,
    ``last_rejected_at``, ``last_rejected_reason``. The secret is never part of it."""
    if not uses_http_trigger(wf):
        return None
    row = trigger_of(session, wf)
    if row is None:
        return {"url": None, "secret_set_at": None, "accepted": 0, "rejected": 0, "last_rejected_at": None,
                "last_rejected_reason": None}
    return {"url": f"{base_url.rstrip('/')}/hooks/{row.token}", "secret_set_at": row.secret_set_at,
            "accepted": row.accepted_count, "rejected": row.rejected_count, "last_rejected_at": row.last_rejected_at,
            "last_rejected_reason": row.last_rejected_reason}


def examples(url: str, secret: str) -> dict[str, str]:
    """Ready-to-copy signing examples for ``url`` with ``secret``: ``curl`` (a shell
    snippet with openssl) and ``python`` (standard library only)."""
    curl = (
        f"SECRET='{secret}'\n"
        "BODY='{\"message\": \"hello\"}'\n"
        "TS=$(date +%s)\n"
        "SIG=$(printf '%s.%s' \"$TS\" \"$BODY\" | openssl dgst -sha256 -hmac \"$SECRET\" | sed 's/^.* //')\n"
        f"curl -X POST '{url}' \\\n"
        "  -H 'Content-Type: application/json' \\\n"
        f"  -H \"{TIMESTAMP_HEADER}: $TS\" \\\n"
        f"  -H \"{SIGNATURE_HEADER}: sha256=$SIG\" \\\n"
        "  --data \"$BODY\""
    )
    python = (
        "import hashlib, hmac, json, time, urllib.request\n\n"
        f"secret = {secret!r}\n"
        "body = json.dumps({\"message\": \"hello\"}).encode()\n"
        "ts = str(int(time.time()))\n"
        "sig = hmac.new(secret.encode(), ts.encode() + b\".\" + body, hashlib.sha256).hexdigest()\n"
        f"request = urllib.request.Request({url!r}, data=body, method=\"POST\", headers={{\n"
        f"    \"Content-Type\": \"application/json\", {TIMESTAMP_HEADER!r}: ts, {SIGNATURE_HEADER!r}: \"sha256=\" + sig}})\n"
        "print(urllib.request.urlopen(request).read().decode())  # {\"run_id\": ..., \"status\": \"Queued\"}"
    )
    return {"curl": curl, "python": python}


def _flatten(prefix: str, value: Any, out: dict[str, Any], depth: int = 0) -> None:
    if isinstance(value, dict) and depth < 5:
        for k, v in value.items():
            _flatten(f"{prefix}.{k}", v, out, depth + 1)
    else:
        out[prefix] = value


def body_values(_session: Session, ev, values: dict) -> None:
    """Condition values of an HTTP request's event: ``body.<name>`` for each value of
    its JSON body (nested objects: ``body.a.b``), and ``body`` itself."""
    if ev.event_code == HOOK_EVENT:
        body = (ev.payload or {}).get("body")
        values["body"] = body
        if isinstance(body, dict):
            _flatten("body", body, values)


if body_values not in VALUE_PROVIDERS:
    VALUE_PROVIDERS.append(body_values)
