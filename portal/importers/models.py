"""The import log: a durable record of every source row an import has handled."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from portal.extensions import db
from portal.util import utcnow

__all__ = ["ImportLogEntry"]

#: ``outcome`` of a log entry: the import created the record, or found it there.
LOGGED_CREATED = "created"
LOGGED_FOUND = "found"


class ImportLogEntry(db.Model):
    """One source row an import has handled: ``source`` (e.g. ``northwind``), ``file``
    (e.g. ``customers.csv``, or ``demo workflows``) and ``source_key`` (the record's
    natural key, e.g. ``ALFKI``; order lines ``<order no.>/<line no.>``). ``outcome``
    says whether the import created the record or found it already there.

    A row with an entry is never imported again, whatever happened to its record
    since (edited, released, posted, deleted): the import only adds what it never
    added before."""

    __tablename__ = "import_log_entry"
    __table_args__ = (UniqueConstraint("source", "file", "source_key"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(40))
    file: Mapped[str] = mapped_column(String(60))
    source_key: Mapped[str] = mapped_column(String(100))
    outcome: Mapped[str] = mapped_column(String(20))
    imported_at: Mapped[datetime] = mapped_column(default=utcnow)
