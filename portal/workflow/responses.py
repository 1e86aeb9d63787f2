"""The engine's own responses (do nothing, update a field, hold back / apply /
discard changed values, call a webhook) and the helpers every area's responses use.

Responses are registered by code in :data:`portal.workflow.catalog.IMPLEMENTATIONS`
(:func:`implements`); the areas register theirs (``portal.<area>.responses``). Each
takes a :class:`~portal.workflow.engine.StepContext` and returns a short outcome
message (shown in run history and the Run flow pane) or raises
:class:`~portal.workflow.engine.ResponseError`."""
from __future__ import annotations

from decimal import Decimal

from portal.audit.service import record_audit
from portal.workflow.catalog import IMPLEMENTATIONS, OPTION_VALIDATORS, RESPONSES, implements
from portal.workflow.describe import field_label
from portal.workflow.engine import ResponseError, StepContext

__all__ = ["IMPLEMENTATIONS", "implements", "run_response", "render_option", "template_context"]


def run_response(ctx: StepContext) -> str | None:
    """Run the response named by ``ctx.step.function_name``. Raises ResponseError."""
    fn = IMPLEMENTATIONS.get(ctx.step.function_name)
    if fn is None:
        raise ResponseError(f"This response is not available in this portal (code {ctx.step.function_name}).")
    return fn(ctx)


def template_context(ctx: StepContext, needs: str | None = None) -> dict:
    """The values a flow's templates see: ``record`` (its fields and title; the last
    values the event carried when the record is gone), ``inputs``, ``event``
    (old/new values, comment), ``steps`` (the outputs of the responses that ran
    before in this chain: ``steps.step_<step id>``, e.g. "Notification for Laura
    Callahan"), and the record type's extra values when ``needs`` (the
    template source) names them or is None. Built once per chain while the record
    stays unchanged."""
    from portal.workflow.catalog import CONTEXT_PROVIDERS
    from portal.workflow.rendering import record_context

    provider = CONTEXT_PROVIDERS.get(ctx.instance.record_type or "")
    full = needs is None or (provider is not None and any(name in needs for name in provider.names))
    slot = "template_values" if full else "template_values_plain"
    if slot in ctx.shared:
        return ctx.shared[slot]
    if not full and "template_values" in ctx.shared:
        return ctx.shared["template_values"]
    context = record_context(ctx.session, ctx.instance.record_type, ctx.record, needs=None if full else "")
    if ctx.record is None:  # deleted (or posted) since: its last values came with the event
        last = ctx.event.payload.get("old_values") or ctx.event.payload.get("new_values") or {}
        context["record"] = {**last, "title": ctx.instance.record_title or ""}
    context["inputs"] = ctx.instance.inputs or {}
    context["event"] = {k: v for k, v in (ctx.event.payload or {}).items() if k in ("old_values", "new_values", "comment", "body")}
    context["trigger"] = {"body": (ctx.event.payload or {}).get("body", {})}
    context["steps"] = ctx.shared.setdefault("outputs", {})  # earlier responses' outputs, filled as the chain runs
    ctx.shared[slot] = context
    return context


def render_option(ctx: StepContext, source: str, html: bool = False) -> str:
    """Render an option's template ``source`` with :func:`template_context`. Raises
    ResponseError with the template's problem."""
    from portal.workflow.rendering import TemplateRenderError, render

    try:
        return render(source or "", template_context(ctx, needs=source or ""), html=html)
    except TemplateRenderError as exc:
        raise ResponseError(str(exc)) from exc


@implements("do_nothing")
def do_nothing(ctx: StepContext) -> None:
    return None


def _coerce_field(rt, field: str, text):
    """A value for ``rt``'s field ``field`` from its text form (None stays None)."""
    from datetime import date

    kind = rt.field(field).kind
    if text is None:
        return None
    if kind in ("money", "decimal"):
        return Decimal(str(text))
    if kind == "int":
        return int(text)
    if kind == "bool":
        return str(text).lower() in ("1", "true", "yes", "on")
    if kind == "date":
        return date.fromisoformat(str(text))
    return str(text)


def _field(ctx: StepContext) -> str:
    field = ctx.options.get("field")
    if ctx.record_type is None or field not in ctx.record_type.field_names():
        raise ResponseError(f"{field!r} is not a field of {ctx.record_type.plural if ctx.record_type else 'the record'}.")
    return field


def _audit_field(ctx: StepContext, field: str, old, new) -> None:
    """Audit a record field the workflow changed (action ``workflow_modify``, not
    ``modify``: a workflow's change is not a change by hand after an approval)."""
    if old == new:
        return
    record_audit(ctx.session, "record", "workflow_modify", user_id=ctx.user_id, record_type=ctx.record_type.key,
                 record_id=ctx.record.id, record_title=ctx.record_type.title(ctx.record), field_name=field, old=old, new=new,
                 detail=f"By workflow {ctx.instance.workflow_code} (run {ctx.instance.id})")


@implements("revert_field_value")
def revert_field_value(ctx: StepContext) -> str:
    """Hold back the change of ``field`` made by the triggering event: keep old and new
    values as a workflow record change and put the old value back."""
    from portal.workflow.models import WorkflowRecordChange

    field = _field(ctx)
    old_values = ctx.event.payload.get("old_values") or {}
    new_values = ctx.event.payload.get("new_values") or {}
    if field not in old_values:
        return f"{field} did not change: nothing to revert"
    ctx.session.add(WorkflowRecordChange(
        instance_id=ctx.instance.id, record_type=ctx.record_type.key, record_id=ctx.record.id, field=field,
        old_value=None if old_values[field] is None else str(old_values[field]),
        new_value=None if new_values.get(field) is None else str(new_values[field]),
    ))
    reverted = _coerce_field(ctx.record_type, field, old_values[field])
    _audit_field(ctx, field, getattr(ctx.record, field), reverted)
    setattr(ctx.record, field, reverted)
    return f"{field} reverted to {old_values[field]} until the change is approved (new value {new_values.get(field)})"


def _pending_changes(ctx: StepContext):
    from sqlalchemy import select

    from portal.workflow.models import WorkflowRecordChange

    return ctx.session.scalars(
        select(WorkflowRecordChange).where(WorkflowRecordChange.instance_id == ctx.instance.id, WorkflowRecordChange.status == "Pending")
    ).all()


@implements("apply_new_values")
def apply_new_values(ctx: StepContext) -> str:
    """Write the held-back new values — each only if the field still holds the old
    value (someone may have changed it meanwhile; then it is left alone)."""
    from portal.util import utcnow

    done = []
    for change in _pending_changes(ctx):
        current = getattr(ctx.record, change.field)
        expected = _coerce_field(ctx.record_type, change.field, change.old_value)
        if current == expected:
            new = _coerce_field(ctx.record_type, change.field, change.new_value)
            _audit_field(ctx, change.field, current, new)
            setattr(ctx.record, change.field, new)
            change.status = "Applied"
            done.append(f"{change.field} = {change.new_value}")
        else:
            change.status = "Not Applied"
            done.append(f"{change.field} not applied: it changed meanwhile to {current}")
        change.closed_at = utcnow()
    return "; ".join(done) or "No held-back changes"


@implements("discard_new_values")
def discard_new_values(ctx: StepContext) -> str:
    from portal.util import utcnow

    changes = _pending_changes(ctx)
    for change in changes:
        change.status, change.closed_at = "Discarded", utcnow()
    return f"{len(changes)} held-back change(s) discarded"


@implements("update_field")
def update_field(ctx: StepContext) -> str:
    """Set ``field`` to the rendered ``value`` template (e.g. ``{{ record.amount }}``).
    The change is made by the workflow and raises no record-modified event."""
    field = _field(ctx)
    text = render_option(ctx, str(ctx.options.get("value") or "")).strip()
    try:
        value = _coerce_field(ctx.record_type, field, text if text != "" else None)
    except (ValueError, ArithmeticError) as exc:
        raise ResponseError(f"{text!r} is not a valid value for {field}.") from exc
    _audit_field(ctx, field, getattr(ctx.record, field), value)
    setattr(ctx.record, field, value)
    shown = ("Yes" if value else "No") if isinstance(value, bool) else (text or "blank")
    return f"{field_label(field, ctx.record_type.key if ctx.record_type else None)} set to {shown}"


def _number_option(ctx: StepContext, name: str, kind: type) -> int | float:
    """The step's ``name`` option as ``kind``; when the step leaves it blank, the
    response's default from the catalog (a webhook's ``retries`` default to 2 more
    tries, its ``timeout`` to 10 seconds). ResponseError for a value that is not a number."""
    value = ctx.options.get(name)
    if value is None or str(value).strip() == "":
        value = next(o.default for o in RESPONSES[ctx.step.function_name].options if o.name == name)
    try:
        return kind(value)
    except (TypeError, ValueError) as exc:
        raise ResponseError(f"{name.title()} must be a number, not {value!r}.") from exc


@implements("call_webhook")
def call_webhook(ctx: StepContext) -> str:
    """Call ``url`` with ``method``, the extra ``headers`` and the rendered ``body``
    (JSON when it parses as JSON) — after the commit, as an effect
    (:mod:`portal.workflow.effects`) carrying an ``Idempotency-Key``: ``timeout``
    seconds per try, up to ``retries`` more tries with back-off on connection errors,
    timeouts and 5xx answers; any other non-2xx answer fails the run. The secrets
    (``bearer_token``, ``basic_password``, ``secret_headers``) go into the effect
    still encrypted; only the performer opens them. Returns the call's description
    (replaced by the answer, e.g. ``POST … → 201``, once it is done)."""
    from portal.workflow.effects import add_effect, webhook_payload
    from portal.workflow.vault import parse_header_lines

    url, method = str(ctx.options.get("url") or ""), str(ctx.options.get("method") or "POST").upper()
    if not url:
        raise ResponseError("The webhook has no URL.")
    body = render_option(ctx, ctx.options.get("body") or "")
    retries = _number_option(ctx, "retries", int)
    timeout = _number_option(ctx, "timeout", float)
    headers, problems = parse_header_lines(str(ctx.options.get("headers") or ""))
    if problems:
        raise ResponseError(f"The webhook's headers: {'; '.join(problems)}.")
    secrets = {name: ctx.options[name] for name in ("bearer_token", "basic_username", "basic_password", "secret_headers")
               if ctx.options.get(name)}
    effect = add_effect(ctx, "webhook", f"{method} {url}",
                        webhook_payload(url, method, body, timeout, ctx.instance.id, headers, secrets),
                        max_attempts=retries + 1)
    return effect.description


def _check_webhook_options(_session, options: dict, errors: dict) -> None:
    """A webhook authenticates one way: a bearer token or basic authentication."""
    if options.get("bearer_token") and (options.get("basic_username") or options.get("basic_password")):
        errors["bearer_token"] = "Use either a bearer token or basic authentication, not both."
    elif options.get("basic_password") and not options.get("basic_username"):
        errors["basic_username"] = "Basic authentication needs a user name."


OPTION_VALIDATORS["call_webhook"] = _check_webhook_options
