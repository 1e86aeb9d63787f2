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
    assert "When</strong> Approval of a sales document is requested" in html and "document_type = Invoice" in html
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
