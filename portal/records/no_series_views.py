"""The No. Series page (admins only): every number series with its current line's
starting no., ending no., increment, last no. used and last date used. Read-only:
numbers are taken by :mod:`portal.records.numbering`."""
from __future__ import annotations

from flask import Blueprint, render_template

from portal.auth.permissions import require_role
from portal.extensions import db
from portal.records import numbering

bp = Blueprint("no_series", __name__, url_prefix="/no-series")


@bp.route("")
@require_role("admin")
def list_page():
    """No. Series list (Business Central page 456 "No. Series"). 403 for non-admins."""
    return render_template("records/no_series.html", rows=numbering.series_list(db.session))
