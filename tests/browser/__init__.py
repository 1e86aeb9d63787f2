"""Browser tests (a package so that their module names, e.g. conftest and
test_sales_order_approval, don't collide with tests/ and tests/integration/)."""
