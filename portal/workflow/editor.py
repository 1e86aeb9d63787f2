"""The workflow editor's model: a workflow as Business Central's Workflow page shows it —
a list of *lines*, each an event with an indent and the chain of responses that
follow it ("When event — On condition — Then responses").

The steps' links are derived from the lines (:func:`rebuild`): an event at indent 0
is the entry point; an event at indent k follows the last response (or, without
responses, the event) of the nearest line above it at indent k − 1; sibling events are
alternatives in the order they appear; a line's responses form a chain. Step IDs stay
stable, so "next step" references survive edits; references to deleted steps are
cleared. Every operation raises :class:`~portal.workflow.service.WorkflowError` for a
template or an enabled workflow.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from portal.workflow.catalog import EVENTS, RESPONSES
from portal.workflow.conditions import row_problems
from portal.workflow.models import STEP_EVENT, STEP_RESPONSE, Workflow, WorkflowStep
from portal.workflow import describe as words
from portal.workflow import vault
from portal.workflow.service import WorkflowError, check_editable, seal_secrets, validate_options


@dataclass
class Line:
    """One editor line: an event step, its indent and its responses in order."""

    event: WorkflowStep
    indent: int
    responses: list[WorkflowStep] = field(default_factory=list)

    @property
    def tail(self) -> WorkflowStep:
        return self.responses[-1] if self.responses else self.event


def lines_of(steps) -> list[Line]:
    """The lines of a workflow (or instance) in display order: depth first, siblings
    by sequence. Works on workflow steps and step instances alike."""
    steps = list(steps)
    children: dict[int | None, list] = {}
    for s in steps:
        children.setdefault(s.previous_step_id, []).append(s)
    for v in children.values():
        v.sort(key=lambda s: (s.sequence_no, s.step_id))
    lines: list[Line] = []
    seen: set[int] = set()

    def walk(parent_id, indent):
        for ev in [s for s in children.get(parent_id, []) if s.type == STEP_EVENT]:
            if ev.step_id in seen:
                continue
            seen.add(ev.step_id)
            line = Line(ev, indent)
            current = ev
            while True:
                nxt = [s for s in children.get(current.step_id, []) if s.type == STEP_RESPONSE and s.step_id not in seen]
                if not nxt:
                    break
                current = nxt[0]
                seen.add(current.step_id)
                line.responses.append(current)
            lines.append(line)
            walk(line.tail.step_id, indent + 1)

    walk(None, 0)
    # Events no tree reaches (e.g. an orphan) still show, at indent 0, so they can be fixed.
    for s in sorted(steps, key=lambda s: s.step_id):
        if s.type == STEP_EVENT and s.step_id not in seen:
            seen.add(s.step_id)
            lines.append(Line(s, 0))
    return lines


def rebuild(wf: Workflow, lines: list[Line]) -> None:
    """Set every step's previous step, sequence and entry point from ``lines``; clear
    next-step references to steps that no longer exist."""
    tails: dict[int, int] = {}
    counters: dict[int | None, int] = {}
    for k, line in enumerate(lines):  # keep a tree: one root, each line ≤ one deeper than the one above
        line.indent = 0 if k == 0 else max(1, min(line.indent, lines[k - 1].indent + 1))
    for line in lines:
        for deeper in [k for k in tails if k >= line.indent]:
            del tails[deeper]
        parent = None if line.indent == 0 else tails.get(line.indent - 1)
        ev = line.event
        ev.previous_step_id = parent
        ev.entry_point = parent is None
        counters[parent] = counters.get(parent, 0) + 1
        ev.sequence_no = counters[parent]
        prev = ev.step_id
        for r in line.responses:
            r.previous_step_id, r.sequence_no, r.entry_point = prev, 1, False
            prev = r.step_id
        tails[line.indent] = prev
    ids = {s.step_id for s in wf.steps}
    for s in wf.steps:
        if s.next_step_id is not None and s.next_step_id not in ids:
            s.next_step_id = None


def _new_step(wf: Workflow, type_: str, function: str, options=None, conditions=None) -> WorkflowStep:
    step = WorkflowStep(step_id=max((s.step_id for s in wf.steps), default=0) + 1, type=type_, function_name=function,
                        options=options or {}, conditions=conditions or [], sequence_no=1)
    wf.steps.append(step)
    return step


def _line_index(lines: list[Line], step_id: int) -> int:
    for i, line in enumerate(lines):
        if line.event.step_id == step_id or any(r.step_id == step_id for r in line.responses):
            return i
    raise WorkflowError(f"Step {step_id} is not in the workflow.")


def _check_event(function: str) -> None:
    if function not in EVENTS:
        raise WorkflowError(f"{function or '(blank)'} is not an event.")


def add_event(wf: Workflow, function: str, after_step_id: int | None = None, conditions=None) -> WorkflowStep:
    """Add an event line after the line holding ``after_step_id`` (same indent), or at
    the end (indent 0 for the first line, else at least 1). :func:`rebuild` keeps a tree:
the first line is the one left-aligned line and no line is more than one level
deeper than the line above it."""
    check_editable(wf)
    _check_event(function)
    lines = lines_of(wf.steps)
    step = _new_step(wf, STEP_EVENT, function, conditions=conditions)
    if after_step_id is None:
        indent = 0 if not lines else max(1, lines[-1].indent)
        lines.append(Line(step, indent))
    else:
        i = _line_index(lines, after_step_id)
        lines.insert(i + 1, Line(step, lines[i].indent or 1))
    rebuild(wf, lines)
    return step


def set_event(wf: Workflow, step_id: int, function: str, conditions: list[dict]) -> None:
    """Change an event line's event and conditions (rows with an empty field are dropped)."""
    check_editable(wf)
    _check_event(function)
    step = _step(wf, step_id, STEP_EVENT)
    conditions = [c for c in conditions if c.get("field")]
    problems = row_problems(conditions)
    if problems:
        raise WorkflowError(problems)
    step.function_name = function
    step.conditions = conditions


def move(wf: Workflow, step_id: int, delta: int) -> None:
    """Move a line up (-1) or down (+1) in the list."""
    check_editable(wf)
    lines = lines_of(wf.steps)
    i = _line_index(lines, step_id)
    j = i + delta
    if not 0 <= j < len(lines):
        raise WorkflowError("The line can't move further.")
    lines[i], lines[j] = lines[j], lines[i]
    rebuild(wf, lines)


def indent(wf: Workflow, step_id: int, delta: int) -> None:
    """Indent (+1) or outdent (-1) a line: at most one deeper than the line above it."""
    check_editable(wf)
    lines = lines_of(wf.steps)
    i = _line_index(lines, step_id)
    new = lines[i].indent + delta
    if new < 0:
        raise WorkflowError("The line is already left-aligned.")
    if i == 0 and new > 0:
        raise WorkflowError("The first line holds the entry point and stays left-aligned.")
    if i > 0 and new > lines[i - 1].indent + 1:
        raise WorkflowError("A line can be at most one level deeper than the line above it.")
    lines[i].indent = new
    rebuild(wf, lines)


def delete_line(wf: Workflow, step_id: int) -> None:
    """Delete an event line with its responses; lines under it move up a level."""
    check_editable(wf)
    lines = lines_of(wf.steps)
    i = _line_index(lines, step_id)
    removed = lines.pop(i)
    for line in lines[i:]:
        if line.indent <= removed.indent:
            break
        line.indent -= 1
    for s in [removed.event, *removed.responses]:
        wf.steps.remove(s)
    rebuild(wf, lines)


def add_response(wf: Workflow, event_step_id: int, function: str, options: dict | None = None) -> WorkflowStep:
    """Append a response to an event line's chain (options validated)."""
    check_editable(wf)
    if function not in RESPONSES:
        raise WorkflowError(f"{function or '(blank)'} is not a response.")
    lines = lines_of(wf.steps)
    line = lines[_line_index(lines, event_step_id)]
    defaults = {o.name: o.default for o in RESPONSES[function].options if o.default is not None}
    step = _new_step(wf, STEP_RESPONSE, function, options={**defaults, **(options or {})})
    line.responses.append(step)
    rebuild(wf, lines)
    return step


def set_response(wf: Workflow, step_id: int, options: dict, next_step_id: int | None, session=None,
                 clear_secrets: set[str] | frozenset = frozenset()) -> None:
    """Save a response's options and its next step. Secret options (kind ``secret``)
    left out of ``options`` keep their stored value unless named in
    ``clear_secrets``; new ones are stored encrypted. Raises :class:`WorkflowError`
    with every option problem."""
    check_editable(wf)
    step = _step(wf, step_id, STEP_RESPONSE)
    options = dict(options)
    for name in vault.secret_option_names(step.function_name) - set(clear_secrets):
        if not options.get(name) and (step.options or {}).get(name):
            options[name] = step.options[name]
    errors = validate_options(step.function_name, options, session)
    if next_step_id is not None:
        if next_step_id == step.step_id:
            errors["next_step_id"] = "A step can't go next to itself."
        elif next_step_id not in {s.step_id for s in wf.steps}:
            errors["next_step_id"] = f"There is no step {next_step_id}."
    if errors:
        raise WorkflowError([f"{RESPONSES[step.function_name].description}: {m}" for m in errors.values()])
    step.options = seal_secrets(step.function_name, options)
    step.next_step_id = next_step_id


def move_response(wf: Workflow, step_id: int, delta: int) -> None:
    check_editable(wf)
    lines = lines_of(wf.steps)
    line = lines[_line_index(lines, step_id)]
    i = next(k for k, r in enumerate(line.responses) if r.step_id == step_id)
    j = i + delta
    if not 0 <= j < len(line.responses):
        raise WorkflowError("The response can't move further.")
    line.responses[i], line.responses[j] = line.responses[j], line.responses[i]
    rebuild(wf, lines)


def delete_response(wf: Workflow, step_id: int) -> None:
    check_editable(wf)
    lines = lines_of(wf.steps)
    line = lines[_line_index(lines, step_id)]
    step = _step(wf, step_id, STEP_RESPONSE)
    line.responses.remove(step)
    wf.steps.remove(step)
    rebuild(wf, lines)


def _step(wf: Workflow, step_id: int, type_: str) -> WorkflowStep:
    for s in wf.steps:
        if s.step_id == step_id and s.type == type_:
            return s
    raise WorkflowError(f"There is no {type_} step {step_id}.")


# ---------------------------------------------------------------- diagram

ROW = 22  # px per text row
INDENT = 34  # px per indent level
BOX_W = 640


def describe(step) -> str:
    """The step's catalog description (``Release the document``)."""
    return words.step_text(step)


def condition_text(step) -> str:
    """The step's conditions in codes, e.g. ``status = Open and inventory < field
    reorder_point`` (a comparison with another field says "field"): for tooltips and
    exports; pages show :func:`portal.workflow.describe.describe_conditions`."""
    return words.technical_conditions(step.conditions)


#: A step instance's status on a run's diagram, in words.
STATUS_WORDS = {"Completed": "done", "Active": "waiting", "Inactive": "not reached", "Ignored": "skipped"}


def diagram(steps, record_type: str | None = None) -> dict:
    """Layout of the workflow diagram (SVG coordinates in px): ``nodes`` (one box per
    line: x, y, w, h, the event text, its conditions in words (field labels of
    ``record_type``), its responses, each step's number and, drawn for an instance, each step's status in words), ``edges`` (parent line →
    follow-up event), ``jumps`` (a response's next step, drawn dashed), ``width`` and
    ``height``."""
    lines = lines_of(steps)
    nodes, edges, jumps = [], [], []
    y = 10
    where: dict[int, dict] = {}
    parents: dict[int, dict] = {}
    for line in lines:
        h = ROW * (1 + len(line.responses)) + (ROW if line.event.conditions else 0) + 8
        node = {
            "x": 10 + line.indent * INDENT, "y": y, "w": BOX_W, "h": h, "indent": line.indent,
            "event": words.lower_first(describe(line.event)), "conditions": words.describe_conditions(line.event.conditions, record_type),
            "status": _status_words(line.event), "state": getattr(line.event, "status", None), "step_id": line.event.step_id,
            "responses": [{"text": words.lower_first(describe(r)), "status": _status_words(r), "state": getattr(r, "status", None), "step_id": r.step_id,
                           "next": r.next_step_id} for r in line.responses],
        }
        nodes.append(node)
        for s in [line.event, *line.responses]:
            where[s.step_id] = node
        parent = parents.get(line.indent - 1) if line.indent else None
        if parent is not None:
            edges.append({"x1": parent["x"] + 12, "y1": parent["y"] + parent["h"], "x2": node["x"], "y2": node["y"] + ROW / 2 + 4})
        parents[line.indent] = node
        for deeper in [k for k in parents if k > line.indent]:
            del parents[deeper]
        y += h + 14
    width = max((n["x"] + n["w"] for n in nodes), default=200) + 90
    for node in nodes:
        for i, r in enumerate(node["responses"]):
            target = where.get(r["next"]) if r["next"] is not None else None
            if target is not None:
                ry = node["y"] + ROW * (i + 1) + (ROW if node["conditions"] else 0) + ROW / 2 + 4
                jumps.append({"x": node["x"] + node["w"], "y1": ry, "y2": target["y"] + ROW / 2 + 4,
                              "tx": target["x"] + target["w"], "right": width - 20, "to": r["next"]})
    return {"nodes": nodes, "edges": edges, "jumps": jumps, "width": width, "height": y + 10}


def _status_words(step) -> str | None:
    status = getattr(step, "status", None)
    return STATUS_WORDS.get(status, status) if status else None


FIELD_CHANGE_EVENTS = frozenset({"record_modified"})


def value_choices(wf: Workflow, line, response) -> list[tuple[str, list[tuple[str, str]]]]:
    """What the value picker beside ``response``'s text options offers, in groups:
    ``[(group caption, [(caption, placeholder)])]`` — the trigger record's fields and
    its record type's extra values, the flow's inputs (instant flows), the trigger's
    values (old values of a changed record, the comment of an approval decision), and
    the outputs of the responses before it in ``line``. Choosing one inserts the
    placeholder (e.g. ``{{ record.name }}``); nobody types template code."""
    from portal.workflow.catalog import CONTEXT_PROVIDERS, RECORD_TYPES

    groups: list[tuple[str, list[tuple[str, str]]]] = []
    rt = RECORD_TYPES.get(wf.record_type or "")
    if rt is not None:
        record = [("Title", "{{ record.title }}")] + [(f.label, f"{{{{ record.{f.name} }}}}") for f in rt.fields]
        provider = CONTEXT_PROVIDERS.get(rt.key)
        record += [(name.replace("_", " ").capitalize(), f"{{{{ {name} }}}}") for name in (provider.names if provider else ())]
        groups.append((f"{rt.label}", record))
    inputs = [(f.get("caption") or f["name"], f"{{{{ inputs.{f['name']} }}}}") for f in (wf.input_fields or []) if f.get("name")]
    if inputs:
        groups.append(("Inputs of the Run flow pane", inputs))
    trigger = [("Comment", "{{ event.comment }}")]
    if line.event.function_name == "http_request_received":
        trigger = [("Request body (JSON)", "{{ trigger.body }}")]
    if line.event.function_name in FIELD_CHANGE_EVENTS and rt is not None:
        trigger += [(f"Old value: {f.label}", f"{{{{ event.old_values.{f.name} }}}}") for f in rt.fields]
    groups.append(("Trigger", trigger))
    earlier = []
    for r in line.responses:
        if r is response:
            break
        earlier.append((f"Step {r.step_id}: {describe(r)}", f"{{{{ steps.step_{r.step_id} }}}}"))
    if earlier:
        groups.append(("Outputs of earlier steps", earlier))
    return groups
