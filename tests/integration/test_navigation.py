"""The header's area menus per role, Tell me (pages by permission, records by no. or
name; the htmx dropdown and the full page) and the home page's role center: each cue's
count per role and the filtered list its link opens."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.records.models import Customer, SalesHeader
from test_pages import record_id, sign_in

pytestmark = pytest.mark.usefixtures("clean_state")

HTMX = {"HX-Request": "true", "HX-Target": "tellme-results"}


def client_for(app, user: str):
    c = app.test_client()
    sign_in(c, user, "admin" if user == "admin" else "northwind")
    return c


def menus(html: str) -> list[str]:
    return re.findall(r'id="nav-(\w+)-button"', html)


def header_links(html: str) -> list[str]:
    nav = html[html.index('<nav id="main-nav"'):html.index("</nav>")]
    return re.findall(r'<li><a href="[^"]+"(?: aria-current="page")?>([^<]+?)\s*(?:<|$)', nav)


def test_the_header_shows_the_area_menus_each_role_may_use(app):
    html = client_for(app, "msuyama").get("/").get_data(as_text=True)
    assert menus(html) == ["sales", "purchasing", "finance", "approvals", "automation", "user"]
    links = header_links(html)
    for name in ("Customers", "Items", "Sales Orders", "Posted Sales Credit Memos", "Vendors", "Purchase Orders",
                 "General Journals", "General Journal Lines", "Requests to Approve", "Sent for Approval",
                 "Overdue Approvals", "Workflows", "My runs", "Notification settings"):
        assert name in links, name
    for name in ("Flow runs", "Manage flows", "Flow setup", "Approval User Setup", "Job Queue", "Audit", "Queue dashboard"):
        assert name not in links, name
    assert 'id="nav-notifications"' in html and 'id="notif-count"' in html and ">Sign out</button>" in html

    links = header_links(client_for(app, "lcallahan").get("/").get_data(as_text=True))
    assert "Flow runs" in links and "Manage flows" in links
    assert "Flow setup" not in links and "Job Queue" not in links

    html = client_for(app, "admin").get("/").get_data(as_text=True)
    assert menus(html) == ["sales", "purchasing", "finance", "approvals", "automation", "admin", "user"]
    links = header_links(html)
    for name in ("Job Queue", "No. Series", "Notification Templates", "Mailbox", "Audit", "Queue dashboard",
                 "Approval User Setup", "Workflow User Groups", "Flow setup", "Manage flows"):
        assert name in links, name
    assert 'href="/rq/"' in html


def test_the_header_links_follow_the_portals_path_prefix(app):
    """The menu pages' paths are worked out once and kept (per script root): a portal
    served under a path prefix links under that prefix, at its root without it, and
    the current page is still marked."""
    c = client_for(app, "msuyama")
    for _ in range(2):  # the second time from the kept paths
        html = c.get("/customers").get_data(as_text=True)
        assert '<a href="/customers" aria-current="page">Customers</a>' in html
        assert '<a href="/sales-orders">Sales Orders</a>' in html
        prefixed = c.get("/customers", environ_overrides={"SCRIPT_NAME": "/portal"}).get_data(as_text=True)
        assert '<a href="/portal/sales-orders">Sales Orders</a>' in prefixed
        assert 'href="/sales-orders"' not in prefixed


def test_the_requests_to_approve_count_is_on_the_approvals_menu(app):
    from portal.approvals.models import OPEN, ApprovalEntry
    from portal.auth.models import User
    from portal.extensions import db

    with app.app_context():
        users = {u.user_name: u.id for u in db.session.scalars(select(User))}
        order = db.session.scalar(select(SalesHeader).where(SalesHeader.no == "10249"))
        db.session.add(ApprovalEntry(record_type="sales_header", record_id=order.id, record_title=order.title,
                                     sender_id=users["msuyama"], approver_id=users["sbuchanan"], status=OPEN))
        db.session.commit()
    html = client_for(app, "sbuchanan").get("/customers").get_data(as_text=True)
    assert re.search(r'id="nav-approvals-button"[^>]*>Approvals<span class="caret" aria-hidden="true"></span> <span class="badge" id="rta-count"[^>]*>1</span>', html)


def test_tell_me_finds_pages_by_name_and_synonym_only_where_the_user_may_open_them(app):
    rep, maker, admin = (client_for(app, u) for u in ("msuyama", "lcallahan", "admin"))

    def pages(client, q):
        html = client.get("/search", query_string={"q": q}).get_data(as_text=True)
        section = html[html.index('id="tellme-pages"'):html.index('id="tellme-records"')]
        return re.findall(r'<a href="([^"]+)">([^<]+)</a>', section)

    assert ("/vendors", "Vendors") in pages(rep, "suppliers")  # a synonym
    assert ("/approvals/requests", "Requests to Approve") in pages(rep, "approve")
    assert pages(rep, "sales ord")[0] == ("/sales-orders", "Sales Orders")  # every word, the start of a word
    assert pages(rep, "job queue") == [] and pages(rep, "manage flows") == [] and pages(rep, "approval user") == []
    assert ("/flows/manage", "Manage flows") in pages(maker, "manage flows")
    assert pages(maker, "job queue") == []
    assert ("/job-queue/", "Job Queue") in pages(admin, "job queue")
    assert ("/approvals/setup/users", "Approval User Setup") in pages(admin, "approvers")
    assert ("/rq/", "Queue dashboard") in pages(admin, "rq")


def test_tell_me_finds_records_by_no_and_name(app):
    rep = client_for(app, "msuyama")
    alfki = record_id(app, Customer, "ALFKI")
    order = record_id(app, SalesHeader, "10249")
    res = rep.get("/search?q=ALFKI")
    html = res.get_data(as_text=True)
    assert res.status_code == 200 and "<html" in html and "<h1>Tell me: “ALFKI”</h1>" in html
    assert f'<a href="/customers/{alfki}">Customer ALFKI — Alfreds Futterkiste</a> <span class="hint">Berlin · Germany</span>' in html
    assert "Show all customers matching “ALFKI”" in html and 'href="/customers?q=ALFKI"' in html
    assert f'href="/sales-orders/{order}"' not in html
    # by no.; a customer's name also finds its documents (the list search)
    html = rep.get("/search?q=10249").get_data(as_text=True)
    assert f'<a href="/sales-orders/{order}">Sales Order 10249</a>' in html
    html = rep.get("/search?q=exotic liq").get_data(as_text=True)
    assert "Exotic Liquids" in html and "Purchase" not in html.split('id="tellme-records"')[1].split("Vendors")[0]
    # the header's dropdown: a fragment, a few per type, with a link to all results
    res = rep.get("/search?q=Alfreds", headers=HTMX)
    frag = res.get_data(as_text=True)
    assert res.status_code == 200 and "<html" not in frag and 'class="tellme-dropdown"' in frag
    assert f'href="/customers/{alfki}"' in frag and 'href="/search?q=Alfreds"' in frag
    assert len(re.findall(r'href="/sales-orders/\d+"', frag)) == 3  # ALFKI has 6 orders: 3 shown
    # one character finds pages only; nothing found says so; an empty box shows nothing
    frag = rep.get("/search?q=z", headers=HTMX).get_data(as_text=True)
    assert "Type at least 2 characters to find records." in frag
    assert "Nothing found for “qqqzzz”." in rep.get("/search?q=qqqzzz", headers=HTMX).get_data(as_text=True)
    assert rep.get("/search?q=", headers=HTMX).get_data(as_text=True).strip() == ""
    assert rep.get("/search?q=a%00b").status_code == 200  # a NUL is dropped, never sent to the database


def cues(html: str) -> dict[str, tuple[str, str, str]]:
    """{caption: (count shown, css class, link)} of the home page's cues."""
    return {caption: (n, css.strip(), href.replace("&amp;", "&")) for css, href, n, caption in re.findall(
        r'<a class="cue ([^"]*)" href="([^"]+)"><span class="cue-n">([^<]+)</span> <span class="cue-caption">([^<]+)</span>', html)}


def test_role_center_cues_per_role_open_the_filtered_lists(app):
    from portal.approvals.models import OPEN, ApprovalEntry, ApprovalUserSetup
    from portal.auth.models import User
    from portal.extensions import db
    from portal.jobqueue.models import ERROR, JobQueueEntry
    from portal.records.models import STATUS_PENDING_APPROVAL
    from portal.util import utcnow
    from portal.workflow.models import RUN_FAILED, Workflow, WorkflowInstance

    with app.app_context():
        users = {u.user_name: u.id for u in db.session.scalars(select(User))}
        code = db.session.scalar(select(ApprovalUserSetup.salespers_purch_code).where(ApprovalUserSetup.user_id == users["msuyama"]))
        his = db.session.scalars(select(SalesHeader).where(SalesHeader.salesperson_code == code, SalesHeader.document_type == "Order")
                                 .order_by(SalesHeader.id).limit(2)).all()
        other = db.session.scalar(select(SalesHeader).where(SalesHeader.salesperson_code != code, SalesHeader.document_type == "Order").limit(1))
        his_open = db.session.scalar(select(db.func.count()).where(SalesHeader.salesperson_code == code, SalesHeader.document_type == "Order"))
        pending, still_open = his
        pending.status = STATUS_PENDING_APPROVAL
        today = utcnow().date()
        titles = {}
        for key, due, delegated in (("overdue", today - timedelta(days=2), None), ("delegated", None, today), ("plain", None, None)):
            doc = db.session.scalar(select(SalesHeader).where(SalesHeader.no == {"overdue": "10250", "delegated": "10251", "plain": "10252"}[key]))
            titles[key] = doc.title
            db.session.add(ApprovalEntry(record_type="sales_header", record_id=doc.id, record_title=doc.title, sender_id=users["msuyama"],
                                         approver_id=users["sbuchanan"], status=OPEN, due_date=due, delegation_date=delegated))
        wf = db.session.scalar(select(Workflow).where(Workflow.template.is_(False)).order_by(Workflow.id).limit(1))
        run = WorkflowInstance(workflow_id=wf.id, workflow_code=wf.code, status=RUN_FAILED, started_by_id=users["msuyama"],
                               record_title="Customer ALFKI")
        db.session.add(run)
        db.session.flush()
        wf_id, wf_code, notice_before = wf.id, wf.code, wf.failure_notice_run_id
        wf.failure_notice_run_id = run.id  # a failing streak noticed, no success since: "keeps failing"
        job = JobQueueEntry(description="Nav test: a job in Error", status=ERROR)
        db.session.add(job)
        db.session.commit()
        job_id = job.id
        pending_no, open_no, other_no = pending.no, still_open.no, other.no
    try:
        # business user: his open and pending sales orders, his flow runs (the failed one flagged)
        rep = client_for(app, "msuyama")
        c = cues(rep.get("/").get_data(as_text=True))
        assert c["My open sales orders"][0] == f"{his_open - 1:,}" and c["My open sales orders"][2] == "/sales-orders?status=Open&mine=1"
        assert c["My sales orders pending approval"] == ("1", "cue-attention", "/sales-orders?status=Pending+Approval&mine=1")
        assert c["My flow runs"][:2] == ("1", "") and c["My failed flow runs"] == ("1", "cue-unfavorable", "/flows/my-runs?status=failed")
        assert "Requests to Approve" in c and "Failed flow runs" not in c and "Job queue entries in Error" not in c
        def open_mine(q):
            return rep.get(f"/sales-orders?status=Open&mine=1&q={q}").get_data(as_text=True)

        assert "Filtered: Status is Open · your sales documents" in open_mine("")
        assert f">{open_no}</a>" in open_mine(open_no) and f">{pending_no}</a>" not in open_mine(pending_no)
        assert f">{other_no}</a>" not in open_mine(other_no)
        assert f">{other_no}</a>" in rep.get(f"/sales-orders?q={other_no}").get_data(as_text=True)
        pending_list = rep.get("/sales-orders?status=Pending+Approval&mine=1").get_data(as_text=True)
        assert f">{pending_no}</a>" in pending_list and f">{open_no}</a>" not in pending_list
        assert 'class="list-filter" name="status" value="Pending Approval"' in pending_list  # the search keeps the filter
        runs = rep.get("/flows/my-runs?status=failed").get_data(as_text=True)
        assert "Customer ALFKI" in runs

        # approver: Requests to Approve, overdue, delegated
        approver = client_for(app, "sbuchanan")
        c = cues(approver.get("/").get_data(as_text=True))
        assert c["Requests to Approve"] == ("3", "cue-attention", "/approvals/requests")
        assert c["Overdue requests to approve"] == ("1", "cue-unfavorable", "/approvals/requests?overdue=1")
        assert c["Delegated to me"] == ("1", "cue-attention", "/approvals/requests?delegated=1")
        overdue = approver.get("/approvals/requests?overdue=1").get_data(as_text=True)
        assert titles["overdue"] in overdue and titles["plain"] not in overdue and titles["delegated"] not in overdue
        delegated = approver.get("/approvals/requests?delegated=1").get_data(as_text=True)
        assert titles["delegated"] in delegated and titles["overdue"] not in delegated and "Show all requests" in delegated

        # flow maker: failed runs and failing flows, no job queue
        c = cues(client_for(app, "lcallahan").get("/").get_data(as_text=True))
        assert c["Failed flow runs"] == ("1", "cue-unfavorable", "/flows/history?status=failed")
        assert c["Flows that keep failing"] == ("1", "cue-unfavorable", "/flows/manage?failing=1")
        assert "Job queue entries in Error" not in c

        # admin: job queue entries in Error as well; each list filtered
        admin = client_for(app, "admin")
        c = cues(admin.get("/").get_data(as_text=True))
        assert c["Job queue entries in Error"] == ("1", "cue-unfavorable", "/job-queue/?status=Error")
        assert c["Flows that keep failing"][0] == "1" and c["My flow runs"][0] == "0"
        assert "Nav test: a job in Error" in admin.get("/job-queue/?status=Error").get_data(as_text=True)
        manage = admin.get("/flows/manage?failing=1").get_data(as_text=True)
        assert manage.count('<tr id="flow-') == 1 and f'id="flow-{wf_code}"' in manage and "Show all flows" in manage
        assert admin.get("/flows/manage").get_data(as_text=True).count('<tr id="flow-') > 1
        assert "Customer ALFKI" in admin.get("/flows/history?status=failed").get_data(as_text=True)
    finally:
        with app.app_context():
            db.session.get(Workflow, wf_id).failure_notice_run_id = notice_before
            db.session.delete(db.session.get(JobQueueEntry, job_id))
            db.session.commit()


def test_a_cue_counts_up_to_1000():
    from portal.rolecenter import Cue

    assert Cue("x", 1001, "/").shown == "1,000+" and Cue("x", 1000, "/").shown == "1,000"
    assert Cue("x", 0, "/", "unfavorable").css == "cue-zero" and Cue("x", 2, "/", "unfavorable").css == "cue-unfavorable"


def test_error_pages_carry_the_header_with_menus_and_tell_me(app):
    rep = client_for(app, "msuyama")
    for url, status in (("/customers/999999999", 404), ("/mailbox", 403)):
        res = rep.get(url)
        html = res.get_data(as_text=True)
        assert res.status_code == status
        assert '<nav id="main-nav"' in html and 'id="tellme-q"' in html and "Go to the home page" in html
