"""The notifications area's workflow responses (show a message, create a
notification, send an e-mail) and the notice a user gets when a run they started
fails. Registered with the engine on import (:func:`portal.areas.register`)."""
from __future__ import annotations

from portal.notifications.mail import perform_emails
from portal.workflow.catalog import EFFECT_PERFORMERS, RUN_FAILED_HANDLERS, implements
from portal.workflow.effects import add_effect
from portal.workflow.engine import ResponseError, StepContext, batch_cache
from portal.workflow.responses import render_option, template_context


@implements("show_message")
def show_message(ctx: StepContext) -> str:
    """The rendered ``message`` template becomes the run's result; the user who raised
    the event also gets it as a notification (the Run flow pane shows instant flows'
    results directly)."""
    message = render_option(ctx, str(ctx.options.get("message") or ""))
    if ctx.user_id is not None and ctx.event.event_code != "run_from_automate":
        from portal.notifications.service import create_notification

        create_notification(ctx.session, recipient_id=ctx.user_id, type_="New Record", record_type=ctx.instance.record_type,
                            record_id=ctx.instance.record_id, template_code="workflow_notification", custom_message=message)
    return message


@implements("create_notification")
def create_notification_response(ctx: StepContext) -> str:
    """A notification entry for the sender (the user who raised the event), the
    record's current approver, a specific user, or the user whose approval user setup
    holds the record's salesperson/purchaser code (Business Central's Salesperson/
    Purchaser approver type); linked to the record or a custom link; sent by the
    notification dispatcher."""
    from sqlalchemy import select

    from portal.approvals.models import OPEN, ApprovalEntry
    from portal.auth.models import User
    from portal.notifications.service import create_notification

    who = ctx.options.get("recipient", "Sender")
    if who == "Specific User":
        name = ctx.options.get("user") or ""
        users = batch_cache(ctx.session).setdefault("users_by_name", {})
        if name not in users:
            users[name] = ctx.session.scalar(select(User).where(User.user_name == name))
        user = users[name]
        recipient_id = user.id if user else None
    elif who == "Approver":
        entry = ctx.session.scalars(select(ApprovalEntry).where(
            ApprovalEntry.workflow_instance_id == ctx.instance.id, ApprovalEntry.status == OPEN)).first()
        recipient_id = entry.approver_id if entry else None
    elif who == "Salesperson/Purchaser":
        from sqlalchemy import func

        from portal.approvals.models import ApprovalUserSetup

        code = getattr(ctx.record, "salesperson_purchaser_code", None) if ctx.record is not None else None
        recipient_id = ctx.session.scalar(select(ApprovalUserSetup.user_id).where(
            func.upper(ApprovalUserSetup.salespers_purch_code) == code.upper()).limit(1)) if code else None
    else:
        recipient_id = ctx.user_id
    if recipient_id is None:
        raise ResponseError(f"There is no {who.lower()} to notify for {ctx.instance.record_title or 'this run'}.")
    message = render_option(ctx, ctx.options.get("message") or "")
    record_type, record_id = ctx.instance.record_type, ctx.instance.record_id
    payload = ctx.event.payload or {}
    if ctx.record is None and payload.get("posted_record_type") and payload.get("posted_record_id"):
        # the document was posted (and removed): the notification is about the posted document
        record_type, record_id = payload["posted_record_type"], payload["posted_record_id"]
    made = create_notification(
        ctx.session, recipient_id=recipient_id, type_=ctx.options.get("notification_type", "New Record"),
        record_type=record_type, record_id=record_id, template_code="workflow_notification",
        sender_id=ctx.user_id, custom_message=message, link=ctx.options.get("link") or None,
    )
    recipient = ctx.session.get(User, recipient_id)  # (from the identity map when just looked up)
    if made is None:
        return (f"No notification for {recipient.full_name if recipient else 'the recipient'}: they have no approval "
                "user setup, or the record no longer exists")
    return f"Notification for {recipient.full_name}"


@implements("send_email")
def send_email(ctx: StepContext) -> str:
    """Render the notification template ``template`` for the record and e-mail it to
    the address in the record's field ``to_field`` (default ``email``) — after the
    commit, as an effect with a stable Message-ID (:mod:`portal.workflow.effects`),
    retried on temporary SMTP failures. Returns the mail's description (replaced by
    "… sent to …" once it is sent)."""
    from portal.notifications.service import render_template_code

    if ctx.record is None:
        raise ResponseError("The record no longer exists.")
    to_field = ctx.options.get("to_field") or "email"
    to = getattr(ctx.record, to_field, None)
    if not to:
        raise ResponseError(f"{ctx.record_type.title(ctx.record)} has no value in {to_field!r} to send the email to.")
    context = dict(template_context(ctx))
    context["message"] = (ctx.instance.inputs or {}).get("message", "")
    subject, body = render_template_code(ctx.session, ctx.options.get("template"), context)
    effect = add_effect(ctx, "email", f"Email “{subject}” to {to}", {"to": to, "subject": subject, "html": body})
    return effect.description


def notify_run_failed(session, inst, ev) -> None:
    """Tell the user who raised ``ev`` that run ``inst`` failed (a notification with the
    workflow and the error). Instant flows are left out: the Run flow pane shows their
    failure to the user directly."""
    if ev.user_id is None or ev.event_code == "run_from_automate":
        return
    from portal.notifications.service import create_notification

    create_notification(
        session,
        recipient_id=ev.user_id,
        type_="Approval" if "approval" in ev.event_code else "New Record",
        record_type=inst.record_type,
        record_id=inst.record_id,
        template_code="workflow_failed",
        custom_message=f"{inst.workflow_code}: {inst.error}",
    )


RUN_FAILED_HANDLERS.append(notify_run_failed)


EFFECT_PERFORMERS["email"] = perform_emails
