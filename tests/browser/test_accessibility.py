"""Accessibility: axe-core (``tests/browser/vendor/axe.min.js``, injected from Playwright,
never served by the portal) finds no serious or critical violation on the main pages,
each opened as the role that uses it, at 1,400 px and at 390 px wide; every input,
select and textarea of those pages has a label; focus stays where the user works
after an htmx swap (a list search keeps the search box; an added document line puts
focus on the new line's first field)."""
from __future__ import annotations

import re

from playwright.sync_api import Page, expect
from sqlalchemy import select

from tests.browser.conftest import PROJECT_ROOT, record_id

AXE = PROJECT_ROOT / "tests" / "browser" / "vendor" / "axe.min.js"
SERIOUS = ("serious", "critical")

RUN_AXE = """async () => {
  const result = await axe.run(document, {resultTypes: ["violations"]});
  return result.violations.map((v) => ({id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.slice(0, 4).map((n) => n.target.join(" ") + " — " + (n.failureSummary || "").split("\\n").slice(1, 2).join(""))}));
}"""

# every control a person fills in or picks has a name: a <label>, aria-label or aria-labelledby
UNLABELLED = """() => [...document.querySelectorAll("input:not([type=hidden]), select, textarea")]
  .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute("aria-label") && !el.getAttribute("aria-labelledby") && !el.title)
  .map((el) => el.outerHTML.slice(0, 120))"""


def axe_problems(page: Page) -> list[str]:
    """The serious and critical axe-core violations of the page, as lines."""
    assert AXE.exists(), f"{AXE} is missing: bin/test fetches it (npm pack axe-core)"
    if not page.evaluate("() => typeof axe !== 'undefined'"):
        page.evaluate(AXE.read_text(encoding="utf-8"))  # through the test tool, not a <script>: the page's policy stays strict
    return [f"{v['impact']}: {v['id']} ({v['help']}): {'; '.join(v['nodes'])}"
            for v in page.evaluate(RUN_AXE) if v["impact"] in SERIOUS]


def test_main_pages_have_no_serious_accessibility_violation(page: Page, app, clean_state, sign_in, sign_out):
    from portal.jobqueue.models import JobQueueEntry
    from portal.records.models import Customer, SalesHeader

    order = record_id(app, SalesHeader, no="10249", document_type="Order")
    pages = {
        "msuyama": ["/", "/customers", f"/customers/{record_id(app, Customer, no='ALFKI')}", "/sales-orders",
                    f"/sales-orders/{order}", "/notifications"],
        "sbuchanan": ["/approvals/requests"],
        "afuller": ["/workflows/", "/workflows/SO-APPROVAL", "/flows/history", "/job-queue/", "/approvals/setup/users"],
    }
    job = record_id(app, JobQueueEntry)
    if job:
        pages["afuller"].append(f"/job-queue/{job}")
    problems = []
    for user, paths in pages.items():
        sign_in(page, user)
        for width, height in ((1400, 900), (390, 844)):
            page.set_viewport_size({"width": width, "height": height})
            for path in paths:
                page.goto(path)
                page.wait_for_load_state("networkidle")
                problems += [f"{width} px {user} {path}: {p}" for p in axe_problems(page)]
                problems += [f"{width} px {user} {path}: no label: {html}" for html in page.evaluate(UNLABELLED)]
        sign_out(page)
    assert problems == [], "\n".join(problems)


def test_focus_stays_where_the_user_works_after_htmx_swaps(page: Page, app, clean_state, sign_in):
    from portal.extensions import db
    from portal.records import service as records
    from portal.records.models import Item, SalesHeader, SalesLine

    sign_in(page, "msuyama")
    page.goto("/customers")
    page.wait_for_load_state("networkidle")
    search = page.get_by_role("searchbox").first
    search.click()
    search.press_sequentially("ber", delay=30)
    expect(page.locator("#list-results tbody tr").first).to_contain_text(re.compile("ber", re.I))
    page.wait_for_load_state("networkidle")
    expect(search).to_be_focused()

    order = record_id(app, SalesHeader, no="10249", document_type="Order")
    with app.app_context():
        item_no = db.session.scalar(select(Item.no).where(Item.blocked.is_(False)).order_by(Item.id))
        before = db.session.scalar(select(SalesLine.id).where(SalesLine.header_id == order).order_by(SalesLine.id.desc()).limit(1))
    page.goto(f"/sales-orders/{order}")
    new_line = page.locator("tr.new-line")
    new_line.get_by_label("Item No.").fill(item_no)
    new_line.get_by_label("Quantity").fill("2")
    new_line.get_by_role("button", name="Add line").click()
    try:
        added = page.locator("#doc-lines tbody tr[id^=line-]").last
        expect(added).to_contain_text(item_no)
        # focus goes to the new (empty) line's first field, ready for the next line
        expect(page.locator("tr.new-line :is(input, select):visible").first).to_be_focused()
    finally:
        with app.app_context():
            doc = db.session.get(SalesHeader, order)
            for line_id in db.session.scalars(select(SalesLine.id).where(SalesLine.header_id == order, SalesLine.id > (before or 0))).all():
                records.delete_line(db.session, "sales_header", doc, line_id, None)
            db.session.commit()
