"""Template helpers shared by every page: filters and the header's counts."""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from flask import Flask
from flask_login import current_user


def fmt_value(value, kind: str = "text") -> str:
    if value is None:
        return ""
    if kind == "money" or isinstance(value, Decimal) and kind != "decimal":
        return f"{Decimal(value):,.2f}"
    if kind == "decimal":
        d = Decimal(value).normalize()
        return f"{d:,f}"
    if kind == "bool" or isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def register(app: Flask) -> None:
    app.jinja_env.filters["fmt"] = fmt_value
    app.jinja_env.filters["money"] = lambda v: fmt_value(v, "money")

    app.context_processor(header_counts)


def header_counts() -> dict:
    """The header's counts for the signed-in user (Requests to Approve) and today's
    date; counted once per request (the home page's cues reuse the count)."""
    from flask import g

    if not current_user.is_authenticated:
        return {}
    if "header_counts" not in g:
        from portal.approvals.service import count_requests_to_approve
        from portal.extensions import db
        from portal.util import utcnow

        g.header_counts = {"requests_to_approve_count": count_requests_to_approve(db.session, current_user.id), "today": utcnow().date()}
    return g.header_counts
