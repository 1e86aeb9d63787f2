"""A list with no rows says so in words: "No ... yet." without a search, and "No ...
match “text”." for a search that finds nothing (never `match “”`)."""
from __future__ import annotations

from test_pages import sign_in


def test_an_empty_list_says_no_rows_yet_and_a_search_names_its_text(app):
    client = app.test_client()
    sign_in(client, "msuyama", "northwind")
    page = client.get("/posted-purchase-credit-memos").get_data(as_text=True)
    assert "No posted purchase credit memos yet." in page and "match “”" not in page
    found = client.get("/customers?q=zzqq-nothing").get_data(as_text=True)
    assert "No customers match “zzqq-nothing”." in found
