"""Event conditions as data: a list of ``{"field", "operator", "value"}`` rows, all of
which must hold (AND). Operators: ``=``, ``<>``, ``>``, ``>=``, ``<``, ``<=``,
``contains``, ``in`` (value: comma-separated list); for record-modified events the
field-change rules ``increased``, ``decreased``, ``changed`` compare the event's old
and new values. Evaluated in Python over a plain dict; never ``eval``."""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

OPERATORS = ("=", "<>", ">", ">=", "<", "<=", "contains", "in")
CHANGE_RULES = ("increased", "decreased", "changed")


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
        return actual.isoformat(), str(expected)
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
    if operator in (">", ">=", "<", "<=") and isinstance(a, str) and isinstance(e, str):
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


def matches(conditions: list[dict], values: dict[str, Any], old_values: dict[str, Any] | None = None) -> bool:
    """True if every condition holds for ``values`` (the record's fields plus event
    data). Field-change rules read ``old_values`` (the values before the change);
    without them a change rule never matches. A field named ``lines.<name>`` holds
    when **any** line (``values["lines"]``, a list of dicts) satisfies it, e.g.
    ``lines.item_no = I0011``: "the order has a line for item I0011"."""
    for cond in conditions or []:
        field = cond.get("field")
        op = cond.get("operator", "=")
        if isinstance(field, str) and field.startswith("lines."):
            name = field[len("lines."):]
            if op not in OPERATORS:
                raise ConditionError(f"Operator {op!r} can't be used on lines")
            if not any(compare(line.get(name), op, cond.get("value")) for line in values.get("lines") or []):
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
        if not compare(values.get(field), op, cond.get("value")):
            return False
    return True


def validate(conditions: list[dict], field_names: set[str]) -> list[str]:
    """Messages for rows naming unknown fields or operators (empty list = valid)."""
    errors = []
    for i, cond in enumerate(conditions or [], start=1):
        if cond.get("field") not in field_names:
            errors.append(f"Condition {i}: unknown field {cond.get('field')!r}")
        if cond.get("operator", "=") not in OPERATORS + CHANGE_RULES:
            errors.append(f"Condition {i}: unknown operator {cond.get('operator')!r}")
    return errors
