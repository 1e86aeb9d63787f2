"""The shared input checks (portal.util): limits derived from the model columns, NUL
bytes, e-mail addresses, ids and page numbers, JSON nesting; and CSV
files that aren't UTF-8 reported by file and line (any bytes: rows or a message)."""
from __future__ import annotations

import sys
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import portal.models  # noqa: E402,F401  (registers every table)
from portal.importers.common import read_csv  # noqa: E402
from portal.records.models import Customer, Item, SalesLine  # noqa: E402
from portal.util import (  # noqa: E402
    MAX_BIGINT,
    column_errors,
    db_int,
    email_problem,
    ids_of,
    loads_json,
    page_no,
)


def test_lengths_come_from_the_model_columns():
    assert column_errors(Customer, {"name": "x" * 100, "city": "x" * 60}) == {}
    errors = column_errors(Customer, {"name": "x" * 101, "city": "Berlin"}, {"name": "Name"})
    assert errors == {"name": "Name can have at most 100 characters (you entered 101)."}
    assert "NUL" in column_errors(Customer, {"name": "a\x00b"})["name"]


def test_numbers_must_fit_the_columns_digits():
    assert column_errors(Customer, {"credit_limit": Decimal("9999999999999999.99")}) == {}  # Numeric(18, 2)
    assert "too large" in column_errors(Customer, {"credit_limit": Decimal("1e16")})["credit_limit"]
    assert "must be a number" in column_errors(Item, {"unit_price": Decimal("NaN")})["unit_price"]
    assert "must be a number" in column_errors(Item, {"unit_price": float("inf")})["unit_price"]
    assert "out of range" in column_errors(SalesLine, {"line_no": 2**40})["line_no"]  # Integer: 32 bits


def test_ids_and_pages():
    assert db_int("42") == 42 and db_int(str(MAX_BIGINT)) == MAX_BIGINT
    for bad in ("99999999999999999999", "1e30", "x", ""):
        with pytest.raises(ValueError):
            db_int(bad)
    with pytest.raises(ValueError):
        page_no("10000000000")
    assert ids_of(["1", "x", "-2", "99999999999999999999", "7"]) == [1, 7]


def test_e_mail_addresses():
    assert email_problem("ap@example.com") is None
    assert email_problem("alfki@customers.northwind.test") is None  # the demo's reserved domain
    assert email_problem("a@example.com; b@example.com") is None
    assert "not an e-mail address" in email_problem("not an address")


def test_json_nesting_is_limited():
    assert loads_json('{"a": [1, {"b": "[[[["}]}') == {"a": [1, {"b": "[[[["}]}
    with pytest.raises(ValueError, match="nested too deeply"):
        loads_json("[" * 100_000)
    with pytest.raises(ValueError):
        loads_json("{nope")


def test_a_csv_that_isnt_utf8_is_reported_by_file_and_line(tmp_path):
    path = tmp_path / "customers.csv"
    path.write_bytes(b"id,name\n1,Alfreds\n2,Caf\xe9 Central\n")
    with pytest.raises(ValueError, match=r"customers\.csv line 3: not UTF-8 text"):
        read_csv(path)


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=300))
def test_any_bytes_give_rows_or_a_message_naming_the_file(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("csv") / "orders.csv"
    path.write_bytes(b"id,text\n" + data)
    try:
        rows = read_csv(path, ["id"])
    except ValueError as exc:
        assert str(exc).startswith("orders.csv")
    else:
        assert all(row.line >= 2 for row in rows)
