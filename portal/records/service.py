"""Record services: change records (writing outbox events in the same transaction),
and the document actions Release, Reopen and Set Status Pending Approval.

Rule (Business Central): a document pending approval can't be modified, released or
reopened by hand; only the approval workflow moves it on."""
from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy.orm import Session

from portal.auth.models import AuditEntry
from portal.records.models import STATUS_OPEN, STATUS_PENDING_APPROVAL, STATUS_RELEASED, SalesHeader
from portal.records.registry import RECORD_TYPES, RecordType
from portal.workflow.engine import raise_event


class RecordError(Exception):
    """A change is not allowed (message for the user)."""


class FieldErrors(RecordError):
    """Form values that don't parse: ``errors`` maps field name → message."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


def is_restricted(record_type: str, record) -> bool:
    """True if the record can't be changed by hand (pending approval)."""
    return getattr(record, "status", None) == STATUS_PENDING_APPROVAL


def parse_values(rt: RecordType, form: dict[str, str]) -> dict[str, Any]:
    """Parse editable field values from form text. Raises :class:`FieldErrors`."""
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for f in rt.fields:
        if not f.editable:
            continue
        if f.kind == "bool":
            values[f.name] = form.get(f.name) in ("on", "true", "1", "y")
            continue
        if f.name not in form:
            continue
        raw = (form.get(f.name) or "").strip()
        if f.required and not raw:
            errors[f.name] = f"{f.label} must have a value."
            continue
        try:
            if f.kind in ("money", "decimal"):
                value = Decimal(raw or "0")
                if f.kind == "money":
                    value = value.quantize(Decimal("0.01"))
            elif f.kind == "int":
                value = int(raw or 0)
            elif f.kind == "date":
                value = date.fromisoformat(raw) if raw else None
            else:
                value = raw or None
        except (InvalidOperation, ValueError):
            errors[f.name] = f"{f.label}: {raw!r} is not a valid {'date (YYYY-MM-DD)' if f.kind == 'date' else 'number'}."
            continue
        values[f.name] = value
    if errors:
        raise FieldErrors(errors)
    return values


def modify_record(session: Session, record_type: str, record, values: dict[str, Any], user_id: int | None) -> dict[str, tuple]:
    """Apply ``values`` to ``record`` and raise ``record_modified`` with old and new
    values of the fields that changed. Returns ``{field: (old, new)}``. Raises
    :class:`RecordError` if the record is pending approval."""
    rt = RECORD_TYPES[record_type]
    if is_restricted(record_type, record):
        raise RecordError(f"{rt.title(record)} is pending approval and can't be modified. Cancel the approval request first.")
    changes: dict[str, tuple] = {}
    for name, new in values.items():
        old = getattr(record, name)
        if old != new:
            changes[name] = (old, new)
            setattr(record, name, new)
    if changes:
        session.flush()
        raise_event(
            session,
            "record_modified",
            record_type,
            record.id,
            {
                "old_values": {k: _json(v[0]) for k, v in changes.items()},
                "new_values": {k: _json(v[1]) for k, v in changes.items()},
            },
            user_id,
        )
        session.add(AuditEntry(user_id=user_id, action="modify", record_type=record_type, record_id=record.id,
                               detail=", ".join(f"{k}: {v[0]} → {v[1]}" for k, v in changes.items())))
    return changes


def _json(value):
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def set_status(session: Session, doc: SalesHeader, status: str, user_id: int | None, by_workflow: bool) -> None:
    """Move a document to ``status``. By hand (``by_workflow`` False) a document pending
    approval can't be released or reopened: raises :class:`RecordError`. Releasing
    raises the ``document_released`` event."""
    if not by_workflow and doc.status == STATUS_PENDING_APPROVAL:
        raise RecordError(f"{doc.title} is pending approval; only the approval workflow can release or reopen it.")
    if status == STATUS_RELEASED and not doc.lines:
        raise RecordError(f"There is nothing to release for {doc.title}: it has no lines.")
    if doc.status == status:
        return
    doc.status = status
    session.add(AuditEntry(user_id=user_id, action=f"status:{status}", record_type="sales_header", record_id=doc.id))
    if status == STATUS_RELEASED:
        raise_event(session, "document_released", "sales_header", doc.id, {}, user_id)


def release(session: Session, doc: SalesHeader, user_id: int | None, by_workflow: bool = False) -> None:
    """Release the document (Status Released)."""
    set_status(session, doc, STATUS_RELEASED, user_id, by_workflow)


def reopen(session: Session, doc: SalesHeader, user_id: int | None, by_workflow: bool = False) -> None:
    """Reopen the document (Status Open)."""
    set_status(session, doc, STATUS_OPEN, user_id, by_workflow)
