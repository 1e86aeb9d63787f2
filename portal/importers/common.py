"""What the CSV importers share: the report (new / already there / skipped rows by
file and line), reading a CSV file with physical line numbers, parsing a field, and
the import log that makes an import add only what it never added before.

The rule every import follows (Business Central has no re-import; a restart of the
portal runs the import again, so it must be harmless):

* a source row is imported at most once: its natural key is written to the import
  log (:class:`~portal.importers.models.ImportLogEntry`) in the same transaction as
  its record, and a row whose key is in the log, or whose record exists, is counted
  as **already there** and not read further;
* an existing record is never changed (a user's edits, a Released status, a posted
  document all stay as they are), and a record a user deleted is not created again.
"""
from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.importers.models import LOGGED_CREATED, LOGGED_FOUND, ImportLogEntry
from portal.util import column_errors, money

NEW = "new"
ALREADY_THERE = "already there"


# --------------------------------------------------------------------------- report


@dataclass
class FileCounts:
    """Row outcomes for one file (or other part of an import): ``new`` rows were
    imported now; ``already_there`` rows were imported before (whatever became of
    their record since) or their record existed; ``skipped`` rows are bad and listed
    in :attr:`ImportReport.errors`."""

    new: int = 0
    already_there: int = 0
    skipped: int = 0

    def __str__(self) -> str:
        text = f"{self.new} new, {self.already_there} already there"
        return text + (f", {self.skipped} skipped" if self.skipped else "")


@dataclass
class RowError:
    """One skipped row: ``file`` name (e.g. ``"products.csv"``), physical ``line``
    number where the record starts (the header is line 1) and ``message``."""

    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file} line {self.line}: {self.message}"


@dataclass
class ImportReport:
    """What an import did.

    ``counts`` maps each part (a file name, or e.g. ``"demo workflows"``) to its
    :class:`FileCounts`, in import order; ``errors`` lists the skipped rows as
    :class:`RowError`, in file order."""

    counts: dict[str, FileCounts] = field(default_factory=dict)
    errors: list[RowError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no row was skipped."""
        return not self.errors

    @property
    def total(self) -> FileCounts:
        """The counts of every part added up."""
        total = FileCounts()
        for c in self.counts.values():
            total.new += c.new
            total.already_there += c.already_there
            total.skipped += c.skipped
        return total

    def add(self, part: str, outcome: str) -> None:
        """Count one row of ``part`` as ``outcome`` (:data:`NEW` or :data:`ALREADY_THERE`)."""
        counts = self.counts.setdefault(part, FileCounts())
        if outcome == NEW:
            counts.new += 1
        elif outcome == ALREADY_THERE:
            counts.already_there += 1
        else:
            raise ValueError(f"unknown outcome {outcome!r}")

    def error(self, file: str, line: int, message: str) -> None:
        """Record a skipped row."""
        self.counts.setdefault(file, FileCounts()).skipped += 1
        self.errors.append(RowError(file, line, message))

    def summary(self) -> list[str]:
        """Printable lines: one per part ("customers.csv  0 new, 91 already there"),
        the total, then one line per skipped row (or "No errors.")."""
        width = max((len(name) for name in self.counts), default=5) + 2
        lines = [f"{name:<{width}}{counts}" for name, counts in self.counts.items()]
        lines.append(f"{'total':<{width}}{self.total}")
        if self.errors:
            lines.append(f"{len(self.errors)} row(s) skipped:")
            lines.extend(f"  {error}" for error in self.errors)
        else:
            lines.append("No errors.")
        return lines


# --------------------------------------------------------------------------- import log


class ImportLog:
    """The import log of one ``source`` (e.g. ``"northwind"``), read once: which
    ``(file, key)`` rows were imported before. :meth:`record` adds an entry to the
    session (written with the records, in the caller's transaction)."""

    def __init__(self, session: Session, source: str):
        self.session = session
        self.source = source
        self.keys: set[tuple[str, str]] = {
            (file, key) for file, key in session.execute(
                select(ImportLogEntry.file, ImportLogEntry.source_key).where(ImportLogEntry.source == source)
            )
        }

    def has(self, file: str, key: str) -> bool:
        """True if the row of ``file`` with natural ``key`` was imported before."""
        return (file, key) in self.keys

    def record(self, file: str, key: str, created: bool) -> None:
        """Log the row of ``file`` with natural ``key`` as handled (``created``: the
        import made its record; else it found it there). Nothing if already logged."""
        if (file, key) in self.keys:
            return
        self.keys.add((file, key))
        self.session.add(ImportLogEntry(
            source=self.source, file=file, source_key=key, outcome=LOGGED_CREATED if created else LOGGED_FOUND,
        ))


# --------------------------------------------------------------------------- reading


@dataclass
class CsvRow:
    """One CSV record: ``line`` is the physical line number where it starts (header =
    line 1; a record with embedded newlines spans several lines); ``values`` maps column
    name to text, None for an empty field; ``problem`` is set when the record has more
    or fewer fields than the header."""

    line: int
    values: dict[str, str | None]
    problem: str | None = None


_MISSING = object()


def read_csv(path: str | Path, columns: Iterable[str] = ()) -> list[CsvRow]:
    """Read a UTF-8 CSV file (header row, RFC 4180 quoting) with :class:`csv.DictReader`.

    Returns a list of :class:`CsvRow`. Raises FileNotFoundError if the file is missing,
    and ValueError naming the file and line if the header lacks any of ``columns``, the
    file is not valid CSV or it is not UTF-8 text.
    """
    path = Path(path)
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise ValueError(f"{path.name} line {line}: not UTF-8 text (byte 0x{raw[exc.start]:02x}); "
                         "save the file as UTF-8 and import again") from None
    with io.StringIO(text, newline="") as fh:
        reader = csv.DictReader(fh, restval=_MISSING)
        header = reader.fieldnames or []
        missing = [c for c in columns if c not in header]
        if missing:
            raise ValueError(f"{path.name}: the header row lacks column(s) {', '.join(missing)}")
        rows: list[CsvRow] = []
        end = reader.line_num
        try:
            for raw in reader:
                start, end = end + 1, reader.line_num
                problem = None
                if None in raw:
                    problem = f"{len(header) + len(raw[None])} fields, the header has {len(header)}"
                elif any(value is _MISSING for value in raw.values()):
                    given = sum(1 for value in raw.values() if value is not _MISSING)
                    problem = f"{given} fields, the header has {len(header)}"
                values = {
                    k: (None if v is _MISSING or v == "" else v) for k, v in raw.items() if k is not None
                }
                rows.append(CsvRow(start, values, problem))
        except csv.Error as exc:
            raise ValueError(f"{path.name} line {reader.line_num}: {exc}") from exc
    return rows


# --------------------------------------------------------------------------- parsing


class BadRow(Exception):
    """A row that cannot be imported; the message says why."""


def _text(values: dict, column: str, required: bool = False) -> str | None:
    value = values.get(column)
    if value is None and required:
        raise BadRow(f"{column} is empty")
    return value


def _int(values: dict, column: str, required: bool = False) -> int | None:
    value = _text(values, column, required)
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise BadRow(f"{column} {value!r} is not a whole number") from None


def _number(
    values: dict,
    column: str,
    required: bool = False,
    minimum: Decimal | None = Decimal(0),
    maximum: Decimal | None = None,
) -> Decimal | None:
    value = _text(values, column, required)
    if value is None:
        return None
    try:
        number = Decimal(value.strip())
    except InvalidOperation:
        raise BadRow(f"{column} {value!r} is not a number") from None
    if not number.is_finite():
        raise BadRow(f"{column} {value!r} is not a number")
    if minimum is not None and number < minimum:
        raise BadRow(f"{column} {value} is less than {minimum}")
    if maximum is not None and number > maximum:
        raise BadRow(f"{column} {value} is more than {maximum}")
    return number


def _money(values: dict, column: str, required: bool = False) -> Decimal:
    """A non-negative amount rounded to 2 decimals; empty = 0.00."""
    return money(_number(values, column, required))


def _date(values: dict, column: str) -> date | None:
    value = _text(values, column)
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise BadRow(f"{column} {value!r} is not a date (YYYY-MM-DD)") from None


def _flag(values: dict, column: str) -> bool:
    value = _text(values, column)
    if value in (None, "0"):
        return False
    if value == "1":
        return True
    raise BadRow(f"{column} {value!r} is not 0 or 1")


def _check_lengths(model: type, values: dict) -> None:
    """Raise BadRow if a value doesn't fit its column (a text longer than the column
    allows or with a NUL byte, a number beyond its digits: the same check as the
    forms', :func:`portal.util.column_errors`)."""
    errors = column_errors(model, values, {key: key for key in values})
    if errors:
        raise BadRow("; ".join(errors.values()))


def _unknown(column: str, value, file: str) -> BadRow:
    return BadRow(f"unknown {column} {value!r} (not in {file}, or its row was skipped)")



def _deleted(column: str, value, what: str) -> BadRow:
    return BadRow(f"{column} {value!r}: the {what} was imported before and has been deleted since")


def _ref(mapping: dict, column: str, value, file: str, what: str):
    """``mapping[value]``: the record a row refers to by ``column``. ``mapping`` holds
    the rows of ``file`` imported or already there (None: its record was deleted).
    Raises BadRow if ``value`` is not there or its record was deleted."""
    if value not in mapping:
        raise _unknown(column, value, file)
    obj = mapping[value]
    if obj is None:
        raise _deleted(column, value, what)
    return obj
