"""System jobs of records: the search index maintenance (registered in
:mod:`portal.jobqueue.system_jobs`)."""
from __future__ import annotations

from jobs import app_context


def search_index_maintenance() -> str:
    """System job: :func:`portal.records.listing.optimize_search_indexes`. Returns a
    summary line (what was merged, per search index)."""
    from portal.extensions import db
    from portal.records.listing import optimize_search_indexes

    with app_context():
        try:
            done = optimize_search_indexes(db.session)
            return "; ".join(f"{name}: {what}" for name, what in done.items()) or "no search indexes"
        finally:
            db.session.remove()
