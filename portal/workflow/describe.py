"""Workflow steps in words: the one formatter every page uses to show events,
responses, their options and event conditions as sentences, e.g.

    When approval of a sales document is requested — where Document Type is Order
    Then create approval requests for the record — Approver Type: Approver, Approver Limit Type: Approver Chain

Field names become the labels of the record type's field list (the record types the
areas register in :data:`portal.workflow.catalog.RECORD_TYPES`), operators become
words (is, is not, is greater than, contains, increased, ...), yes/no options read
Yes / No. Technical codes (``sales_document_approval_requested``, ``document_type =
Order``) are for exports and tooltips only: :func:`technical` gives them.
"""
from __future__ import annotations

from typing import Any

from portal.workflow.catalog import EVENTS, RECORD_TYPES, RESPONSES
from portal.workflow.models import STEP_EVENT

#: Condition operators in words (a condition reads "<field> <words> <value>").
OPERATOR_WORDS = {
    "=": "is", "<>": "is not", ">": "is greater than", ">=": "is at least", "<": "is less than", "<=": "is at most",
    "contains": "contains", "in": "is one of", "increased": "increased", "decreased": "decreased", "changed": "changed",
}

#: Labels of the event data conditions may use besides the record's fields
#: (:attr:`portal.workflow.catalog.EventDef.extra_fields`).
EXTRA_FIELD_LABELS = {
    "pending_approvals": "Pending approval requests", "approver": "Approver", "sender": "Sender", "comment": "Comment",
    "posted_record_type": "Posted record type", "posted_record_id": "Posted record", "posted_no": "Posted document no.",
    "line_no": "Line No.", "line_account_type": "Line account type", "line_account_no": "Line account no.",
    "line_amount": "Line amount", "line_document_type": "Line document type",
}

_CHANGE_RULES = ("increased", "decreased", "changed")


def lower_first(text: str) -> str:
    """``Approval of …`` → ``approval of …``; leaves acronyms (``HTTP``) alone."""
    if len(text) > 1 and text[0].isupper() and not text[1].isupper():
        return text[0].lower() + text[1:]
    return text


def event_text(code: str) -> str:
    """The event's description (``A record is created``); an unknown code as it is."""
    ev = EVENTS.get(code or "")
    return ev.description if ev else (code or "")


def response_text(code: str) -> str:
    """The response's description (``Release the document``); an unknown code as it is."""
    r = RESPONSES.get(code or "")
    return r.description if r else (code or "")


def _field_kinds(record_type: str | None) -> tuple[dict[str, str], dict[str, str]]:
    """``({name: label}, {name: kind})`` of a record type's fields and line fields
    (``lines.<name>``)."""
    rt = RECORD_TYPES.get(record_type or "")
    labels, kinds = {}, {}
    if rt is not None:
        for f in rt.fields:
            labels[f.name], kinds[f.name] = f.label, f.kind
        for f in getattr(rt, "line_fields", ()) or ():
            labels[f"lines.{f.name}"], kinds[f"lines.{f.name}"] = f.label, f.kind
    return labels, kinds


def field_label(name: str, record_type: str | None) -> str:
    """A condition field's label: the record type's field label, a line field's label,
    event data in words (``pending_approvals`` → "Pending approval requests"), a JSON
    body path as it is; an unknown name with underscores as spaces."""
    labels, _kinds = _field_kinds(record_type)
    if name in labels:
        return labels[name]
    if name in EXTRA_FIELD_LABELS:
        return EXTRA_FIELD_LABELS[name]
    if name.startswith("lines."):
        return name[len("lines."):].replace("_", " ").capitalize()
    if name.startswith("body"):
        return name
    return name.replace("_", " ").capitalize()


def _value_words(value: Any, kind: str | None) -> str:
    if kind == "bool" or isinstance(value, bool):
        return "Yes" if str(value).strip().lower() in ("1", "true", "yes", "on") else "No"
    text = "" if value is None else str(value)
    return text


def describe_condition(cond: dict, record_type: str | None) -> str:
    """One condition row in words: ``Document Type is Order``, ``Amount is greater
    than 1000``, ``Inventory is less than Reorder Point`` (compared with another
    field), ``Credit Limit increased``, ``any line's Item No. is I0011``, ``Status is
    blank``."""
    labels, kinds = _field_kinds(record_type)
    name = str(cond.get("field") or "")
    op = cond.get("operator") or "="
    words = OPERATOR_WORDS.get(op, op)
    label = field_label(name, record_type)
    subject = f"any line's {label}" if name.startswith("lines.") else label
    if op in _CHANGE_RULES:
        return f"{subject} {words}"
    other = cond.get("value_field")
    if other:
        other_label = field_label(str(other), record_type)
        if name.startswith("lines.") and str(other).startswith("lines."):
            other_label = f"the line's {other_label}"
        elif name.startswith("lines."):
            rt = RECORD_TYPES.get(record_type or "")
            other_label = f"the {rt.label.lower() if rt else 'record'}'s {other_label}"
        return f"{subject} {words} {other_label}"
    value = cond.get("value")
    if op in ("=", "<>") and (value is None or str(value).strip() == ""):
        return f"{subject} {'is blank' if op == '=' else 'is not blank'}"
    if op == "in":
        items = [v.strip() for v in str(value or "").split(",")]
        return f"{subject} {words} {', '.join(items)}"
    return f"{subject} {words} {_value_words(value, kinds.get(name))}".rstrip()


def describe_conditions(conditions: list[dict] | None, record_type: str | None) -> str:
    """Every condition in words, joined by "and" (empty text for none)."""
    return " and ".join(describe_condition(c, record_type) for c in (conditions or []) if isinstance(c, dict))


def template_name(code: str) -> str:
    """A notification template code in words (``approval_request`` → "Approval request")."""
    return code.replace("_", " ").replace("-", " ").strip().capitalize()


def describe_options(code: str, options: dict | None, record_type: str | None = None) -> list[tuple[str, str]]:
    """A response's options fit to read: ``[(label, value in words)]`` in the
    catalog's order, only options that have a value; yes/no as Yes / No, a field by
    its label, a secret as "set" (never its value), a notification template by name."""
    from portal.workflow.vault import secret_option_names

    definition = RESPONSES.get(code or "")
    options = options or {}
    if definition is None:
        return [(k.replace("_", " ").capitalize(), str(v)) for k, v in options.items() if v not in (None, "")]
    secret = secret_option_names(code)
    out = []
    for opt in definition.options:
        value = options.get(opt.name)
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        if opt.name in secret or opt.kind == "secret":
            words = "set"
        elif opt.kind == "bool":
            words = _value_words(value, "bool")
        elif opt.kind == "field":
            words = field_label(str(value), record_type)
        elif opt.kind == "template":
            words = template_name(str(value))
        elif opt.kind == "int" and opt.name.endswith("_days"):
            words = f"{value} day{'' if str(value) == '1' else 's'}"
        else:
            words = str(value)
        label = opt.label.replace(" (days)", "")
        out.append((label, words))
    return out


def options_text(code: str, options: dict | None, record_type: str | None = None) -> str:
    """The options in one line: ``Approver Type: Approver, Notify Sender: Yes``."""
    return ", ".join(f"{label}: {words}" for label, words in describe_options(code, options, record_type))


def describe_event(step, record_type: str | None = None) -> str:
    """An event step as a sentence: ``When approval of a sales document is requested —
    where Document Type is Order and Status is Open``."""
    text = f"When {lower_first(event_text(step.function_name))}"
    conditions = describe_conditions(getattr(step, "conditions", None), record_type)
    return f"{text} — where {conditions}" if conditions else text


def describe_response(step, record_type: str | None = None) -> str:
    """A response step as a sentence: ``Then create approval requests for the record
    — Approver Type: Approver, Approver Limit Type: Approver Chain``."""
    text = f"Then {lower_first(response_text(step.function_name))}"
    options = options_text(step.function_name, getattr(step, "options", None), record_type)
    return f"{text} — {options}" if options else text


def describe_step(step, record_type: str | None = None) -> str:
    """:func:`describe_event` or :func:`describe_response`, by the step's type."""
    return describe_event(step, record_type) if step.type == STEP_EVENT else describe_response(step, record_type)


def step_text(step) -> str:
    """The step's catalog description alone (``Release the document``)."""
    return event_text(step.function_name) if step.type == STEP_EVENT else response_text(step.function_name)


def technical(step) -> str:
    """The step in codes, for tooltips (``title=``) and exports:
    ``sales_document_approval_requested; document_type = Order and status = Open`` or
    ``reject_all_approval_requests; notify_sender: True``."""
    parts = [step.function_name or ""]
    if step.type == STEP_EVENT:
        conds = technical_conditions(getattr(step, "conditions", None))
        if conds:
            parts.append(conds)
    else:
        from portal.workflow.vault import masked_options

        opts = {k: v for k, v in masked_options(step.function_name, step.options).items() if v not in (None, "")}
        if opts:
            parts.append(", ".join(f"{k}: {v}" for k, v in opts.items()))
    return "; ".join(parts)


def technical_conditions(conditions: list[dict] | None) -> str:
    """Conditions in codes: ``status = Open and inventory < field reorder_point``."""
    def one(c: dict) -> str:
        if c.get("value_field"):
            return f"{c.get('field')} {c.get('operator', '=')} field {c['value_field']}"
        return f"{c.get('field')} {c.get('operator', '=')} {c.get('value', '')}".strip()

    return " and ".join(one(c) for c in (conditions or []) if isinstance(c, dict))


def result_lines(text: str | None) -> list[str]:
    """A run's result or error split into its messages, one per line (the engine joins
    the responses' messages with newlines)."""
    return [line.strip() for line in (text or "").splitlines() if line.strip()]
