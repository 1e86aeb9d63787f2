"""The workflow editor's line model: lines from steps and steps from lines."""
from __future__ import annotations

import pytest

from portal.workflow import editor
from portal.workflow.library import SALES_ORDER_APPROVAL, build_workflow
from portal.workflow.models import Workflow
from portal.workflow.service import WorkflowError, structure_problems


def links(wf):
    return {s.step_id: (s.previous_step_id, s.sequence_no, s.entry_point) for s in wf.steps}


def test_lines_of_the_sales_order_approval_workflow():
    wf = build_workflow(SALES_ORDER_APPROVAL, enabled=False)
    lines = editor.lines_of(wf.steps)
    assert [(l.event.step_id, l.indent, [r.step_id for r in l.responses]) for l in lines] == [
        (1, 0, [2, 3, 4]), (5, 1, [6]), (7, 1, [8]), (9, 1, [10, 11]), (12, 1, [13, 14]), (15, 1, [16]),
    ]
    before = links(wf)
    editor.rebuild(wf, lines)
    assert links(wf) == before  # the derivation is the inverse of lines_of


def test_build_a_workflow_line_by_line():
    wf = Workflow(code="NEW", description="New", record_type="customer", enabled=False)
    entry = editor.add_event(wf, "record_modified", conditions=[{"field": "credit_limit", "operator": "increased"}])
    editor.add_response(wf, entry.step_id, "show_message", {"message": "raised"})
    second = editor.add_event(wf, "record_modified")
    third = editor.add_event(wf, "record_deleted", after_step_id=second.step_id)
    lines = editor.lines_of(wf.steps)
    assert [(l.event.step_id, l.indent) for l in lines] == [(1, 0), (3, 1), (4, 1)]
    assert (second.previous_step_id, third.previous_step_id) == (2, 2)  # both follow the response
    assert (second.sequence_no, third.sequence_no) == (1, 2)
    editor.indent(wf, third.step_id, +1)
    assert third.previous_step_id == second.step_id
    with pytest.raises(WorkflowError, match="at most one level deeper"):
        editor.indent(wf, third.step_id, +1)
    editor.move(wf, third.step_id, -1)  # above its parent: it can't stay two levels deep
    assert [(l.event.step_id, l.indent) for l in editor.lines_of(wf.steps)] == [(1, 0), (4, 1), (3, 1)]
    assert structure_problems(list(wf.steps), "customer") == []
    editor.delete_line(wf, second.step_id)
    assert [s.step_id for s in wf.steps] == [1, 2, 4]
    assert structure_problems(list(wf.steps), "customer") == []


def test_responses_move_and_next_step_references_are_cleared_on_delete():
    wf = build_workflow(SALES_ORDER_APPROVAL, enabled=False)
    editor.move_response(wf, 3, -1)
    lines = editor.lines_of(wf.steps)
    assert [r.step_id for r in lines[0].responses] == [3, 2, 4]
    editor.delete_response(wf, 4)  # step 6 jumped to 4
    assert next(s for s in wf.steps if s.step_id == 6).next_step_id is None
    with pytest.raises(WorkflowError, match="can't go next to itself"):
        editor.set_response(wf, 6, {"notification_template": "approval_request"}, 6)
    with pytest.raises(WorkflowError, match="(?i)due date formula \\(days\\) can't be negative"):
        editor.set_response(wf, 3, {"approver_type": "Approver", "limit_type": "Approver Chain", "due_date_days": "-1"}, None)


def test_enabled_workflows_and_templates_are_read_only():
    wf = build_workflow(SALES_ORDER_APPROVAL, enabled=True)
    with pytest.raises(WorkflowError, match="disable it before"):
        editor.add_event(wf, "record_created")
    wf.enabled, wf.template = False, True
    with pytest.raises(WorkflowError, match="read-only"):
        editor.delete_line(wf, 5)
