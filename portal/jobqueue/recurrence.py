"""Recurrence of job queue entries: when is the next run due, and how to say it.

Pure functions over a :class:`Recurrence` (no database). Instants are naive
datetimes in UTC (the database's convention); times of day, weekdays and dates are
read in the recurrence's IANA time zone (:mod:`zoneinfo`). Cron expressions are
parsed by croniter and described by cron-descriptor.

Kinds:

- one-time (``kind`` None): due once, at the earliest start (or at once).
- ``minutes``: every N minutes of elapsed time, counted from the starting time
  (midnight when empty) of each run-on weekday, not after the ending time. On a day
  when clocks change, runs stay N real minutes apart: a local time that doesn't
  exist is the same instant one hour later, and the repeated hour runs twice.
- ``cron``: a five-field cron expression in the time zone. Runs in a skipped hour
  move to just after the change (croniter); in a repeated hour a fixed-time job
  (hour field without ``*``) runs only once, like Vixie cron, while an hourly or
  more frequent one runs in both hours.
- ``formula``: a next-run date formula (Business Central's date formula: ``1D``,
  ``2W``, ``1M``, ``1Q``, ``1Y``, ``CM`` = end of the current month, ``-CM`` = its
  start, ``CW``/``CQ``/``CY`` likewise, ``WD1`` … ``WD7`` = the next Monday …
  Sunday, terms joined with ``+``/``-``; plain-English aliases such as "first day
  of next month" = ``CM+1D``) applied to the previous run's local date, at the
  starting time (midnight when empty).

Every kind honours the earliest start (no run before it) and the expiration (no run
after it).
"""
from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter
from cron_descriptor import ExpressionDescriptor, Options

KIND_MINUTES = "minutes"
KIND_CRON = "cron"
KIND_FORMULA = "formula"
WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
ALL_DAYS = "1111111"

#: Plain-English next-run date formulas and the date formula each stands for.
FORMULA_ALIASES: dict[str, str] = {
    "daily": "1D",
    "every day": "1D",
    "weekly": "1W",
    "every week": "1W",
    "monthly": "1M",
    "every month": "1M",
    "quarterly": "1Q",
    "yearly": "1Y",
    "every year": "1Y",
    "first day of next month": "CM+1D",
    "last day of next month": "CM+1D+CM",
    "last day of each month": "1D+CM",
    "first day of next quarter": "CQ+1D",
    "first day of next year": "CY+1D",
    **{f"next {name.lower()}": f"WD{i + 1}" for i, name in enumerate(WEEKDAY_NAMES)},
}
_ALIAS_OF = {}
for _phrase, _formula in FORMULA_ALIASES.items():
    _ALIAS_OF.setdefault(_formula, _phrase)

_UNITS = {"D": ("day", "days"), "W": ("week", "weeks"), "M": ("month", "months"), "Q": ("quarter", "quarters"), "Y": ("year", "years")}
_TERM = re.compile(r"([+-]?)(?:(C)([DWMQY])|WD([1-7])|(\d{1,3})([DWMQY]))")
_MAX_SCAN_DAYS = 3 * 366  # how far ahead a next run is searched before giving up


class RecurrenceError(ValueError):
    """A recurrence can't be used; ``field`` names the form field at fault."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Recurrence:
    """When an entry runs. ``kind``: None (one-time), ``minutes``, ``cron`` or
    ``formula``. ``weekdays``: seven 0/1 characters, Monday first (``minutes`` kind).
    ``starting_time`` / ``ending_time``: local times of day. ``earliest_start`` /
    ``expires``: naive UTC instants. ``time_zone``: an IANA name."""

    kind: str | None = None
    minutes: int | None = None
    weekdays: str = ALL_DAYS
    starting_time: time | None = None
    ending_time: time | None = None
    cron: str | None = None
    formula: str | None = None
    time_zone: str = "UTC"
    earliest_start: datetime | None = None
    expires: datetime | None = None

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    @classmethod
    def of(cls, entry) -> "Recurrence":
        """The recurrence of a job queue entry (``JobQueueEntry`` or anything with its
        attribute names)."""
        return cls(
            kind=entry.recurrence_kind if entry.recurring else None,
            minutes=entry.minutes_between_runs,
            weekdays=entry.run_on_weekdays or ALL_DAYS,
            starting_time=entry.starting_time,
            ending_time=entry.ending_time,
            cron=entry.cron_expression,
            formula=entry.next_run_date_formula,
            time_zone=entry.time_zone or "UTC",
            earliest_start=entry.earliest_start_at,
            expires=entry.expires_at,
        )


# ---------------------------------------------------------------- time helpers

def to_utc(local: datetime, tz: ZoneInfo) -> datetime:
    """The naive UTC instant of the naive local ``local`` in ``tz``. A local time in a
    skipped hour is read with the offset before the change (02:30 on a spring-forward
    day in Berlin → 01:30 UTC, i.e. 03:30 summer time); a repeated one as its first
    occurrence."""
    return local.replace(tzinfo=tz).astimezone(timezone.utc).replace(tzinfo=None)


def to_local(utc: datetime, tz: ZoneInfo) -> datetime:
    """The aware local datetime in ``tz`` of the naive UTC instant ``utc``."""
    return utc.replace(tzinfo=timezone.utc).astimezone(tz)


def time_zone_error(name: str) -> str | None:
    """None if ``name`` is a known IANA time zone, else a message."""
    try:
        ZoneInfo(name)
        return None
    except (ZoneInfoNotFoundError, ValueError, TypeError, OSError):  # OSError: a name too long for a file
        return f"“{name}” is not a known time zone (use a name such as Europe/Berlin or UTC)."


# ---------------------------------------------------------------- date formulas

def normalize_formula(text: str) -> str:
    """The canonical date formula for ``text`` (an alias or a formula, any case, spaces
    ignored). Raises :class:`RecurrenceError` if it isn't one."""
    raw = (text or "").strip()
    if not raw:
        raise RecurrenceError("next_run_date_formula", "Enter a next run date formula, e.g. CM+1D (first day of next month).")
    alias = FORMULA_ALIASES.get(" ".join(raw.lower().split()))
    if alias:
        return alias
    formula = re.sub(r"\s+", "", raw).upper()
    pos, terms = 0, []
    while pos < len(formula):
        m = _TERM.match(formula, pos)
        if not m or (terms and not m.group(1)):
            raise RecurrenceError(
                "next_run_date_formula",
                f"“{raw}” is not a date formula. Use terms like 1D, 2W, 1M, 1Q, 1Y, CM (end of month), "
                "-CM (start of month), WD1 (next Monday) joined with + or -, or a phrase such as "
                "“first day of next month”.",
            )
        terms.append(m.group(0))
        pos = m.end()
    return "".join(terms)


def _add_months(d: date, months: int) -> date:
    y, m = divmod(d.month - 1 + months, 12)
    year, month = d.year + y, m + 1
    return date(year, month, min(d.day, calendar.monthrange(year, month)[1]))


def _period_bounds(d: date, unit: str) -> tuple[date, date]:
    if unit == "D":
        return d, d
    if unit == "W":
        start = d - timedelta(days=d.weekday())
        return start, start + timedelta(days=6)
    if unit == "M":
        return d.replace(day=1), d.replace(day=calendar.monthrange(d.year, d.month)[1])
    if unit == "Q":
        first_month = 3 * ((d.month - 1) // 3) + 1
        start = date(d.year, first_month, 1)
        return start, _add_months(start, 3) - timedelta(days=1)
    return date(d.year, 1, 1), date(d.year, 12, 31)


def apply_formula(formula: str, d: date) -> date:
    """The date ``formula`` (canonical or alias) gives from ``d``. ``C<unit>`` moves
    to the end of the current period (``-C<unit>``: its start); ``WDn`` to the next
    weekday n (1 = Monday) strictly after the date; ``n<unit>`` adds (or with ``-``
    subtracts) days, weeks, months (clamped to the month's end), quarters, years."""
    for m in _TERM.finditer(normalize_formula(formula)):
        sign = -1 if m.group(1) == "-" else 1
        if m.group(2):
            start, end = _period_bounds(d, m.group(3))
            d = start if sign < 0 else end
        elif m.group(4):
            target = int(m.group(4)) - 1
            d = d + timedelta(days=((target - d.weekday() - 1) % 7) + 1)
        else:
            n, unit = sign * int(m.group(5)), m.group(6)
            if unit == "D":
                d = d + timedelta(days=n)
            elif unit == "W":
                d = d + timedelta(weeks=n)
            elif unit == "M":
                d = _add_months(d, n)
            elif unit == "Q":
                d = _add_months(d, 3 * n)
            else:
                d = _add_months(d, 12 * n)
    return d


def describe_formula(formula: str) -> str:
    """``formula`` in words: its plain-English alias when it has one (``CM+1D`` →
    "first day of next month"), else term by term."""
    canonical = normalize_formula(formula)
    if canonical in _ALIAS_OF:
        return _ALIAS_OF[canonical]
    words = []
    for m in _TERM.finditer(canonical):
        if m.group(2):
            period = _UNITS[m.group(3)][0]
            words.append(f"{'start' if m.group(1) == '-' else 'end'} of the {period}")
        elif m.group(4):
            words.append(f"next {WEEKDAY_NAMES[int(m.group(4)) - 1]}")
        else:
            n = int(m.group(5))
            unit = _UNITS[m.group(6)][0 if n == 1 else 1]
            words.append(f"{'minus' if m.group(1) == '-' else 'plus'} {n} {unit}")
    text = ", then ".join(words)
    return text[5:] if text.startswith("plus ") else text


# ---------------------------------------------------------------- cron

def cron_error(expression: str) -> str | None:
    """None if ``expression`` is a valid five-field cron expression, else a message."""
    expr = (expression or "").strip()
    if not expr:
        return "Enter a cron expression, e.g. 0 9 * * 1-5 (09:00, Monday through Friday)."
    if len(expr.split()) != 5:
        return f"“{expr}” must have five fields: minute hour day-of-month month day-of-week."
    if not croniter.is_valid(expr):
        return f"“{expr}” is not a valid cron expression (minute 0-59, hour 0-23, day 1-31, month 1-12, weekday 0-6)."
    return None


def describe_cron(expression: str) -> str:
    """A cron expression in words with a 24-hour clock ("At 09:00, Monday through
    Friday")."""
    options = Options()
    options.use_24hour_time_format = True
    try:
        return ExpressionDescriptor(expression, options).get_description()
    except Exception:  # noqa: BLE001 - cron-descriptor raises several types
        return expression


def _cron_hour_fixed(expression: str) -> bool:
    return "*" not in expression.split()[1]


def _cron_next(rec: Recurrence, after: datetime) -> datetime | None:
    tz = rec.tz
    it = croniter(rec.cron.strip(), to_local(after, tz))
    fixed_hour = _cron_hour_fixed(rec.cron)
    for _ in range(10_000):
        local = it.get_next(datetime)
        if fixed_hour and local.replace(fold=0).utcoffset() != local.utcoffset():
            continue  # second occurrence of a repeated wall time: a fixed-time job ran already
        utc = local.astimezone(timezone.utc).replace(tzinfo=None)
        if utc > after:
            return utc
    return None


# ---------------------------------------------------------------- every N minutes

def _minutes_next(rec: Recurrence, after: datetime, inclusive: bool) -> datetime | None:
    tz = rec.tz
    step = timedelta(minutes=rec.minutes)
    day = to_local(after, tz).date()
    for _ in range(_MAX_SCAN_DAYS):
        if rec.weekdays[day.weekday()] == "1":
            start = to_utc(datetime.combine(day, rec.starting_time or time(0)), tz)
            if rec.ending_time is not None:
                end = to_utc(datetime.combine(day, rec.ending_time), tz)
            else:
                end = to_utc(datetime.combine(day + timedelta(days=1), time(0)), tz) - timedelta(microseconds=1)
            if after < start or (inclusive and after == start):
                candidate = start
            else:
                k = (after - start) // step
                candidate = start + k * step
                if candidate < after or not inclusive:
                    candidate += step
            if candidate <= end:
                return candidate
        day += timedelta(days=1)
    return None


# ---------------------------------------------------------------- formula

def _formula_next(rec: Recurrence, previous_due: datetime | None, after: datetime) -> datetime | None:
    tz = rec.tz
    at = rec.starting_time or time(0)
    base = to_local(previous_due, tz).date() if previous_due else to_local(after, tz).date()
    for _ in range(_MAX_SCAN_DAYS):
        nxt = apply_formula(rec.formula, base)
        if nxt <= base:
            return None  # the formula doesn't move forward
        candidate = to_utc(datetime.combine(nxt, at), tz)
        if candidate > after:
            return candidate
        base = nxt
    return None


# ---------------------------------------------------------------- public

def _bounded(rec: Recurrence, due: datetime | None) -> datetime | None:
    if due is None or (rec.expires is not None and due > rec.expires):
        return None
    return due


def first_due(rec: Recurrence, now: datetime) -> datetime | None:
    """The first due time (naive UTC) of an entry set to Ready at ``now``: one-time
    entries are due at the earliest start or ``now``; recurring ones at their first
    occurrence at or after ``max(now, earliest start)`` (for a formula without an
    earliest start: the formula applied to today, at the starting time). None when
    nothing is due before the expiration."""
    start = max(now, rec.earliest_start) if rec.earliest_start else now
    if rec.kind is None:
        return _bounded(rec, start)
    if rec.kind == KIND_MINUTES:
        return _bounded(rec, _minutes_next(rec, start, inclusive=True))
    if rec.kind == KIND_CRON:
        return _bounded(rec, _cron_next(rec, start - timedelta(microseconds=1)))
    if rec.kind == KIND_FORMULA:
        if rec.earliest_start and rec.earliest_start >= now:
            return _bounded(rec, rec.earliest_start)
        return _bounded(rec, _formula_next(rec, None, start - timedelta(microseconds=1)))
    raise RecurrenceError("recurrence_kind", f"Unknown recurrence {rec.kind!r}.")


def next_due(rec: Recurrence, previous_due: datetime, now: datetime) -> datetime | None:
    """The due time (naive UTC) after a run due at ``previous_due`` that ended at
    ``now``: the first occurrence strictly after both, so a late or long run is
    followed by one run at the next due time, never by a burst of the ones it
    overran. None for one-time entries and when the next one would be after the
    expiration."""
    after = max(previous_due, now)
    if rec.earliest_start and after < rec.earliest_start:
        return first_due(rec, rec.earliest_start)
    if rec.kind is None:
        return None
    if rec.kind == KIND_MINUTES:
        return _bounded(rec, _minutes_next(rec, after, inclusive=False))
    if rec.kind == KIND_CRON:
        return _bounded(rec, _cron_next(rec, after))
    if rec.kind == KIND_FORMULA:
        return _bounded(rec, _formula_next(rec, previous_due, after))
    raise RecurrenceError("recurrence_kind", f"Unknown recurrence {rec.kind!r}.")


def validate(rec: Recurrence, now: datetime | None = None) -> dict[str, str]:
    """Problems with ``rec`` as ``{form field: message}`` (empty when it's usable):
    bad time zone, cron or formula, missing or non-positive minutes, no weekday,
    ending time not after starting time, expiration not after the earliest start or
    already past (when ``now`` is given), a recurrence that never runs."""
    errors: dict[str, str] = {}
    tz_problem = time_zone_error(rec.time_zone)
    if tz_problem:
        errors["time_zone"] = tz_problem
    if rec.earliest_start and rec.expires and rec.expires <= rec.earliest_start:
        errors["expires_at"] = "The expiration date/time must be after the earliest start date/time."
    elif rec.expires and now and rec.expires <= now:
        errors["expires_at"] = "The expiration date/time is in the past."
    if rec.starting_time and rec.ending_time and rec.ending_time <= rec.starting_time:
        errors["ending_time"] = "The ending time must be after the starting time."
    if rec.kind == KIND_MINUTES:
        if not rec.minutes or rec.minutes < 1:
            errors["minutes_between_runs"] = "Enter the minutes between runs (a whole number, 1 or more)."
        elif rec.minutes > 7 * 24 * 60:
            errors["minutes_between_runs"] = "Minutes between runs can be at most 10,080 (one week)."
        if "1" not in (rec.weekdays or ""):
            errors["run_on_weekdays"] = "Choose at least one weekday to run on."
    elif rec.kind == KIND_CRON:
        problem = cron_error(rec.cron or "")
        if problem:
            errors["cron_expression"] = problem
    elif rec.kind == KIND_FORMULA:
        try:
            formula = normalize_formula(rec.formula or "")
            probe = date(2024, 1, 31)
            if apply_formula(formula, probe) <= probe:
                errors["next_run_date_formula"] = f"“{rec.formula}” doesn't move the date forward, so it would never run again."
        except RecurrenceError as exc:
            errors[exc.field] = str(exc)
    elif rec.kind is not None:
        errors["recurrence_kind"] = "Choose how the entry recurs."
    if not errors and rec.kind is not None and now is not None and first_due(rec, now) is None:
        errors["expires_at"] = "The entry would never run before its expiration date/time."
    return errors


def weekdays_text(mask: str) -> str:
    """Run-on weekdays in words: "every day", "Monday through Friday", "Monday,
    Wednesday"."""
    days = [i for i, c in enumerate(mask or "") if c == "1"]
    if len(days) == 7:
        return "every day"
    if len(days) > 2 and days == list(range(days[0], days[-1] + 1)):
        return f"{WEEKDAY_NAMES[days[0]]} through {WEEKDAY_NAMES[days[-1]]}"
    return ", ".join(WEEKDAY_NAMES[i] for i in days) or "no day"


def describe(rec: Recurrence) -> str:
    """The recurrence in words, e.g. "Every 15 minutes, 08:00–17:00, Monday through
    Friday", "At 09:00, Monday through Friday", "first day of next month, at 06:00"
    (times of day in the entry's time zone)."""
    if rec.kind is None:
        return "Once"
    if rec.kind == KIND_MINUTES:
        n = rec.minutes or 0
        text = "Every minute" if n == 1 else f"Every {n} minutes"
        if rec.starting_time or rec.ending_time:
            start = (rec.starting_time or time(0)).strftime("%H:%M")
            end = rec.ending_time.strftime("%H:%M") if rec.ending_time else "24:00"
            text += f", {start}–{end}"
        return f"{text}, {weekdays_text(rec.weekdays)}"
    if rec.kind == KIND_CRON:
        return describe_cron(rec.cron or "")
    if rec.kind == KIND_FORMULA:
        try:
            words = describe_formula(rec.formula or "")
        except RecurrenceError:
            words = rec.formula or ""
        return f"{words[:1].upper()}{words[1:]}, at {(rec.starting_time or time(0)).strftime('%H:%M')}"
    return rec.kind
