"""When a notification digest is due (portal.notifications.schedule): Business
Central's examples, time zones, month ends."""
from __future__ import annotations

from datetime import datetime, time

import pytest

from portal.notifications import schedule as s
from portal.notifications.schedule import ScheduleSpec, next_run

NOON = time(12, 0)
MAY_5_2015_10AM = datetime(2015, 5, 5, 10, 0)  # a Tuesday


def spec(**kw) -> ScheduleSpec:
    return ScheduleSpec(**{"at": NOON, **kw})


def test_monthly_first_working_day_after_this_months_has_passed():
    # 1 May 2015 (Friday) 12:00 is before 5 May 10:00 → next month's: 1 June 2015 is a Monday
    assert next_run(spec(recurrence=s.MONTHLY, monthly_date=s.FIRST_WORKING_DAY), MAY_5_2015_10AM) == datetime(2015, 6, 1, 12, 0)


def test_monthly_last_working_day_falls_back_from_the_weekend():
    # 31 May 2015 is a Sunday → Friday 29 May
    assert next_run(spec(recurrence=s.MONTHLY, monthly_date=s.LAST_WORKING_DAY), MAY_5_2015_10AM) == datetime(2015, 5, 29, 12, 0)


def test_first_working_day_moves_past_a_weekend():
    # 1 August 2015 is a Saturday → Monday 3 August
    assert s.first_working_day(2015, 8).isoformat() == "2015-08-03"
    assert next_run(spec(recurrence=s.MONTHLY, monthly_date=s.FIRST_WORKING_DAY), datetime(2015, 7, 15, 9, 0)) == datetime(2015, 8, 3, 12, 0)


def test_daily_working_days_on_a_friday_after_the_time_is_the_following_monday():
    friday_afternoon = datetime(2015, 5, 8, 13, 0)
    assert next_run(spec(recurrence=s.DAILY, daily_frequency=s.WORKING_DAYS), friday_afternoon) == datetime(2015, 5, 11, 12, 0)
    # every day: Saturday
    assert next_run(spec(recurrence=s.DAILY, daily_frequency=s.EVERY_DAY), friday_afternoon) == datetime(2015, 5, 9, 12, 0)


def test_daily_before_the_time_is_today_and_exactly_at_the_time_is_the_next_day():
    assert next_run(spec(recurrence=s.DAILY), MAY_5_2015_10AM) == datetime(2015, 5, 5, 12, 0)
    assert next_run(spec(recurrence=s.DAILY), datetime(2015, 5, 5, 12, 0)) == datetime(2015, 5, 6, 12, 0)


def test_weekly_on_chosen_weekdays():
    mon_thu = "1001000"
    # Tuesday 10:00 → Thursday
    assert next_run(spec(recurrence=s.WEEKLY, weekdays=mon_thu), MAY_5_2015_10AM) == datetime(2015, 5, 7, 12, 0)
    # Thursday after the time → next Monday
    assert next_run(spec(recurrence=s.WEEKLY, weekdays=mon_thu), datetime(2015, 5, 7, 18, 0)) == datetime(2015, 5, 11, 12, 0)
    # only Tuesday, on Tuesday after the time → a week later
    assert next_run(spec(recurrence=s.WEEKLY, weekdays="0100000"), datetime(2015, 5, 5, 12, 30)) == datetime(2015, 5, 12, 12, 0)


@pytest.mark.parametrize("now, day, expected", [
    (datetime(2015, 6, 5, 10, 0), 31, datetime(2015, 6, 30, 12, 0)),     # 31 in June → 30 June
    (datetime(2015, 6, 30, 13, 0), 31, datetime(2015, 7, 31, 12, 0)),    # June's has passed → 31 July
    (datetime(2015, 2, 1, 0, 0), 30, datetime(2015, 2, 28, 12, 0)),      # February 2015: 28 days
    (datetime(2016, 2, 1, 0, 0), 30, datetime(2016, 2, 29, 12, 0)),      # leap year
    (datetime(2015, 5, 15, 11, 0), 15, datetime(2015, 5, 15, 12, 0)),    # today, time still ahead
    (datetime(2015, 5, 15, 12, 0), 15, datetime(2015, 6, 15, 12, 0)),    # today, time reached → next month
    (datetime(2015, 12, 20, 0, 0), 10, datetime(2016, 1, 10, 12, 0)),    # over the year's end
])
def test_monthly_chosen_day_falls_back_to_the_months_last_day(now, day, expected):
    assert next_run(spec(recurrence=s.MONTHLY, monthly_date=s.CHOSEN_DAY, date_of_month=day), now) == expected


def test_the_time_of_day_is_read_in_the_users_time_zone():
    berlin = spec(recurrence=s.DAILY, daily_frequency=s.EVERY_DAY, time_zone="Europe/Berlin")
    # 5 May 2015 09:00 UTC = 11:00 in Berlin (summer time, UTC+2) → 12:00 Berlin = 10:00 UTC the same day
    assert next_run(berlin, datetime(2015, 5, 5, 9, 0)) == datetime(2015, 5, 5, 10, 0)
    # 10:30 UTC = 12:30 Berlin: passed → tomorrow 10:00 UTC
    assert next_run(berlin, datetime(2015, 5, 5, 10, 30)) == datetime(2015, 5, 6, 10, 0)
    # in winter Berlin is UTC+1
    assert next_run(berlin, datetime(2015, 1, 5, 9, 0)) == datetime(2015, 1, 5, 11, 0)
    # New York (UTC-4 in May): 5 May 02:00 UTC is still 4 May 22:00 there → 4 May was passed, 5 May 12:00 EDT = 16:00 UTC
    ny = spec(recurrence=s.DAILY, daily_frequency=s.EVERY_DAY, time_zone="America/New_York")
    assert next_run(ny, datetime(2015, 5, 5, 2, 0)) == datetime(2015, 5, 5, 16, 0)


def test_the_users_local_date_decides_the_working_day_and_the_month():
    # Friday 8 May 2015 23:30 UTC is already Saturday 9 May 01:30 in Berlin → working days: Monday 11 May 12:00 Berlin
    berlin = spec(recurrence=s.DAILY, daily_frequency=s.WORKING_DAYS, time_zone="Europe/Berlin")
    assert next_run(berlin, datetime(2015, 5, 8, 23, 30)) == datetime(2015, 5, 11, 10, 0)
    # 31 May 2015 23:00 UTC is 1 June 09:00 in Tokyo: June's first working day (Monday 1 June) 12:00 JST = 03:00 UTC
    tokyo = spec(recurrence=s.MONTHLY, monthly_date=s.FIRST_WORKING_DAY, time_zone="Asia/Tokyo")
    assert next_run(tokyo, datetime(2015, 5, 31, 23, 0)) == datetime(2015, 6, 1, 3, 0)


def test_a_clock_change_keeps_the_wall_clock_time():
    # Berlin moves to summer time on 29 March 2015: 12:00 is 11:00 UTC before, 10:00 UTC after
    berlin = spec(recurrence=s.DAILY, daily_frequency=s.EVERY_DAY, time_zone="Europe/Berlin")
    assert next_run(berlin, datetime(2015, 3, 28, 12, 0)) == datetime(2015, 3, 29, 10, 0)


def test_instantly_has_no_digest_time_and_an_unknown_zone_counts_as_utc():
    assert next_run(spec(recurrence=s.INSTANTLY), MAY_5_2015_10AM) is None
    assert next_run(spec(recurrence=s.DAILY, time_zone="Not/AZone"), MAY_5_2015_10AM) == datetime(2015, 5, 5, 12, 0)


def test_described_in_words():
    assert s.describe(spec(recurrence=s.DAILY)) == "Daily on working days at 12:00"
    assert s.describe(spec(recurrence=s.WEEKLY, weekdays="1001000")) == "Weekly on Monday, Thursday at 12:00"
    assert s.describe(spec(recurrence=s.MONTHLY, monthly_date=s.LAST_WORKING_DAY)) == "Monthly on the last working day at 12:00"
    assert s.describe(spec(recurrence=s.MONTHLY, monthly_date=s.CHOSEN_DAY, date_of_month=31)) == "Monthly on day 31 at 12:00"
