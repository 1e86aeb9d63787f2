"""Workflows pages: list grouped by category with the Enabled toggle, templates and
New workflow from template, card with steps and enable problems, copy, delete,
export and import."""
from __future__ import annotations

import io
import json

import pytest

from test_pages import csrf, sign_in

pytestmark = pytest.mark.usefixtures("clean_state")


@pytest.fixture
def admin(app):
    client = app.test_client()
    sign_in(client, "afuller", "northwind")
    return client


def token(client) -> str:
    return csrf(client.get("/workflows/").get_data(as_text=True))


def test_list_templates_and_new_from_template(admin):
    page = admin.get("/workflows/").get_data(as_text=True)
    assert "Sales documents" in page and "SO-APPROVAL" in page and "Enabled" in page
    templates = admin.get("/workflows/templates").get_data(as_text=True)
    for code in ("MS-SQAPW", "MS-SOAPW", "MS-SIAPW", "MS-SCMAPW"):
        assert code in templates
    res = admin.post("/workflows/MS-SIAPW/copy", data={"csrf_token": token(admin)}, follow_redirects=True)
    html = res.get_data(as_text=True)
    assert "Workflow MS-SIAPW-01 created from MS-SIAPW" in html
    assert "When</strong> approval of a sales document is requested" in html and "Document Type is Invoice" in html
    # The copy can be enabled (no other enabled workflow has the same entry), then not deleted.
    res = admin.post("/workflows/MS-SIAPW-01/enable", data={"csrf_token": token(admin)}, follow_redirects=True)
    assert "Workflow MS-SIAPW-01 is enabled." in res.get_data(as_text=True)
    res = admin.post("/workflows/MS-SIAPW-01/delete", data={"csrf_token": token(admin)}, follow_redirects=True)
    assert "disable it before you change it" in res.get_data(as_text=True)
    admin.post("/workflows/MS-SIAPW-01/disable", data={"csrf_token": token(admin)})
    res = admin.post("/workflows/MS-SIAPW-01/delete", data={"csrf_token": token(admin)}, follow_redirects=True)
    assert "Workflow MS-SIAPW-01 deleted." in res.get_data(as_text=True)


def test_enabling_a_clashing_copy_lists_the_problem(admin):
    admin.post("/workflows/MS-SOAPW/copy", data={"csrf_token": token(admin), "new_code": "SOA-COPY"})
    card = admin.get("/workflows/SOA-COPY").get_data(as_text=True)
    assert "Before this workflow can be enabled" in card and "Workflow SO-APPROVAL is enabled for the same record type" in card
    res = admin.post("/workflows/SOA-COPY/enable", data={"csrf_token": token(admin)}, follow_redirects=True)
    assert "Workflow SOA-COPY can&#39;t be enabled" in res.get_data(as_text=True)
    admin.post("/workflows/SOA-COPY/delete", data={"csrf_token": token(admin)})


def test_templates_are_read_only(admin):
    res = admin.post("/workflows/MS-SOAPW/enable", data={"csrf_token": token(admin)}, follow_redirects=True)
    assert "template can&#39;t be enabled" in res.get_data(as_text=True)
    res = admin.post("/workflows/MS-SOAPW/delete", data={"csrf_token": token(admin)}, follow_redirects=True)
    assert "Workflow templates are read-only" in res.get_data(as_text=True)


def test_export_then_import(admin):
    res = admin.post("/workflows/export", data={"csrf_token": token(admin), "code": ["SO-APPROVAL", "CUST-STATEMENT"]})
    assert res.headers["Content-Disposition"] == 'attachment; filename="workflows.json"'
    data = json.loads(res.get_data(as_text=True))
    assert [w["code"] for w in data["workflows"]] == ["CUST-STATEMENT", "SO-APPROVAL"]
    data["workflows"] = [w for w in data["workflows"] if w["code"] == "CUST-STATEMENT"]
    data["workflows"][0]["code"] = "CUST-STMT-2"
    upload = {"csrf_token": token(admin), "file": (io.BytesIO(json.dumps(data).encode()), "flows.json")}
    res = admin.post("/workflows/import", data=upload, content_type="multipart/form-data", follow_redirects=True)
    assert "Imported 1 workflow(s): CUST-STMT-2." in res.get_data(as_text=True)
    data["workflows"][0]["steps"][1]["function"] = "teleport"
    upload = {"csrf_token": token(admin), "file": (io.BytesIO(json.dumps(data).encode()), "flows.json")}
    html = admin.post("/workflows/import", data=upload, content_type="multipart/form-data", follow_redirects=True).get_data(as_text=True)
    assert "Nothing was imported" in html and "workflows[0] (CUST-STMT-2): Step 2: teleport is not a response." in html
    admin.post("/workflows/CUST-STMT-2/delete", data={"csrf_token": token(admin)})


def test_business_users_see_but_cannot_change(app):
    client = app.test_client()
    sign_in(client, "msuyama", "northwind")
    assert client.get("/workflows/?record_type=customer").status_code == 200
    page = client.get("/workflows/").get_data(as_text=True)
    assert client.post("/workflows/SO-APPROVAL/disable", data={"csrf_token": csrf(page)}).status_code == 403


def test_build_an_instant_flow_in_the_editor_and_run_it(admin, app, run_jobs):
    """Create a flow from the Automate menu's link, add its event and response in the
    editor (htmx operations), enable it, and run it on a customer."""
    from sqlalchemy import select

    from portal.extensions import db
    from portal.records.models import Customer
    from portal.workflow.models import WorkflowInstance

    form = admin.get("/workflows/new?record_type=customer&trigger_kind=instant").get_data(as_text=True)
    assert "Create a flow" in form and 'value="instant" selected' in form
    bad = admin.post("/workflows/new", data={"csrf_token": csrf(form), "code": "", "description": "", "record_type": "customer", "trigger_kind": "instant"})
    assert bad.status_code == 422 and "Description must have a value." in bad.get_data(as_text=True)
    res = admin.post("/workflows/new", data={"csrf_token": csrf(form), "code": "HELLO", "description": "Say hello",
                                             "record_type": "customer", "trigger_kind": "instant"}, follow_redirects=True)
    page = res.get_data(as_text=True)
    assert "Edit HELLO" in page and "Add the entry-point event" in page
    hx = {"HX-Request": "true", "X-CSRFToken": csrf(page)}
    frag = admin.post("/workflows/HELLO/edit/add-event", data={"function": "run_from_automate"}, headers=hx).get_data(as_text=True)
    assert "A user runs the flow from the Automate menu" in frag and "<html" not in frag
    frag = admin.post("/workflows/HELLO/edit/add-response", data={"step_id": 1, "function": "show_message"}, headers=hx).get_data(as_text=True)
    assert "Message must have a value." in frag  # the enable checks run live
    frag = admin.post("/workflows/HELLO/edit/set-response", data={"step_id": 2, "opt_message": "Hello {{ record.name }}", "next_step_id": "2"}, headers=hx).get_data(as_text=True)
    assert "A step can&#39;t go next to itself." in frag
    frag = admin.post("/workflows/HELLO/edit/set-response", data={"step_id": 2, "opt_message": "Hello there"}, headers=hx).get_data(as_text=True)
    assert "passes every enable check" in frag
    card = admin.post("/workflows/HELLO/enable", data={"csrf_token": csrf(page)}, follow_redirects=True).get_data(as_text=True)
    assert "Workflow HELLO is enabled." in card and "<svg" in card and "Then</tspan> show a message" in card
    assert "is enabled; disable it before" in admin.post("/workflows/HELLO/edit/delete-line", data={"step_id": 1}, headers=hx).get_data(as_text=True)

    with app.app_context():
        alfki = db.session.scalar(select(Customer.id).where(Customer.no == "ALFKI"))
    admin.post("/flows/get-started", data={"csrf_token": csrf(page)})  # accept the automation notice (once per user)
    card_page = admin.get(f"/customers/{alfki}").get_data(as_text=True)
    assert "Say hello" in card_page
    done = admin.post("/flows/HELLO/run", data={"ids": alfki, "message": ""}, headers=hx)
    assert done.status_code == 200
    run_jobs()
    with app.app_context():
        run = db.session.scalar(select(WorkflowInstance).where(WorkflowInstance.workflow_code == "HELLO"))
        assert run.status == "Completed" and run.result == "Hello there"
    detail = admin.get(f"/flows/history/{run.id}").get_data(as_text=True)
    assert "<svg" in detail and "status-completed" in detail
    archive = admin.get("/workflows/archive?workflow=HELLO").get_data(as_text=True)
    assert "Archived Workflow Step Instances" in archive and "A user runs the flow from the Automate menu" in archive and "Show a message" in archive


def test_an_edit_made_on_a_stale_editor_changes_nothing(admin, app):
    """Two makers edit the same flow: the second, whose editor was loaded before the
    first one's change, is told so and the saved workflow is shown unchanged."""
    import re

    other = app.test_client()
    sign_in(other, "lcallahan", "northwind")
    form = admin.get("/workflows/new?record_type=customer&trigger_kind=instant").get_data(as_text=True)
    admin.post("/workflows/new", data={"csrf_token": csrf(form), "code": "TWO-MAKERS", "description": "Two makers",
                                       "record_type": "customer", "trigger_kind": "instant"})
    page = admin.get("/workflows/TWO-MAKERS/edit").get_data(as_text=True)
    hx = {"HX-Request": "true", "X-CSRFToken": csrf(page)}
    version = re.search(r'name="version" value="(\d+)"', page).group(1)
    stale = other.get("/workflows/TWO-MAKERS/edit").get_data(as_text=True)
    assert f'name="version" value="{version}"' in stale
    frag = admin.post("/workflows/TWO-MAKERS/edit/add-event", data={"function": "run_from_automate", "version": version},
                      headers=hx).get_data(as_text=True)
    assert "A user runs the flow from the Automate menu" in frag
    late = other.post("/workflows/TWO-MAKERS/edit/add-event", data={"function": "record_modified", "version": version},
                      headers={"HX-Request": "true", "X-CSRFToken": csrf(stale)}).get_data(as_text=True)
    assert "Someone else changed this workflow since you opened it. Nothing was changed" in late
    assert "A user runs the flow from the Automate menu" in late  # the saved workflow, with the first maker's event
    with app.app_context():
        from sqlalchemy import select

        from portal.extensions import db
        from portal.workflow.models import Workflow

        wf = db.session.scalar(select(Workflow).where(Workflow.code == "TWO-MAKERS"))
        assert [s.function_name for s in wf.steps] == ["run_from_automate"]
