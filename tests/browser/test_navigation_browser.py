"""The header in a browser: an area menu opened and walked by keyboard (Enter, arrow
keys, Escape), the Tell me search finding customer ALFKI as you type (and its full
results page on Enter), the phone's Menu button at 390 px, and screenshots of the home
page and header per demo user at 1,400 and 390 px (saved under ``SHOTS``)."""
from __future__ import annotations

import os
import re

import pytest
from playwright.sync_api import Page, expect

SHOTS = os.environ.get("NAV_SHOTS", "/tmp/nav-shots")


def test_an_area_menu_works_by_keyboard(page: Page, clean_state, sign_in):
    page.set_viewport_size({"width": 1400, "height": 900})
    sign_in(page, "msuyama")
    sales = page.locator("#nav-sales-button")
    menu = page.locator("#nav-sales")
    expect(menu).to_be_hidden()
    sales.focus()
    page.keyboard.press("Enter")
    expect(sales).to_have_attribute("aria-expanded", "true")
    expect(menu).to_be_visible()
    page.keyboard.press("ArrowDown")
    expect(menu.get_by_role("link", name="Customers", exact=True)).to_be_focused()
    page.keyboard.press("ArrowDown")
    expect(menu.get_by_role("link", name="Items", exact=True)).to_be_focused()
    page.keyboard.press("End")
    expect(menu.get_by_role("link", name="Posted Sales Credit Memos")).to_be_focused()
    page.keyboard.press("Escape")
    expect(menu).to_be_hidden()
    expect(sales).to_be_focused()
    expect(sales).to_have_attribute("aria-expanded", "false")
    # to the next menu; ArrowDown opens it at its first entry; Tab out closes it
    page.keyboard.press("ArrowRight")
    purchasing = page.locator("#nav-purchasing-button")
    expect(purchasing).to_be_focused()
    page.keyboard.press("ArrowDown")
    expect(page.locator("#nav-purchasing")).to_be_visible()
    expect(page.locator("#nav-purchasing").get_by_role("link", name="Vendors")).to_be_focused()
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    page.wait_for_url("**/purchase-quotes")
    expect(page.get_by_role("heading", name="Purchase Quotes")).to_be_visible()
    # a click opens a menu, a click elsewhere closes it
    page.locator("#nav-approvals-button").click()
    expect(page.locator("#nav-approvals")).to_be_visible()
    page.locator("h1").click()
    expect(page.locator("#nav-approvals")).to_be_hidden()


def test_tell_me_finds_customer_alfki(page: Page, app, clean_state, sign_in):
    page.set_viewport_size({"width": 1400, "height": 900})
    sign_in(page, "msuyama")
    box = page.get_by_role("searchbox", name="Tell me what you want to do or find")
    box.press_sequentially("ALFKI", delay=40)
    results = page.locator("#tellme-results")
    hit = results.get_by_role("link", name="Customer ALFKI — Alfreds Futterkiste")
    expect(hit).to_be_visible()
    os.makedirs(SHOTS, exist_ok=True)
    page.screenshot(path=f"{SHOTS}/tellme-dropdown-1400.png")
    box.press("ArrowDown")
    expect(hit).to_be_focused()
    page.keyboard.press("Escape")  # closes the results, back in the box
    expect(results.locator("a")).to_have_count(0)
    expect(box).to_be_focused()
    box.fill("")
    box.press_sequentially("approve", delay=40)
    expect(results.get_by_role("link", name="Requests to Approve")).to_be_visible()
    # Enter: the full results page
    box.fill("alfreds")
    box.press("Enter")
    page.wait_for_url(re.compile(r"/search\?q=alfreds"))
    expect(page.get_by_role("heading", name="Tell me: “alfreds”")).to_be_visible()
    page.get_by_role("main").get_by_role("link", name="Customer ALFKI — Alfreds Futterkiste").click()
    expect(page.get_by_role("heading", name=re.compile("Alfreds Futterkiste"))).to_be_visible()


def test_the_header_on_a_phone_folds_behind_the_menu_button(page: Page, clean_state, sign_in, open_nav):
    page.set_viewport_size({"width": 390, "height": 844})
    sign_in(page, "sbuchanan")
    toggle = page.get_by_role("button", name="Menu")
    expect(toggle).to_be_visible()
    expect(page.locator("#nav-sales-button")).to_be_hidden()
    expect(page.locator("#tellme-q")).to_be_visible()
    toggle.click()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    page.locator("#nav-approvals-button").click()
    page.locator("#nav-approvals").get_by_role("link", name=re.compile("^Requests to Approve")).click()
    page.wait_for_url("**/approvals/requests")
    open_nav(page, "Sales Orders")  # the helper opens Menu and Sales
    page.wait_for_url("**/sales-orders")
    assert page.evaluate("document.querySelector('header.topbar').scrollWidth") <= 390  # the header fits (the list is another matter)


@pytest.mark.parametrize("user", ["msuyama", "sbuchanan", "lcallahan", "admin"])
def test_screenshots_of_home_and_header(page: Page, clean_state, sign_in, user):
    """Home (the role center) and the header with a menu open, at 1,400 and 390 px,
    for a person to look at; no page scrolls sideways."""
    os.makedirs(SHOTS, exist_ok=True)
    page.set_viewport_size({"width": 1400, "height": 900})
    sign_in(page, user)
    page.goto("/")
    expect(page.locator(".cue").first).to_be_visible()
    page.screenshot(path=f"{SHOTS}/home-{user}-1400.png", full_page=True)
    last_menu = page.locator("#main-nav .nav-menus > li > button").last
    last_menu.click()
    page.screenshot(path=f"{SHOTS}/header-{user}-1400.png", clip={"x": 0, "y": 0, "width": 1400, "height": 520})
    assert page.evaluate("document.documentElement.scrollWidth") <= 1400
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/")
    page.screenshot(path=f"{SHOTS}/home-{user}-390.png", full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.get_by_role("button", name="Menu").click()
    page.locator("#nav-approvals-button").click()
    page.screenshot(path=f"{SHOTS}/header-{user}-390.png", full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
