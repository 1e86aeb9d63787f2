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
answers with one index per side; on PostgreSQL as one statement, the UNION of the
documents' own matches and the matching partners' documents, each with its sort key
(:func:`_partner_search_query`). The list's rows are then read by id alone (the search
runs once a page). Documents sort by no. naturally through the stored
``no_sort`` key (:func:`portal.records.models.natural_sort_key`); the last sort key
is the id, in the same direction, so an index on (type, sort column) serves the page."""
from __future__ import annotations

from typing import NamedTuple

from sqlalchemy import Integer, Select, func, inspect, or_, select, text, union

from sqlalchemy.orm import Session

from portal.records.models import Customer, GenJournalBatch, GenJournalLine, Vendor
from portal.records.registry import RecordType
from portal.util import id_in
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
    columns ``names`` (an FTS5 column filter; none when ``names`` are all the index's
    columns: the filter then changes nothing and costs about a third of the match)."""
    phrase = '"' + search.replace('"', '""') + '"'
    param = f"fts_{table}"
    query = phrase if set(names) >= set(INDEXED_SEARCH[table]) else "{" + " ".join(names) + "} : " + phrase
    return text(f"SELECT rowid FROM {table}_fts WHERE {table}_fts MATCH :{param}").bindparams(
        **{param: query}).columns(rowid=Integer)


def optimize_search_indexes(session: Session) -> dict[str, str]:
    """Search index maintenance (the nightly system job ``search_index_maintenance``):
    on SQLite each FTS5 search table (:data:`INDEXED_SEARCH`) is merged into one
    segment (FTS5 ``optimize``: a table filled row by row, by its triggers, is read in
    many segments, and a search reads each one — a search of 100,000 customers took
    twice as long before); on PostgreSQL each trigram GIN index's pending list is merged
    into the index (``gin_clean_pending_list``; autovacuum does it too). Commits.
    Returns ``{table or index: what was done}``."""
    dialect = session.get_bind().dialect.name
    done: dict[str, str] = {}
    if dialect == "sqlite":
        for table in INDEXED_SEARCH:
            session.execute(text(f"INSERT INTO {table}_fts({table}_fts) VALUES ('optimize')"))
            done[f"{table}_fts"] = "merged into one segment"
    elif dialect == "postgresql":
        for table, columns in INDEXED_SEARCH.items():
            for column in columns:
                index = f"ix_{table}_{column}_trgm"
                pages = session.execute(text("SELECT gin_clean_pending_list(CAST(:ix AS regclass))"), {"ix": index}).scalar()
                done[index] = f"{pages or 0} pending pages merged"
    session.commit()
    return done


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


class ListQuery(NamedTuple):
    """A list page's query: ``select`` the records (a ``select()`` of the record
    type's model, in the list's order), ``sort`` the sort applied ("field" or
    "-field"), ``ids`` a ``select()`` of their ids alone in the same order (what
    :class:`portal.util.CappedPage` counts and places the page with)."""

    select: Select
    sort: str
    ids: Select


def list_query(rt: RecordType, search: str, sort: str, dialect: str = "sqlite", where=()) -> ListQuery:
    """The list page's query: search across the record type's search fields (and a
    document's customer / vendor no. and name, a journal line's batch template and
    name; case-insensitive, substring), keep the rows that meet every condition in
    ``where`` (conditions on the model's columns, e.g. the role center's status
    filter), and sort by ``sort`` ("field" or "-field"; an unknown field falls back to
    the record type's default), then by the record type's ``then_by`` columns and
    the id. ``dialect``: the database's (``sqlite``/``postgresql``), which picks how
    the search indexes are used. Returns a :class:`ListQuery`."""
    model = rt.model
    search = search.replace("\x00", "")  # no stored value holds a NUL (the column checks refuse it)
    field = sort.lstrip("-")
    col = sort_column(rt, field) if field in rt.list_columns else None
    if col is None:
        field = rt.default_sort.lstrip("-")
        col = sort_column(rt, field)
        sort = rt.default_sort
    if rt.natural_no_sort and field == "no":
        col = model.no_sort  # 9 before 10, SO00009 before SO00010
    desc = sort.startswith("-")

    def order(c):
        return c.desc() if desc else c.asc()

    partner = partner_model(rt)
    partner_sort = partner is not None and field in (f"{rt.partner}_no", f"{rt.partner}_name")
    if search and partner is not None and dialect != "sqlite" and len(search) >= TRIGRAM_MIN and not partner_sort:
        return _partner_search_query(rt, partner, search, col, order, where, sort)
    q = rt.filter_query(select(model)).where(*where)
    if partner_sort:
        # only to sort by the partner's no. or name: a document always has its
        # partner (the page loads it anyway), and the page's bounded count
        # then reads the documents alone
        q = q.join(partner, getattr(model, f"{rt.partner}_id") == partner.id)
    if rt.key == "gen_journal_line":
        q = q.join(GenJournalBatch, GenJournalLine.batch_id == GenJournalBatch.id)
    if search:
        own = search_condition(model, rt.search_fields, search, dialect)
        if partner is not None:
            # SQLite answers "own match OR the partner's" with one index per side (a
            # MULTI-INDEX OR: the search index's rowids, the partner id index), then
            # sorts the matches; through a UNION of ids it walked the sort index instead.
            # PostgreSQL, for a search of 1–2 characters (no trigram index can serve it;
            # it matches most rows), walks the sort index and stops at the page's count:
            # about 0.1 s for "a" at 200,000 sales orders, where the UNION took 0.6 s
            fk = getattr(model, f"{rt.partner}_id")
            q = q.where(or_(own, fk.in_(search_ids(partner, ("no", "name"), search, dialect))))
        elif rt.key == "gen_journal_line":
            pattern = like_pattern(search)
            q = q.where(or_(own, *[func.lower(c).like(pattern, escape="\\") for c in BATCH_COLUMNS.values()]))
        else:
            q = q.where(own)
    q = q.order_by(order(col), *[getattr(model, n) for n in rt.then_by], order(model.id))
    return ListQuery(q, sort, q.with_only_columns(model.id))


def _partner_search_query(rt: RecordType, partner, search: str, col, order, where, sort: str) -> ListQuery:
    """PostgreSQL's document search: the UNION of the documents' own matches (their
    trigram indexes) and the documents of the matching customers / vendors (the
    partner's trigram indexes, then the index on (partner id, document type, no.
    sort key, id)), each part carrying the sort key, sorted once (searches of
    :data:`TRIGRAM_MIN` characters or more: those the trigram indexes serve). Sorted by no. (the
    default) the partners' documents' ids come from that index alone, without
    reading their rows; the records themselves are the documents joined by id."""
    model = rt.model
    fk = getattr(model, f"{rt.partner}_id")
    keys = [col.label("sort_key"), *[getattr(model, n).label(f"then_{n}") for n in rt.then_by]]
    part = rt.filter_query(select(model.id, *keys)).where(*where)
    own = search_condition(model, rt.search_fields, search, "postgresql")
    partners = search_ids(partner, ("no", "name"), search, "postgresql")
    found = union(part.where(own), part.where(fk.in_(partners))).subquery("found")
    order_by = [order(found.c.sort_key), *[found.c[f"then_{n}"] for n in rt.then_by], order(found.c.id)]
    return ListQuery(select(model).join(found, model.id == found.c.id).order_by(*order_by), sort,
                     select(found.c.id).order_by(*order_by))


def in_flight(session: Session, record_type: str, ids: list[int]) -> set[int]:
    """The ids among ``ids`` of records of ``record_type`` with events not yet
    handled by a worker (outbox events pending or being processed): a list page
    shows them as being processed and follows the worker until they are handled."""
    if not ids:
        return set()
    return set(session.connection().scalars(select(OutboxEvent.record_id).where(
        OutboxEvent.record_type == record_type, id_in(session, OutboxEvent.record_id, ids),
        OutboxEvent.status.in_([OUTBOX_PENDING, OUTBOX_PROCESSING])).distinct()))
