"""Layout sweep: every list, card and document page, the approval pages and the admin
pages, as the role that uses them, at 1,400 px and at 390 px (a phone) wide:

- no page scrolls sideways at 1,400 px (``scrollWidth <= clientWidth + 1``); at 390 px
  the phone pages (Requests to Approve, a sales order, the one-click approval
  confirmation) don't either (other pages may scroll inside their own table boxes);
- no two visible buttons, fields or links of the main content overlap (their boxes,
  clipped by the boxes that scroll them);
- every input, select and textarea has a label (or aria-label);
- the error pages (404, 403) carry the portal's header;
- no Content-Security-Policy violation on any page.

A 5,000-character approval comment and a 100-character customer name without a space
are on the pages while they are swept. Screenshots of every page:
``test-artifacts/screenshots/<width>/<role>-<page>.png`` (the path is printed).
``LAYOUT_SWEEP_ONLY=sales-order,requests`` sweeps only the pages whose names contain
one of those words (while fixing a page)."""
from __future__ import annotations

import os
import re
import time
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect
from sqlalchemy import select

from tests.browser.conftest import DEMO_PASSWORDS, PROJECT_ROOT, REPORT_VIOLATIONS, policy_violation, record_id
from tests.browser.test_accessibility import UNLABELLED

SHOTS = PROJECT_ROOT / "test-artifacts" / "screenshots"
WIDTHS = {1400: 900, 390: 844}
PHONE_PAGES = {"requests-to-approve", "sales-order", "approval-link"}
LONG_COMMENT = "Long" + "x" * 4996
LONG_NAME = "Alfreds" + "Futterkiste" * 8 + "GmbH."

# The content's controls whose boxes must not overlap; a box is clipped by the
# ancestors that scroll or clip it, so a table scrolled inside its own box counts only
# where it shows.
OVERLAPS = r"""() => {
  const sel = "main a[href], main button, main input:not([type=hidden]), main select, main textarea, main summary";
  const boxes = [];
  for (const el of document.querySelectorAll(sel)) {
    // hidden, in a closed menu (<details>) or dialog, or visually hidden: not drawn
    if (!el.checkVisibility({contentVisibilityAuto: true, opacityProperty: true, visibilityProperty: true})) continue;
    if (el.closest(".visually-hidden, .sr-only, dialog:not([open])")) continue;
    const name = (el.getAttribute("aria-label") || el.textContent || el.getAttribute("name") || el.tagName).trim().slice(0, 40);
    // a link that wraps has one box per line
    for (const r of el.getClientRects()) {
      let box = {l: r.left, t: r.top, r: r.right, b: r.bottom};
      for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
        const ps = getComputedStyle(p);
        if (ps.overflowX !== "visible" || ps.overflowY !== "visible") {
          const pr = p.getBoundingClientRect();
          box = {l: Math.max(box.l, pr.left), t: Math.max(box.t, pr.top), r: Math.min(box.r, pr.right), b: Math.min(box.b, pr.bottom)};
        }
      }
      if (box.r - box.l < 2 || box.b - box.t < 2) continue;
      boxes.push({el, box, name: `${el.tagName.toLowerCase()} "${name.replace(/\s+/g, " ")}"`});
    }
  }
  const found = [];
  for (let i = 0; i < boxes.length; i++) {
    for (let j = i + 1; j < boxes.length; j++) {
      const a = boxes[i], b = boxes[j];
      if (a.el === b.el || a.el.contains(b.el) || b.el.contains(a.el)) continue;
      const w = Math.min(a.box.r, b.box.r) - Math.max(a.box.l, b.box.l);
      const h = Math.min(a.box.b, b.box.b) - Math.max(a.box.t, b.box.t);
      if (w > 2 && h > 2) found.push(`${a.name} overlaps ${b.name} (${Math.round(w)}×${Math.round(h)} px)`);
    }
  }
  return found.slice(0, 8);
}"""
SIDEWAYS = "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
# the outermost elements that reach past the window's right edge (what makes a page scroll)
TOO_WIDE = r"""() => {
  const limit = document.documentElement.clientWidth + 1, found = [];
  const walk = (el) => {
    for (const c of el.children) {
      if (c.getBoundingClientRect().right > limit && getComputedStyle(c).position !== "fixed") {
        found.push(c.tagName.toLowerCase() + (c.id ? "#" + c.id : "") + (c.classList.length ? "." + [...c.classList].join(".") : "")
                   + ` (${Math.round(c.getBoundingClientRect().width)} px)`);
        if (found.length < 6) walk(c);
      } else if (getComputedStyle(c).overflowX === "visible") walk(c);
      if (found.length >= 6) return;
    }
  };
  walk(document.body);
  return found.join(" > ");
}"""


@pytest.fixture
def long_values(app, clean_state, run_jobs):
    """Two orders of Michael Suyama sent for approval (Steven Buchanan's requests), a
    5,000-character comment on one, a long customer name without a space; yields
    ``{"entry_id": an open approval entry of Buchanan, "order": its order's id}`` and
    puts the name back afterwards."""
    from portal.approvals import service as approvals
    from portal.approvals.models import ApprovalCommentLine, ApprovalEntry
    from portal.auth.models import User
    from portal.extensions import db
    from portal.jobqueue.models import JobQueueEntry
    from portal.records import service as records
    from portal.records.models import Customer, Item, SalesHeader
    from portal.records.registry import LIST_VIEWS, RECORD_TYPES

    with app.app_context():
        s = db.session
        suyama = s.scalar(select(User).where(User.user_name == "msuyama"))
        docs = [s.scalar(select(SalesHeader).where(SalesHeader.no == no, SalesHeader.document_type == "Order"))
                for no in ("10272", "10298")]
        for doc in docs:
            approvals.send_approval_request(s, "sales_header", doc, suyama)
            s.commit()
        order_id = docs[0].id
        s.remove()
    run_jobs()  # (or the browser tests' worker, when it runs, takes them: wait for the entry)
    with app.app_context():
        s = db.session
        deadline = time.monotonic() + 20
        while (entry := s.scalar(select(ApprovalEntry).where(ApprovalEntry.record_id == order_id, ApprovalEntry.status == "Open"))) is None:
            assert time.monotonic() < deadline, "the approval workflow opened no entry"
            time.sleep(0.2)
            s.expire_all()
        # longer than a comment typed today may be (2,000): a value from before that limit
        s.add(ApprovalCommentLine(record_type="sales_header", record_id=order_id, approval_entry_id=entry.id,
                                  user_id=entry.sender_id, comment=LONG_COMMENT))
        alfki = s.scalar(select(Customer).where(Customer.no == "ALFKI"))
        old_name, alfki.name = alfki.name, LONG_NAME
        # a purchase order and a journal batch, each with a line (the demo data has none)
        purchase = records.create_record(s, LIST_VIEWS["purchase-orders"], {"vendor_no": "V00001"}, None)
        records.add_line(s, "purchase_header", purchase, {"item_no": s.scalar(select(Item.no).where(Item.blocked.is_(False)).order_by(Item.id)), "quantity": Decimal(3)}, None)
        batch = records.create_record(s, RECORD_TYPES["gen_journal_batch"],
                                      {"journal_template_name": "GENERAL", "name": "SWEEP", "description": "Layout sweep"}, None)
        records.add_line(s, "gen_journal_batch", batch, {"posting_date": date(2026, 11, 30), "account_type": "G/L Account",
                                                        "account_no": "6100", "description": "Accrual", "amount": Decimal(100)}, None)
        # a job queue entry in Error with a long error message (its card, error and log pages)
        job = JobQueueEntry(description="Layout sweep: post the day's invoices", system_job="none", owner_id=entry.approver_id,
                            status="Error", last_error="Posting failed: " + "the document could not be posted " * 30)
        s.add(job)
        s.commit()
        values = {"entry_id": entry.id, "order": order_id, "job": job.id}
        created = [("purchase_header", purchase.id), ("gen_journal_batch", batch.id)]
        s.remove()
    yield values
    with app.app_context():
        s = db.session
        alfki = s.scalar(select(Customer).where(Customer.no == "ALFKI"))
        alfki.name = old_name
        for record_type, record_id in created:
            s.delete(s.get(RECORD_TYPES[record_type].model, record_id))  # with its lines
        s.delete(s.get(JobQueueEntry, values["job"]))
        s.commit()
        s.remove()


def pages_by_role(app, values) -> dict[str, list[tuple[str, str]]]:
    """{user name: [(page name, path)]}: the pages each role is swept on. Record pages
    (the first record of each list) are added while sweeping."""
    from portal.approvals.links import make_token
    from portal.auth.models import User
    from portal.notifications.models import NotificationTemplate
    from portal.records.registry import LIST_VIEWS
    from portal.workflow.models import WorkflowInstance

    with app.app_context():
        token = make_token(values["entry_id"], "approve")
    business = [("home", "/"), *((f"list-{slug}", f"/{slug}") for slug in LIST_VIEWS),
                ("new-customer", "/customers/new"), ("new-sales-order", "/sales-orders/new"),
                ("sales-order", f"/sales-orders/{values['order']}"), ("my-runs", "/flows/my-runs"),
                ("sent-for-approval", "/approvals/sent"), ("notifications", "/notifications"),
                ("notification-settings", "/notifications/settings"), ("workflows", "/workflows/"),
                ("not-found", "/customers/999999999"), ("not-permitted", "/mailbox")]
    approver = [("home", "/"), ("requests-to-approve", "/approvals/requests"), ("overdue", "/approvals/overdue"),
                ("sales-order", f"/sales-orders/{values['order']}"), ("approval-link", f"/approvals/link/{token}"),
                ("approval-entries", f"/approvals/entries/sales_header/{values['order']}")]
    job = values["job"]
    template = record_id(app, NotificationTemplate)
    run = record_id(app, WorkflowInstance)
    user = record_id(app, User, user_name="msuyama")
    admin = [("home", "/"), ("workflows", "/workflows/"), ("workflow-card", "/workflows/SO-APPROVAL"),
             ("workflow-templates", "/workflows/templates"), ("workflow-archive", "/workflows/archive"),
             ("workflow-new", "/workflows/new"), ("flows-manage", "/flows/manage"), ("flows-gallery", "/flows/gallery"),
             ("flow-runs", "/flows/history"), ("flow-setup", "/flows/setup"), ("flow-inputs", "/flows/CUST-STATEMENT/inputs"),
             ("flow-test", "/flows/CUST-STATEMENT/test"), ("job-queue", "/job-queue/"), ("job-queue-new", "/job-queue/new"),
             ("job-queue-card", f"/job-queue/{job}"), ("job-queue-error", f"/job-queue/{job}/error"),
             ("job-queue-log", f"/job-queue/{job}/log"), ("job-queue-log-all", "/job-queue/log"),
             ("approval-user-setup", "/approvals/setup/users"), ("approval-user-card", f"/approvals/setup/users/{user}"),
             ("workflow-user-groups", "/approvals/setup/groups"), ("workflow-user-group-new", "/approvals/setup/groups/new"),
             ("approval-setup-test", "/approvals/setup/test"), ("notification-templates", "/notification-templates"),
             ("notification-template", f"/notification-templates/{template}"), ("mailbox", "/mailbox"),
             ("no-series", "/no-series"), ("audit", "/audit"), ("requests-to-approve", "/approvals/requests")]
    if run:
        admin.append(("flow-run", f"/flows/history/{run}"))
    return {"msuyama": business, "sbuchanan": approver, "afuller": admin}


def styled(page) -> str:
    """The elements with a style attribute (what a style-src violation is about)."""
    try:
        return "; ".join(page.evaluate("() => [...document.querySelectorAll('[style]')].map(e => e.outerHTML.slice(0, 160))"))
    except Exception as exc:  # noqa: BLE001 - a report, never a second failure
        return f"(could not read: {exc})"


def sign_in(context, user_name: str):
    page = context.new_page()
    page.goto("/sign-in")
    page.get_by_label("User name").fill(user_name)
    page.get_by_label("Password").fill(DEMO_PASSWORDS[user_name])
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#nav-user-button")).to_have_count(1)  # the header's user menu: signed in
    page.wait_for_load_state("load")
    return page


def check_page(page, name: str, path: str, width: int, role: str, problems: list[str]) -> None:
    page.goto(path)
    page.wait_for_load_state("networkidle")
    where = f"{width} px {role} {name} ({path})"
    scroll, client = page.evaluate(SIDEWAYS)
    if (width >= 1000 or name in PHONE_PAGES) and scroll > client + 1:
        problems.append(f"{where}: scrolls sideways ({scroll} px of {client}): {page.evaluate(TOO_WIDE)}")
    for overlap in page.evaluate(OVERLAPS):
        problems.append(f"{where}: {overlap}")
    if width >= 1000:
        for html in page.evaluate(UNLABELLED):
            problems.append(f"{where}: a control without a label: {html}")
    if not page.locator("header").first.is_visible() or page.locator("header a[href='/']").count() == 0:
        problems.append(f"{where}: no header with a way home")
    shot = SHOTS / str(width) / f"{role}-{name}.png"
    # (Playwright hides the caret with a style set from script; htmx must not copy it as a
    # style attribute when a polled swap settles: see portal.js)
    page.screenshot(path=str(shot), full_page=True)


def test_every_page_fits_at_1400_and_390_px(browser: Browser, app, live_server, long_values):
    pages = pages_by_role(app, long_values)
    problems: list[str] = []
    violations: list[str] = []
    for width in WIDTHS:
        (SHOTS / str(width)).mkdir(parents=True, exist_ok=True)
    for role, role_pages in pages.items():
        context = browser.new_context(base_url=live_server, viewport={"width": 1400, "height": 900})
        context.add_init_script(REPORT_VIOLATIONS)
        page = sign_in(context, role)
        page.on("console", lambda msg, page=page: violations.append(f"{page.url}: {msg.text} [{styled(page)}]") if policy_violation(msg.text) else None)
        if role == "msuyama":  # the first record of each list: its card or document page
            for name, path in list(role_pages):
                if name.startswith("list-"):
                    page.goto(path)
                    slug = path.strip("/")
                    link = page.locator(f"main table a[href^='/{slug}/']").first
                    if link.count():
                        href = link.get_attribute("href")
                        if re.fullmatch(rf"/{slug}/\d+", href or ""):
                            role_pages.append((f"record-{slug}", href))
                            if slug in ("customers", "vendors", "items"):
                                role_pages.append((f"edit-{slug}", href + "/edit"))
        only = os.environ.get("LAYOUT_SWEEP_ONLY")  # e.g. "sales-order,requests": while fixing a page
        if only:
            role_pages = [(n, p) for n, p in role_pages if any(part in n for part in only.split(","))]
        for width, height in WIDTHS.items():
            page.set_viewport_size({"width": width, "height": height})
            for name, path in role_pages:
                check_page(page, name, path, width, role, problems)
        context.close()
    print(f"\nscreenshots: {SHOTS}/<width>/<role>-<page>.png")
    assert violations == [], "Content-Security-Policy violations:\n" + "\n".join(violations)
    assert problems == [], "\n".join(problems)
