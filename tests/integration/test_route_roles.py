"""Every route × every role, against the table in the README ("Who may open what").

The README table is the one source: a row per rule of ``app.url_map`` (method and path),
a column per role (anonymous, business user = msuyama, approver = sbuchanan, flow maker
= lcallahan, admin = afuller). A route without a row, or a row without a route, fails.

Each route is requested as each role (a fresh signed-in test client per role):
- routes that answer GET: GET with sample values for its parts filled from real records
  (a sales order, its line, a workflow user group, an instant flow, a flow run, a job
  queue entry, a mail in the sink, ...); "✓" expects 2xx/3xx (not to the sign-in page);
- POST-only routes: POST with a valid CSRF token and no form. Where the role is refused
  the real record is used (a refused request changes nothing); where it is allowed, ids
  of records that don't exist (so nothing is changed): any answer but 403 / sign-in /
  5xx passes.
"sign-in" expects a redirect to the sign-in page, "403" a 403; "405" a 405.
"""
from __future__ import annotations

import mailbox
import re
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import select

from test_pages import csrf, sign_in

# the queue dashboard is walked on a queue of its own (emptying the portal's queue would
# delete jobs other tests left behind; RQ can fail on those)
WALK_QUEUE = "route-walk"

pytestmark = pytest.mark.usefixtures("clean_state")

README = Path(__file__).resolve().parents[2] / "README.md"
ROLES = {"anonymous": None, "business user": "msuyama", "approver": "sbuchanan", "flow maker": "lcallahan", "admin": "afuller"}
PASSWORDS = {"msuyama": "northwind", "sbuchanan": "northwind", "lcallahan": "northwind", "afuller": "northwind"}
MISSING = 999_999_999
SIGN_OUT = "POST /sign-out"


def rule_key(rule) -> str:
    """``"GET /path"`` (or POST for routes without GET): the method the walk uses."""
    return f"{'GET' if 'GET' in rule.methods else 'POST'} {rule.rule}"


def readme_table() -> dict[str, dict[str, str]]:
    """The README's route × role table: {"GET /path": {role: expected}}."""
    text = README.read_text()
    block = text.split("<!-- route-roles -->", 1)[1].split("<!-- /route-roles -->", 1)[0]
    rows = [r for r in block.strip().splitlines() if r.startswith("|")]
    header = [c.strip() for c in rows[0].strip("|").split("|")]
    assert header == ["route", *ROLES, "notes"], header
    table = {}
    for row in rows[2:]:
        cells = [c.strip() for c in row.strip().strip("|").split("|")]
        key = cells[0].strip("`")
        assert key not in table, f"two README rows for {key}"
        table[key] = dict(zip(ROLES, cells[1:1 + len(ROLES)], strict=True))
    return table


@pytest.fixture
def samples(app, services):
    """Real records for the routes' parts: {part name: (real value, missing value)},
    plus per-endpoint overrides under ``(endpoint, part)``."""
    from portal.approvals.models import WorkflowUserGroup, WorkflowUserGroupMember
    from portal.auth.models import User
    from portal.extensions import db
    from portal.jobqueue.models import JobQueueEntry
    from portal.notifications.models import NotificationTemplate
    from portal.records.models import SalesHeader, SalesLine

    with app.app_context():
        s = db.session
        users = {u.user_name: u for u in s.scalars(select(User)).unique()}
        for name in PASSWORDS:  # the automation notice accepted: Automate and flows open
            if users[name].automation_notice_accepted_at is None:
                from portal.util import utcnow

                users[name].automation_notice_accepted_at = utcnow()
        order = s.scalar(select(SalesHeader).where(SalesHeader.no == "10249"))
        line = s.scalar(select(SalesLine).where(SalesLine.header_id == order.id).limit(1))
        group = WorkflowUserGroup(code="ROUTES", description="Route walk")
        group.members.append(WorkflowUserGroupMember(user_id=users["msuyama"].id, sequence_no=1))
        s.add(group)
        entry = JobQueueEntry(description="Route walk", system_job="none", owner_id=users["afuller"].id)
        s.add(entry)
        template_id = s.scalar(select(NotificationTemplate.id).limit(1))
        s.commit()
        values = {
            "slug": ("sales-orders", "sales-orders"), "record_type": ("sales_header", "sales_header"),
            "record_id": (order.id, MISSING), "line_id": (line.id, MISSING),
            "group_id": (group.id, MISSING), "member_id": (group.members[0].id, MISSING),
            "user_id": (users["msuyama"].id, MISSING), "code": ("CUST-STATEMENT", "NO-SUCH-FLOW"),
            "entry_id": (entry.id, MISSING), "template_id": (template_id, MISSING), "op": ("add-response", "add-response"), "instance_number": (0, 0), "queue_name": (WALK_QUEUE, WALK_QUEUE), "registry_name": ("failed", "failed"),
            "per_page": (10, 10), "order": ("asc", "asc"), "page": (1, 1), "action": ("delete", "delete"),
            ("static", "filename"): ("css/portal.css", "css/portal.css"),
            ("rq_dashboard.static", "filename"): ("css/main.css", "css/main.css"),
        }
    # a flow run (queued: no worker takes it here) and a mail in the sink
    client = app.test_client()
    page = sign_in(client, "msuyama", "northwind").get_data(as_text=True)
    from portal.records.models import Customer
    from portal.workflow.models import WorkflowInstance

    with app.app_context():
        alfki = db.session.scalar(select(Customer.id).where(Customer.no == "ALFKI"))
    res = client.post("/flows/CUST-STATEMENT/run", headers={"HX-Request": "true", "X-CSRFToken": csrf(page)},
                      data={"ids": alfki, "message": "route walk"})
    assert res.status_code == 200, res.get_data(as_text=True)
    with app.app_context():
        run_id = db.session.scalar(select(WorkflowInstance.id).order_by(WorkflowInstance.id.desc()).limit(1))
    values["instance_id"] = (run_id, MISSING)
    values[("flows.run_status", "?")] = f"?ids={run_id}"
    with app.app_context():  # a well-signed one-click approval link whose entry doesn't exist
        from portal.approvals.links import make_token

        values["token"] = (make_token(MISSING, "approve"),) * 2
    mail = EmailMessage()
    mail["Subject"], mail["From"], mail["To"], mail["Message-ID"] = "Route walk", "portal@test", "x@test", "<route-walk@test>"
    mail.set_content("route walk")
    box = mailbox.Maildir(services["MAIL_SINK_DIR"], create=True)
    key = box.add(mail)
    values["key"] = (key, "no-such-message")
    # failed RQ jobs (never run) for the queue dashboard: one to show and requeue, one to delete
    from rq.job import Job, JobStatus
    from rq.registry import FailedJobRegistry

    from portal.queue import get_redis

    jobs = []
    with app.app_context():
        registry = FailedJobRegistry(WALK_QUEUE, connection=get_redis())
        for name in ("shown", "deleted"):
            job = Job.create("portal.util.utcnow", connection=get_redis(), id=f"route-walk-{name}",
                             origin=WALK_QUEUE, status=JobStatus.FAILED)
            job.save()
            registry.add(job, ttl=600)
            jobs.append(job)
    with app.app_context():  # a rendered template preview waiting for its frame
        from portal.notifications.template_views import PREVIEW_KEY, PREVIEW_TTL

        get_redis().set(PREVIEW_KEY.format("route-walk"), b"<p>route walk</p>", ex=PREVIEW_TTL)
    values[("notification_templates.preview_body", "token")] = ("route-walk", "no-such-preview")
    values["job_id"] = (jobs[0].id, jobs[0].id)
    values[("rq_dashboard.delete_job_view", "job_id")] = (jobs[1].id, jobs[1].id)
    yield values
    for job in jobs:
        if Job.exists(job.id, connection=job.connection):
            job.delete()
    box.remove(key)
    with app.app_context():
        db.session.execute(JobQueueEntry.__table__.delete().where(JobQueueEntry.id == entry.id))
        db.session.commit()


def url_for_rule(rule, samples: dict, real: bool) -> str:
    """The rule's path with each part filled from ``samples`` (the real record or a
    missing one); ``any(...)`` parts take their first choice."""
    parts = {}
    for name in sorted(rule.arguments - set(rule.defaults or {})):
        converter = rule._converters[name]
        items = getattr(converter, "items", None)
        if items:
            parts[name] = sorted(items)[0]
            continue
        value = samples.get((rule.endpoint, name)) or samples[name]
        parts[name] = value[0 if real else 1]
    path = rule.rule
    for name, value in parts.items():
        path = re.sub(rf"<(?:[^:<>]+:)?{name}(?:\([^)]*\))?>", str(value), path)
    return path + samples.get((rule.endpoint, "?"), "")


def answer_class(res, method: str, expected: str) -> str:
    """What ``res`` is, in the table's words: "sign-in", "403", "405", "✓", "redirect"
    (GET: to another page than sign-in) or the status."""
    location = res.headers.get("Location", "")
    if 300 <= res.status_code < 400 and "/sign-in" in location:
        return "sign-in"
    if res.status_code in (403, 405):
        return str(res.status_code)
    if method == "GET" and 200 <= res.status_code < 300:
        return "✓"
    if method == "GET" and 300 <= res.status_code < 400:
        return "redirect"
    if method == "POST" and expected == "✓" and res.status_code < 500 and res.status_code != 401:
        return "✓"  # allowed: the view ran (a missing record: 404, no form: 400, ...)
    return str(res.status_code)


def walk(app, role: str, samples: dict) -> list[str]:
    """Request every rule as ``role``; returns the mismatches as text lines."""
    table = readme_table()
    client = app.test_client()
    user = ROLES[role]
    page = sign_in(client, user, PASSWORDS[user]).get_data(as_text=True) if user else client.get("/sign-in").get_data(as_text=True)
    headers = {"X-CSRFToken": csrf(page)}
    problems = []
    rules = sorted(app.url_map.iter_rules(), key=lambda r: (rule_key(r) == SIGN_OUT, r.rule))
    for rule in rules:
        key = rule_key(rule)
        expected = table.get(key, {}).get(role)
        if expected is None:
            problems.append(f"{key}: no row in the README's route table")
            continue
        method = key.split(" ", 1)[0]
        if method == "GET":
            res = client.get(url_for_rule(rule, samples, real=True))
        else:  # a refused role gets the real record (nothing happens); an allowed one a missing id
            res = client.post(url_for_rule(rule, samples, real=expected != "✓"), headers=headers)
        got = answer_class(res, method, expected)
        if key == SIGN_OUT and user and got == "sign-in" and client.get("/").status_code == 302:
            got = "✓"  # signed out: the next page asks for sign-in
        if got != expected:
            problems.append(f"{key} as {role}: expected {expected}, got {got} ({res.status_code} {res.headers.get('Location', '')})")
    return problems


def test_the_readme_table_has_a_row_per_route_and_no_more(app):
    table = readme_table()
    routes = {rule_key(r) for r in app.url_map.iter_rules()}
    assert sorted(routes - set(table)) == [], "routes without a row in the README's route table"
    assert sorted(set(table) - routes) == [], "README rows for routes that don't exist"


@pytest.mark.parametrize("role", list(ROLES))
def test_every_route_answers_each_role_as_the_readme_says(app, samples, role):
    problems = walk(app, role, samples)
    assert not problems, "\n".join(problems)
