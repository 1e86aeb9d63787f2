"""Notification templates, edited by admins: validation before save (the sandbox's
save-time checks, :func:`portal.workflow.rendering.check_template`), a live preview
rendered exactly as the dispatcher renders (against a real record, its newest
approval entry and a recipient), export to a JSON file and import back (validated as a
whole: all or nothing).

Export format (versioned)::

    {"format": "workflow-portal/notification-templates", "version": 1,
     "templates": [{"code": "approval_request", "type": "Approval", "method": "Email",
                    "description": "…", "subject": "…", "body": "…"}]}
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from portal.approvals.models import ApprovalEntry
from portal.auth.models import User
from portal.notifications.mail import html_to_text, inline_css
from portal.notifications.models import METHOD_EMAIL, METHOD_NOTE, NotificationEntry, NotificationTemplate
from portal.notifications.placeholders import placeholders, sample_context
from portal.records.registry import RECORD_TYPES
from portal.util import column_errors
from portal.workflow.rendering import TemplateRenderError, check_template, render

EXPORT_FORMAT = "workflow-portal/notification-templates"
EXPORT_VERSION = 1
TYPES = ("New Record", "Approval", "Overdue", "Job Queue", "Digest")
METHODS = (METHOD_EMAIL, METHOD_NOTE)
CODE_RE = re.compile(r"^[a-z0-9][a-z0-9_\-]{0,39}$")
MAX_SUBJECT = 300


class TemplateProblems(Exception):
    """A template (or an import file) was refused; ``problems`` maps a field name
    (``subject``, ``body``, ``description``, or ``file`` / ``templates[i] (…)`` for an
    import) to its sentences."""

    def __init__(self, problems: dict[str, list[str]]):
        self.problems = problems
        super().__init__("; ".join(p for ps in problems.values() for p in ps))


def list_templates(session: Session) -> list[NotificationTemplate]:
    """Every notification template, by type, code and method."""
    return list(session.scalars(select(NotificationTemplate).order_by(
        NotificationTemplate.type, NotificationTemplate.code, NotificationTemplate.method)))


def problems_of(subject: str, body: str, method: str, description: str | None = None) -> dict[str, list[str]]:
    """Save-time problems of a template's parts (empty dict: it may be saved): the
    subject is one line of at most :data:`MAX_SUBJECT` characters and a text template;
    the body an HTML (Email) or text (Note) template; both pass the sandbox's checks
    against the notification placeholders and a trial render with sample data."""
    out: dict[str, list[str]] = {}
    spec, sample = placeholders(), sample_context()
    subject = subject or ""
    subj: list[str] = []
    if not subject.strip():
        subj.append("The subject must have a value.")
    elif "\n" in subject or "\r" in subject:
        subj.append("The subject must be one line.")
    elif len(subject) > MAX_SUBJECT:
        subj.append(f"The subject can have at most {MAX_SUBJECT} characters.")
    else:
        subj += check_template(subject, spec, sample, html=False, label="The subject")
    if subj:
        out["subject"] = subj
    if not (body or "").strip():
        out["body"] = ["The body must have a value."]
    else:
        b = check_template(body, spec, sample, html=method == METHOD_EMAIL, label="The body")
        if b:
            out["body"] = b
    if description is not None and len(description) > 200:
        out["description"] = ["The description can have at most 200 characters."]
    # what fits the columns (NUL bytes), as the flush would check it
    labels = {"subject": "The subject", "body": "The body", "description": "The description"}
    for name, message in column_errors(NotificationTemplate, {"subject": subject, "body": body, "description": description},
                                       labels).items():
        out.setdefault(name, [message])
    return out


def save_template(session: Session, tmpl: NotificationTemplate, subject: str, body: str, description: str | None) -> None:
    """Change ``tmpl`` after :func:`problems_of` finds nothing. Raises
    :class:`TemplateProblems` (``tmpl`` unchanged). The caller commits."""
    problems = problems_of(subject, body, tmpl.method, description)
    if problems:
        raise TemplateProblems(problems)
    tmpl.subject, tmpl.body = subject.strip(), body
    tmpl.description = (description or "").strip() or None


# ---------------------------------------------------------------- preview

@dataclass
class Preview:
    """A rendered preview: subject, the HTML as mailed (CSS inlined; Email only), the
    text (the plain-text alternative, or the Note's body) and an error (a sentence)
    when it can't be rendered."""

    subject: str = ""
    html: str = ""
    text: str = ""
    error: str = ""
    about: str = ""


def search_records(session: Session, record_type: str, q: str, limit: int = 15) -> list[tuple[int, str]]:
    """Records of ``record_type`` whose search fields contain ``q`` (all when empty):
    ``[(id, title)]``, at most ``limit``. Unknown record type: []."""
    rt = RECORD_TYPES.get(record_type)
    if rt is None:
        return []
    query = select(rt.model)
    q = (q or "").strip()
    if q:
        columns = [getattr(rt.model, f) for f in rt.search_fields if hasattr(rt.model, f)]
        if columns:
            query = query.where(or_(*(c.icontains(q, autoescape=True) for c in columns)))
    query = query.order_by(rt.model.id).limit(limit)
    return [(r.id, rt.title(r)) for r in session.scalars(query).unique()]


def preview(session: Session, subject: str, body: str, method: str, record_type: str | None, record_id: int | None,
            viewer: User, message: str = "") -> Preview:
    """Render ``subject`` / ``body`` as the dispatcher would for a notification about
    the record (``record_type``, ``record_id``; none: sample data) and its newest
    approval entry, sent to that entry's approver (else ``viewer``). Never raises for
    the template's problems: they come back in ``Preview.error``."""
    from portal.notifications.service import _entry_context, record_link

    problems = problems_of(subject, body, method)
    if problems:
        return Preview(error=" ".join(p for ps in problems.values() for p in ps))
    record = None
    rt = RECORD_TYPES.get(record_type or "")
    if rt is not None and record_id is not None:
        record = session.get(rt.model, record_id)
    if record is None:
        ctx = sample_context()
        about = "sample data (choose a record to see it with real data)"
    else:
        entry = session.scalars(select(ApprovalEntry).where(
            ApprovalEntry.record_type == record_type, ApprovalEntry.record_id == record_id)
            .order_by(ApprovalEntry.id.desc()).limit(1)).first()
        recipient = entry.approver if entry is not None else viewer
        n = NotificationEntry(type="Approval", recipient_id=recipient.id, record_type=record_type, record_id=record_id,
                              approval_entry_id=entry.id if entry else None, link=record_link(record_type, record_id),
                              custom_message=message or "A message or comment would show here.")
        n.recipient = recipient
        ctx = _entry_context(session, n, subject + body)
        about = f"{rt.title(record)}, sent to {recipient.full_name}" + (f" (approval entry {entry.id}, {entry.status})" if entry else "")
        if entry is None:  # the record was never sent for approval: sample approval values around its own
            ctx["entry"] = {**sample_context()["entry"], "record_title": ctx["record"].get("title", ""),
                            "amount": ctx["record"].get("amount") or 0, "approver": recipient.full_name}
            about += " (no approval entry yet: the approval values are samples)"
    try:
        subj = render(subject, ctx, html=False).strip()
        rendered = render(body, ctx, html=method == METHOD_EMAIL)
    except TemplateRenderError as exc:
        return Preview(error=str(exc), about=about)
    if method == METHOD_EMAIL:
        return Preview(subj, inline_css(rendered), html_to_text(rendered), about=about)
    return Preview(subj, "", rendered, about=about)


# ---------------------------------------------------------------- export / import

def export_templates(templates: list[NotificationTemplate]) -> dict:
    """The export document of ``templates`` (see the module's docstring)."""
    return {
        "format": EXPORT_FORMAT, "version": EXPORT_VERSION,
        "templates": [{"code": t.code, "type": t.type, "method": t.method, "description": t.description or "",
                       "subject": t.subject, "body": t.body} for t in templates],
    }


def import_templates(session: Session, data) -> tuple[int, int]:
    """Import an export document: each template is created, or replaces the subject,
    description and body of the existing one with its code and method. The whole file
    is checked first (format, version, fields, duplicates, every template's save-time
    checks); any problem and nothing changes. Raises :class:`TemplateProblems` keyed
    by place (``file``, ``templates[2] (approval_request, Email)``). Returns (created,
    replaced). Flushes; the caller commits."""
    problems: dict[str, list[str]] = {}
    if not isinstance(data, dict) or data.get("format") != EXPORT_FORMAT:
        raise TemplateProblems({"file": [f"This is not a notification template export (format must be {EXPORT_FORMAT!r})."]})
    if data.get("version") != EXPORT_VERSION:
        raise TemplateProblems({"file": [f"Version {data.get('version')!r} is not supported (expected {EXPORT_VERSION})."]})
    items = data.get("templates")
    if not isinstance(items, list) or not items:
        raise TemplateProblems({"file": ["The file has no templates."]})
    seen: set[tuple[str, str]] = set()
    clean: list[dict] = []
    for i, item in enumerate(items):
        place = f"templates[{i}]"
        if not isinstance(item, dict):
            problems[place] = ["must be an object with code, type, method, subject and body."]
            continue
        code, method = str(item.get("code") or ""), str(item.get("method") or "")
        place = f"templates[{i}] ({code or 'no code'}, {method or 'no method'})"
        mine: list[str] = []
        for key in ("code", "type", "method", "subject", "body"):
            if not isinstance(item.get(key), str) or not item.get(key).strip():
                mine.append(f"{key} must be a non-empty text.")
        if mine:
            problems[place] = mine
            continue
        if not CODE_RE.match(code):
            mine.append("code must be lower-case letters, digits, _ or - (at most 40).")
        if item["type"] not in TYPES:
            mine.append(f"type must be one of: {', '.join(TYPES)}.")
        if method not in METHODS:
            mine.append(f"method must be one of: {', '.join(METHODS)}.")
        if (code, method) in seen:
            mine.append("appears twice in the file.")
        seen.add((code, method))
        description = item.get("description")
        if description is not None and not isinstance(description, str):
            mine.append("description must be a text.")
            description = None
        if method in METHODS:
            for field, msgs in problems_of(item["subject"], item["body"], method, description).items():
                mine += [f"{field}: {m}" for m in msgs]
        if mine:
            problems[place] = mine
            continue
        clean.append({"code": code, "type": item["type"], "method": method, "description": (description or "").strip() or None,
                      "subject": item["subject"].strip(), "body": item["body"]})
    if problems:
        raise TemplateProblems(problems)
    existing = {(t.code, t.method): t for t in session.scalars(select(NotificationTemplate))}
    created = replaced = 0
    for c in clean:
        t = existing.get((c["code"], c["method"]))
        if t is None:
            session.add(NotificationTemplate(**c))
            created += 1
        else:
            t.type, t.description, t.subject, t.body = c["type"], c["description"], c["subject"], c["body"]
            replaced += 1
    session.flush()
    return created, replaced
