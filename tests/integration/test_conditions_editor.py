"""The conditions editor compares a field with a value or with another field of the
record ("Compare with: another field"); the live enable checks report a comparison
of fields that don't compare; export and import keep the comparison."""
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


def conditions_of(app, code: str) -> list[dict]:
    from sqlalchemy import select

    from portal.extensions import db
    from portal.workflow.models import Workflow

    with app.app_context():
        wf = db.session.scalar(select(Workflow).where(Workflow.code == code))
        conds = [s.conditions for s in wf.steps if s.entry_point][0]
        db.session.remove()
        return conds


def test_compare_with_another_field_in_the_editor(app, admin):
    form = admin.get("/workflows/new?record_type=item&trigger_kind=scheduled").get_data(as_text=True)
    res = admin.post("/workflows/new", data={"csrf_token": csrf(form), "code": "LOW-STOCK", "description": "Items below their reorder point",
                                             "record_type": "item", "trigger_kind": "scheduled"}, follow_redirects=True)
    page = res.get_data(as_text=True)
    hx = {"HX-Request": "true", "X-CSRFToken": csrf(page)}
    frag = admin.post("/workflows/LOW-STOCK/edit/add-event", data={"function": "schedule_fired"}, headers=hx).get_data(as_text=True)
    assert 'name="cond_compare"' in frag and '<option value="field" >another field</option>' in frag

    # row 1: inventory < another field: Reorder Point; row 2: blocked = a value; row 3 left empty
    frag = admin.post("/workflows/LOW-STOCK/edit/set-event", headers=hx, data={
        "step_id": 1, "function": "schedule_fired",
        "cond_field": ["inventory", "blocked", ""], "cond_operator": ["<", "=", "="], "cond_compare": ["field", "value", "value"],
        "cond_value": ["", "false", ""], "cond_value_field": ["reorder_point", "", ""],
    }).get_data(as_text=True)
    assert conditions_of(app, "LOW-STOCK") == [{"field": "inventory", "operator": "<", "value_field": "reorder_point"},
                                               {"field": "blocked", "operator": "=", "value": "false"}]
    assert "where Inventory is less than Reorder Point and Blocked is No" in frag
    assert '<div class="cond-row" data-compare="field">' in frag and '<option value="field" selected>another field</option>' in frag
    assert '<option value="reorder_point" selected>Reorder Point</option>' in frag

    # fields that don't compare: the live enable checks say so
    frag = admin.post("/workflows/LOW-STOCK/edit/set-event", headers=hx, data={
        "step_id": 1, "function": "schedule_fired", "cond_field": ["inventory"], "cond_operator": ["<"], "cond_compare": ["field"],
        "cond_value": ["5"], "cond_value_field": ["description"],
    }).get_data(as_text=True)
    assert conditions_of(app, "LOW-STOCK") == [{"field": "inventory", "operator": "<", "value_field": "description"}]
    assert "Step 1: Condition 1: inventory (number) can&#39;t be compared with description (text)." in frag
    res = admin.post("/workflows/LOW-STOCK/enable", data={"csrf_token": csrf(page)}, follow_redirects=True)
    assert "can&#39;t be compared with description (text)" in res.get_data(as_text=True)

    # a form without the compare column (an older page) still saves values
    admin.post("/workflows/LOW-STOCK/edit/set-event", headers=hx, data={
        "step_id": 1, "function": "schedule_fired", "cond_field": ["inventory"], "cond_operator": ["<"], "cond_value": ["5"]})
    assert conditions_of(app, "LOW-STOCK") == [{"field": "inventory", "operator": "<", "value": "5"}]

    # export and import keep a comparison with another field
    admin.post("/workflows/LOW-STOCK/edit/set-event", headers=hx, data={
        "step_id": 1, "function": "schedule_fired", "cond_field": ["inventory"], "cond_operator": ["<"], "cond_compare": ["field"],
        "cond_value": [""], "cond_value_field": ["reorder_point"]})
    admin.post("/workflows/LOW-STOCK/edit/add-response", headers=hx, data={"step_id": 1, "function": "do_nothing"})  # (enable needs one)
    exported = json.loads(admin.post("/workflows/export", data={"csrf_token": csrf(page), "code": ["LOW-STOCK"]}).get_data(as_text=True))
    [step] = [s for s in exported["workflows"][0]["steps"] if s["entry_point"]]
    assert step["conditions"] == [{"field": "inventory", "operator": "<", "value_field": "reorder_point"}]
    exported["workflows"][0]["code"] = "LOW-STOCK-2"
    res = admin.post("/workflows/import", data={"csrf_token": csrf(page), "file": (io.BytesIO(json.dumps(exported).encode()), "low.json")},
                     content_type="multipart/form-data", follow_redirects=True)
    assert "Imported 1 workflow(s): LOW-STOCK-2." in res.get_data(as_text=True)
    assert conditions_of(app, "LOW-STOCK-2") == [{"field": "inventory", "operator": "<", "value_field": "reorder_point"}]
    res = admin.post("/workflows/LOW-STOCK-2/enable", data={"csrf_token": csrf(page)}, follow_redirects=True)
    assert "Workflow LOW-STOCK-2 is enabled." in res.get_data(as_text=True)


def test_a_refused_condition_comes_back_in_its_open_dialog_with_what_was_typed(app, admin):
    """Nothing typed is lost: a condition refused (a value over 250 characters) leaves
    the step unchanged and the editor comes back with that step's dialog open
    (``data-reopen``), the message inside it and every typed row as typed."""
    form = admin.get("/workflows/new?record_type=item&trigger_kind=scheduled").get_data(as_text=True)
    res = admin.post("/workflows/new", data={"csrf_token": csrf(form), "code": "LOW-STOCK-R", "description": "Reopened dialog",
                                             "record_type": "item", "trigger_kind": "scheduled"}, follow_redirects=True)
    hx = {"HX-Request": "true", "X-CSRFToken": csrf(res.get_data(as_text=True))}
    admin.post("/workflows/LOW-STOCK-R/edit/add-event", data={"function": "schedule_fired"}, headers=hx)
    long_value = "x" * 300
    frag = admin.post("/workflows/LOW-STOCK-R/edit/set-event", headers=hx, data={
        "step_id": 1, "function": "schedule_fired", "cond_field": ["inventory", "description"], "cond_operator": ["<", "contains"],
        "cond_compare": ["value", "value"], "cond_value": ["7", long_value], "cond_value_field": ["", ""],
    }).get_data(as_text=True)
    assert conditions_of(app, "LOW-STOCK-R") == []
    dialog = frag[frag.index('<dialog aria-label="Event and conditions" data-reopen'):]
    dialog = dialog[:dialog.index("</dialog>")]
    assert "the value can have at most 250 characters" in dialog
    assert 'value="7"' in dialog and f'value="{long_value}"' in dialog
    assert '<option value="description" selected>' in dialog and '<option value="contains" selected>' in dialog
    # a later successful save renders no dialog open
    frag = admin.post("/workflows/LOW-STOCK-R/edit/set-event", headers=hx, data={
        "step_id": 1, "function": "schedule_fired", "cond_field": ["inventory"], "cond_operator": ["<"],
        "cond_compare": ["value"], "cond_value": ["7"], "cond_value_field": [""]}).get_data(as_text=True)
    assert "data-reopen" not in frag
    assert conditions_of(app, "LOW-STOCK-R") == [{"field": "inventory", "operator": "<", "value": "7"}]
