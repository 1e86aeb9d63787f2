"""Enable rules, options validation, copy codes, export and import of workflows."""
from __future__ import annotations

import copy as copy_module

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.workflow import service
from portal.workflow.library import SALES_ORDER_APPROVAL, build_workflow
from portal.workflow.models import Workflow, WorkflowInstance


@pytest.fixture
def wf_app(services, tmp_path):
    from portal import create_app

    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'rules.db'}"})
    with app.app_context():
        db.create_all()
        yield app
        db.session.remove()


def definition(**changes):
    d = copy_module.deepcopy(SALES_ORDER_APPROVAL)
    d.update(changes)
    return d


def add(d, enabled=False) -> Workflow:
    wf = build_workflow(d, enabled=enabled)
    db.session.add(wf)
    db.session.flush()
    return wf


def problems_for(steps, record_type="sales_header"):
    problems_for.n = getattr(problems_for, "n", 0) + 1
    return service.enable_problems(db.session, add(definition(code=f"T{problems_for.n}", steps=steps, record_type=record_type)))


def test_the_shipped_workflow_passes_every_rule(wf_app):
    assert service.enable_problems(db.session, add(definition())) == []


def test_only_events_are_entry_points_and_exactly_one_root(wf_app):
    assert "Step 1: only events can be entry points." in problems_for([(1, None, None, 1, "response", "do_nothing", {}, [])])
    two_roots = problems_for([
        (1, None, None, 1, "event", "sales_document_approval_requested", {}, []),
        (2, None, None, 1, "event", "sales_document_approval_requested", {}, []),
    ])
    assert "A workflow needs exactly one entry point; it has 2." in two_roots
    assert "A workflow needs exactly one left-aligned (root) step; it has 2." in two_roots
    assert problems_for([]) == ["The workflow has no steps."]


def test_orphans_self_references_and_unknown_functions(wf_app):
    found = problems_for([
        (1, None, None, 1, "event", "sales_document_approval_requested", {}, []),
        (2, 9, None, 1, "response", "do_nothing", {}, []),
        (3, 1, 3, 1, "response", "no_such_response", {}, []),
        (4, 1, None, 2, "event", "no_such_event", {}, [{"field": "nope", "operator": "="}]),
    ])
    assert "Step 2 follows step 9, which does not exist (an orphan)." in found
    assert "Step 3 refers to itself." in found
    assert "Step 3: no_such_response is not a response." in found
    assert "Step 4: no_such_event is not an event." in found


def test_conditions_must_name_fields_of_the_record_type(wf_app):
    found = problems_for([(1, None, None, 1, "event", "sales_document_approval_requested", {}, [{"field": "colour", "operator": "=", "value": "red"}])])
    assert "Step 1: Condition 1: unknown field 'colour'." in found


def test_required_and_invalid_options_are_reported(wf_app):
    assert service.validate_options("create_approval_requests", {"approver_type": "Salesperson/Purchaser", "limit_type": "Specific Approver"}) == {
        "specific_approver": "The Specific Approver limit type needs an approver ID."
    }
    assert service.validate_options("create_approval_requests", {"approver_type": "Approver", "limit_type": "Approver Chain", "due_date_days": "-2"}) == {
        "due_date_days": "Due Date Formula (days) can't be negative."
    }
    assert service.validate_options("send_email", {"to_field": "email"}) == {"template": "Notification Template must have a value."}
    assert service.validate_options("create_approval_requests", {"approver_type": "Approver", "limit_type": "Approver Chain", "due_date_days": "3"}) == {}


def test_identical_enabled_workflows_clash_and_templates_cannot_be_enabled(wf_app):
    first = add(definition(code="A"), enabled=True)
    second = add(definition(code="B"))
    assert any("Workflow A is enabled for the same record type" in p for p in service.enable_problems(db.session, second))
    first.enabled = False
    assert service.enable_problems(db.session, second) == []
    template = add(definition(code="TPL"))
    template.template = True
    with pytest.raises(service.WorkflowError, match="template can't be enabled"):
        service.set_enabled(db.session, template, True)


def test_enabled_workflows_and_templates_cannot_be_edited_or_deleted(wf_app):
    wf = add(definition(), enabled=True)
    with pytest.raises(service.WorkflowError, match="disable it before"):
        service.delete(db.session, wf)
    wf.enabled = False
    db.session.add(WorkflowInstance(workflow_id=wf.id, workflow_code=wf.code, status="Running"))
    db.session.flush()
    with pytest.raises(service.WorkflowError, match="running instance"):
        service.delete(db.session, wf)


def test_copies_get_the_code_plus_a_number(wf_app):
    template = add(definition(code="MS-SOAPW"))
    template.template = True
    first = service.copy(db.session, template)
    second = service.copy(db.session, template)
    assert (first.code, second.code) == ("MS-SOAPW-01", "MS-SOAPW-02")
    assert not first.enabled and not first.template and len(first.steps) == len(template.steps)
    with pytest.raises(service.WorkflowError, match="already exists"):
        service.copy(db.session, template, code="MS-SOAPW-01")


def test_export_then_import_round_trips_and_replaces_steps(wf_app):
    wf = add(definition(code="X1"))
    data = service.export_workflows([wf])
    assert data["format"] == "workflow-portal/workflows" and data["version"] == 1
    data["workflows"][0]["description"] = "Changed"
    data["workflows"][0]["steps"] = data["workflows"][0]["steps"][:4]
    assert service.import_workflows(db.session, data) == ["X1"]
    db.session.expire_all()
    again = db.session.scalar(select(Workflow).where(Workflow.code == "X1"))
    assert again.description == "Changed" and len(again.steps) == 4


def test_an_invalid_import_changes_nothing_and_says_where(wf_app):
    wf = add(definition(code="X2"))
    data = service.export_workflows([wf])
    good = copy_module.deepcopy(data["workflows"][0])
    good["code"] = "NEW-ONE"
    bad = copy_module.deepcopy(data["workflows"][0])
    bad["steps"][2]["function"] = "teleport"
    bad["steps"][3]["type"] = "maybe"
    data["workflows"] = [good, bad]
    with pytest.raises(service.WorkflowError) as err:
        service.import_workflows(db.session, data)
    assert 'workflows[1] (X2).steps[3].type: must be "event" or "response".' in err.value.problems
    assert "workflows[1] (X2): Step 3: teleport is not a response." in err.value.problems
    assert db.session.scalar(select(Workflow).where(Workflow.code == "NEW-ONE")) is None
    with pytest.raises(service.WorkflowError, match="not a workflow export"):
        service.import_workflows(db.session, {"hello": 1})


def test_revert_and_apply_new_values_come_as_a_pair(wf_app):
    lonely = problems_for([
        (1, None, None, 1, "event", "record_modified", {}, [{"field": "credit_limit", "operator": "increased"}]),
        (2, 1, None, 1, "response", "revert_field_value", {"field": "credit_limit"}, []),
    ], record_type="customer")
    assert "Revert the changed field's value and Apply the new values must be used together." in lonely
    paired = problems_for([
        (1, None, None, 1, "event", "record_modified", {}, [{"field": "credit_limit", "operator": "increased"}]),
        (2, 1, None, 1, "response", "revert_field_value", {"field": "credit_limit"}, []),
        (3, 2, None, 1, "event", "approval_request_approved", {}, []),
        (4, 3, None, 1, "response", "apply_new_values", {}, []),
    ], record_type="customer")
    assert paired == []
    wrong_field = problems_for([
        (1, None, None, 1, "event", "record_modified", {}, []),
        (2, 1, None, 1, "response", "revert_field_value", {"field": "colour"}, []),
        (3, 2, None, 1, "event", "approval_request_approved", {}, []),
        (4, 3, None, 1, "response", "apply_new_values", {}, []),
    ], record_type="customer")
    assert "Step 2 (Revert the changed field's value): 'colour' is not a field of Customers." in wrong_field
