"""Responses on business records that need the records area's services: post the
document, add / remove a record restriction.

Registered into :data:`portal.workflow.responses.IMPLEMENTATIONS` through
``implements`` when the response catalog has the code; a code another module already
implements is left alone (so the workflow area can take any of them over)."""
from __future__ import annotations

from portal.records import posting
from portal.records import service as records
from portal.records.models import PurchaseHeader, SalesHeader
from portal.workflow.catalog import RESPONSES
from portal.workflow.engine import ResponseError, StepContext
from portal.workflow.responses import IMPLEMENTATIONS, implements


def _register(code: str):
    """``implements(code)`` unless the catalog lacks the code or it is implemented."""
    if code not in RESPONSES or code in IMPLEMENTATIONS:
        return lambda fn: fn
    return implements(code)


@_register("post_document")
def post_document(ctx: StepContext) -> str:
    """Post the sales or purchase document (see :mod:`portal.records.posting`): a
    posted invoice / credit memo is created, the approval entries are archived and the
    document is removed. Responses always run in a worker, so the ``in_background``
    option needs no separate job: the user never waits for the posting."""
    doc = ctx.record
    if not isinstance(doc, (SalesHeader, PurchaseHeader)):
        raise ResponseError(f"Only sales and purchase documents can be posted; the record is {ctx.instance.record_type}.")
    title = doc.title
    try:
        posted = posting.post(ctx.session, doc, ctx.user_id)
    except records.RecordError as exc:
        raise ResponseError(str(exc)) from exc
    return f"{title} posted as {posted.title}"


def _record(ctx: StepContext):
    if ctx.record is None or ctx.record_type is None:
        raise ResponseError("The record no longer exists.")
    return ctx.record


@_register("add_record_restriction")
def add_record_restriction(ctx: StepContext) -> str:
    """Restrict the record: it can't be modified, released or posted until the
    restriction is removed (Business Central adds one while a request is pending)."""
    record = _record(ctx)
    title = ctx.record_type.title(record)
    records.add_restriction(ctx.session, ctx.record_type.key, record.id,
                            f"Restricted by workflow {ctx.instance.workflow_code}", ctx.user_id)
    return f"{title} is restricted"


@_register("remove_record_restriction")
def remove_record_restriction(ctx: StepContext) -> str:
    """Lift the record's restriction."""
    record = _record(ctx)
    n = records.remove_restriction(ctx.session, ctx.record_type.key, record.id, ctx.user_id)
    title = ctx.record_type.title(record)
    return f"The restriction on {title} has been lifted" if n else f"{title} had no restriction"
