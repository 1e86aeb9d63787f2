"""When a scheduled notification digest is sent: plain functions, no database.

A notification schedule (per user and notification type, Business Central's table
1513 "Notification Schedule") says when the pending notifications of that type are
sent to the user in one digest: Instantly (no digest: the instant dispatcher sends
each one), Daily (every day, or working days only: Monday to Friday), Weekly (on
the chosen weekdays) or Monthly (the first working day, the last working day, or a
chosen day of the month, a day past the month's end falling back to its last day),
always at a time of day in the user's time zone.

Instants at the boundary are naive datetimes in UTC (the portal's convention, see
:func:`portal.util.utcnow`); the calculation itself runs on the user's local wall
clock (:mod:`zoneinfo`). The next run is always strictly after "now": a digest that
runs exactly at its time computes the following one.

Business Central's rules (``CalculateExecutionTime``): Daily and Weekly take the
first marked weekday, today if the time is still ahead, else a later day
(``GetScheduledWeekDay``); Monthly takes this month's day if its time is still
ahead, else next month's (``GetScheduledFirstWorkdateOfMonth``,
``GetScheduledLastWorkdateOfMonth``, ``GetScheduledCustomWorkdateOfMonth``; a
first/last working day falling on Saturday or Sunday moves to the Monday after /
the Friday before).
"""
from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

INSTANTLY = "Instantly"
DAILY = "Daily"
WEEKLY = "Weekly"
MONTHLY = "Monthly"
RECURRENCES = (INSTANTLY, DAILY, WEEKLY, MONTHLY)

EVERY_DAY = "Every day"
WORKING_DAYS = "Working days"
DAILY_FREQUENCIES = (WORKING_DAYS, EVERY_DAY)

FIRST_WORKING_DAY = "First working day"
LAST_WORKING_DAY = "Last working day"
CHOSEN_DAY = "Chosen day"
MONTHLY_DATES = (FIRST_WORKING_DAY, LAST_WORKING_DAY, CHOSEN_DAY)

WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
WORKING_WEEK = "1111100"  # Monday first: Monday–Friday
ALL_WEEK = "1111111"
DEFAULT_TIME = time(12, 0)


@dataclass(frozen=True)
class ScheduleSpec:
    """A notification schedule's timing. ``recurrence``: one of :data:`RECURRENCES`;
    ``at``: the local time of day; ``daily_frequency``: :data:`WORKING_DAYS` or
    :data:`EVERY_DAY` (Daily); ``weekdays``: seven 0/1 characters, Monday first
    (Weekly); ``monthly_date``: one of :data:`MONTHLY_DATES`; ``date_of_month``: 1–31
    (Monthly, chosen day); ``time_zone``: an IANA name (an unknown one counts as UTC)."""

    recurrence: str = INSTANTLY
    at: time = DEFAULT_TIME
    daily_frequency: str = WORKING_DAYS
    weekdays: str = WORKING_WEEK
    monthly_date: str = FIRST_WORKING_DAY
    date_of_month: int = 1
    time_zone: str = "UTC"

    @classmethod
    def of(cls, schedule, time_zone: str | None) -> "ScheduleSpec":
        """The spec of a :class:`~portal.notifications.models.NotificationSchedule` row
        (or anything with its attribute names) read in ``time_zone``."""
        return cls(
            recurrence=schedule.recurrence or INSTANTLY,
            at=schedule.time or DEFAULT_TIME,
            daily_frequency=schedule.daily_frequency or WORKING_DAYS,
            weekdays=schedule.weekdays or WORKING_WEEK,
            monthly_date=schedule.monthly_date or FIRST_WORKING_DAY,
            date_of_month=schedule.date_of_month or 1,
            time_zone=time_zone or "UTC",
        )


def zone(name: str | None) -> ZoneInfo:
    """``ZoneInfo(name)``; UTC for an empty or unknown name."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return ZoneInfo("UTC")


def to_local(utc: datetime, tz: ZoneInfo) -> datetime:
    """Naive UTC → naive wall-clock time in ``tz``."""
    return utc.replace(tzinfo=timezone.utc).astimezone(tz).replace(tzinfo=None)


def to_utc(local: datetime, tz: ZoneInfo) -> datetime:
    """Naive wall-clock time in ``tz`` → naive UTC (a time skipped by a clock change
    is read with the offset before it; a repeated one as its first occurrence)."""
    return local.replace(tzinfo=tz).astimezone(timezone.utc).replace(tzinfo=None)


def first_working_day(year: int, month: int) -> date:
    """The month's first day, or the Monday after when it falls on a weekend
    (Business Central: ``-CM``, or ``-CM+WD1`` on Saturday/Sunday)."""
    d = date(year, month, 1)
    while d.weekday() >= 5:
        d += timedelta(days=1)
    return d


def last_working_day(year: int, month: int) -> date:
    """The month's last day, or the Friday before when it falls on a weekend
    (Business Central: ``CM``, or ``CM-WD5`` on Saturday/Sunday)."""
    d = date(year, month, calendar.monthrange(year, month)[1])
    while d.weekday() >= 5:
        d -= timedelta(days=1)
    return d


def chosen_day(year: int, month: int, day: int) -> date:
    """Day ``day`` (1–31) of the month; a day past the month's end is its last day
    (31 in June → 30 June; 30 in February → 28 or 29 February)."""
    last = calendar.monthrange(year, month)[1]
    return date(year, month, max(1, min(int(day), last)))


def _next_month(year: int, month: int) -> tuple[int, int]:
    return (year + 1, 1) if month == 12 else (year, month + 1)


def weekdays_of(spec: ScheduleSpec) -> str:
    """The weekday mask (seven 0/1 characters, Monday first) a Daily or Weekly spec
    runs on: Daily working days → Monday–Friday, Daily every day → all seven, Weekly →
    the chosen ones (none chosen → Monday)."""
    if spec.recurrence == DAILY:
        return ALL_WEEK if spec.daily_frequency == EVERY_DAY else WORKING_WEEK
    mask = (spec.weekdays or "").ljust(7, "0")[:7]
    return mask if "1" in mask else "1000000"


def next_weekday_run(now_local: datetime, at: time, weekdays: str) -> datetime:
    """The first marked weekday (``weekdays``: seven 0/1 characters, Monday first) at
    ``at`` strictly after the naive local ``now_local``: today when it is marked and
    the time is still ahead, else the next marked day. Naive local result."""
    for offset in range(8):
        d = now_local.date() + timedelta(days=offset)
        candidate = datetime.combine(d, at)
        if weekdays[d.weekday()] == "1" and candidate > now_local:
            return candidate
    raise ValueError("no weekday is marked")  # (unreachable: weekdays_of always marks one)


def monthly_run_date(spec: ScheduleSpec, year: int, month: int) -> date:
    """The day of ``year``/``month`` a Monthly spec runs on."""
    if spec.monthly_date == LAST_WORKING_DAY:
        return last_working_day(year, month)
    if spec.monthly_date == CHOSEN_DAY:
        return chosen_day(year, month, spec.date_of_month)
    return first_working_day(year, month)


def next_monthly_run(spec: ScheduleSpec, now_local: datetime) -> datetime:
    """This month's run day at the spec's time if that is strictly after the naive
    local ``now_local``, else next month's. Naive local result."""
    year, month = now_local.year, now_local.month
    candidate = datetime.combine(monthly_run_date(spec, year, month), spec.at)
    if candidate > now_local:
        return candidate
    year, month = _next_month(year, month)
    return datetime.combine(monthly_run_date(spec, year, month), spec.at)


def next_local_run(spec: ScheduleSpec, now_local: datetime) -> datetime | None:
    """The next digest time on the user's wall clock (naive local) after the naive
    local ``now_local``; None for Instantly (nothing is scheduled)."""
    if spec.recurrence == MONTHLY:
        return next_monthly_run(spec, now_local)
    if spec.recurrence in (DAILY, WEEKLY):
        return next_weekday_run(now_local, spec.at, weekdays_of(spec))
    return None


def next_run(spec: ScheduleSpec, now: datetime) -> datetime | None:
    """The next digest time (naive UTC) strictly after ``now`` (naive UTC), computed
    in the spec's time zone; None for Instantly. Example: computed on 5 May 2015 at
    10:00 with time 12:00, Monthly first working day → 1 June 2015 12:00; last working
    day → 29 May 2015 12:00; Daily working days computed on a Friday after 12:00 → the
    following Monday 12:00."""
    tz = zone(spec.time_zone)
    local = next_local_run(spec, to_local(now, tz))
    return None if local is None else to_utc(local, tz)


def describe(spec: ScheduleSpec) -> str:
    """The spec in words, e.g. "Daily on working days at 12:00", "Weekly on Monday,
    Thursday at 08:30", "Monthly on the last working day at 17:00", "Instantly"."""
    at = spec.at.strftime("%H:%M")
    if spec.recurrence == DAILY:
        return f"Daily {'on working days' if spec.daily_frequency == WORKING_DAYS else 'every day'} at {at}"
    if spec.recurrence == WEEKLY:
        days = [WEEKDAY_NAMES[i] for i, c in enumerate(weekdays_of(spec)) if c == "1"]
        return f"Weekly on {', '.join(days)} at {at}"
    if spec.recurrence == MONTHLY:
        if spec.monthly_date == CHOSEN_DAY:
            return f"Monthly on day {spec.date_of_month} at {at}"
        return f"Monthly on the {spec.monthly_date.lower()} at {at}"
    return "Instantly"
