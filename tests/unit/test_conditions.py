"""Event conditions are data, evaluated without eval."""
from datetime import date
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


# ---------------------------------------------------------------- comparing two fields

def test_a_field_compared_with_another_field_of_the_record():
    below = {"inventory": Decimal("3"), "reorder_point": Decimal("10"), "qty_on_purch_order": Decimal("0")}
    above = {"inventory": Decimal("30"), "reorder_point": Decimal("10"), "qty_on_purch_order": Decimal("0")}
    low = [{"field": "inventory", "operator": "<", "value_field": "reorder_point"}]
    assert matches(low, below) and not matches(low, above)
    assert matches([{"field": "inventory", "operator": ">=", "value_field": "reorder_point"}], above)
    assert not matches(low, {"inventory": Decimal("10"), "reorder_point": Decimal("10")})  # at the level is not below it
    assert matches([{"field": "inventory", "operator": "=", "value_field": "reorder_point"}], {"inventory": Decimal("10"), "reorder_point": Decimal("10.0000")})
    assert not matches(low, {"inventory": Decimal("3"), "reorder_point": None})  # no reorder point: never "below" it
    # "value" is not read when a field is named: a stray value doesn't change the outcome
    assert matches([{"field": "inventory", "operator": "<", "value_field": "reorder_point", "value": "1"}], below)
    # dates and text compare too
    dates = {"shipment_date": date(2026, 3, 2), "requested_delivery_date": date(2026, 3, 1)}
    assert matches([{"field": "shipment_date", "operator": ">", "value_field": "requested_delivery_date"}], dates)
    assert matches([{"field": "ship_to_name", "operator": "<>", "value_field": "customer_name"}], {"ship_to_name": "Depot", "customer_name": "Toms"})
    assert matches([{"field": "description", "operator": "contains", "value_field": "vendor_no"}], {"description": "Pack of V001", "vendor_no": "v001"})


def test_line_fields_compare_with_the_same_line_or_the_record():
    values = {"amount": Decimal("100"), "lines": [{"quantity": Decimal("5"), "qty_shipped": Decimal("5"), "line_amount": Decimal("20")},
                                                  {"quantity": Decimal("8"), "qty_shipped": Decimal("2"), "line_amount": Decimal("80")}]}
    short = [{"field": "lines.qty_shipped", "operator": "<", "value_field": "lines.quantity"}]
    assert matches(short, values)  # the second line is short
    values["lines"][1]["qty_shipped"] = Decimal("8")
    assert not matches(short, values)
    assert matches([{"field": "lines.line_amount", "operator": "<", "value_field": "amount"}], values)
    assert not matches([{"field": "lines.line_amount", "operator": ">", "value_field": "amount"}], values)


def test_a_field_comparison_takes_only_the_operators_that_compare_two_values():
    for op in ("in", "increased", "changed"):
        with pytest.raises(ConditionError, match="can't compare inventory with another field"):
            matches([{"field": "inventory", "operator": op, "value_field": "reorder_point"}], {"inventory": 1, "reorder_point": 2})


def test_field_comparisons_are_validated_against_the_record_types_fields_and_kinds():
    from portal.records.registry import RECORD_TYPES

    items = RECORD_TYPES["item"].field_names()  # knows each field's kind
    assert items.kinds["inventory"] == "decimal" and items.kinds["unit_price"] == "money"
    assert validate([{"field": "inventory", "operator": "<", "value_field": "reorder_point"},
                     {"field": "unit_price", "operator": ">", "value_field": "inventory"}], items) == []  # money and decimal: numbers
    assert validate([{"field": "inventory", "operator": "<", "value_field": "reorder_level"}], items) == [
        "Condition 1: unknown field 'reorder_level' to compare inventory with"]
    assert validate([{"field": "inventory", "operator": "<", "value_field": "description"}], items) == [
        "Condition 1: inventory (number) can't be compared with description (text)"]
    assert validate([{"field": "blocked", "operator": "=", "value_field": "unit_price"}], items) == [
        "Condition 1: blocked (yes/no) can't be compared with unit_price (number)"]
    assert validate([{"field": "inventory", "operator": "in", "value_field": "reorder_point"}], items) == [
        "Condition 1: operator 'in' compares inventory with a value, not with another field"]
    assert validate([{"field": "inventory", "operator": "<", "value": "5", "value_field": "reorder_point"}], items) == [
        "Condition 1: give either a value or a field to compare inventory with, not both"]
    # the kinds survive the union with line fields and event data (as the enable checks build it)
    sales = RECORD_TYPES["sales_header"]
    names = sales.field_names() | {f"lines.{f.name}" for f in sales.line_fields}
    names = names | {"pending_approvals"}
    assert validate([{"field": "lines.quantity", "operator": ">", "value_field": "lines.description"}], names) == [
        "Condition 1: lines.quantity (number) can't be compared with lines.description (text)"]
    assert validate([{"field": "amount", "operator": ">", "value_field": "lines.line_amount"}], names) == [
        "Condition 1: amount is a field of the record; it can't be compared with the line field lines.line_amount"]
    assert validate([{"field": "lines.line_amount", "operator": "<", "value_field": "amount"},
                     {"field": "amount", "operator": ">", "value_field": "pending_approvals"}], names) == []  # event data: kind unknown
    # an explicit kinds map works on a plain set
    assert validate([{"field": "a", "operator": "=", "value_field": "b"}], {"a", "b"}, {"a": "date", "b": "int"}) == [
        "Condition 1: a (date) can't be compared with b (number)"]


# ---------------------------------------------------------------- compiled to SQL

@pytest.fixture
def item_db():
    """Items in an in-memory SQLite database (the portal's own table definitions)."""
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    import portal.models  # noqa: F401 - every model, so that the mappers configure
    from portal.extensions import db
    from portal.records.models import Item, ItemCategory, Vendor

    engine = create_engine("sqlite://")
    db.metadata.create_all(engine, tables=[Vendor.__table__, ItemCategory.__table__, Item.__table__])
    with Session(engine) as session:
        vendor = Vendor(no="V1", name="Exotic Liquids")
        rows = [  # no, inventory, reorder point, unit price, blocked, quantity per unit
            ("I1", "3", "10", "18.00", False, "10 boxes"), ("I2", "10", "10", "19.00", False, None),
            ("I3", "25", "10", "10.00", True, "12 bottles"), ("I4", "0", "0", "22.00", False, ""),
            ("I5", "4", "5", "21.35", False, "48 pies"), ("I6", "120", "25", "9.20", False, "24 bags"),
        ]
        for no, inv, rp, price, blocked, qpu in rows:
            session.add(Item(no=no, description=f"Item {no}", vendor=vendor, inventory=Decimal(inv), reorder_point=Decimal(rp),
                             unit_price=Decimal(price), blocked=blocked, quantity_per_unit=qpu))
        session.commit()
        yield session


CASES = [
    [{"field": "inventory", "operator": "<", "value_field": "reorder_point"}],
    [{"field": "inventory", "operator": "<", "value_field": "reorder_point"}, {"field": "blocked", "operator": "=", "value": "false"}],
    [{"field": "inventory", "operator": ">=", "value_field": "reorder_point"}, {"field": "unit_price", "operator": "<", "value": "20"}],
    [{"field": "inventory", "operator": "=", "value_field": "reorder_point"}],
    [{"field": "inventory", "operator": "<>", "value_field": "reorder_point"}],
    [{"field": "quantity_per_unit", "operator": "=", "value": ""}],
    [{"field": "quantity_per_unit", "operator": "<>", "value": ""}],
    [{"field": "quantity_per_unit", "operator": "<>", "value": "10 boxes"}],
    [{"field": "no", "operator": "in", "value": "I1, I3,I5"}],
    [{"field": "no", "operator": "in", "value": "I1,"}, {"field": "unit_price", "operator": ">", "value": "abc"}],  # text: Python only
    [{"field": "description", "operator": "contains", "value": "i6"}],  # not compiled: Python decides
    [{"field": "vendor_no", "operator": "=", "value": "V1"}, {"field": "inventory", "operator": "<=", "value": "4"}],  # computed field
]


@pytest.mark.parametrize("conds", CASES, ids=[str(i) for i in range(len(CASES))])
def test_sql_finds_what_the_python_evaluation_accepts(item_db, conds):
    """The compiled WHERE clause never drops a record the Python evaluation accepts,
    and the records it finds, checked in Python, are exactly those."""
    from sqlalchemy import select

    from portal.records.models import Item
    from portal.records.registry import RECORD_TYPES
    from portal.workflow.conditions import sql_filter

    rt = RECORD_TYPES["item"]
    everything = item_db.scalars(select(Item).order_by(Item.no)).unique().all()
    expected = [i.no for i in everything if matches(conds, rt.values(i))]
    where = sql_filter(conds, rt)
    q = select(Item).order_by(Item.no)
    found = item_db.scalars(q.where(where) if where is not None else q).unique().all()
    assert set(expected) <= {i.no for i in found}
    assert [i.no for i in found if matches(conds, rt.values(i))] == expected


def test_a_comparison_of_two_fields_compiles_to_a_comparison_of_two_columns(item_db):
    from sqlalchemy import select

    from portal.records.models import Item
    from portal.records.registry import RECORD_TYPES
    from portal.workflow.conditions import sql_filter

    rt = RECORD_TYPES["item"]
    where = sql_filter([{"field": "inventory", "operator": "<", "value_field": "reorder_point"},
                        {"field": "blocked", "operator": "=", "value": "no"}], rt)
    sql = str(where.compile(compile_kwargs={"literal_binds": True}))
    assert sql == "item.inventory < item.reorder_point AND (item.blocked = false OR item.blocked IS NULL)"
    assert sorted(i.no for i in item_db.scalars(select(Item).where(where)).unique()) == ["I1", "I5"]
    # values are bound parameters, never SQL text
    where = sql_filter([{"field": "description", "operator": "=", "value": "x' OR '1'='1"}], rt)
    assert ":description_1" in str(where.compile()) and item_db.scalars(select(Item).where(where)).unique().all() == []
    # nothing compilable: no clause (computed fields, lines, change rules, contains)
    assert sql_filter([{"field": "vendor_no", "operator": "=", "value": "V1"}, {"field": "unit_price", "operator": "increased"},
                       {"field": "description", "operator": "contains", "value": "x"}], rt) is None
    # kinds that don't compare are left to Python (and reported by validate)
    assert sql_filter([{"field": "inventory", "operator": "<", "value_field": "description"}], rt) is None
