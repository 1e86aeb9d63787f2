"""Event conditions are data, evaluated without eval."""
from decimal import Decimal

import pytest

from portal.workflow.conditions import ConditionError, matches, validate


def test_equality_and_comparison_coerce_text_values():
    values = {"document_type": "Order", "status": "Open", "amount": Decimal("1863.40"), "pending_approvals": 0}
    assert matches([{"field": "document_type", "operator": "=", "value": "Order"}, {"field": "status", "operator": "=", "value": "Open"}], values)
    assert not matches([{"field": "status", "operator": "=", "value": "Released"}], values)
    assert matches([{"field": "amount", "operator": ">", "value": "1000"}], values)
    assert not matches([{"field": "amount", "operator": "<=", "value": "1000"}], values)
    assert matches([{"field": "pending_approvals", "operator": "=", "value": "0"}], values)
    assert not matches([{"field": "pending_approvals", "operator": ">", "value": "0"}], values)
    assert matches([{"field": "status", "operator": "in", "value": "Open, Released"}], values)
    assert matches([{"field": "document_type", "operator": "contains", "value": "ord"}], values)
    assert matches([], values)


def test_field_change_rules_use_old_and_new_values():
    new = {"credit_limit": "5000"}
    assert matches([{"field": "credit_limit", "operator": "increased"}], new, {"credit_limit": "1000"})
    assert not matches([{"field": "credit_limit", "operator": "decreased"}], new, {"credit_limit": "1000"})
    assert matches([{"field": "credit_limit", "operator": "changed"}], new, {"credit_limit": "1000"})
    assert not matches([{"field": "credit_limit", "operator": "changed"}], new, {"credit_limit": "5000"})
    assert not matches([{"field": "credit_limit", "operator": "increased"}], new, None)


def test_unknown_operators_are_errors_not_code():
    with pytest.raises(ConditionError):
        matches([{"field": "x", "operator": "__import__('os')", "value": 1}], {"x": 1})
    assert validate([{"field": "nope", "operator": "="}, {"field": "status", "operator": "~"}], {"status"}) == [
        "Condition 1: unknown field 'nope'",
        "Condition 2: unknown operator '~'",
    ]


def test_numbers_kept_as_text_compare_as_numbers():
    assert matches([{"field": "credit_limit", "operator": ">", "value": "1000"}], {"credit_limit": "400.00"}) is False
    assert matches([{"field": "credit_limit", "operator": "<", "value": "1000"}], {"credit_limit": "400.00"})


def test_conditions_on_lines_hold_when_any_line_matches():
    values = {"document_type": "Order", "lines": [{"item_no": "I0014", "quantity": 9}, {"item_no": "I0051", "quantity": 40}]}
    assert matches([{"field": "lines.item_no", "operator": "=", "value": "I0051"}], values)
    assert matches([{"field": "lines.quantity", "operator": ">", "value": "30"}], values)
    assert not matches([{"field": "lines.item_no", "operator": "=", "value": "I0011"}], values)
    assert not matches([{"field": "lines.item_no", "operator": "=", "value": "I0014"}], {"lines": []})
