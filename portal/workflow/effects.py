"""External effects (an e-mail, a webhook call): recorded before, performed after the
commit outside any transaction, recorded after — exactly once as far as the receiver
can tell.

1. A response calls :func:`add_effect` in the transaction that runs it: an
   :class:`~portal.workflow.models.Effect` row with an idempotency key made from
   (instance, step instance, event) and what to do, already rendered.
2. After the commit a delivery job (:func:`deliver_effects`) claims due effects
   (conditional UPDATE with a lease, ``FOR UPDATE SKIP LOCKED`` on PostgreSQL), ends
   its transaction, performs them — e-mails of a batch over one SMTP connection,
   webhooks over one HTTP session per worker — and records each outcome in one
   short transaction.
3. A failure that may be temporary (connection error, timeout, 5xx, 408/429) is
   retried with back-off and **the same key**: webhooks send it as
   ``Idempotency-Key``, e-mails carry ``Message-ID: <key@…>``, so a receiver that
   already has it (the server took the data but the answer was lost) keeps one. A
   permanent failure (4xx) or the last attempt fails the effect and its run.
4. What is recorded as done is never performed again; a claim whose lease ran out
   (its worker died) is taken over by another worker.

Performers are registered per kind in :data:`portal.workflow.catalog.EFFECT_PERFORMERS`:
``fn(items) -> outcomes`` where each item is ``{"id", "key", "payload", "attempts",
"max_attempts"}`` and each outcome an :class:`Outcome`. The engine performs webhooks;
the notifications area registers e-mail.
"""
from __future__ import annotations

import json
import logging
import os
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from portal.extensions import db
from portal.util import utcnow
from portal.workflow.catalog import EFFECT_PERFORMERS
from portal.workflow.engine import StepContext, enqueue_after_commit, finish_if_done, is_unsaved, link_when_saved, step_run_key
from portal.workflow.leases import KEEPER, claim_rows, lease_end, worker_id
from portal.workflow.models import (
    EFFECT_DONE,
    EFFECT_FAILED,
    EFFECT_IN_PROGRESS,
    EFFECT_PENDING,
    Effect,
    WorkflowInstance,
)

log = logging.getLogger(__name__)

DELIVERY_JOB = "jobs.effects.deliver_effects"
BATCH_SIZE = 20
_EF = Effect.__table__


@dataclass
class Outcome:
    """What performing an effect came to: ``status`` ``done``, ``retry`` (may be
    temporary: try again with the same key) or ``failed`` (for good); ``message`` in
    words (the receiver's answer, or the error)."""

    status: str
    message: str


def effect_key(ctx: StepContext) -> str:
    """The idempotency key of the effect of the response being run: the step's run
    key (:func:`portal.workflow.engine.step_run_key`: the event with its creation
    time to the microsecond, the workflow, the step), so ids reused after old rows
    are deleted never make an old key again. A loop that runs the step again for a
    new event gets a new key; a retried event gets the same."""
    return "e" + step_run_key(ctx.instance, ctx.step, ctx.event).replace(":", "-w", 1).replace(":", "-s", 1)


def add_effect(ctx: StepContext, kind: str, description: str, payload: dict, max_attempts: int = 5) -> Effect:
    """Record an external effect of the running response (performed after the
    commit). ``kind``: a registered performer (``email``, ``webhook``);
    ``description``: what it does in words (run history); ``payload``: JSON data the
    performer needs; ``max_attempts``: tries before it fails for good. Returns the
    row (an existing one with the same key is returned as it is)."""
    session = ctx.session
    key = effect_key(ctx)
    if ctx.instance not in session.info.get("new_instances", ()):  # a new instance can't have one yet
        existing = session.scalar(select(Effect).where(Effect.key == key))
        if existing is not None:
            return existing
    unsaved = is_unsaved(ctx.step)  # (its id comes with the batch's insert of step instances)
    effect = Effect(key=key, kind=kind, description=description[:300], instance=ctx.instance,
                    **({} if unsaved else {"step_instance": ctx.step}),
                    payload=payload, max_attempts=max(1, int(max_attempts)), status=EFFECT_PENDING, attempts=0,
                    next_attempt_at=utcnow())
    if unsaved:
        link_when_saved(session, effect, "step_instance_id", ctx.step)
    if session.info.get("in_dispatcher"):
        # the dispatcher performs it right after its batch commits (no queue hop, no
        # claim): it is claimed by this worker from the start, under a lease like any
        # claim, so if the worker dies first another one takes it over
        effect.status, effect.attempts = EFFECT_IN_PROGRESS, 1
        effect.claimed_by, effect.lease_until = worker_id(), lease_end()
        session.info.setdefault("inline_effects", []).append(effect)
    else:
        enqueue_after_commit(session, DELIVERY_JOB)
    session.add(effect)
    session.info.setdefault("instances_with_effects", set()).add(ctx.instance)
    return effect


def deliver_inline(session: Session) -> dict[str, int]:
    """Perform the effects the dispatcher's last committed transaction created
    claimed by this worker (see :func:`add_effect`), outside any transaction, and
    record their outcomes (:func:`_record`). Effects of a rolled-back transaction are
    skipped (they were never written). A retry is left to a delivery job, enqueued
    here. Returns counts of outcomes: ``{"done", "retry", "failed"}``."""
    from sqlalchemy import inspect

    from portal.queue import enqueue_once

    created = session.info.pop("inline_effects", [])
    ids = [state.identity[0] for state in map(inspect, created) if state.persistent and state.identity]
    counts = {"done": 0, "retry": 0, "failed": 0}
    if not ids:
        return counts
    with KEEPER.holding(session.get_bind(), _EF):
        _deliver_claimed(session, ids, counts)
    if counts["retry"]:
        enqueue_once(DELIVERY_JOB)
    return counts


def forget_inline(session: Session) -> None:
    """Drop the dispatcher's list of effects to perform (its transaction was rolled
    back: they were never written)."""
    session.info.pop("inline_effects", None)


def _deliver_claimed(session: Session, ids: list[int], counts: dict[str, int]) -> None:
    """Perform the effects ``ids`` this worker has claimed, with no transaction open,
    record their outcomes and add them to ``counts``."""
    rows = _claimed_rows(session, ids)
    session.rollback()  # no transaction stays open while we call out
    outcomes = _perform(rows)
    for o in outcomes.values():
        counts[o.status if o.status in counts else "failed"] += 1
    _record(session, rows, outcomes)


def _claimed_rows(session: Session, ids: list[int]):
    """The effects ``ids`` still claimed by this worker, as rows for :func:`_perform`."""
    return session.execute(
        select(_EF.c.id, _EF.c.kind, _EF.c.key, _EF.c.payload, _EF.c.attempts, _EF.c.max_attempts,
               _EF.c.instance_id, _EF.c.step_instance_id, _EF.c.description)
        .where(_EF.c.id.in_(ids), _EF.c.claimed_by == worker_id(), _EF.c.status == EFFECT_IN_PROGRESS).order_by(_EF.c.id)
    ).all()


def backoff_seconds(attempts: int) -> float:
    """Seconds before attempt ``attempts + 1``: 1, 2, 4, … capped at 300."""
    return float(min(300, 2 ** max(0, attempts - 1)))


def claim_effects(session: Session, limit: int = BATCH_SIZE, now: datetime | None = None) -> list[int]:
    """Claim up to ``limit`` effects that are due (pending past their next attempt
    time, or in progress under an expired lease) for this worker. Commits. Returns
    the ids."""
    now = now or utcnow()

    def claimable(c):
        return or_(and_(c.c.status == EFFECT_PENDING, c.c.next_attempt_at <= now),
                   and_(c.c.status == EFFECT_IN_PROGRESS, c.c.lease_until < now))

    return claim_rows(session, _EF, claimable, limit, status=EFFECT_IN_PROGRESS, attempts=_EF.c.attempts + 1)


def _perform(rows) -> dict[int, Outcome]:
    """Perform claimed effects grouped by kind. Returns ``{effect id: Outcome}``."""
    outcomes: dict[int, Outcome] = {}
    by_kind: dict[str, list[dict]] = {}
    for r in rows:
        by_kind.setdefault(r.kind, []).append(
            {"id": r.id, "key": r.key, "payload": r.payload or {}, "attempts": r.attempts, "max_attempts": r.max_attempts})
    for kind, items in by_kind.items():
        performer = EFFECT_PERFORMERS.get(kind)
        if performer is None:
            for item in items:
                outcomes[item["id"]] = Outcome("failed", f"No performer for effects of kind {kind!r}.")
            continue
        try:
            results = performer(items)
        except Exception as exc:  # noqa: BLE001 - a performer bug: retry later, visibly
            log.exception("performing %s effects failed", kind)
            results = [Outcome("retry", f"{exc.__class__.__name__}: {exc}")] * len(items)
        for item, outcome in zip(items, results):
            outcomes[item["id"]] = outcome
    return outcomes


def _record(session: Session, rows, outcomes: dict[int, Outcome]) -> None:
    """Write the outcomes (only where this worker still holds the claim), put each
    done effect's answer where its response wrote the description (the step's run
    history line and the run's result) and finish the runs that have nothing left to
    do. A few statements per batch, not per effect. Commits."""
    from sqlalchemy import bindparam

    from portal.workflow.models import ACTIVE, WorkflowStepInstance, WorkflowStepRun

    now = utcnow()
    mine = (_EF.c.id == bindparam("b_id"), _EF.c.claimed_by == worker_id(), _EF.c.status == EFFECT_IN_PROGRESS)
    done, retry, failed, reports = [], [], [], []
    for r in rows:
        outcome = outcomes[r.id]
        if outcome.status == "done":
            done.append({"b_id": r.id, "b_outcome": outcome.message})
            if r.instance_id:
                reports.append((r, outcome.message))
        elif outcome.status == "retry" and r.attempts < r.max_attempts:
            retry.append({"b_id": r.id, "b_error": outcome.message,
                          "b_next": now + timedelta(seconds=backoff_seconds(r.attempts))})
        else:
            failed.append({"b_id": r.id, "b_error": f"{r.description}: {outcome.message}"})
    if done:
        session.execute(update(_EF).where(*mine).values(status=EFFECT_DONE, outcome=bindparam("b_outcome"), error=None,
                                                        done_at=now, lease_until=None), done)
    if retry:
        session.execute(update(_EF).where(*mine).values(status=EFFECT_PENDING, error=bindparam("b_error"),
                                                        next_attempt_at=bindparam("b_next"), lease_until=None), retry)
    if failed:
        session.execute(update(_EF).where(*mine).values(status=EFFECT_FAILED, error=bindparam("b_error"), done_at=now,
                                                        lease_until=None), failed)
    if reports:
        run = WorkflowStepRun.__table__
        session.execute(
            update(run).where(run.c.instance_id == bindparam("b_inst"), run.c.step_instance_id == bindparam("b_step"),
                              run.c.message == bindparam("b_desc")).values(message=bindparam("b_msg")),
            [{"b_inst": r.instance_id, "b_step": r.step_instance_id, "b_desc": r.description, "b_msg": m} for r, m in reports],
        )
    touched = sorted({r.instance_id for r in rows if r.instance_id and outcomes[r.id].status != "retry"}
                     | {r.instance_id for r in rows if r.instance_id and r.attempts >= r.max_attempts})
    if touched:
        if session.get_bind().dialect.name == "postgresql":
            # take turns with a dispatcher advancing the same run (and with other delivery
            # workers): whoever comes second sees the other's change and finishes the run
            session.execute(select(WorkflowInstance.id).where(WorkflowInstance.id.in_(touched))
                            .order_by(WorkflowInstance.id).with_for_update())
        instances = {i.id: i for i in session.scalars(
            select(WorkflowInstance).where(WorkflowInstance.id.in_(touched))
            .execution_options(populate_existing=True)).unique()}
        steps = WorkflowStepInstance.__table__
        active = set(session.scalars(select(steps.c.instance_id).where(
            steps.c.instance_id.in_(touched), steps.c.status == ACTIVE).distinct()))
        states: dict[int, set[str]] = {}
        for instance_id, status in session.execute(
                select(_EF.c.instance_id, _EF.c.status).where(_EF.c.instance_id.in_(touched)).distinct()):
            states.setdefault(instance_id, set()).add(status)
        for r, message in reports:
            inst = instances.get(r.instance_id)
            if inst is not None and inst.result and r.description in inst.result:
                inst.result = inst.result.replace(r.description, message, 1)
        for instance_id in touched:
            if instance_id in instances:
                finish_if_done(session, instances[instance_id], states.get(instance_id, set()),
                               has_active_step=instance_id in active)
    session.commit()


def deliver_effects(session: Session | None = None, limit: int = BATCH_SIZE, wait_for_retries: float = 3.0,
                    max_seconds: float | None = None) -> dict[str, int]:
    """Claim, perform and record due effects until none is left. Retries due within
    a few seconds are waited for (at most ``wait_for_retries`` seconds in all); later
    ones are enqueued again by the scheduler's :func:`portal.workflow.dispatch.watchdog`.
    A full batch enqueues another delivery job so idle workers join in;
    ``max_seconds``: after this long the rest goes to a new job (other jobs get
    their turn). Returns counts of outcomes: ``{"done", "retry", "failed"}``."""
    from portal.queue import enqueue_once

    session = session or db.session
    counts = {"done": 0, "retry": 0, "failed": 0}
    waited = 0.0
    started = time.monotonic()
    with KEEPER.holding(session.get_bind(), _EF):
        while True:
            if max_seconds is not None and time.monotonic() - started - waited > max_seconds:
                enqueue_once(DELIVERY_JOB)
                break
            ids = claim_effects(session, limit)
            if not ids:
                soonest = session.scalar(select(func.min(Effect.next_attempt_at)).where(Effect.status == EFFECT_PENDING))
                session.rollback()
                if soonest is None:
                    break
                delay = max(0.05, (soonest - utcnow()).total_seconds())
                if waited + delay > wait_for_retries:
                    break
                time.sleep(delay)
                waited += delay
                continue
            if len(ids) == limit:
                enqueue_once(DELIVERY_JOB)
            _deliver_claimed(session, ids, counts)
    return counts


def effects_waiting(session: Session, now: datetime, idle_seconds: float = 2.0) -> bool:
    """True if an effect is due but nobody seems to be on it: pending, due, and
    created more than ``idle_seconds`` ago, or in progress under an expired lease."""
    return session.scalar(
        select(Effect.id).where(or_(
            and_(Effect.status == EFFECT_PENDING, Effect.next_attempt_at <= now,
                 Effect.created_at < now - timedelta(seconds=idle_seconds)),
            and_(Effect.status == EFFECT_IN_PROGRESS, Effect.lease_until < now),
        )).limit(1)
    ) is not None


# ---------------------------------------------------------------- webhooks

_http = threading.local()
_pool: dict[int, ThreadPoolExecutor] = {}

WEBHOOK_CONCURRENCY = int(os.environ.get("WEBHOOK_CONCURRENCY", "8"))
"""How many webhook calls of a batch a worker makes at the same time (threads, each
with its own HTTP session): a batch of slow receivers takes about as long as its
slowest call, not the sum of them."""


def http_session():
    """This thread's ``requests.Session`` (connections kept alive between calls; a
    forked work horse makes its own)."""
    import requests

    pid = os.getpid()
    if getattr(_http, "pid", None) != pid:
        session = requests.Session()
        if not urllib.request.getproxies():
            # no proxy configured: skip requests' per-call look-up of proxy variables
            # (a fifth of a webhook call's CPU), keeping a CA bundle named there
            session.trust_env = False
            session.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
        _http.pid, _http.session = pid, session
    return _http.session


def _webhook_pool() -> ThreadPoolExecutor:
    pid = os.getpid()
    pool = _pool.get(pid)
    if pool is None:
        _pool.clear()
        pool = _pool[pid] = ThreadPoolExecutor(max_workers=max(1, WEBHOOK_CONCURRENCY), thread_name_prefix="webhook")
    return pool


RETRY_STATUSES = {408, 425, 429}


def call_webhook(item: dict) -> Outcome:
    """Make one webhook call: ``item["payload"]`` = ``{"url", "method", "headers",
    "body", "timeout"}`` (seconds per try), with ``item["key"]`` in
    ``Idempotency-Key`` and ``item["secret_headers"]`` (opened by
    :func:`perform_webhooks`) added. 2xx → done; 5xx, 408/425/429, connection errors
    and timeouts → retry; other answers → failed. A secret never appears in the
    outcome's message."""
    import requests

    p = item["payload"]
    method, url = p.get("method", "POST"), p["url"]
    headers = {**(p.get("headers") or {}), **item.get("secret_headers", {}), "Idempotency-Key": item["key"]}
    body = p.get("body")
    hide = item.get("secret_values", ())
    try:
        response = http_session().request(method, url, data=body.encode() if (body is not None and method != "GET") else None,
                                          headers=headers, timeout=float(p.get("timeout") or 10), allow_redirects=False)
    except requests.RequestException as exc:
        return Outcome("retry", _redact(f"{method} {url} failed: {exc.__class__.__name__}: {exc}", hide))
    text = f"{method} {url} → {response.status_code}"
    if 200 <= response.status_code < 300:
        return Outcome("done", text)
    if response.status_code >= 500 or response.status_code in RETRY_STATUSES:
        return Outcome("retry", _redact(f"{method} {url} answered {response.status_code} {response.reason}", hide))
    return Outcome("failed", _redact(f"{method} {url} answered {response.status_code} {response.reason}", hide))


def _redact(text: str, secrets) -> str:
    """``text`` with every secret value in it replaced by ``••••``."""
    for value in secrets:
        if value:
            text = text.replace(value, "••••")
    return text


def open_webhook_secrets(secrets: dict | None) -> tuple[dict[str, str], list[str]]:
    """The headers made from a webhook effect's encrypted ``secrets``
    (``bearer_token`` → ``Authorization: Bearer …``, ``basic_username`` and
    ``basic_password`` → ``Authorization: Basic …``, ``secret_headers`` → its
    ``Name: value`` lines) and the plain secret values (to keep them out of
    messages). Needs the app (the key). Raises
    :class:`portal.workflow.vault.SecretError` when a secret can't be opened."""
    import base64

    from portal.workflow import vault

    secrets = secrets or {}
    headers: dict[str, str] = {}
    values: list[str] = []
    if secrets.get("secret_headers"):
        extra, _problems = vault.parse_header_lines(vault.open_sealed(secrets["secret_headers"]))
        headers.update(extra)
        values += [v for v in extra.values() if len(v) >= 4]
    if secrets.get("bearer_token"):
        token = vault.open_sealed(secrets["bearer_token"])
        headers["Authorization"] = f"Bearer {token}"
        values.append(token)
    elif secrets.get("basic_username"):
        password = vault.open_sealed(secrets["basic_password"]) if secrets.get("basic_password") else ""
        pair = base64.b64encode(f"{secrets['basic_username']}:{password}".encode()).decode()
        headers["Authorization"] = f"Basic {pair}"
        values += [password, pair]
    return headers, values


def perform_webhooks(items: list[dict]) -> list[Outcome]:
    """Open each webhook's secrets (here, in the app's thread: the key is in its
    configuration) and call each webhook (:func:`call_webhook`), up to
    :data:`WEBHOOK_CONCURRENCY` at a time. Returns one :class:`Outcome` per item, in
    order; a secret that can't be opened fails its call."""
    from portal.workflow.vault import SecretError

    ready, failed = [], {}
    for i, item in enumerate(items):
        try:
            headers, values = open_webhook_secrets(item["payload"].get("secrets"))
        except SecretError as exc:
            failed[i] = Outcome("failed", str(exc))
            continue
        ready.append((i, {**item, "secret_headers": headers, "secret_values": values}))
    if len(ready) <= 1 or WEBHOOK_CONCURRENCY <= 1:
        results = [call_webhook(item) for _, item in ready]
    else:
        results = list(_webhook_pool().map(call_webhook, [item for _, item in ready]))
    outcomes = dict(failed)
    outcomes.update({i: o for (i, _), o in zip(ready, results)})
    return [outcomes[i] for i in range(len(items))]


EFFECT_PERFORMERS["webhook"] = perform_webhooks


def webhook_payload(url: str, method: str, body: str, timeout: float, instance_id: int, headers: dict | None = None,
                    secrets: dict | None = None) -> dict:
    """The payload of a webhook effect: JSON content type when ``body`` parses as
    JSON, else plain text; ``headers`` (plain ``{name: value}``) added; ``secrets``
    (the step's ``bearer_token``, ``basic_username``, ``basic_password``,
    ``secret_headers``, the secrets still encrypted) kept as they are for the
    performer (:func:`open_webhook_secrets`)."""
    base = {"User-Agent": "workflow-portal", "X-Workflow-Instance": str(instance_id)}
    try:
        json.loads(body)
        base["Content-Type"] = "application/json"
    except ValueError:
        base["Content-Type"] = "text/plain; charset=utf-8"
    payload = {"url": url, "method": method, "headers": {**base, **(headers or {})}, "body": body, "timeout": timeout}
    if secrets:
        payload["secrets"] = dict(secrets)
    return payload
