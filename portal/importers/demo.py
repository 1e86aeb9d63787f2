"""The demo content that ``flask import-northwind`` / ``flask up`` install beside the
Northwind records: the default notification templates and the demo workflows, counted
in the same :class:`~portal.importers.common.ImportReport` ("N new, M already there").

Rules (an existing row is never changed, so a user's edits stay):

* **notification templates** are created whenever one is missing: they are system
  set-up the shipped workflows and the approval notifications render with, so a
  deleted one comes back as shipped. An existing one is left as it is.
* **demo workflows** are created once: their codes go to the import log, so a demo
  workflow a user deleted stays deleted (it would come back *enabled* and start
  routing approvals, which nobody would expect after a restart). A user who wants it
  back creates it from its template. An existing one (edited or not) is left as it is.
"""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.importers.common import ALREADY_THERE, NEW, ImportLog, ImportReport

#: Report parts (and the import log's ``file`` of the demo workflows).
NOTIFICATION_TEMPLATES = "notification templates"
DEMO_WORKFLOWS = "demo workflows"


def install_notification_templates(session: Session, report: ImportReport) -> None:
    """Create the default notification templates that don't exist (by code and method); count
    each as new or already there in ``report``. Flushes, doesn't commit."""
    from portal.notifications.defaults import all_defaults
    from portal.notifications.service import ensure_default_templates

    created = ensure_default_templates(session)
    for _ in range(created):
        report.add(NOTIFICATION_TEMPLATES, NEW)
    for _ in range(len(all_defaults()) - created):
        report.add(NOTIFICATION_TEMPLATES, ALREADY_THERE)


def install_demo_workflows(session: Session, report: ImportReport, source: str) -> list[str]:
    """Create the shipped demo workflows (enabled) that were never installed before
    (no import log entry of ``source``) and don't exist (by code); count each as new
    or already there in ``report``. Flushes, doesn't commit. Returns the codes created."""
    from portal.workflow.library import DEMO_WORKFLOWS as DEFINITIONS, build_workflow
    from portal.workflow.models import Workflow

    log = ImportLog(session, source)
    existing = set(session.scalars(select(Workflow.code)))
    created = []
    for definition in DEFINITIONS:
        code = definition["code"]
        if code in existing or log.has(DEMO_WORKFLOWS, code):
            log.record(DEMO_WORKFLOWS, code, created=False)
            report.add(DEMO_WORKFLOWS, ALREADY_THERE)
            continue
        session.add(build_workflow(definition))
        log.record(DEMO_WORKFLOWS, code, created=True)
        report.add(DEMO_WORKFLOWS, NEW)
        created.append(code)
    session.flush()
    return created
