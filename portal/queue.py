"""RQ plumbing: the Redis connection, the portal's queue, and enqueue-after-commit.

Redis carries work, not state: every job re-reads the database, and a job that could
not be enqueued (Redis down) is picked up by the scheduler's periodic sweep."""
from __future__ import annotations

import logging

from flask import current_app
from redis import Redis
from rq import Queue, Retry

log = logging.getLogger(__name__)

_connections: dict[str, Redis] = {}

JOB_SLICE_SECONDS = 0.5
"""How long a looping job (dispatch, effect delivery, notification sending) works
before it hands the rest to a new job at the back of the queue, so that a steady
stream of one kind of work never keeps the workers from the others."""


def get_redis(url: str | None = None) -> Redis:
    """A (cached) Redis client for ``url`` or the app's ``REDIS_URL``."""
    url = url or current_app.config["REDIS_URL"]
    conn = _connections.get(url)
    if conn is None:
        conn = Redis.from_url(url, socket_connect_timeout=2, socket_timeout=10)
        _connections[url] = conn
    return conn


URGENT_JOBS = frozenset({"jobs.outbox.dispatch_outbox"})
"""Jobs that go to the urgent queue: the dispatcher, which turns users' changes into
flow runs. Workers take urgent jobs first, so a run starts within one job slice even
while mail or job queue entries keep the other queue full."""


def get_queue(urgent: bool = False) -> Queue:
    """The portal's RQ queue (name from ``RQ_QUEUE``), or with ``urgent`` its urgent
    queue (``<RQ_QUEUE>-urgent``)."""
    name = current_app.config["RQ_QUEUE"]
    return Queue(f"{name}-urgent" if urgent else name, connection=get_redis())


def get_queues() -> list[Queue]:
    """The queues a worker listens on, in the order it takes jobs: urgent first."""
    return [get_queue(urgent=True), get_queue()]


def enqueue(func: str, *args, job_id: str | None = None, retry: int = 3, urgent: bool | None = None, **kwargs) -> bool:
    """Enqueue ``func`` (a dotted path under ``jobs.``) with RQ, retried ``retry`` times
    with back-off (5, 30, 120 s), on the urgent queue when ``urgent`` (default: when
    ``func`` is in :data:`URGENT_JOBS`). Returns False (and logs) if Redis can't be
    reached: the caller's database rows remain and the periodic sweep picks them up."""
    if urgent is None:
        urgent = func in URGENT_JOBS
    try:
        get_queue(urgent).enqueue(
            func,
            *args,
            job_id=job_id,
            retry=Retry(max=retry, interval=[5, 30, 120]) if retry else None,
            failure_ttl=7 * 24 * 3600,
            **kwargs,
        )
        return True
    except Exception as exc:  # noqa: BLE001 - Redis down must not fail the request
        log.warning("could not enqueue %s: %s", func, exc)
        return False


def _flag(func: str) -> str:
    return f"portal:{current_app.config['RQ_QUEUE']}:queued:{func}"


def enqueue_once(func: str, ttl: int = 60) -> bool:
    """Enqueue ``func`` unless a run of it is already waiting in the queue (a Redis
    flag set with NX, cleared by the job when it starts: :func:`job_started`). Many
    commits in a burst thus cost one job, and a commit after the job started gets a
    new one. The flag expires after ``ttl`` seconds in case a job is lost. Returns
    True if enqueued (False also when Redis can't be reached)."""
    try:
        if not get_redis().set(_flag(func), 1, nx=True, ex=ttl):
            return False
    except Exception as exc:  # noqa: BLE001 - Redis down: the sweep picks the work up
        log.warning("could not reach Redis to enqueue %s: %s", func, exc)
        return False
    if not enqueue(func, retry=0):
        get_redis().delete(_flag(func))
        return False
    return True


def job_started(func: str) -> None:
    """Clear :func:`enqueue_once`'s flag: work committed from now on enqueues anew."""
    try:
        get_redis().delete(_flag(func))
    except Exception:  # noqa: BLE001
        pass


def reset_queue() -> None:
    """Empty the portal queue and clear the :func:`enqueue_once` flags (tests, ops)."""
    for queue in get_queues():
        queue.empty()
    redis = get_redis()
    for key in redis.scan_iter(match=f"portal:{current_app.config['RQ_QUEUE']}:queued:*"):
        redis.delete(key)
