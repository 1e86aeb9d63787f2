"""Recurrence of job queue entries (pure functions): weekday windows, month ends, days
when clocks change in a named time zone, catch-up without bursts, earliest start and
expiration, validation messages and the words shown for a recurrence.

Instants are naive UTC (the database's convention); ``local()`` builds them from a
wall-clock time in a zone so the expectations read like a calendar."""
from __future__ import annotations

from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from portal.jobqueue.recurrence import (
    Recurrence,
    apply_formula,
    describe,
    describe_formula,
    first_due,
    next_due,
    normalize_formula,
    to_local,
    validate,
)

BERLIN = "Europe/Berlin"
NEW_YORK = "America/New_York"


def local(zone: str, *args, fold: int = 0) -> datetime:
    """The naive UTC instant of a wall-clock time in ``zone``."""
    return datetime(*args, tzinfo=ZoneInfo(zone), fold=fold).astimezone(timezone.utc).replace(tzinfo=None)


def wall(zone: str, utc: datetime) -> str:
    """A naive UTC instant as wall-clock text in ``zone`` with its offset."""
    return to_local(utc, ZoneInfo(zone)).strftime("%a %Y-%m-%d %H:%M %z")


def series(rec: Recurrence, start: datetime, n: int) -> list[datetime]:
    """``n`` due times: the first at or after ``start``, then each next one (runs end
    at once)."""
    due = first_due(rec, start)
    out = [due]
    while len(out) < n:
        due = next_due(rec, due, due)
        out.append(due)
    return out


# ---------------------------------------------------------------- every N minutes

OFFICE_HOURS = Recurrence(kind="minutes", minutes=15, weekdays="1111100", starting_time=time(8), ending_time=time(17), time_zone=BERLIN)


def test_minutes_run_inside_the_window_on_run_on_weekdays_only():
    # Friday 2024-05-10 16:50 Berlin: 17:00 (the ending time itself) is still a run,
    # then the window is closed until Monday 08:00.
    friday = local(BERLIN, 2024, 5, 10, 16, 50)
    due = first_due(OFFICE_HOURS, friday)
    assert wall(BERLIN, due) == "Fri 2024-05-10 17:00 +0200"
    assert wall(BERLIN, next_due(OFFICE_HOURS, due, due)) == "Mon 2024-05-13 08:00 +0200"
    # Saturday: nothing until Monday.
    assert wall(BERLIN, first_due(OFFICE_HOURS, local(BERLIN, 2024, 5, 11, 9, 0))) == "Mon 2024-05-13 08:00 +0200"
    # Before the window opens: its starting time; exactly on a due time: that time.
    assert wall(BERLIN, first_due(OFFICE_HOURS, local(BERLIN, 2024, 5, 13, 6, 0))) == "Mon 2024-05-13 08:00 +0200"
    assert wall(BERLIN, first_due(OFFICE_HOURS, local(BERLIN, 2024, 5, 13, 9, 30))) == "Mon 2024-05-13 09:30 +0200"
    assert wall(BERLIN, first_due(OFFICE_HOURS, local(BERLIN, 2024, 5, 13, 9, 31))) == "Mon 2024-05-13 09:45 +0200"
    # A whole office day: 08:00 … 17:00 every 15 minutes = 37 runs.
    day = series(OFFICE_HOURS, local(BERLIN, 2024, 5, 13, 0, 0), 38)
    assert [wall(BERLIN, d)[15:20] for d in day[:3]] == ["08:00", "08:15", "08:30"]
    assert wall(BERLIN, day[36]) == "Mon 2024-05-13 17:00 +0200"
    assert wall(BERLIN, day[37]) == "Tue 2024-05-14 08:00 +0200"


def test_minutes_not_dividing_the_window_restart_at_each_days_starting_time():
    rec = Recurrence(kind="minutes", minutes=25, starting_time=time(22), time_zone="UTC")
    due = series(rec, datetime(2024, 1, 1, 22, 0), 6)
    assert [d.strftime("%d %H:%M") for d in due] == ["01 22:00", "01 22:25", "01 22:50", "01 23:15", "01 23:40", "02 22:00"]


def test_minutes_on_the_spring_forward_day_stay_an_hour_apart():
    # 2024-03-31 in Berlin: 02:00 CET jumps to 03:00 CEST; the day has 23 hours.
    rec = Recurrence(kind="minutes", minutes=60, time_zone=BERLIN)
    day = series(rec, local(BERLIN, 2024, 3, 31, 0, 0), 24)
    assert [wall(BERLIN, d)[15:20] for d in day[:4]] == ["00:00", "01:00", "03:00", "04:00"]
    assert all(b - a == timedelta(hours=1) for a, b in zip(day, day[1:23]))
    assert wall(BERLIN, day[22]) == "Sun 2024-03-31 23:00 +0200"
    assert wall(BERLIN, day[23]) == "Mon 2024-04-01 00:00 +0200"


def test_minutes_on_the_fall_back_day_run_in_both_repeated_hours():
    # 2024-10-27 in Berlin: 03:00 CEST falls back to 02:00 CET; the day has 25 hours.
    rec = Recurrence(kind="minutes", minutes=60, time_zone=BERLIN)
    day = series(rec, local(BERLIN, 2024, 10, 27, 0, 0), 26)
    assert [wall(BERLIN, d)[15:] for d in day[1:5]] == ["01:00 +0200", "02:00 +0200", "02:00 +0100", "03:00 +0100"]
    assert wall(BERLIN, day[24]) == "Sun 2024-10-27 23:00 +0100"
    assert wall(BERLIN, day[25]) == "Mon 2024-10-28 00:00 +0100"


def test_a_starting_time_in_the_skipped_hour_moves_to_the_same_instant_after_the_change():
    rec = Recurrence(kind="minutes", minutes=1440, starting_time=time(2, 30), time_zone=BERLIN)
    due = series(rec, local(BERLIN, 2024, 3, 30, 12, 0), 3)
    assert [wall(BERLIN, d) for d in due] == [
        "Sun 2024-03-31 03:30 +0200", "Mon 2024-04-01 02:30 +0200", "Tue 2024-04-02 02:30 +0200"
    ]


# ---------------------------------------------------------------- cron

def test_cron_weekdays_at_nine_in_new_york_across_the_dst_change():
    rec = Recurrence(kind="cron", cron="0 9 * * 1-5", time_zone=NEW_YORK)
    # Friday 2024-03-08 10:00 EST → Monday 2024-03-11 09:00 EDT (clocks changed on Sunday).
    due = first_due(rec, local(NEW_YORK, 2024, 3, 8, 10, 0))
    assert wall(NEW_YORK, due) == "Mon 2024-03-11 09:00 -0400"
    assert due == datetime(2024, 3, 11, 13, 0)
    assert wall(NEW_YORK, next_due(rec, due, due)) == "Tue 2024-03-12 09:00 -0400"


def test_cron_daily_job_in_the_skipped_hour_runs_after_the_change_and_once_in_the_repeated_hour():
    rec = Recurrence(kind="cron", cron="30 2 * * *", time_zone=BERLIN)
    spring = series(rec, local(BERLIN, 2024, 3, 30, 12, 0), 2)
    assert [wall(BERLIN, d) for d in spring] == ["Sun 2024-03-31 03:00 +0200", "Mon 2024-04-01 02:30 +0200"]
    autumn = series(rec, local(BERLIN, 2024, 10, 26, 12, 0), 2)
    assert [wall(BERLIN, d) for d in autumn] == ["Sun 2024-10-27 02:30 +0200", "Mon 2024-10-28 02:30 +0100"]


def test_cron_hourly_job_runs_in_both_repeated_hours():
    rec = Recurrence(kind="cron", cron="0 * * * *", time_zone=BERLIN)
    due = series(rec, local(BERLIN, 2024, 10, 27, 1, 30), 3)
    assert [wall(BERLIN, d)[15:] for d in due] == ["02:00 +0200", "02:00 +0100", "03:00 +0100"]


def test_cron_month_ends():
    last_day = Recurrence(kind="cron", cron="0 18 L * *", time_zone=BERLIN)
    due = series(last_day, local(BERLIN, 2024, 1, 15, 0, 0), 4)
    assert [wall(BERLIN, d)[4:14] for d in due] == ["2024-01-31", "2024-02-29", "2024-03-31", "2024-04-30"]
    # Day 31 exists in seven months only: the short ones are skipped, not moved.
    the_31st = Recurrence(kind="cron", cron="0 9 31 * *", time_zone="UTC")
    assert [d.strftime("%m-%d") for d in series(the_31st, datetime(2024, 1, 31, 10), 3)] == ["03-31", "05-31", "07-31"]


# ---------------------------------------------------------------- date formulas

def test_date_formulas_at_month_ends():
    jan31 = datetime(2024, 1, 31).date()
    assert apply_formula("CM+1D", jan31).isoformat() == "2024-02-01"
    assert apply_formula("first day of next month", jan31).isoformat() == "2024-02-01"
    assert apply_formula("1M", jan31).isoformat() == "2024-02-29"  # clamped to the month's end
    assert apply_formula("1D+CM", jan31).isoformat() == "2024-02-29"  # last day of each month
    assert apply_formula("-CM", jan31).isoformat() == "2024-01-01"
    assert apply_formula("CQ+1D", jan31).isoformat() == "2024-04-01"
    assert apply_formula("WD1", jan31).isoformat() == "2024-02-05"  # next Monday (Jan 31 2024 is a Wednesday)
    assert apply_formula("WD3", jan31).isoformat() == "2024-02-07"  # strictly after: not the same Wednesday
    assert normalize_formula(" cm + 1d ") == "CM+1D"


def test_formula_first_day_of_next_month_at_six_across_dst():
    rec = Recurrence(kind="formula", formula="first day of next month", starting_time=time(6), time_zone=BERLIN)
    due = series(rec, local(BERLIN, 2024, 1, 15, 12, 0), 4)
    assert [wall(BERLIN, d) for d in due] == [
        "Thu 2024-02-01 06:00 +0100", "Fri 2024-03-01 06:00 +0100", "Mon 2024-04-01 06:00 +0200", "Wed 2024-05-01 06:00 +0200"
    ]
    assert due[2] == datetime(2024, 4, 1, 4, 0)


def test_last_day_of_each_month():
    rec = Recurrence(kind="formula", formula="last day of each month", starting_time=time(23, 0), time_zone="UTC")
    due = series(rec, datetime(2024, 1, 10), 4)
    assert [d.date().isoformat() for d in due] == ["2024-01-31", "2024-02-29", "2024-03-31", "2024-04-30"]


def test_formula_with_earliest_start_runs_first_at_the_earliest_start():
    start = datetime(2024, 1, 15, 9, 0)
    rec = Recurrence(kind="formula", formula="CM+1D", starting_time=time(9), earliest_start=start)
    due = series(rec, datetime(2024, 1, 10), 3)
    assert due == [start, datetime(2024, 2, 1, 9), datetime(2024, 3, 1, 9)]


# ---------------------------------------------------------------- catch-up, bounds

def test_after_a_long_outage_the_next_due_time_is_the_next_one_not_a_burst():
    rec = Recurrence(kind="minutes", minutes=15)
    assert next_due(rec, datetime(2024, 5, 13, 10, 0), datetime(2024, 5, 13, 13, 37)) == datetime(2024, 5, 13, 13, 45)
    cron = Recurrence(kind="cron", cron="*/5 * * * *")
    assert next_due(cron, datetime(2024, 5, 13, 10, 0), datetime(2024, 5, 13, 13, 37, 12)) == datetime(2024, 5, 13, 13, 40)


def test_one_time_entries_and_earliest_start_and_expiration():
    now = datetime(2024, 5, 13, 10, 0)
    once = Recurrence()
    assert first_due(once, now) == now
    assert next_due(once, now, now) is None
    later = Recurrence(earliest_start=datetime(2024, 5, 14, 7, 30))
    assert first_due(later, now) == datetime(2024, 5, 14, 7, 30)
    hourly = Recurrence(kind="minutes", minutes=60, earliest_start=datetime(2024, 5, 14, 7, 30), expires=datetime(2024, 5, 14, 10, 0))
    assert series(hourly, now, 3) == [datetime(2024, 5, 14, 8), datetime(2024, 5, 14, 9), datetime(2024, 5, 14, 10)]
    assert next_due(hourly, datetime(2024, 5, 14, 10), datetime(2024, 5, 14, 10)) is None


# ---------------------------------------------------------------- validation, words

def test_invalid_recurrences_are_rejected_with_clear_messages():
    now = datetime(2024, 5, 13, 10, 0)
    assert "five fields" in validate(Recurrence(kind="cron", cron="0 9 * *"), now)["cron_expression"]
    assert "not a valid cron expression" in validate(Recurrence(kind="cron", cron="61 9 * * *"), now)["cron_expression"]
    assert validate(Recurrence(kind="minutes", minutes=15, starting_time=time(17), ending_time=time(8)), now) == {
        "ending_time": "The ending time must be after the starting time."
    }
    assert validate(Recurrence(earliest_start=datetime(2024, 6, 1), expires=datetime(2024, 5, 31)), now) == {
        "expires_at": "The expiration date/time must be after the earliest start date/time."
    }
    assert "in the past" in validate(Recurrence(expires=datetime(2024, 5, 1)), now)["expires_at"]
    assert "1 or more" in validate(Recurrence(kind="minutes", minutes=0), now)["minutes_between_runs"]
    assert "at least one weekday" in validate(Recurrence(kind="minutes", minutes=5, weekdays="0000000"), now)["run_on_weekdays"]
    assert "not a known time zone" in validate(Recurrence(kind="minutes", minutes=5, time_zone="Mars/Olympus"), now)["time_zone"]
    assert "not a date formula" in validate(Recurrence(kind="formula", formula="sometimes"), now)["next_run_date_formula"]
    assert "doesn't move the date forward" in validate(Recurrence(kind="formula", formula="-CM"), now)["next_run_date_formula"]
    never = Recurrence(kind="cron", cron="0 9 * * *", earliest_start=datetime(2024, 5, 13, 10), expires=datetime(2024, 5, 13, 11))
    assert "never run" in validate(never, now)["expires_at"]
    assert validate(OFFICE_HOURS, now) == {}


def test_recurrences_in_words():
    assert describe(Recurrence(kind="cron", cron="0 9 * * 1-5")) == "At 09:00, Monday through Friday"
    assert describe(OFFICE_HOURS) == "Every 15 minutes, 08:00–17:00, Monday through Friday"
    assert describe(Recurrence(kind="minutes", minutes=1)) == "Every minute, every day"
    assert describe(Recurrence(kind="formula", formula="CM+1D", starting_time=time(6))) == "First day of next month, at 06:00"
    assert describe_formula("2W-CM") == "2 weeks, then start of the month"
    assert describe(Recurrence()) == "Once"


@pytest.mark.parametrize("text", ["first day of next month", "CM+1D", "cm+1d"])
def test_formula_aliases_normalize(text):
    assert normalize_formula(text) == "CM+1D"
