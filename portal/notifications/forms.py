"""The "change notification settings" form (Flask-WTF): per notification type, the
method (Email or Note) and, for a user, the schedule."""
from __future__ import annotations

from datetime import time

from flask_wtf import FlaskForm
from wtforms import Form, FormField, IntegerField, SelectField, SelectMultipleField, TimeField
from wtforms.validators import InputRequired, NumberRange, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from portal.notifications import schedule as sched
from portal.notifications.models import METHODS, NOTIFICATION_TYPES
from portal.notifications.setup import ScheduleData

#: form field prefix per notification type
TYPE_KEYS = {"New Record": "new_record", "Approval": "approval", "Overdue": "overdue"}


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class TypeSettings(Form):
    """One notification type's row (a sub-form: CSRF is the outer form's)."""

    method = SelectField("Method", choices=[("", "As the default")] + [(m, m) for m in METHODS], default="")
    recurrence = SelectField("Schedule", choices=[(r, r) for r in sched.RECURRENCES], default=sched.INSTANTLY)
    at = TimeField("Time", default=sched.DEFAULT_TIME, validators=[Optional()])
    daily_frequency = SelectField("Daily on", choices=[(f, f) for f in sched.DAILY_FREQUENCIES], default=sched.WORKING_DAYS)
    weekdays = MultiCheckboxField("Weekdays", choices=[(str(i), name) for i, name in enumerate(sched.WEEKDAY_NAMES)],
                                  default=["0", "1", "2", "3", "4"])
    monthly_date = SelectField("Monthly on", choices=[(d, d) for d in sched.MONTHLY_DATES], default=sched.FIRST_WORKING_DAY)
    date_of_month = IntegerField("Day of the month", default=1,
                                 validators=[Optional(), NumberRange(1, 31, "Enter a day of the month from 1 to 31.")])

    def relevant(self, name: str) -> bool:
        """Whether field ``name`` matters for the chosen schedule (the page hides the
        others, so their errors are not shown)."""
        r = self.recurrence.data
        return {
            "at": r != sched.INSTANTLY,
            "daily_frequency": r == sched.DAILY,
            "weekdays": r == sched.WEEKLY,
            "monthly_date": r == sched.MONTHLY,
            "date_of_month": r == sched.MONTHLY and self.monthly_date.data == sched.CHOSEN_DAY,
        }.get(name, True)

    def schedule_data(self) -> ScheduleData:
        """The schedule as entered."""
        chosen = {int(i) for i in (self.weekdays.data or []) if str(i).isdigit()}
        return ScheduleData(
            recurrence=self.recurrence.data, at=self.at.data or time(12, 0), daily_frequency=self.daily_frequency.data,
            weekdays="".join("1" if i in chosen else "0" for i in range(7)), monthly_date=self.monthly_date.data,
            date_of_month=self.date_of_month.data or 1,
        )

    def fill(self, method: str | None, schedule) -> None:
        """Show a saved method (None = as the default) and schedule row (None = Instantly)."""
        self.method.data = method or ""
        if schedule is None:
            self.recurrence.data = sched.INSTANTLY
            return
        self.recurrence.data = schedule.recurrence
        self.at.data = schedule.time
        self.daily_frequency.data = schedule.daily_frequency
        self.weekdays.data = [str(i) for i, c in enumerate(schedule.weekdays or "") if c == "1"]
        self.monthly_date.data = schedule.monthly_date
        self.date_of_month.data = schedule.date_of_month


class SettingsForm(FlaskForm):
    """All three notification types of one user (or of the default setup)."""

    class Meta:
        csrf = False  # CSRFProtect checks every POST already (the hidden csrf_token input)

    new_record = FormField(TypeSettings, label="New Record")
    approval = FormField(TypeSettings, label="Approval")
    overdue = FormField(TypeSettings, label="Overdue")

    def rows(self):
        """``[(notification type, sub-form)]`` in the page's order."""
        return [(t, getattr(self, TYPE_KEYS[t])) for t in NOTIFICATION_TYPES]

    def for_default(self) -> None:
        """The default setup: Email or Note only (no "as the default")."""
        for _, sub in self.rows():
            sub.method.choices = [(m, m) for m in METHODS]
            sub.method.validators = [InputRequired("Choose Email or Note.")]

    def field_errors(self) -> dict[str, str]:
        """``{"<type>.<field>": first message}`` of WTForms' own checks."""
        out = {}
        for type_, sub in self.rows():
            for name, messages in sub.errors.items():
                if messages and sub.relevant(name):
                    out[f"{type_}.{name}"] = messages[0] if isinstance(messages, list) else str(messages)
        return out
