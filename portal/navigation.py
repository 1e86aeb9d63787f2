"""The header's area menus and "Tell me" (Business Central's search for pages and
records).

:data:`MENUS` lists every page a person opens from the header, per area (Sales,
Purchasing, Finance, Approvals, Automation, Administration), each with who may open
it (the same rule its route enforces) and the other words people search it by.
:func:`menus_for` keeps the entries a user may open (a menu without any is left out);
:func:`find_pages` and :func:`find_records` answer the Tell me search: pages by name
and synonyms, only those the user may open, and records (customers, vendors, items,
sales and purchase documents) by no. or name through the list pages' own search
(:func:`portal.records.listing.list_query`), a few per record type."""
from __future__ import annotations

from dataclasses import dataclass, field

from flask import Blueprint, has_request_context, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy.orm import Session

from portal.extensions import db, htmx

#: who may open a page: every signed-in user, flow makers and admins, admins, or the
#: approval administrator (and admins)
EVERYONE, RUN_VIEWERS, ADMINS, APPROVAL_ADMINS = "everyone", "run_viewers", "admins", "approval_admins"


@dataclass(frozen=True)
class Page:
    """A page in the header's menus and in Tell me: ``label`` (its name), the
    ``endpoint`` and its arguments, who may open it (``rule``) and ``synonyms`` (other
    words it is searched by). ``menu=False``: found by Tell me only."""

    label: str
    endpoint: str
    args: tuple[tuple[str, str], ...] = ()
    rule: str = EVERYONE
    synonyms: str = ""
    menu: bool = True
    key: str = ""

    @property
    def url(self) -> str:
        """The page's path (``url_for``), worked out once per script root: the header
        shows some thirty of them on every page."""
        if not has_request_context():
            return url_for(self.endpoint, **dict(self.args))
        key = (request.script_root, self.endpoint, self.args)
        found = _URLS.get(key)
        if found is None:
            found = _URLS[key] = url_for(self.endpoint, **dict(self.args))
        return found


#: the menu pages' paths by (script root, endpoint, arguments): fixed while the app runs
_URLS: dict[tuple, str] = {}


def _list(label: str, slug: str, synonyms: str = "", menu: bool = True) -> Page:
    return Page(label, "records.list_page", (("slug", slug),), EVERYONE, synonyms, menu)


@dataclass(frozen=True)
class Menu:
    """An area menu: its ``key`` (for element ids), ``label`` and pages, in order."""

    key: str
    label: str
    pages: tuple[Page, ...] = field(default_factory=tuple)


MENUS: tuple[Menu, ...] = (
    Menu("sales", "Sales", (
        _list("Customers", "customers", "clients buyers accounts debtors"),
        _list("Items", "items", "products articles inventory stock goods"),
        _list("Sales Quotes", "sales-quotes", "offers estimates proposals"),
        _list("Sales Orders", "sales-orders", "orders so"),
        _list("Sales Invoices", "sales-invoices", "bills billing"),
        _list("Sales Credit Memos", "sales-credit-memos", "credit notes refunds returns"),
        _list("Posted Sales Invoices", "posted-sales-invoices", "bills history archive"),
        _list("Posted Sales Credit Memos", "posted-sales-credit-memos", "credit notes history archive"),
    )),
    Menu("purchasing", "Purchasing", (
        _list("Vendors", "vendors", "suppliers creditors"),
        _list("Purchase Quotes", "purchase-quotes", "requests for quotation rfq"),
        _list("Purchase Orders", "purchase-orders", "orders po buy"),
        _list("Purchase Invoices", "purchase-invoices", "bills vendor invoices payables"),
        _list("Purchase Credit Memos", "purchase-credit-memos", "credit notes returns"),
        _list("Posted Purchase Invoices", "posted-purchase-invoices", "bills history archive"),
        _list("Posted Purchase Credit Memos", "posted-purchase-credit-memos", "credit notes history archive"),
    )),
    Menu("finance", "Finance", (
        _list("General Journals", "general-journal-batches", "journal batches ledger accounting gl"),
        _list("General Journal Lines", "general-journal-lines", "journal entries ledger accounting gl"),
    )),
    Menu("approvals", "Approvals", (
        Page("Requests to Approve", "approvals.requests_to_approve", synonyms="approve decide inbox pending", key="rta"),
        Page("Sent for Approval", "approvals.requests_sent", synonyms="my requests sent approval requests"),
        Page("Overdue Approvals", "approvals.overdue", synonyms="late due overdue approval entries"),
        Page("Approval User Setup", "approval_setup.users", rule=APPROVAL_ADMINS, synonyms="approvers limits substitutes"),
        Page("Workflow User Groups", "approval_setup.groups", rule=APPROVAL_ADMINS, synonyms="approver groups members"),
        Page("Test Approval Setup", "approval_setup.test_setup", rule=APPROVAL_ADMINS, synonyms="check approver chain", menu=False),
    )),
    Menu("automation", "Automation", (
        Page("Workflows", "workflows.list_page", synonyms="approval workflows automate processes"),
        Page("Workflow Templates", "workflows.templates_page", synonyms="library starters", menu=False),
        Page("My runs", "flows.my_runs", synonyms="my flow runs history automate"),
        Page("Flow runs", "flows.history", rule=RUN_VIEWERS, synonyms="all runs history failures"),
        Page("Manage flows", "flows.manage", rule=RUN_VIEWERS, synonyms="flows power automate failing"),
        Page("Create a flow", "flows.gallery", rule=RUN_VIEWERS, synonyms="new flow gallery starters templates", menu=False),
        Page("Archived workflow step instances", "workflows.archive", rule=RUN_VIEWERS, synonyms="archive history", menu=False),
        Page("Flow setup", "flows.setup", rule=ADMINS, synonyms="automate settings permissions on off"),
    )),
    Menu("admin", "Administration", (
        Page("Job Queue", "jobqueue.list_page", rule=ADMINS, synonyms="job queue entries scheduler scheduled tasks batch"),
        Page("Job Queue Log Entries", "jobqueue.log_entries", rule=ADMINS, synonyms="job log runs errors", menu=False),
        Page("No. Series", "no_series.list_page", rule=ADMINS, synonyms="number series numbering"),
        Page("Notification Templates", "notification_templates.list_page", rule=ADMINS, synonyms="email templates mail layouts"),
        Page("Mailbox", "notifications.mailbox_page", rule=ADMINS, synonyms="mail sink sent e-mails emails"),
        Page("Audit", "audit.audit_list", rule=ADMINS, synonyms="change log audit trail history sign-ins"),
        Page("Queue dashboard", "rq_dashboard.queues_overview", rule=ADMINS, synonyms="rq redis workers failed jobs"),
    )),
)

#: pages outside the area menus (the header's own links), for Tell me
OTHER_PAGES: tuple[Page, ...] = (
    Page("Notifications", "notifications.inbox", synonyms="inbox messages unread alerts"),
    Page("Notification settings", "notifications.settings", synonyms="notification setup preferences schedule digest e-mail"),
    Page("Home", "records.home", synonyms="role center start dashboard"),
)


def _allowed(rule: str, user, session: Session, cache: dict) -> bool:
    if rule == EVERYONE:
        return True
    if rule == ADMINS:
        return user.has_role("admin")
    if rule == RUN_VIEWERS:
        return user.has_role("admin", "flow_maker")
    if rule == APPROVAL_ADMINS:
        if "approval_admin" not in cache:
            from portal.approvals import setup

            cache["approval_admin"] = setup.may_administer(session, user)
        return cache["approval_admin"]
    return False


def menus_for(user, session: Session) -> list[tuple[Menu, list[Page]]]:
    """The area menus ``user`` sees: each menu with the entries they may open (menu
    entries only), menus without any left out."""
    cache: dict = {}
    out = []
    for menu in MENUS:
        pages = [p for p in menu.pages if p.menu and _allowed(p.rule, user, session, cache)]
        if pages:
            out.append((menu, pages))
    return out


def _words(text: str) -> list[str]:
    return [w for w in text.lower().replace("-", " ").split() if w]


def find_pages(user, session: Session, query: str, limit: int = 8) -> list[tuple[Page, str]]:
    """The pages ``user`` may open whose name or synonyms hold every word of
    ``query`` (case-insensitive, a word may be the start of a longer one): ``(page,
    area)`` pairs, those whose name matches first."""
    words = _words(query)
    if not words:
        return []
    cache: dict = {}
    found = []
    for area, pages in [(m.label, m.pages) for m in MENUS] + [("", OTHER_PAGES)]:
        for page in pages:
            name = _words(page.label)
            everything = name + _words(page.synonyms) + _words(area)
            if all(any(w.startswith(q) for w in everything) for q in words) and _allowed(page.rule, user, session, cache):
                by_name = all(any(w.startswith(q) for w in name) for q in words)
                found.append((0 if by_name else 1, page, area))
    found.sort(key=lambda t: t[0])
    return [(page, area) for _, page, area in found[:limit]]


#: the list views Tell me searches for records, in this order
RECORD_SLUGS = ("customers", "vendors", "items", "sales-orders", "sales-quotes", "sales-invoices", "sales-credit-memos",
                "purchase-orders", "purchase-quotes", "purchase-invoices", "purchase-credit-memos")
#: shortest text Tell me looks for records by (one character matches most of them)
RECORD_MIN = 2


@dataclass
class RecordHit:
    """A record Tell me found: where it is listed, its title, a line about it and
    its page's address."""

    list_label: str
    title: str
    detail: str
    url: str


def find_records(session: Session, query: str, per_type: int = 3, dialect: str = "sqlite") -> list[tuple[str, str, list[RecordHit]]]:
    """Records whose searched fields (no., name, a document's customer / vendor no.
    and name, ...) contain ``query``: ``(list label, list url with the search,
    hits)`` per record type that has any, at most ``per_type`` hits each (every
    business user may open every list; the list pages' own search and indexes)."""
    from portal.records import listing
    from portal.records.registry import LIST_VIEWS

    query = query.strip()
    if len(query) < RECORD_MIN:
        return []
    out = []
    for slug in RECORD_SLUGS:
        rt = LIST_VIEWS[slug]
        q = listing.list_query(rt, query, rt.default_sort, dialect).select
        rows = session.scalars(q.limit(per_type)).unique().all()
        if not rows:
            continue
        hits = []
        for r in rows:
            if rt.partner:
                detail = " · ".join(x for x in (r.partner_name, r.status) if x)
            else:  # the title holds the no. and name; where it is
                detail = " · ".join(str(x) for x in (getattr(r, "city", None), getattr(r, "country", None)) if x)
            hits.append(RecordHit(rt.plural, rt.title(r), detail, url_for("records.record_page", slug=slug, record_id=r.id)))
        out.append((rt.plural, url_for("records.list_page", slug=slug, q=query), hits))
    return out


# ---------------------------------------------------------------- Tell me

bp = Blueprint("navigation", __name__)


@bp.route("/search")
@login_required
def search():
    """Tell me: the pages (by name and synonyms, those the user may open) and records
    (by no. or name) matching ``?q=``. For the header's box (htmx, as you type) a
    dropdown fragment, else the full results page."""
    query = (request.args.get("q") or "").replace("\x00", "").strip()[:100]
    pages = find_pages(current_user, db.session, query)
    records = find_records(db.session, query, per_type=3 if htmx else 10, dialect=db.session.get_bind().dialect.name)
    ctx = dict(query=query, pages=pages, records=records, record_min=RECORD_MIN)
    if htmx and htmx.target == "tellme-results":
        return render_template("navigation/_results.html", **ctx)
    return render_template("navigation/search.html", **ctx)


def register(app) -> None:
    """The Tell me route and the header's menus (a template global) on ``app``."""
    app.register_blueprint(bp)

    @app.context_processor
    def _header_menus():
        if not current_user.is_authenticated:
            return {}
        return {"nav_menus": menus_for(current_user, db.session)}
