"""Input fields of instant flows: their definitions (data on the workflow, in
``Workflow.input_fields``) and the parsing of the values a user types into the Run
flow pane.

A definition is a dict::

    {"name": "amount",            # identifier: the flow's templates read inputs.amount
     "caption": "Amount",         # what the pane shows
     "type": "decimal",           # a key of INPUT_TYPES
     "required": True,
     "default": "100.00",         # text form ("" = none)
     "help": "Shown under the field.",
     "choices": ["Low", "High"],  # type "choice" only
     "record_type": "vendor"}     # type "record" only: a registered record type

Values handed to the flow (``WorkflowInstance.inputs``, ``inputs.<name>`` in
templates) are JSON values: text → str, whole number → int, decimal amount → str
(exact, e.g. ``"12.50"``), date → ISO ``"YYYY-MM-DD"``, yes/no → bool, choice →
the chosen str, record → the record's no. (its id as str for record types without
one). An empty optional field gives ``""`` (a template shows nothing, not "None").

Older definitions (``label``, type ``textarea``) are read as captions and long text."""
from __future__ import annotations

import re
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.util import text_problem
from portal.workflow.catalog import RECORD_TYPES

INPUT_TYPES: dict[str, str] = {
    "text": "Text",
    "long_text": "Long text",
    "integer": "Whole number",
    "decimal": "Decimal amount",
    "date": "Date",
    "boolean": "Yes/No",
    "choice": "Choice list",
    "record": "Record",
}
LEGACY_TYPES = {"textarea": "long_text", "string": "text", "int": "integer", "bool": "boolean", "money": "decimal"}
NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
MAX_TEXT = 2000
MAX_FIELDS = 20
#: how long an input's caption, help text and each choice may be (stored in the
#: workflow's JSON, so no column sets the limit)
MAX_CAPTION, MAX_HELP, MAX_CHOICE, MAX_CHOICES = 100, 500, 100, 200
PICKER_LIMIT = 1000  # a record picker lists at most this many records


class InputDefinitionError(ValueError):
    """Input field definitions are not valid; ``problems`` lists each reason."""

    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems


def normalize(field: dict) -> dict:
    """One definition in the current shape (see the module doc), from the current or
    the older shape (``label``, ``textarea``). Returns a new dict."""
    kind = str(field.get("type") or "text")
    kind = LEGACY_TYPES.get(kind, kind)
    default = field.get("default")
    return {
        "name": str(field.get("name") or "").strip(),
        "caption": str(field.get("caption") or field.get("label") or "").strip(),
        "type": kind,
        "required": bool(field.get("required")),
        "default": "" if default is None else (("true" if default else "") if isinstance(default, bool) else str(default)),
        "help": str(field.get("help") or "").strip(),
        "choices": [str(c).strip() for c in (field.get("choices") or []) if str(c).strip()] if kind == "choice" else [],
        "record_type": str(field.get("record_type") or "") if kind == "record" else "",
    }


def definitions(workflow) -> list[dict]:
    """The workflow's input field definitions, normalized, in order."""
    return [normalize(f) for f in (getattr(workflow, "input_fields", None) or [])]


def definition_problems(fields: list[dict]) -> list[str]:
    """Problems of a list of (normalized) definitions, in words; empty = valid: names
    are identifiers and unique, captions given, types known, a choice list has
    choices, a record picker names a record type, a default is a valid value."""
    problems: list[str] = []
    if len(fields) > MAX_FIELDS:
        problems.append(f"A flow has at most {MAX_FIELDS} input fields.")
    seen: set[str] = set()
    for i, f in enumerate(fields, 1):
        at = f"Input {i}" + (f" ({f['name']})" if f.get("name") else "")
        if not NAME_RE.match(f.get("name") or ""):
            problems.append(f"{at}: the name is 1 to 40 lower-case letters, digits or '_', starting with a letter.")
        elif f["name"] in seen:
            problems.append(f"{at}: another input has the same name.")
        seen.add(f.get("name") or "")
        if not f.get("caption"):
            problems.append(f"{at}: the caption must have a value.")
        for key, label, limit in (("caption", "The caption", MAX_CAPTION), ("help", "The help text", MAX_HELP)):
            problem = text_problem(str(f.get(key) or ""), label, limit)
            if problem:
                problems.append(f"{at}: {problem}")
        choices = f.get("choices") or []
        if len(choices) > MAX_CHOICES:
            problems.append(f"{at}: a choice list has at most {MAX_CHOICES} choices.")
        problem = next((p for p in (text_problem(str(c), "A choice", MAX_CHOICE) for c in choices) if p), None)
        if problem:
            problems.append(f"{at}: {problem}")
        if f.get("type") not in INPUT_TYPES:
            problems.append(f"{at}: choose a type from the list.")
            continue
        if f["type"] == "choice" and not f.get("choices"):
            problems.append(f"{at}: a choice list needs at least one choice.")
        if f["type"] == "record" and f.get("record_type") not in RECORD_TYPES:
            problems.append(f"{at}: choose the record type to pick from.")
        if f.get("default") and f["type"] != "record":
            _, error = parse_value(None, f, f["default"])
            if error:
                problems.append(f"{at}: the default is not valid: {error}")
    return problems


def _record_key(model) -> Any:
    return model.no if hasattr(model, "no") else model.id


def record_choices(session: Session, record_type: str) -> list[tuple[str, str]]:
    """``(value, caption)`` pairs for a record picker of ``record_type`` (at most
    :data:`PICKER_LIMIT`, by no.): the value is the record's no. (id for types
    without one), the caption its title."""
    rt = RECORD_TYPES.get(record_type)
    if rt is None:
        return []
    q = rt.filter_query(select(rt.model)).order_by(_record_key(rt.model)).limit(PICKER_LIMIT)
    return [(str(getattr(r, "no", r.id)), rt.title(r)) for r in session.scalars(q).unique()]


def parse_value(session: Session | None, field: dict, raw: Any) -> tuple[Any, str | None]:
    """The value of one (normalized) input ``field`` from its text ``raw`` (None or
    "" = empty). Returns ``(value, None)`` or ``(None, message)``. A record picker
    needs ``session`` to check the record exists (``ValueError`` without one)."""
    caption = field["caption"]
    text = "" if raw is None else str(raw).strip()
    kind = field["type"]
    if kind == "boolean":
        return text.lower() in ("1", "true", "yes", "on", "y"), None
    if text == "":
        if field.get("required"):
            return None, f"{caption} is required."
        return "", None
    if kind in ("text", "long_text"):
        if len(text) > MAX_TEXT:
            return None, f"{caption} is too long (at most 2,000 characters)."
        if kind == "text" and "\n" in text:
            return None, f"{caption} must be a single line."
        return text, None
    if kind == "integer":
        if not re.fullmatch(r"[+-]?\d{1,15}", text.replace(",", "")):
            return None, f"{caption} must be a whole number, such as 12."
        return int(text.replace(",", "")), None
    if kind == "decimal":
        try:
            number = Decimal(text.replace(",", ""))
        except InvalidOperation:
            number = None
        if number is None or not number.is_finite() or abs(number) >= Decimal(10) ** 15:
            return None, f"{caption} must be an amount, such as 1250.50."
        return str(number), None
    if kind == "date":
        try:
            return date.fromisoformat(text).isoformat(), None
        except ValueError:
            return None, f"{caption} must be a date (YYYY-MM-DD), such as 2026-12-31."
    if kind == "choice":
        if text not in field.get("choices", []):
            return None, f"{caption} must be one of: {', '.join(field.get('choices', []))}."
        return text, None
    if kind == "record":
        rt = RECORD_TYPES.get(field.get("record_type") or "")
        if rt is None:
            return None, f"{caption}: the record type to pick from is not set."
        if session is None:
            raise ValueError("a record picker needs a database session to check the record")
        model = rt.model
        if hasattr(model, "no"):
            found = session.scalar(rt.filter_query(select(model.id)).where(model.no == text))
        else:
            found = session.scalar(rt.filter_query(select(model.id)).where(model.id == int(text))) if text.isdigit() else None
        if found is None:
            return None, f"There is no {rt.label.lower()} {text}."
        return text, None
    return None, f"{caption} has an unknown type."


def parse_values(session: Session, fields: list[dict], form: Any) -> tuple[dict, dict[str, str]]:
    """The values of every input ``fields`` from ``form`` (a mapping of name → text;
    a missing yes/no means No). Returns ``(values, errors)`` with errors keyed by
    input name (empty = all valid)."""
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for f in fields:
        value, error = parse_value(session, f, form.get(f["name"]))
        if error:
            errors[f["name"]] = error
        else:
            values[f["name"]] = value
    return values, errors


def display(field: dict, value: Any) -> str:
    """A value as the run page shows it (Yes/No, amounts with separators)."""
    if value is None or value == "":
        return ""
    if field.get("type") == "boolean":
        return "Yes" if value else "No"
    if field.get("type") == "decimal":
        try:
            return f"{Decimal(str(value)):,.2f}"
        except InvalidOperation:
            return str(value)
    return str(value)


def from_form(form: Any) -> list[dict]:
    """Definitions from the input field editor's form: parallel lists ``in_name``,
    ``in_caption``, ``in_type``, ``in_default``, ``in_help``, ``in_choices`` (one
    per line or comma-separated), ``in_record_type``, ``in_order`` (a number; rows
    are sorted by it), ``in_required`` / ``in_remove`` (the row numbers ticked).
    Rows without name and caption are dropped. Returns normalized definitions."""
    names = form.getlist("in_name")
    n = len(names)

    def column(key: str) -> list[str]:
        values = form.getlist(key)
        return values + [""] * (n - len(values))

    required = set(form.getlist("in_required"))
    remove = set(form.getlist("in_remove"))
    rows = []
    for i, (name, caption, kind, default, help_, choices, record_type, order) in enumerate(zip(
            names, column("in_caption"), column("in_type"), column("in_default"), column("in_help"),
            column("in_choices"), column("in_record_type"), column("in_order"))):
        if str(i) in remove or not (name.strip() or caption.strip()):
            continue
        try:
            position = float(order) if order.strip() else float(i + 1)
        except ValueError:
            position = float(i + 1)
        parts = [c for c in re.split(r"[\n,]", choices or "")]
        rows.append((position, i, normalize({
            "name": name.strip().lower(), "caption": caption, "type": kind or "text", "required": str(i) in required,
            "default": default.strip(), "help": help_, "choices": parts, "record_type": record_type})))
    return [f for _, _, f in sorted(rows, key=lambda r: (r[0], r[1]))]
