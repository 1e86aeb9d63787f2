"""Number series: where document numbers come from (Business Central's No. Series).

A **number series** (:class:`~portal.records.models.NoSeries`, e.g. ``S-ORD`` "Sales
Order") has lines (:class:`~portal.records.models.NoSeriesLine`) with a starting no.,
an optional ending no., an increment and the **last no. used**. :func:`get_next_no`
takes the next number of a series the way Business Central's ``NoSeriesManagement.
GetNextNo`` (codeunit 396; "No. Series - Sequence Impl." in newer versions) does with
``ModifySeries = true``: it locks the series line, increments ``Last No. Used`` (the
rightmost run of digits, keeping its width: BC's ``IncStr``) and writes it back, all
in the caller's transaction. So

* a number is never given twice: not after its document was posted or deleted (the
  series remembers the last number; nothing is derived from the documents that still
  exist), and not to two users creating documents at the same moment (PostgreSQL:
  ``SELECT ... FOR UPDATE`` on the line; SQLite: the UPDATE is conditional on the
  last no. read, retried inside the write lock it takes);
* a rolled-back document gives its number back (no gaps, like a BC series without
  "Allow Gaps in Nos.").

One series per document type (:data:`DOCUMENT_SERIES`) and per posted document kind
(:data:`POSTED_SERIES`); :data:`DEFAULT_SERIES` holds their codes and starting numbers.
A series is created on first use (or by :func:`ensure_series`, which ``flask up`` /
``flask import-northwind`` run) so that it continues after the highest number of its
format already in use, counting the source numbers of posted documents too
(``order_no``, ``pre_assigned_no``). A number that is in use anyway (entered or
imported by other means) is skipped. Customers, vendors and items have no series:
their numbers are entered by hand (BC's "Manual Nos.").
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from sqlalchemy import exists, select, update
from sqlalchemy.orm import Session

from portal.records.models import (
    POSTED_PURCHASE_CREDIT_MEMO,
    POSTED_PURCHASE_INVOICE,
    POSTED_SALES_CREDIT_MEMO,
    POSTED_SALES_INVOICE,
    NoSeries,
    NoSeriesLine,
    PostedDocument,
    PurchaseHeader,
    SalesHeader,
)
from portal.util import utcnow

MAX_NO_LENGTH = 20  # BC's Code[20]


@dataclass(frozen=True)
class SeriesDefault:
    """A series the portal creates when missing: ``code``, ``description`` and the
    ``starting_no`` (its format: a prefix and a zero-padded number)."""

    code: str
    description: str
    starting_no: str


#: The portal's number series, after Business Central's demo company codes.
DEFAULT_SERIES: tuple[SeriesDefault, ...] = (
    SeriesDefault("S-QUO", "Sales Quote", "SQ00001"),
    SeriesDefault("S-ORD", "Sales Order", "SO00001"),
    SeriesDefault("S-INV", "Sales Invoice", "SI00001"),
    SeriesDefault("S-CR", "Sales Credit Memo", "SCM00001"),
    SeriesDefault("P-QUO", "Purchase Quote", "PQ00001"),
    SeriesDefault("P-ORD", "Purchase Order", "PO00001"),
    SeriesDefault("P-INV", "Purchase Invoice", "PI00001"),
    SeriesDefault("P-CR", "Purchase Credit Memo", "PCM00001"),
    SeriesDefault("S-INV+", "Posted Sales Invoice", "PSI00001"),
    SeriesDefault("S-CR+", "Posted Sales Credit Memo", "PSCM00001"),
    SeriesDefault("P-INV+", "Posted Purchase Invoice", "PPI00001"),
    SeriesDefault("P-CR+", "Posted Purchase Credit Memo", "PPCM00001"),
)
_DEFAULTS = {s.code: s for s in DEFAULT_SERIES}

#: (record type, document type) → series code of new documents.
DOCUMENT_SERIES: dict[tuple[str, str], str] = {
    ("sales_header", "Quote"): "S-QUO", ("sales_header", "Order"): "S-ORD",
    ("sales_header", "Invoice"): "S-INV", ("sales_header", "Credit Memo"): "S-CR",
    ("purchase_header", "Quote"): "P-QUO", ("purchase_header", "Order"): "P-ORD",
    ("purchase_header", "Invoice"): "P-INV", ("purchase_header", "Credit Memo"): "P-CR",
}

#: Posted document kind → series code of its numbers.
POSTED_SERIES: dict[str, str] = {
    POSTED_SALES_INVOICE: "S-INV+",
    POSTED_SALES_CREDIT_MEMO: "S-CR+",
    POSTED_PURCHASE_INVOICE: "P-INV+",
    POSTED_PURCHASE_CREDIT_MEMO: "P-CR+",
}


def _uses(code: str) -> list[tuple]:
    """Where numbers of series ``code`` end up: ``(column, condition, ...)`` tuples.
    A document's number stays in use after posting, as its posted document's order no.
    (orders) or pre-assigned no. (invoices, credit memos)."""
    for (record_type, document_type), series in DOCUMENT_SERIES.items():
        if series == code:
            model = SalesHeader if record_type == "sales_header" else PurchaseHeader
            uses = [(model.no, model.document_type == document_type)]
            if document_type != "Quote":
                sales = record_type == "sales_header"
                kind = {
                    "Credit Memo": POSTED_SALES_CREDIT_MEMO if sales else POSTED_PURCHASE_CREDIT_MEMO,
                }.get(document_type, POSTED_SALES_INVOICE if sales else POSTED_PURCHASE_INVOICE)
                column = PostedDocument.order_no if document_type == "Order" else PostedDocument.pre_assigned_no
                uses.append((column, PostedDocument.kind == kind, PostedDocument.source_document_type == document_type))
            return uses
    for kind, series in POSTED_SERIES.items():
        if series == code:
            return [(PostedDocument.no, PostedDocument.kind == kind)]
    return []


# ---------------------------------------------------------------- numbers

def increment_no(no: str, by: int = 1) -> str:
    """``no`` with its rightmost run of digits increased by ``by``, keeping its width
    (``SO00009`` → ``SO00010``; BC's ``IncStr`` / "Increment-by No."). A run that
    overflows grows by a digit (``X99`` → ``X100``).

    Raises :class:`ValueError` if ``no`` has no digits ("The value in the Last No. Used
    field must have a number so that we can assign the next number in the series.")
    or the result is longer than 20 characters (BC: "The number %1 cannot be extended
    to more than 20 characters.")."""
    match = re.search(r"(\d+)(\D*)$", no)
    if match is None:
        raise ValueError(f"The number {no!r} must have a number so that the next number in the series can be assigned.")
    digits = match.group(1)
    new = f"{no[:match.start(1)]}{int(digits) + by:0{len(digits)}d}{match.group(2)}"
    if len(new) > MAX_NO_LENGTH:
        raise ValueError(f"The number {no} cannot be extended to more than {MAX_NO_LENGTH} characters.")
    return new


def _pattern(starting_no: str) -> re.Pattern:
    """Numbers of the same format as ``starting_no``: its prefix, then digits."""
    prefix = re.match(r"(.*?)\d*$", starting_no).group(1)
    return re.compile(rf"{re.escape(prefix)}(\d+)")


def highest_used(session: Session, code: str, starting_no: str) -> str | None:
    """The highest number in the format of ``starting_no`` (same prefix, then digits)
    in use where series ``code``'s numbers go (documents and posted documents), or None."""
    pattern = _pattern(starting_no)
    prefix = re.match(r"(.*?)\d*$", starting_no).group(1)
    best: tuple[int, str] | None = None
    for column, *conditions in _uses(code):
        for no in session.scalars(select(column).where(column.like(f"{prefix}%"), *conditions)):
            match = pattern.fullmatch(no or "")
            if match and (best is None or int(match.group(1)) > best[0]):
                best = (int(match.group(1)), no)
    return best[1] if best else None


def is_used(session: Session, code: str, no: str) -> bool:
    """True if ``no`` is already in use where series ``code``'s numbers go."""
    return any(
        session.scalar(select(exists().where(column == no, *conditions)))
        for column, *conditions in _uses(code)
    )


# ---------------------------------------------------------------- series rows

def _insert_ignoring_duplicates(session: Session, model, values: dict) -> None:
    """INSERT ``values`` into ``model``'s table unless a row with the same unique key
    exists (a concurrent first use may have created it): PostgreSQL / SQLite
    ``ON CONFLICT DO NOTHING``."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:  # pragma: no cover - the portal runs on PostgreSQL or SQLite
        raise NotImplementedError(dialect)
    session.execute(insert(model).values(**values).on_conflict_do_nothing())


def ensure_series(session: Session, codes=None) -> list[str]:
    """Create the default series ``codes`` (default: all of :data:`DEFAULT_SERIES`)
    that don't exist yet, each with one line whose last no. used is the highest
    number of its format already in use (:func:`highest_used`), so that it continues
    after the documents (open or posted) that exist. Safe when two transactions do it
    at once (the second inserts nothing). Flushes, doesn't commit. Returns the codes
    created (by this call or a concurrent one)."""
    wanted = [_DEFAULTS[c] for c in (codes or _DEFAULTS)]
    have = set(session.scalars(select(NoSeriesLine.series_code).where(NoSeriesLine.series_code.in_([s.code for s in wanted]))))
    created = []
    for series in wanted:
        if series.code in have:
            continue
        session.flush()
        _insert_ignoring_duplicates(session, NoSeries, {"code": series.code, "description": series.description})
        _insert_ignoring_duplicates(session, NoSeriesLine, {
            "series_code": series.code, "line_no": 10000, "starting_no": series.starting_no, "increment_by": 1,
            "last_no_used": highest_used(session, series.code, series.starting_no), "open": True,
        })
        created.append(series.code)
    return created


def get_next_no(session: Session, code: str, usage_date: date | None = None) -> str:
    """Take the next number of series ``code`` on ``usage_date`` (default today) and
    record it as the line's last no. used, in the caller's transaction (commit with
    the document; a rollback gives the number back). Numbers already in use (see
    :func:`is_used`) are skipped. A default series that doesn't exist yet is created
    first (:func:`ensure_series`).

    Line choice as in BC's ``SetNoSeriesLineFilter``: the open line with the latest
    starting date on or before ``usage_date`` (no date = always valid).

    Raises :class:`~portal.records.service.RecordError` (a message for the user) when
    the series doesn't exist or has no open line for the date (BC: "You cannot assign
    new numbers from the number series %1."), or the next number would pass its ending
    no. (BC: "You cannot assign numbers greater than %1 from the number series %2.")."""
    from portal.records.service import RecordError

    usage_date = usage_date or utcnow().date()
    columns = (NoSeriesLine.id, NoSeriesLine.starting_date, NoSeriesLine.starting_no, NoSeriesLine.ending_no,
               NoSeriesLine.increment_by, NoSeriesLine.last_no_used)
    created = False
    for _attempt in range(1000):
        # PostgreSQL: the row lock serializes takers until commit. SQLite ignores FOR
        # UPDATE; the conditional UPDATE below then decides, and a retry runs inside
        # the write lock that UPDATE took (so it reads the latest value).
        lines = session.execute(
            select(*columns).where(NoSeriesLine.series_code == code, NoSeriesLine.open.is_(True)).with_for_update()
        ).all()
        valid = [l for l in lines if l.starting_date is None or l.starting_date <= usage_date]
        if not valid:
            if not lines and not created and code in _DEFAULTS:
                ensure_series(session, [code])
                created = True
                continue
            when = f" on {usage_date.isoformat()}" if lines else ""
            raise RecordError(f"You cannot assign new numbers from the number series {code}{when}.")
        line = max(valid, key=lambda l: (l.starting_date or date.min))
        try:
            new = line.starting_no if not line.last_no_used else increment_no(line.last_no_used, max(line.increment_by or 1, 1))
        except ValueError as exc:
            raise RecordError(f"Number series {code}: {exc}") from None
        if line.ending_no and (len(new), new) > (len(line.ending_no), line.ending_no):
            raise RecordError(f"You cannot assign numbers greater than {line.ending_no} from the number series {code}.")
        taken = session.execute(
            update(NoSeriesLine)
            .where(NoSeriesLine.id == line.id, NoSeriesLine.last_no_used.is_not_distinct_from(line.last_no_used))
            .values(last_no_used=new, last_date_used=usage_date)
            .execution_options(synchronize_session=False)
        ).rowcount
        if taken == 1 and not is_used(session, code, new):
            return new
        # taken == 0: another transaction took it first (SQLite) — read again;
        # taken == 1 but the number is in use already — go on to the next one.
    raise RecordError(f"No free number found in the number series {code}.")


def document_no(session: Session, record_type: str, document_type: str) -> str:
    """The number of a new ``document_type`` document of ``record_type``
    (``sales_header`` / ``purchase_header``) from its series (:data:`DOCUMENT_SERIES`).
    See :func:`get_next_no` for errors."""
    return get_next_no(session, DOCUMENT_SERIES[(record_type, document_type)])


def posted_no(session: Session, kind: str) -> str:
    """The number of a new posted document of ``kind`` (e.g. ``"Sales Invoice"``)
    from its series (:data:`POSTED_SERIES`), BC's "Posting No. Series". See
    :func:`get_next_no` for errors."""
    return get_next_no(session, POSTED_SERIES[kind])


def series_list(session: Session) -> list[tuple[NoSeries, NoSeriesLine | None]]:
    """Every series with its current line (the open one with the latest starting
    date; else the last line), ordered by code: the rows of the No. Series page."""
    rows = []
    for series in session.scalars(select(NoSeries).order_by(NoSeries.code)).unique():
        lines = sorted(series.lines, key=lambda l: (l.open, l.starting_date or date.min, l.line_no))
        rows.append((series, lines[-1] if lines else None))
    return rows
