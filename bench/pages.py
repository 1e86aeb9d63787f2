"""Benchmark: page speed at scale (issue 12, "Page speed at scale").

Builds a database of 100,000 customers, 200,000 sales orders with 1,000,000 lines
and 500,000 approval entries (times ``--scale``) on top of the Northwind demo data —
bulk inserts following the models (Core ``insert()`` executemany on SQLite, ``COPY``
on PostgreSQL), then ``ANALYZE`` and the search index maintenance the portal's nightly
system job does (``optimize_search_indexes``) — and prints the server time (the request handled
in-process through the Flask test client, signed in) p50 / p95 over ``--requests``
requests of each page:

- customers list: first page, a search, a sort (by name, descending);
- sales orders list: first page, a search (a customer name fragment), sort by amount;
- a sales order document page (5 lines, with its approval entries);
- Requests to Approve for an approver with 2,000 open requests;
- a customer card with its Automate menu;

next to the floor: the same layout (``base.html``, header counts and all) with an
empty body, for a signed-in user with no records, in the same run — timed once on its
own and, for each page's ratio, alternately with that page, request by request, so
both see the same moments of a machine whose speed drifts by a third from one minute
to the next. The targets are p95 < 30 ms and ≤ 3× the floor's p95; the bench prints
figures only, no assertions.

Usage: .venv/bin/python bench/pages.py [--only sqlite|postgres] [--scale 0.1]
       [--requests 200] [--repeat 1]
Each configuration runs in its own process on a scratch database
(:func:`harness.scratch_services`: SQLite in a temporary folder, or PostgreSQL
database ``h_speed_bench`` and Redis database 12 on 127.0.0.1).
"""
from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import time
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import scratch_services  # noqa: E402  (bench/ is on sys.path when run)

PASSWORD = "bench-pages"
CHUNK = 20_000
# name parts of the generated customers (one first part and second part together, e.g. "Steinimport", name ~0.5 % of them)
FIRST = ("Nord", "Sud", "Ost", "West", "Berg", "Tal", "Wald", "See", "Feld", "Stein", "Bach", "Burg", "Hof", "Dorf",
         "Haus", "Brück", "Mühl", "Kirch", "Linden", "Eichen")
SECOND = ("handel", "markt", "waren", "kontor", "laden", "versand", "import", "export", "feinkost", "delikatessen")
FORM = ("GmbH", "AG", "KG", "& Co.", "e.K.", "Ltd.", "S.A.", "Inc.")
CITIES = ("Berlin", "München", "Hamburg", "Köln", "Lyon", "Madrid", "London", "Seattle", "Graz", "Bern", "Oslo", "Porto",
          "Torino", "Lille", "Cork", "Gdansk", "Brno", "Aarhus", "Tampere", "Sevilla")
COUNTRIES = ("Germany", "France", "Spain", "UK", "USA", "Austria", "Switzerland", "Norway", "Portugal", "Italy")
PEOPLE = ("Anna", "Bruno", "Carla", "Dario", "Eva", "Felix", "Greta", "Hugo", "Ida", "Jonas", "Klara", "Lukas")
SURNAMES = ("Meyer", "Schulz", "Keller", "Lang", "Roth", "Frank", "Vogel", "Krause", "Berger", "Hahn", "Quast", "Zander")


def _bulk(conn, table, rows: list[dict]) -> None:
    """Insert ``rows`` (dicts with the same keys) into ``table``: COPY on PostgreSQL,
    executemany of Core ``insert()`` elsewhere."""
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        cols = list(rows[0])
        raw = conn.connection.driver_connection
        with raw.cursor() as cur, cur.copy(f'COPY "{table.name}" ({", ".join(cols)}) FROM STDIN') as copy:
            for row in rows:
                copy.write_row([row[c] for c in cols])
        return
    from sqlalchemy import insert

    for i in range(0, len(rows), CHUNK):
        conn.execute(insert(table), rows[i:i + CHUNK])


def build(scale: float) -> dict:
    """Add the bench's records and users to the migrated, demo-seeded database;
    returns ids and search terms the timed requests use."""
    from sqlalchemy import func, select, text

    from portal.approvals.models import ApprovalEntry
    from portal.auth.models import User, UserRole
    from portal.extensions import db
    from portal.records.models import Customer, Item, SalesHeader, SalesLine, Salesperson, natural_sort_key

    rnd = random.Random(12)
    n_customers, n_orders = int(100_000 * scale), int(200_000 * scale)
    n_entries, n_open = int(500_000 * scale), 2000
    session = db.session
    approver = User(user_name="BENCH", full_name="Bench Approver", email="bench@example.com")
    empty = User(user_name="EMPTY", full_name="No Records", email="empty@example.com")
    for user in (approver, empty):
        user.set_password(PASSWORD)
        user.roles = [UserRole(role="business_user"), UserRole(role="approver")]
        session.add(user)
    session.commit()
    others = [u for u in session.scalars(select(User.id).where(User.id.not_in([approver.id, empty.id])))]
    items = list(session.execute(select(Item.id, Item.description, Item.unit_price)))
    codes = list(session.scalars(select(Salesperson.code)))
    now = datetime(2026, 6, 1, 12, 0)

    t0 = time.perf_counter()
    conn = session.connection()
    customers = []
    for i in range(n_customers):
        name = f"{rnd.choice(FIRST)}{rnd.choice(SECOND)} {rnd.choice(SURNAMES)} {rnd.choice(FORM)}"
        customers.append(dict(no=f"BC{i:06d}", name=name, address=f"{rnd.randint(1, 200)} Main Street",
                              city=rnd.choice(CITIES), country=rnd.choice(COUNTRIES), postal_code=f"{rnd.randint(10000, 99999)}",
                              contact=f"{rnd.choice(PEOPLE)} {rnd.choice(SURNAMES)}", phone=f"+49 30 {rnd.randint(1000000, 9999999)}",
                              credit_limit=Decimal(rnd.randint(0, 50) * 1000), currency_code="", salesperson_code=rnd.choice(codes),
                              blocked=False, created_at=now, modified_at=now, version=1))
    _bulk(conn, Customer.__table__, customers)
    first_customer = session.scalar(select(func.min(Customer.id)).where(Customer.no.like("BC%")))
    customer_ids = range(first_customer, first_customer + n_customers)
    del customers

    orders, lines = [], []
    first_order = (session.scalar(select(func.max(SalesHeader.id))) or 0) + 1
    for i in range(n_orders):
        no = f"B{i + 1}"  # numbers of every length: natural order matters
        order_lines, total = [], Decimal("0")
        for k in range(5):
            item_id, description, price = rnd.choice(items)
            qty = Decimal(rnd.randint(1, 40))
            amount = (qty * price).quantize(Decimal("0.01"))
            total += amount
            order_lines.append(dict(header_id=first_order + i, line_no=(k + 1) * 10000, item_id=item_id, description=description,
                                    quantity=qty, unit_price=price, line_discount_pct=Decimal("0"), line_amount=amount))
        lines += order_lines
        day = date(2026, 1, 1) + timedelta(days=rnd.randint(0, 150))
        orders.append(dict(id=first_order + i, document_type="Order", no=no, no_sort=natural_sort_key(no),
                           status=rnd.choice(("Open", "Open", "Released", "Pending Approval")), order_date=day,
                           currency_code="", amount=total, created_at=now, modified_at=now, version=1,
                           customer_id=rnd.choice(customer_ids), salesperson_code=rnd.choice(codes), freight=Decimal("0")))
    _bulk(conn, SalesHeader.__table__, orders)
    _bulk(conn, SalesLine.__table__, lines)
    del lines

    entries = []
    open_orders = rnd.sample(range(n_orders), n_open)
    for i in range(n_entries):
        mine = i < n_open
        order = orders[open_orders[i] if mine else rnd.randrange(n_orders)]
        sent = now - timedelta(minutes=rnd.randint(0, 200_000))
        entries.append(dict(record_type="sales_header", record_id=order["id"], document_type="Order", document_no=order["no"],
                            record_title=f"Sales Order {order['no']}", sequence_no=1, sender_id=rnd.choice(others),
                            approver_id=approver.id if mine else rnd.choice(others),
                            status="Open" if mine else rnd.choice(("Approved", "Approved", "Rejected", "Canceled")),
                            approval_type="Salesperson/Purchaser", limit_type="Approval Limits", all_must_approve=False,
                            amount=order["amount"], currency_code="", date_time_sent=sent,
                            due_date=(sent + timedelta(days=rnd.randint(1, 30))).date(), last_modified_at=sent))
    _bulk(conn, ApprovalEntry.__table__, entries)
    session.commit()
    build_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    with db.engine.connect() as c:
        if c.dialect.name == "postgresql":
            c.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE"))
        else:
            c.execute(text("ANALYZE"))
            c.commit()
    # what the nightly system job "search_index_maintenance" does (SQLite: the FTS5 search
    # tables, filled row by row by their triggers during the build, merged into one segment)
    from portal.records.listing import optimize_search_indexes

    optimize_search_indexes(session)
    analyze_s = time.perf_counter() - t0
    doc = orders[n_orders // 2]
    return dict(build_s=round(build_s, 1), analyze_s=round(analyze_s, 1), order_id=doc["id"], customer_id=first_customer + n_customers // 3,
                rows=dict(customers=n_customers, orders=n_orders, lines=5 * n_orders, entries=n_entries, open_for_approver=n_open))


def _sign_in(client, user: str) -> None:
    import re

    page = client.get("/sign-in").get_data(as_text=True)
    token = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', page).group(1)
    res = client.post("/sign-in", data={"user_name": user, "password": PASSWORD, "csrf_token": token})
    assert res.status_code == 302, f"sign-in as {user} failed"


def _time(client, url: str, n: int) -> list[float]:
    """Server times in ms of ``n`` GETs of ``url`` (after 10 warm-up requests)."""
    return _time_pair(client, url, None, None, n)[0]


def _time_pair(client, url: str, floor_client, floor_url: str | None, n: int) -> tuple[list[float], list[float]]:
    """Server times in ms of ``n`` GETs of ``url`` and, alternating with them request by
    request, ``n`` GETs of ``floor_url`` (by ``floor_client``): both see the same moments
    of a machine whose speed drifts from minute to minute (after 10 warm-up requests
    each). Returns ``(page times, floor times)``; the floor's is empty without
    ``floor_url``."""
    pairs = [(client, url)] + ([(floor_client, floor_url)] if floor_url else [])
    for c, u in pairs:
        for _ in range(10):
            res = c.get(u)
            assert res.status_code == 200, f"{u}: HTTP {res.status_code}"
    times: list[list[float]] = [[] for _ in pairs]
    for _ in range(n):
        for k, (c, u) in enumerate(pairs):
            t0 = time.perf_counter()
            c.get(u).close()
            times[k].append((time.perf_counter() - t0) * 1000)
    return times[0], (times[1] if floor_url else [])


def _stats(times: list[float]) -> dict:
    q = statistics.quantiles(times, n=100, method="inclusive")
    return dict(p50=round(statistics.median(times), 2), p95=round(q[94], 2))


def run_config(name: str, args) -> dict:
    from flask import render_template
    from flask_login import login_required
    from flask_migrate import upgrade

    from portal import create_app
    from portal.cli import setup_demo

    app = create_app()
    app.config["RATELIMIT_ENABLED"] = False

    # compiled once, as the pages' own templates are (render_template_string would compile it on every request)
    floor_template = app.jinja_env.from_string('{% extends "base.html" %}{% block content %}<h1>Floor</h1>{% endblock %}')

    @app.route("/_bench/floor")
    @login_required
    def floor():
        return render_template(floor_template)

    with app.app_context():
        upgrade()
        setup_demo()
        info = build(args.scale)
    import gc

    gc.collect()  # the build's garbage (a million line dicts) is not swept during the timed requests
    pages = {
        "customers list": "/customers",
        "customers search": "/customers?q=steinimport",
        "customers sort (name, desc)": "/customers?sort=-name",
        "sales orders list": "/sales-orders",
        "sales orders search": "/sales-orders?q=steinimport",
        "sales orders sort (amount, desc)": "/sales-orders?sort=-amount",
        "sales order document": f"/sales-orders/{info['order_id']}",
        "requests to approve (2,000 open)": "/approvals/requests",
        "customer card + Automate": f"/customers/{info['customer_id']}",
    }
    runs = []
    for _ in range(args.repeat):
        empty, busy = app.test_client(), app.test_client()
        _sign_in(empty, "EMPTY")
        _sign_in(busy, "BENCH")
        run = {"floor": _stats(_time(empty, "/_bench/floor", args.requests))}
        for label, url in pages.items():
            page_times, floor_times = _time_pair(busy, url, empty, "/_bench/floor", args.requests)
            run[label] = _stats(page_times) | {"floor": _stats(floor_times)}
        runs.append(run)
    return dict(config=name, scale=args.scale, requests=args.requests, **info, runs=runs)


def child(name: str, args) -> None:
    import shutil

    with scratch_services(name, "pages-bench-", "pagesbench", "h_speed_bench", 12) as tmp:
        result = run_config(name, args)
    if args.keep:
        print(f"kept: {tmp}", file=sys.stderr)
    else:
        shutil.rmtree(tmp, ignore_errors=True)  # the SQLite database is some 300 MB
    print(json.dumps(result), flush=True)


def report(r: dict) -> None:
    rows = r["rows"]
    print(f"{r['config']} · scale {r['scale']} · {rows['customers']:,} customers, {rows['orders']:,} sales orders, "
          f"{rows['lines']:,} lines, {rows['entries']:,} approval entries ({rows['open_for_approver']:,} open for the approver) · "
          f"built in {r['build_s']} s + ANALYZE and search index maintenance {r['analyze_s']} s · {r['requests']} requests a page")
    labels = list(r["runs"][0])
    print(f"  {'page':36} {'p50 ms':>8} {'p95 ms':>8} {'p95/floor':>9} {'p50/floor':>9}   (min / median over {len(r['runs'])} run(s);"
          " each page's ratios to the floor timed alternately with it)")
    for label in labels:
        p50 = [run[label]["p50"] for run in r["runs"]]
        p95 = [run[label]["p95"] for run in r["runs"]]
        # the ratio to the floor timed alternately with this page (the floor row: to itself)
        ratio = [run[label]["p95"] / run[label].get("floor", run["floor"])["p95"] for run in r["runs"]]
        ratio50 = [run[label]["p50"] / run[label].get("floor", run["floor"])["p50"] for run in r["runs"]]
        fmt = (lambda v, d=1: f"{min(v):.{d}f}/{statistics.median(v):.{d}f}") if len(r["runs"]) > 1 else (lambda v, d=1: f"{v[0]:.{d}f}")
        print(f"  {label:36} {fmt(p50):>8} {fmt(p95):>8} {fmt(ratio, 2):>9} {fmt(ratio50, 2):>9}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=("sqlite", "postgres"), help="one configuration (default: both)")
    parser.add_argument("--child", choices=("sqlite", "postgres"), help=argparse.SUPPRESS)
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the full data set (0.1 for a quick run)")
    parser.add_argument("--requests", type=int, default=200, help="timed requests a page")
    parser.add_argument("--repeat", type=int, default=1, help="runs of all pages on the same database")
    parser.add_argument("--keep", action="store_true", help="keep the SQLite scratch folder (its path is printed)")
    args = parser.parse_args()
    if args.child:
        child(args.child, args)
        return
    passthrough = [a for a in sys.argv[1:] if a not in ("--only", "sqlite", "postgres") and not a.startswith("--only=")]
    for name in ([args.only] if args.only else ["sqlite", "postgres"]):
        out = subprocess.run([sys.executable, __file__, "--child", name, *passthrough], stdout=subprocess.PIPE, text=True)
        line = next((ln for ln in out.stdout.splitlines() if ln.startswith("{")), None)
        if line is None:
            print(f"{name}: failed\n{out.stdout[-3000:]}")
            continue
        report(json.loads(line))


if __name__ == "__main__":
    main()
