"""The list pages' query: search, sort and the search indexes behind them.

Search is case-insensitive and finds the text anywhere in a searched field (as
``lower(field) LIKE '%text%'``). Where the database has a search index for a table
(migration ``e5_page_speed``: :data:`INDEXED_SEARCH`) the query is written so that the
index serves it:

- PostgreSQL: ``lower(field) LIKE '%text%'`` on the table itself; the ``pg_trgm`` GIN
  index on ``lower(field)`` answers it (a bitmap OR over the fields);
- SQLite: the table's FTS5 ``trigram`` table (``<table>_fts``) answers a search of 3
  characters or more with the same matches (substring, case-insensitive; FTS5 also
  folds the case of non-ASCII letters, which SQLite's ``lower()`` doesn't). Shorter
  searches read the table as before (they match most rows anyway).

A document's customer / vendor no. and name are searched through the partner's own
index: the documents of the matching partners are added, so neither side needs a scan
— on SQLite as "own match OR partner id in (the partner's search index)", which SQLite
answers with one index per side; on PostgreSQL with the matching partners' ids looked
up first and listed in the query (up to :data:`PARTNER_IDS_MAX`; beyond, a UNION of the
two id sets). The list's rows are then read by id alone (the search runs once a page). Documents sort by no. naturally through the stored
``no_sort`` key (:func:`portal.records.models.natural_sort_key`); the last sort key
is the id, in the same direction, so an index on (type, sort column) serves the page."""
from __future__ import annotations

from sqlalchemy import Integer, func, inspect, or_, select, text, union

from sqlalchemy.orm import Session

from portal.records.models import Customer, GenJournalBatch, GenJournalLine, Vendor
from portal.records.registry import RecordType
from portal.workflow.models import OUTBOX_PENDING, OUTBOX_PROCESSING, OutboxEvent

#: table → the searched columns that have a search index (kept equal to the
#: migration's ``SEARCH_COLUMNS``)
INDEXED_SEARCH: dict[str, tuple[str, ...]] = {
    "customer": ("no", "name", "city", "country", "contact"),
    "sales_header": ("no", "salesperson_code", "status"),
}

#: an FTS5 trigram index needs at least this many characters to find a substring
TRIGRAM_MIN = 3

# journal lines show (and are searched and sorted by) their batch's template and name
BATCH_COLUMNS = {"journal_template_name": GenJournalBatch.journal_template_name, "journal_batch_name": GenJournalBatch.name}


def partner_model(rt: RecordType):
    """The customer or vendor model of a document record type (None for others)."""
    return {"customer": Customer, "vendor": Vendor}.get(rt.partner or "")


def sort_column(rt: RecordType, name: str):
    """The column a list of ``rt`` sorts by for list column ``name`` (None if it
    can't be sorted by it)."""
    partner = partner_model(rt)
    if partner is not None and name in (f"{rt.partner}_no", f"{rt.partner}_name"):
        return partner.no if name.endswith("_no") else partner.name
    if rt.key == "gen_journal_line" and name in BATCH_COLUMNS:
        return BATCH_COLUMNS[name]
    if name in inspect(rt.model).column_attrs.keys():
        return getattr(rt.model, name)
    return None


def _fts_ids(table: str, names: tuple[str, ...], search: str):
    """``SELECT rowid FROM <table>_fts WHERE … MATCH`` the phrase ``search`` in the
    columns ``names`` (an FTS5 column filter)."""
    phrase = '"' + search.replace('"', '""') + '"'
    param = f"fts_{table}"
    return text(f"SELECT rowid FROM {table}_fts WHERE {table}_fts MATCH :{param}").bindparams(
        **{param: "{" + " ".join(names) + "} : " + phrase}).columns(rowid=Integer)


def like_pattern(search: str) -> str:
    """``%search%`` (lower case) for ``LIKE … ESCAPE '\\'``: ``%``, ``_`` and ``\\`` in
    what the user typed are taken literally."""
    escaped = search.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def search_condition(model, names: tuple[str, ...], search: str, dialect: str):
    """A WHERE condition: one of ``model``'s columns ``names`` contains ``search``
    (case-insensitive), written for ``dialect``'s search index where
    :data:`INDEXED_SEARCH` has one for all of them."""
    table = model.__tablename__
    indexed = set(names) <= set(INDEXED_SEARCH.get(table, ()))
    if indexed and dialect == "sqlite" and len(search) >= TRIGRAM_MIN:
        return model.id.in_(_fts_ids(table, names, search))
    pattern = like_pattern(search)
    return or_(*[func.lower(getattr(model, n)).like(pattern, escape="\\") for n in names])


def search_ids(model, names: tuple[str, ...], search: str, dialect: str):
    """A SELECT of the ids of ``model``'s rows that :func:`search_condition` finds: the
    search index's rowids themselves where SQLite has one (no lookup of the rows)."""
    table = model.__tablename__
    if set(names) <= set(INDEXED_SEARCH.get(table, ())) and dialect == "sqlite" and len(search) >= TRIGRAM_MIN:
        return _fts_ids(table, names, search)
    return select(model.id).where(search_condition(model, names, search, dialect))


#: a document search on PostgreSQL lists the matching partners' ids in the query when
#: there are at most this many (beyond, a long list costs more than the UNION it replaces)
PARTNER_IDS_MAX = 2000


def _partner_ids(session, partners, search: str) -> list[int] | None:
    """The ids ``partners`` (a SELECT of ids) finds, if there are at most
    :data:`PARTNER_IDS_MAX` and the search is long enough for the trigram indexes;
    otherwise (or without a session) None."""
    if session is None or len(search) < TRIGRAM_MIN:
        return None
    ids = list(session.scalars(partners.limit(PARTNER_IDS_MAX + 1)))
    return ids if len(ids) <= PARTNER_IDS_MAX else None


def list_query(rt: RecordType, search: str, sort: str, dialect: str = "sqlite", session=None):
    """The list page's SELECT and the sort it applied: search across the record
    type's search fields (and a document's customer / vendor no. and name, a journal
    line's batch template and name; case-insensitive, substring) and sort by ``sort``
    ("field" or "-field"; an unknown field falls back to the record type's default),
    then by the record type's ``then_by`` columns and the id. ``dialect``: the
    database's (``sqlite``/``postgresql``), which picks how the search indexes are
    used; ``session``: lets a document search on PostgreSQL look up the matching
    customers / vendors first (:func:`_partner_ids`). Returns ``(select, sort)``."""
    model = rt.model
    search = search.replace("\x00", "")  # no stored value holds a NUL (the column checks refuse it)
    q = rt.filter_query(select(model))
    partner = partner_model(rt)
    if partner is not None:
        fk = getattr(model, f"{rt.partner}_id")
        if sort.lstrip("-") in (f"{rt.partner}_no", f"{rt.partner}_name"):
            # only to sort by the partner's no. or name: a document always has its
            # partner (the page loads it anyway), and the page's bounded count
            # then reads the documents alone
            q = q.join(partner, fk == partner.id)
    if rt.key == "gen_journal_line":
        q = q.join(GenJournalBatch, GenJournalLine.batch_id == GenJournalBatch.id)
    if search:
        own = search_condition(model, rt.search_fields, search, dialect)
        if partner is not None:
            partners = search_ids(partner, ("no", "name"), search, dialect)
            if dialect == "sqlite":
                # SQLite answers "own match OR the partner's" with one index per side (a
                # MULTI-INDEX OR: the search index's rowids, the partner id index), then
                # sorts the matches; through a UNION of ids it walked the sort index instead
                q = q.where(or_(own, fk.in_(partners)))
            else:
                ids = _partner_ids(session, partners, search)
                if ids is not None:
                    # PostgreSQL: the matching partners' ids, found first (the partner's own
                    # search index), ORed as a list with the documents' own match — one
                    # bitmap heap scan over the trigram indexes and the partner id index
                    q = q.where(or_(own, fk.in_(ids)))
                else:  # (too many partners, or no session) a UNION of the two id sets
                    of_partners = select(model.id).where(fk.in_(partners))
                    q = q.where(model.id.in_(union(select(model.id).where(own), of_partners)))
        elif rt.key == "gen_journal_line":
            pattern = like_pattern(search)
            q = q.where(or_(own, *[func.lower(c).like(pattern, escape="\\") for c in BATCH_COLUMNS.values()]))
        else:
            q = q.where(own)
    field = sort.lstrip("-")
    col = sort_column(rt, field) if field in rt.list_columns else None
    if col is None:
        field = rt.default_sort.lstrip("-")
        col = sort_column(rt, field)
        sort = rt.default_sort
    if rt.natural_no_sort and field == "no":
        col = model.no_sort  # 9 before 10, SO00009 before SO00010
    desc = sort.startswith("-")
    q = q.order_by(col.desc() if desc else col.asc(), *[getattr(model, n) for n in rt.then_by],
                   model.id.desc() if desc else model.id.asc())
    return q, sort


def in_flight(session: Session, record_type: str, ids: list[int]) -> set[int]:
    """The ids among ``ids`` of records of ``record_type`` with events not yet
    handled by a worker (outbox events pending or being processed): a list page
    shows them as being processed and follows the worker until they are handled."""
    if not ids:
        return set()
    return set(session.scalars(select(OutboxEvent.record_id).where(
        OutboxEvent.record_type == record_type, OutboxEvent.record_id.in_(ids),
        OutboxEvent.status.in_([OUTBOX_PENDING, OUTBOX_PROCESSING])).distinct()))
