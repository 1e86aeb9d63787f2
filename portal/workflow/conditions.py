"""Event conditions as data: a list of rows, all of which must hold (AND). Evaluated in
Python over a plain dict, and compiled to SQL where records are looked up by their
conditions (scheduled flows); never ``eval``.

A row compares a field with a value or with another field of the same record::

    {"field": "status", "operator": "=", "value": "Open"}
    {"field": "inventory", "operator": "<", "value_field": "reorder_point"}

- ``operator``: ``=``, ``<>``, ``>``, ``>=``, ``<``, ``<=``, ``contains``, ``in``
  (value: comma-separated list); for record-modified events the field-change rules
  ``increased``, ``decreased``, ``changed`` compare the event's old and new values.
- ``value_field`` (instead of ``value``) names the field whose value is compared
  (Business Central's table filters compare with constants only; a comparison such
  as "inventory below its reorder point" needs the record's own field). Both fields
  must be of comparable kinds (numbers with numbers, text with text, dates with
  dates, yes/no with yes/no); ``in`` and the field-change rules take a value only.
- A field named ``lines.<name>`` holds when **any** line satisfies it; its
  ``value_field`` may name a field of the same line (``lines.<other>``) or of the
  record.
"""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

OPERATORS = ("=", "<>", ">", ">=", "<", "<=", "contains", "in")
CHANGE_RULES = ("increased", "decreased", "changed")
# operators that can compare a field with another field
FIELD_OPERATORS = ("=", "<>", ">", ">=", "<", "<=", "contains")
ORDERING = (">", ">=", "<", "<=")
# field kinds (registry ``Field.kind``) that compare with each other
KIND_GROUPS = {"money": "number", "decimal": "number", "int": "number", "text": "text", "choice": "text", "partner": "text",
               "bool": "yes/no", "date": "date"}


#: how long a condition's field name and value may be (kept in the step's JSON, so no
#: column sets the limit; a field name is at most a record field's or an HTTP body path's)
MAX_FIELD_NAME, MAX_VALUE = 100, 250


def row_problems(conditions: list[dict]) -> list[str]:
    """Messages for condition rows the editor can't store as typed (empty = fine): an
    operator not in the list, a field name or value too long or with a NUL byte. Whether
    the fields exist is :func:`validate`'s (the enable check's) business."""
    from portal.util import text_problem

    problems = []
    for i, cond in enumerate(conditions or [], start=1):
        if cond.get("operator", "=") not in OPERATORS + CHANGE_RULES:
            problems.append(f"Condition {i}: choose an operator from the list.")
        for key, label, limit in (("field", "the field", MAX_FIELD_NAME), ("value_field", "the field to compare with", MAX_FIELD_NAME),
                                  ("value", "the value", MAX_VALUE)):
            problem = text_problem(str(cond.get(key) or ""), label, limit)
            if problem:
                problems.append(f"Condition {i}: {problem}")
    return problems


class ConditionError(ValueError):
    """A condition row is malformed (unknown operator or field)."""


def _coerce(actual: Any, expected: Any) -> tuple[Any, Any]:
    """Bring ``expected`` (usually text from the editor) to the type of ``actual``."""
    if actual is None or expected is None:
        return actual, expected
    if isinstance(actual, bool):
        if isinstance(expected, str):
            return actual, expected.strip().lower() in {"1", "true", "yes"}
        return actual, bool(expected)
    if isinstance(actual, (int, float, Decimal)):
        try:
            return Decimal(str(actual)), Decimal(str(expected))
        except (InvalidOperation, ValueError):
            return str(actual), str(expected)
    if isinstance(actual, (date, datetime)):
        return actual.isoformat(), expected.isoformat() if isinstance(expected, (date, datetime)) else str(expected)
    return str(actual), str(expected)


def compare(actual: Any, operator: str, expected: Any) -> bool:
    """True if ``actual <operator> expected``. Raises :class:`ConditionError` for an
    unknown operator."""
    if operator == "in":
        options = [o.strip() for o in str(expected).split(",")]
        return str(actual if actual is not None else "") in options
    if operator == "contains":
        return str(expected).lower() in str(actual or "").lower()
    a, e = _coerce(actual, expected)
    if operator in ORDERING and isinstance(a, str) and isinstance(e, str):
        try:  # numbers kept as text (e.g. JSON event data) compare as numbers
            a, e = Decimal(a), Decimal(e)
        except InvalidOperation:
            pass
    if a is None or e is None:
        if operator == "=":
            return (a or "") == (e or "")
        if operator == "<>":
            return (a or "") != (e or "")
        return False
    try:
        if operator == "=":
            return a == e
        if operator == "<>":
            return a != e
        if operator == ">":
            return a > e
        if operator == ">=":
            return a >= e
        if operator == "<":
            return a < e
        if operator == "<=":
            return a <= e
    except TypeError:
        return False
    raise ConditionError(f"Unknown operator {operator!r}")


def compares_fields(cond: dict) -> bool:
    """True if the row compares its field with another field (``value_field``)."""
    return bool(cond.get("value_field"))


def matches(conditions: list[dict], values: dict[str, Any], old_values: dict[str, Any] | None = None) -> bool:
    """True if every condition holds for ``values`` (the record's fields plus event
    data). Field-change rules read ``old_values`` (the values before the change);
    without them a change rule never matches. A field named ``lines.<name>`` holds
    when **any** line (``values["lines"]``, a list of dicts) satisfies it, e.g.
    ``lines.item_no = I0011``: "the order has a line for item I0011". A row with
    ``value_field`` compares with that field's value (of the same line for
    ``lines.<name>``). Raises :class:`ConditionError` for an unknown operator or one
    that can't compare two fields."""
    for cond in conditions or []:
        field = cond.get("field")
        op = cond.get("operator", "=")
        other = cond.get("value_field") or None
        if other is not None and op not in FIELD_OPERATORS:
            raise ConditionError(f"Operator {op!r} can't compare {field} with another field")
        if isinstance(field, str) and field.startswith("lines."):
            name = field[len("lines."):]
            if op not in OPERATORS:
                raise ConditionError(f"Operator {op!r} can't be used on lines")

            def expected(line: dict) -> Any:
                if other is None:
                    return cond.get("value")
                return line.get(other[len("lines."):]) if other.startswith("lines.") else values.get(other)

            if not any(compare(line.get(name), op, expected(line)) for line in values.get("lines") or []):
                return False
            continue
        if op in CHANGE_RULES:
            if old_values is None or field not in old_values:
                return False
            old, new = old_values.get(field), values.get(field)
            if op == "changed":
                if old == new:
                    return False
                continue
            try:
                old_d, new_d = Decimal(str(old or 0)), Decimal(str(new or 0))
            except InvalidOperation:
                return False
            if op == "increased" and not new_d > old_d:
                return False
            if op == "decreased" and not new_d < old_d:
                return False
            continue
        if op not in OPERATORS:
            raise ConditionError(f"Unknown operator {op!r}")
        expected_value = values.get(other) if other is not None else cond.get("value")
        if not compare(values.get(field), op, expected_value):
            return False
    return True


def validate(conditions: list[dict], field_names: set[str], kinds: dict[str, str] | None = None) -> list[str]:
    """Messages for rows that are wrong (empty list = valid): an unknown field or
    operator; for a comparison with another field (``value_field``): an unknown field
    to compare with, both a value and a field, an operator that takes a value only
    (``in``, the field-change rules), a record field compared with a line field, or
    fields of kinds that don't compare (e.g. a number with text).

    ``field_names``: the names a condition may use (the record type's fields,
    ``lines.<name>`` and the event's data). ``kinds`` maps names to field kinds
    (``money``, ``text``, ...); without it the kinds ``field_names`` carries (see
    :class:`portal.records.registry.FieldNames`) are used; names of unknown kind
    (event data) are not type-checked."""
    kinds = kinds if kinds is not None else getattr(field_names, "kinds", {}) or {}
    errors = []
    for i, cond in enumerate(conditions or [], start=1):
        if not isinstance(cond, dict):
            errors.append(f"Condition {i}: must be an object with field, operator and value (or value_field)")
            continue
        field, op, other = cond.get("field"), cond.get("operator", "="), cond.get("value_field")
        if field not in field_names:
            errors.append(f"Condition {i}: unknown field {field!r}")
        if op not in OPERATORS + CHANGE_RULES:
            errors.append(f"Condition {i}: unknown operator {op!r}")
        if other in (None, ""):
            continue
        if not isinstance(other, str) or other not in field_names:
            errors.append(f"Condition {i}: unknown field {other!r} to compare {field} with")
            continue
        if cond.get("value") not in (None, ""):
            errors.append(f"Condition {i}: give either a value or a field to compare {field} with, not both")
        if op in OPERATORS + CHANGE_RULES and op not in FIELD_OPERATORS:
            errors.append(f"Condition {i}: operator {op!r} compares {field} with a value, not with another field")
        if isinstance(field, str) and other.startswith("lines.") and not field.startswith("lines."):
            errors.append(f"Condition {i}: {field} is a field of the record; it can't be compared with the line field {other}")
        kind_a, kind_b = KIND_GROUPS.get(kinds.get(field, "")), KIND_GROUPS.get(kinds.get(other, ""))
        if field in field_names and kind_a and kind_b and kind_a != kind_b:
            errors.append(f"Condition {i}: {field} ({kind_a}) can't be compared with {other} ({kind_b})")
    return errors


# ---------------------------------------------------------------- SQL

def sql_filter(conditions: list[dict], rt) -> Any:
    """A SQLAlchemy WHERE clause for the rows of ``conditions`` that compile to SQL on
    record type ``rt``'s table (``None`` when none does), for looking records up by
    their conditions (a scheduled flow's "for each record matching ...").

    Compiled: rows on plain columns of ``rt.model`` (not computed fields, not
    ``lines.``, not field-change rules) with ``=``, ``<>`` (any kind), ``<``, ``<=``,
    ``>``, ``>=`` (numbers and dates), ``in`` (text), against a value that parses as
    the field's kind or against another plain column (``value_field``) of a
    comparable kind, e.g. ``inventory < reorder_point`` → ``item.inventory <
    item.reorder_point``. Values are bound parameters, never SQL text.

    The clause selects **at least** the records :func:`matches` accepts (``=`` and
    ``<>`` also let NULLs through, which :func:`matches` may treat as blank); callers
    check each record found with :func:`matches`, so the result is exactly the
    Python evaluation's. Rows that don't compile (and wrong rows, which
    :func:`validate` reports) are left to :func:`matches`."""
    from sqlalchemy import and_, inspect, or_

    columns = set(inspect(rt.model).column_attrs.keys())
    fields = {f.name: f for f in rt.fields}

    def column(name):
        f = fields.get(name)
        if f is None or f.get is not None or name not in columns:
            return None
        return getattr(rt.model, name)

    clauses = []
    for cond in conditions or []:
        name, op, other = cond.get("field"), cond.get("operator", "="), cond.get("value_field") or None
        col = column(name) if isinstance(name, str) else None
        group = KIND_GROUPS.get(fields[name].kind) if col is not None else None
        if col is None or op not in ("=", "<>", "in", *ORDERING) or group is None:
            continue
        if other is not None:
            rhs = column(other) if isinstance(other, str) else None
            if rhs is None or KIND_GROUPS.get(fields[other].kind) != group or op == "in" or (op in ORDERING and group not in ("number", "date")):
                continue
            clauses.append(_sql_compare(col, op, rhs, or_, nullable_rhs=True))
            continue
        value = cond.get("value")
        if op == "in":
            if group != "text":
                continue
            options = [o.strip() for o in str(value if value is not None else "").split(",")]
            clause = col.in_(options)
            clauses.append(or_(clause, col.is_(None)) if "" in options else clause)
            continue
        literal = _sql_literal(group, value)
        if literal is _SKIP or (op in ORDERING and group not in ("number", "date")):
            continue
        if group == "text" and literal == "":
            blank = or_(col.is_(None), col == "")
            clauses.append(blank if op == "=" else ~blank)
            continue
        clauses.append(_sql_compare(col, op, literal, or_, nullable_rhs=False))
    if not clauses:
        return None
    return and_(*clauses)


_SKIP = object()


def _sql_literal(group: str, value: Any) -> Any:
    """``value`` as a bound-parameter value of the field kind ``group``, or
    :data:`_SKIP` when it doesn't parse as one (then only Python decides)."""
    if value is None:
        return _SKIP
    text = str(value).strip()
    try:
        if group == "number":
            number = Decimal(text)
            return number if number.is_finite() else _SKIP
        if group == "date":  # YYYY-MM-DD only: the form Python compares as text
            day = date.fromisoformat(text)
            return day if day.isoformat() == str(value) else _SKIP
        if group == "yes/no":
            return text.lower() in {"1", "true", "yes"}
    except (InvalidOperation, ValueError):
        return _SKIP
    return str(value)


def _sql_compare(col, op: str, rhs, or_, nullable_rhs: bool):
    """``col <op> rhs``; ``=`` and ``<>`` also pass NULLs (see :func:`sql_filter`)."""
    if op in ("=", "<>"):
        core = col == rhs if op == "=" else col != rhs
        nulls = [col.is_(None)] + ([rhs.is_(None)] if nullable_rhs else [])
        return or_(core, *nulls)
    return {">": col > rhs, ">=": col >= rhs, "<": col < rhs, "<=": col <= rhs}[op]
