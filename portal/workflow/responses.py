"""Response implementations, keyed by the response catalog's codes.

Each takes a :class:`~portal.workflow.engine.StepContext` and returns a short outcome
message (shown in run history and the Run flow pane) or raises
:class:`~portal.workflow.engine.ResponseError`."""
from __future__ import annotations

from typing import Callable

from portal.approvals import service as approvals
from portal.records import service as records
from portal.records.models import STATUS_PENDING_APPROVAL, SalesHeader
from portal.workflow.catalog import RESPONSES
from portal.workflow.engine import ResponseError, StepContext

IMPLEMENTATIONS: dict[str, Callable[[StepContext], str | None]] = {}


def implements(code: str):
    if code not in RESPONSES:
        raise KeyError(f"{code} is not in the response catalog")

    def register(fn):
        IMPLEMENTATIONS[code] = fn
        return fn

    return register


def run_response(ctx: StepContext) -> str | None:
    """Run the response named by ``ctx.step.function_name``. Raises ResponseError."""
    fn = IMPLEMENTATIONS.get(ctx.step.function_name)
    if fn is None:
        raise ResponseError(f"Response {ctx.step.function_name!r} is not available.")
    return fn(ctx)


def _document(ctx: StepContext) -> SalesHeader:
    if not isinstance(ctx.record, SalesHeader):
        raise ResponseError(f"{ctx.step.function_name} needs a document; the record is {ctx.instance.record_type}.")
    return ctx.record


@implements("do_nothing")
def do_nothing(ctx: StepContext) -> None:
    return None


@implements("show_message")
def show_message(ctx: StepContext) -> str:
    return str(ctx.options.get("message") or "")


@implements("set_status_pending_approval")
def set_status_pending_approval(ctx: StepContext) -> str:
    doc = _document(ctx)
    records.set_status(ctx.session, doc, STATUS_PENDING_APPROVAL, ctx.user_id, by_workflow=True)
    return f"{doc.title} is pending approval"


@implements("release_document")
def release_document(ctx: StepContext) -> str:
    doc = _document(ctx)
    try:
        records.release(ctx.session, doc, ctx.user_id, by_workflow=True)
    except records.RecordError as exc:
        raise ResponseError(str(exc)) from exc
    return f"{doc.title} released"


@implements("reopen_document")
def reopen_document(ctx: StepContext) -> str:
    doc = _document(ctx)
    records.reopen(ctx.session, doc, ctx.user_id, by_workflow=True)
    return f"{doc.title} reopened"


IMPLEMENTATIONS["create_approval_requests"] = approvals.create_requests
IMPLEMENTATIONS["send_approval_request"] = approvals.send_requests
IMPLEMENTATIONS["reject_all_approval_requests"] = approvals.reject_all
IMPLEMENTATIONS["cancel_all_approval_requests"] = approvals.cancel_all


@implements("send_email")
def send_email(ctx: StepContext) -> str:
    """Render the notification template for the record and send it to the address in
    the record field ``to_field``."""
    from portal.notifications.service import record_context, render_template_code, send_mail

    if ctx.record is None:
        raise ResponseError("The record no longer exists.")
    to_field = ctx.options.get("to_field") or "email"
    to = getattr(ctx.record, to_field, None)
    if not to:
        raise ResponseError(f"{ctx.record_type.title(ctx.record)} has no value in {to_field!r} to send the email to.")
    context = record_context(ctx.session, ctx.instance.record_type, ctx.record)
    context["inputs"] = ctx.instance.inputs or {}
    context["message"] = (ctx.instance.inputs or {}).get("message", "")
    subject, body = render_template_code(ctx.session, ctx.options.get("template"), context)
    send_mail(to, subject, body)
    return f"Email “{subject}” sent to {to}"
