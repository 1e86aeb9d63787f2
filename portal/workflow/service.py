"""Workflow definitions: validation and the enable rules, enable / disable, copy
(also "new from template"), delete, export and import; and runs: retry a failed run
from the step that failed, cancel a queued or running one.

Enable rules (Business Central's workflow checks, plus ours):
- a workflow has steps; only events can be entry points; exactly one entry point,
  and it is the one root (left-aligned) step;
- no orphans: every previous / next step reference names a step of the workflow;
  no step refers to itself;
- every step names an event or response of the catalogs; required response options
  are filled and valid; event conditions name fields of the record type;
- no other enabled automated workflow on the same record type has the same entry
  event with identical entry conditions (instant and scheduled flows are started by
  name, so several may share an entry);
- templates can't be enabled, edited, renamed or deleted; an enabled workflow can't be
  edited or deleted; a workflow with running instances can't be deleted.
"""
from __future__ import annotations

import json
import re
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.auth.models import User
from portal.workflow.catalog import RECORD_TYPES
from portal.workflow import conditions as cond
from portal.workflow import vault
from portal.workflow.catalog import EVENTS, OPTION_VALIDATORS, RESPONSES
from portal.workflow.rendering import check_template, flow_placeholders, sample_record
from portal.workflow.models import (
    RUN_QUEUED,
    RUN_RUNNING,
    STEP_EVENT,
    STEP_RESPONSE,
    TRIGGER_AUTOMATED,
    TRIGGER_INSTANT,
    TRIGGER_SCHEDULED,
    Workflow,
    WorkflowInstance,
    WorkflowStep,
)

EXPORT_FORMAT = "workflow-portal/workflows"
EXPORT_VERSION = 1
CODE_RE = re.compile(r"^[A-Z0-9][A-Z0-9_\-]{0,19}$")


class WorkflowError(Exception):
    """A workflow action isn't allowed; ``problems`` lists every reason."""

    def __init__(self, problems: list[str] | str):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("; ".join(self.problems))


# ---------------------------------------------------------------- options

def validate_options(code: str, options: dict[str, Any], session: Session | None = None) -> dict[str, str]:
    """Errors per option name for response ``code`` (empty dict = valid): required
    options filled, numbers numeric and not negative, URLs absolute http(s), text
    options holding a template pass the sandbox's save-time checks
    (:func:`portal.workflow.rendering.check_template`), choices
    from their list, a Specific Approver limit type names an existing user."""
    definition = RESPONSES.get(code)
    if definition is None:
        return {"_": f"Unknown response {code!r}."}
    errors: dict[str, str] = {}
    options = options or {}
    for opt in definition.options:
        value = options.get(opt.name, opt.default)
        empty = value is None or (isinstance(value, str) and not value.strip())
        if opt.required and empty:
            errors[opt.name] = f"{opt.label} must have a value."
            continue
        if empty:
            continue
        if opt.kind == "int":
            try:
                number = int(str(value))
            except ValueError:
                errors[opt.name] = f"{opt.label} must be a whole number of days."
                continue
            if number < 0:
                errors[opt.name] = f"{opt.label} can't be negative."
        elif opt.kind == "choice" and str(value) not in opt.choices:
            errors[opt.name] = f"{opt.label} must be one of: {', '.join(opt.choices)}."
        elif opt.kind == "headers":
            _headers, bad = vault.parse_header_lines(str(value))
            if bad:
                errors[opt.name] = f"{opt.label}: {'; '.join(bad)}."
        elif opt.kind == "secret" and not vault.is_sealed(value) and opt.name == "secret_headers":
            _headers, bad = vault.parse_header_lines(str(value))
            if bad:
                errors[opt.name] = f"{opt.label}: {'; '.join(bad)}."
        elif opt.kind == "url" and not re.match(r"^https?://[^\s/]+", str(value)):
            errors[opt.name] = f"{opt.label} must be an http:// or https:// URL."
        elif opt.kind == "user" and session is not None:
            if session.scalar(select(User.id).where(User.user_name == str(value))) is None:
                errors[opt.name] = f"{opt.label}: there is no user {value!r}."
        elif opt.kind == "text" and isinstance(value, str) and ("{{" in value or "{%" in value):
            sample = {"record": sample_record(), "inputs": {}, "steps": {}, "trigger": {"body": {}},
                      "event": {"old_values": {}, "new_values": {}, "comment": "", "body": {}},
                      "open_orders": [], "open_orders_total": 0}
            problems = check_template(value, flow_placeholders(), sample, html=False, label=opt.label)
            if problems:
                errors[opt.name] = " ".join(problems)
    validator = OPTION_VALIDATORS.get(code)  # e.g. approvals: approver type needs a group
    if validator is not None:
        validator(session, options, errors)
    return errors


def seal_secrets(code: str, options: dict) -> dict:
    """``options`` of a step of response ``code`` with each secret option that is
    still plain text encrypted (:func:`portal.workflow.vault.seal`); empty ones are
    dropped. Validate first (:func:`validate_options`): a sealed value can't be
    checked any more."""
    secret = vault.secret_option_names(code)
    out = {}
    for name, value in (options or {}).items():
        if name in secret:
            if value is None or (isinstance(value, str) and not value.strip()):
                continue
            value = value if vault.is_sealed(value) else vault.seal(str(value).strip())
        out[name] = value
    return out


# ---------------------------------------------------------------- validation

def structure_problems(steps: list[WorkflowStep], record_type: str | None) -> list[str]:
    """Problems with a workflow's steps (empty list = a valid tree)."""
    problems: list[str] = []
    if not steps:
        return ["The workflow has no steps."]
    ids = [s.step_id for s in steps]
    if len(ids) != len(set(ids)):
        problems.append("Two steps share the same ID.")
    known = set(ids)
    roots = [s for s in steps if s.previous_step_id is None]
    entries = [s for s in steps if s.entry_point]
    if len(entries) != 1:
        problems.append(f"A workflow needs exactly one entry point; it has {len(entries)}.")
    for s in entries:
        if s.type != STEP_EVENT:
            problems.append(f"Step {s.step_id}: only events can be entry points.")
    if len(roots) != 1:
        problems.append(f"A workflow needs exactly one left-aligned (root) step; it has {len(roots)}.")
    elif entries and roots[0] is not entries[0]:
        problems.append(f"Step {roots[0].step_id} is left-aligned but is not the entry point.")
    fields = None
    if record_type in RECORD_TYPES:
        rt = RECORD_TYPES[record_type]
        fields = rt.field_names() | {f"lines.{f.name}" for f in rt.line_fields}
    for s in steps:
        where = f"Step {s.step_id}"
        if s.previous_step_id is not None and s.previous_step_id not in known:
            problems.append(f"{where} follows step {s.previous_step_id}, which does not exist (an orphan).")
        if s.next_step_id is not None and s.next_step_id not in known:
            problems.append(f"{where} goes next to step {s.next_step_id}, which does not exist.")
        if s.step_id in (s.previous_step_id, s.next_step_id):
            problems.append(f"{where} refers to itself.")
        if s.type == STEP_EVENT:
            if s.function_name not in EVENTS:
                problems.append(f"{where}: {s.function_name or '(blank)'} is not an event.")
            elif fields is not None:
                extra = set(EVENTS[s.function_name].extra_fields)
                if s.function_name == "http_request_received":  # the request's JSON body: any name under body.
                    extra |= {c.get("field") for c in (s.conditions or []) if str(c.get("field") or "").startswith("body")}
                for msg in cond.validate(s.conditions or [], fields | extra):
                    problems.append(f"{where}: {msg}.")
        elif s.type == STEP_RESPONSE:
            if s.function_name not in RESPONSES:
                problems.append(f"{where}: {s.function_name or '(blank)'} is not a response.")
            else:
                label = RESPONSES[s.function_name].description
                for name, msg in validate_options(s.function_name, s.options or {}).items():
                    problems.append(f"{where} ({label}): {msg}")
                for opt in RESPONSES[s.function_name].options:
                    value = (s.options or {}).get(opt.name)
                    if opt.kind == "field" and value and fields is not None and value not in fields:
                        problems.append(f"{where} ({label}): {value!r} is not a field of {RECORD_TYPES[record_type].plural}.")
        else:
            problems.append(f"{where} has no event or response.")
    # Everything must hang off the root: walk the previous-step links.
    parent = {s.step_id: s.previous_step_id for s in steps}
    for s in steps:
        seen, current = set(), s.step_id
        while parent.get(current) is not None and current not in seen:
            seen.add(current)
            current = parent[current]
        if current in seen:
            problems.append(f"Step {s.step_id} is part of a cycle of previous-step links.")
            break
    fns = {s.function_name for s in steps}
    if ("revert_field_value" in fns) != ("apply_new_values" in fns):
        problems.append("Revert the changed field's value and Apply the new values must be used together.")
    return problems


def _entry(wf: Workflow) -> WorkflowStep | None:
    return next((s for s in wf.steps if s.entry_point), None)


def _same_entry(a: Workflow, b: Workflow) -> bool:
    ea, eb = _entry(a), _entry(b)
    if ea is None or eb is None:
        return False
    canon = lambda c: sorted(json.dumps(x, sort_keys=True) for x in (c or []))  # noqa: E731
    return (a.record_type, ea.function_name, canon(ea.conditions)) == (b.record_type, eb.function_name, canon(eb.conditions))


NO_RESPONSE = ("The workflow has an event but no response, so it would do nothing: "
               "add at least one response (Then …) before enabling it.")


def enable_problems(session: Session, wf: Workflow) -> list[str]:
    """Every reason ``wf`` can't be enabled (empty list = it can)."""
    if wf.template:
        return ["A workflow template can't be enabled; create a workflow from it first."]
    problems = structure_problems(list(wf.steps), wf.record_type)
    if any(s.type == STEP_EVENT for s in wf.steps) and not any(s.type == STEP_RESPONSE for s in wf.steps):
        problems.append(NO_RESPONSE)
    entry = _entry(wf)
    if entry is not None and entry.function_name == "http_request_received":
        from portal.workflow.http_in import trigger_of

        if wf.trigger_kind != TRIGGER_AUTOMATED:
            problems.append("A flow started by an HTTP request is an automated flow.")
        if wf.id is None or trigger_of(session, wf) is None:
            problems.append("Create the flow's address and signing secret first (Create address and secret).")
        return problems  # each such flow has its own address: no clash with another
    if wf.trigger_kind != TRIGGER_AUTOMATED:
        return problems  # instant and scheduled runs name their workflow: no clash possible
    others = session.scalars(
        select(Workflow).where(Workflow.enabled.is_(True), Workflow.id != wf.id, Workflow.template.is_(False))
    ).unique()
    for other in others:
        if _same_entry(wf, other):
            problems.append(
                f"Workflow {other.code} is enabled for the same record type with the same entry event and conditions; disable it first."
            )
    return problems


def running_instances(session: Session, wf: Workflow) -> int:
    return session.scalar(
        select(func.count(WorkflowInstance.id)).where(
            WorkflowInstance.workflow_id == wf.id, WorkflowInstance.status.in_([RUN_RUNNING, RUN_QUEUED])
        )
    ) or 0


# ---------------------------------------------------------------- actions

def get(session: Session, code: str) -> Workflow:
    wf = session.scalar(select(Workflow).where(Workflow.code == code))
    if wf is None:
        raise WorkflowError(f"There is no workflow {code!r}.")
    return wf


def set_enabled(session: Session, wf: Workflow, enabled: bool) -> None:
    """Enable (after the enable checks) or disable. Raises :class:`WorkflowError`
    listing every problem. Running instances go on with their own copy of the steps."""
    if enabled:
        problems = enable_problems(session, wf)
        if problems:
            raise WorkflowError(problems)
    elif wf.template:
        raise WorkflowError("A workflow template can't be enabled or disabled.")
    wf.enabled = enabled


def check_editable(wf: Workflow) -> None:
    """Raises :class:`WorkflowError` if ``wf`` is a template or enabled."""
    if wf.template:
        raise WorkflowError("Workflow templates are read-only; create a workflow from the template to change it.")
    if wf.enabled:
        raise WorkflowError(f"Workflow {wf.code} is enabled; disable it before you change it.")


def delete(session: Session, wf: Workflow) -> None:
    """Delete a workflow. Raises :class:`WorkflowError` for templates, enabled
    workflows and workflows with running instances."""
    check_editable(wf)
    n = running_instances(session, wf)
    if n:
        raise WorkflowError(f"Workflow {wf.code} has {n} running instance(s) and can't be deleted.")
    if session.scalar(select(func.count(WorkflowInstance.id)).where(WorkflowInstance.workflow_id == wf.id)):
        raise WorkflowError(f"Workflow {wf.code} has run history; disable it instead of deleting it.")
    session.delete(wf)


def next_copy_code(session: Session, code: str) -> str:
    """``code`` plus "-01", "-02", … : the first that is free (at most 20 characters)."""
    base = code[:16]
    existing = set(session.scalars(select(Workflow.code).where(Workflow.code.like(f"{base}-%"))))
    for n in range(1, 100):
        candidate = f"{base}-{n:02d}"
        if candidate not in existing:
            return candidate
    raise WorkflowError(f"There are already 99 copies of {code}.")


def copy(session: Session, source: Workflow, code: str | None = None, description: str | None = None,
         owner_id: int | None = None) -> Workflow:
    """A disabled, editable copy of ``source`` (a workflow or a template) with its
    steps, options and conditions, owned by ``owner_id``. Code defaults to the source
    code + "-01", "-02", … Raises :class:`WorkflowError` for a code in use or not valid."""
    code = (code or next_copy_code(session, source.code)).strip().upper()
    if not CODE_RE.match(code):
        raise WorkflowError("A code is 1 to 20 letters, digits, '-' or '_', starting with a letter or digit.")
    if session.scalar(select(Workflow.id).where(Workflow.code == code)):
        raise WorkflowError(f"A workflow with code {code} already exists.")
    wf = Workflow(
        code=code,
        description=description or source.description,
        category=source.category,
        record_type=source.record_type,
        trigger_kind=source.trigger_kind,
        input_fields=list(source.input_fields or []),
        schedule=dict(source.schedule) if source.schedule else None,
        enabled=False,
        template=False,
        owner_id=owner_id,
    )
    for s in source.steps:
        wf.steps.append(_copy_step(s))
    session.add(wf)
    session.flush()
    return wf


def _copy_step(s: WorkflowStep) -> WorkflowStep:
    return WorkflowStep(
        step_id=s.step_id, description=s.description, entry_point=s.entry_point, previous_step_id=s.previous_step_id,
        next_step_id=s.next_step_id, sequence_no=s.sequence_no, type=s.type, function_name=s.function_name,
        options=dict(s.options or {}), conditions=[dict(c) for c in (s.conditions or [])],
    )


# ---------------------------------------------------------------- export / import

STEP_KEYS = ("id", "previous", "next", "sequence", "type", "function", "description", "entry_point", "options", "conditions")


def to_dict(wf: Workflow) -> dict:
    """One workflow in the export format (see :func:`export_workflows`). Secret
    options (webhook tokens, passwords) are left out: they are set again after an
    import."""
    return {
        "code": wf.code,
        "description": wf.description,
        "category": wf.category,
        "record_type": wf.record_type,
        "trigger": wf.trigger_kind,
        "input_fields": list(wf.input_fields or []),
        "schedule": wf.schedule,
        "steps": [
            {
                "id": s.step_id, "previous": s.previous_step_id, "next": s.next_step_id, "sequence": s.sequence_no,
                "type": s.type, "function": s.function_name, "description": s.description, "entry_point": s.entry_point,
                "options": vault.without_secrets(s.function_name, s.options), "conditions": s.conditions or [],
            }
            for s in sorted(wf.steps, key=lambda s: s.step_id)
        ],
    }


def export_workflows(workflows: list[Workflow]) -> dict:
    """The export file for ``workflows``::

        {"format": "workflow-portal/workflows", "version": 1,
         "workflows": [{"code", "description", "category", "record_type", "trigger",
                        "input_fields", "schedule",
                        "steps": [{"id", "previous", "next", "sequence", "type",
                                   "function", "description", "entry_point",
                                   "options": {...}, "conditions": [{"field", "operator", "value"}]}]}]}
    """
    return {"format": EXPORT_FORMAT, "version": EXPORT_VERSION, "workflows": [to_dict(wf) for wf in workflows]}


def _parse(data: Any) -> tuple[list[dict], list[str]]:
    problems: list[str] = []
    if not isinstance(data, dict) or data.get("format") != EXPORT_FORMAT:
        return [], [f"The file is not a workflow export (expected \"format\": \"{EXPORT_FORMAT}\")."]
    if data.get("version") != EXPORT_VERSION:
        return [], [f"Export version {data.get('version')!r} is not supported (expected {EXPORT_VERSION})."]
    workflows = data.get("workflows")
    if not isinstance(workflows, list) or not workflows:
        return [], ["The file holds no workflows (\"workflows\" must be a non-empty list)."]
    seen: set[str] = set()
    for i, w in enumerate(workflows):
        at = f"workflows[{i}]"
        if not isinstance(w, dict):
            problems.append(f"{at}: must be an object.")
            continue
        code = str(w.get("code") or "")
        at = f"workflows[{i}] ({code or 'no code'})"
        if not CODE_RE.match(code):
            problems.append(f"{at}.code: {code!r} is not a valid code.")
        if code in seen:
            problems.append(f"{at}.code: {code} appears twice in the file.")
        seen.add(code)
        if not w.get("description"):
            problems.append(f"{at}.description: must have a value.")
        if w.get("record_type") not in (None, *RECORD_TYPES):
            problems.append(f"{at}.record_type: unknown record type {w.get('record_type')!r}.")
        if w.get("trigger", TRIGGER_AUTOMATED) not in (TRIGGER_AUTOMATED, TRIGGER_SCHEDULED, TRIGGER_INSTANT):
            problems.append(f"{at}.trigger: must be automated, scheduled or instant.")
        steps = w.get("steps")
        if not isinstance(steps, list):
            problems.append(f"{at}.steps: must be a list.")
            continue
        built = []
        for j, s in enumerate(steps):
            sat = f"{at}.steps[{j}]"
            if not isinstance(s, dict):
                problems.append(f"{sat}: must be an object.")
                continue
            unknown = set(s) - set(STEP_KEYS)
            if unknown:
                problems.append(f"{sat}: unknown keys {', '.join(sorted(unknown))}.")
            if not isinstance(s.get("id"), int):
                problems.append(f"{sat}.id: must be a whole number.")
                continue
            if s.get("type") not in (STEP_EVENT, STEP_RESPONSE):
                problems.append(f"{sat}.type: must be \"event\" or \"response\".")
                continue
            if not isinstance(s.get("options", {}), dict) or not isinstance(s.get("conditions", []), list):
                problems.append(f"{sat}: options must be an object and conditions a list.")
                continue
            built.append(WorkflowStep(
                step_id=s["id"], previous_step_id=s.get("previous"), next_step_id=s.get("next"),
                sequence_no=int(s.get("sequence") or 0), type=s["type"], function_name=str(s.get("function") or ""),
                description=s.get("description"), entry_point=bool(s.get("entry_point", s.get("previous") is None)),
                options=s.get("options") or {}, conditions=s.get("conditions") or [],
            ))
        for msg in structure_problems(built, w.get("record_type")):
            problems.append(f"{at}: {msg}")
    return workflows, problems


def import_workflows(session: Session, data: Any, owner_id: int | None = None) -> list[str]:
    """Import an export file (parsed JSON). The whole file is checked first; if any part
    is invalid nothing changes and :class:`WorkflowError` lists each problem with its
    place in the file. A workflow whose code exists has its definition and steps
    replaced (it must not be enabled or a template); a new one is owned by
    ``owner_id``. Returns the imported codes."""
    workflows, problems = _parse(data)
    for i, w in enumerate(workflows if not problems else []):
        existing = session.scalar(select(Workflow).where(Workflow.code == w["code"]))
        if existing is not None and (existing.enabled or existing.template):
            kind = "a template" if existing.template else "enabled"
            problems.append(f"workflows[{i}] ({w['code']}): the existing workflow is {kind} and can't be replaced.")
    if problems:
        raise WorkflowError(problems)
    codes = []
    for w in workflows:
        wf = session.scalar(select(Workflow).where(Workflow.code == w["code"]))
        if wf is None:
            wf = Workflow(code=w["code"], enabled=False, owner_id=owner_id)
            session.add(wf)
        wf.description = w["description"]
        wf.category = w.get("category")
        wf.record_type = w.get("record_type")
        wf.trigger_kind = w.get("trigger", TRIGGER_AUTOMATED)
        wf.input_fields = w.get("input_fields") or []
        wf.schedule = w.get("schedule")
        wf.steps.clear()
        session.flush()
        for s in w["steps"]:
            wf.steps.append(WorkflowStep(
                step_id=s["id"], previous_step_id=s.get("previous"), next_step_id=s.get("next"),
                sequence_no=int(s.get("sequence") or 0), type=s["type"], function_name=s["function"],
                description=s.get("description"), entry_point=bool(s.get("entry_point", s.get("previous") is None)),
                options=seal_secrets(s["function"], s.get("options") or {}), conditions=s.get("conditions") or [],
            ))
        codes.append(wf.code)
    session.flush()
    return codes


# ---------------------------------------------------------------- runs: retry and cancel

def retry_instance(session: Session, inst: WorkflowInstance) -> str:
    """Retry the failed run ``inst`` from the step that failed; steps already done are
    not repeated. Two kinds of failure:

    - an **effect** failed (a mail or webhook call, after its step was done): the
      failed effects go back to pending with their own idempotency keys and are
      delivered again; done effects and done steps stay as they are;
    - a **response** failed while its event was handled: that event's whole chain was
      rolled back (nothing of it was done), so the same event is raised again for
      this instance (same payload and user); the instance's completed steps are not
      Active and don't run again.

    The run goes back to Queued (no error, not ended). The caller commits (which
    enqueues the dispatcher or the delivery job). Returns what was done, in words.
    Raises :class:`WorkflowError` when the run isn't Failed or nothing can be retried."""
    from portal.util import utcnow
    from portal.workflow.effects import DELIVERY_JOB
    from portal.workflow.engine import enqueue_after_commit, raise_event
    from portal.workflow.models import EFFECT_FAILED, EFFECT_PENDING, OUTBOX_FAILED, RUN_FAILED, Effect, OutboxEvent

    if inst.status != RUN_FAILED:
        raise WorkflowError(f"Run {inst.id} is {inst.status.lower()}: only a failed run can be retried.")
    failed_effects = session.scalars(select(Effect).where(Effect.instance_id == inst.id, Effect.status == EFFECT_FAILED)).all()
    if failed_effects:
        now = utcnow()
        for effect in failed_effects:
            effect.status, effect.attempts, effect.next_attempt_at = EFFECT_PENDING, 0, now
            effect.error = effect.done_at = effect.claimed_by = effect.lease_until = None
        enqueue_after_commit(session, DELIVERY_JOB)
        what = f"{len(failed_effects)} failed action(s) will be tried again: " + "; ".join(e.description for e in failed_effects)
    else:
        same_record = (OutboxEvent.record_type.is_(None) if inst.record_type is None else OutboxEvent.record_type == inst.record_type,
                       OutboxEvent.record_id.is_(None) if inst.record_id is None else OutboxEvent.record_id == inst.record_id)
        candidates = session.scalars(
            select(OutboxEvent).where(OutboxEvent.status == OUTBOX_FAILED, *same_record).order_by(OutboxEvent.id.desc()).limit(50)
        ).all()
        active_codes = {s.function_name for s in inst.step_instances if s.status == "Active" and s.type == STEP_EVENT}
        failed = next((ev for ev in candidates if (ev.payload or {}).get("instance_id") == inst.id), None)
        if failed is None:  # an event that would have started the run (no instance named yet)
            failed = next((ev for ev in candidates if not (ev.payload or {}).get("instance_id")
                           and ev.event_code in active_codes and ev.created_at <= inst.created_at), None)
        if failed is None or failed.event_code not in active_codes:
            raise WorkflowError(f"Run {inst.id} can't be retried: the event it failed on is not known any more.")
        payload = {k: v for k, v in (failed.payload or {}).items() if k != "retry_of"}
        payload.update(instance_id=inst.id, retry_of=failed.id)
        raise_event(session, failed.event_code, inst.record_type, inst.record_id, payload, failed.user_id)
        what = "The run goes on from the step that failed."
    inst.status = RUN_QUEUED
    inst.error = None
    inst.ended_at = inst.archived_at = None
    inst.attempts = (inst.attempts or 0) + 1
    session.flush()
    return what


def cancel_instance(session: Session, inst: WorkflowInstance, user_id: int | None = None) -> None:
    """Cancel the queued or running run ``inst`` (``user_id``: who cancels it): it
    ends as Canceled now (UTC); its effects not yet done (mails, webhook calls) are
    not performed; events still waiting for it are ignored when they come; the areas'
    :data:`~portal.workflow.catalog.RUN_CANCELED_HANDLERS` undo what it left half done
    (an approval run's entries are canceled and its document reopened, as Cancel
    Approval Request does). The caller commits. Raises :class:`WorkflowError` for a
    run that has already ended."""
    from portal.util import utcnow
    from portal.workflow.catalog import RUN_CANCELED_HANDLERS
    from portal.workflow.models import EFFECT_FAILED, EFFECT_UNFINISHED, RUN_CANCELED, Effect

    if inst.status not in (RUN_QUEUED, RUN_RUNNING):
        raise WorkflowError(f"Run {inst.id} is {inst.status.lower()}: only a queued or running run can be canceled.")
    now = utcnow()
    for effect in session.scalars(select(Effect).where(Effect.instance_id == inst.id, Effect.status.in_(EFFECT_UNFINISHED))):
        effect.status, effect.error, effect.done_at, effect.lease_until = EFFECT_FAILED, "Canceled: the run was canceled.", now, None
    inst.status = RUN_CANCELED
    inst.ended_at = inst.archived_at = now
    for handler in RUN_CANCELED_HANDLERS:
        handler(session, inst, user_id)
    session.flush()
