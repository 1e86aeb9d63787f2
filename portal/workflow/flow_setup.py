"""Who may do what with flows: the admin's :class:`~portal.workflow.models.FlowSetup`
(Automate on / off for everyone, the roles that may run flows, create instant flows,
create automated and scheduled flows) and the checks every page uses.

Admins may do everything while Automate is on; while it is off nobody runs flows from
the Automate menu (admins still build flows and change the setting)."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.auth.models import ROLES, User
from portal.util import read_memo, utcnow
from portal.workflow.models import DEFAULT_FLOW_ROLES, TRIGGER_INSTANT, FlowSetup

#: Roles an admin can grant flow rights to (admins hold every right anyway).
GRANTABLE_ROLES = tuple(r for r in ROLES if r != "admin")
ROLE_CAPTIONS = {"business_user": "Business users", "approver": "Approvers", "flow_maker": "Flow makers"}


def get_setup(session: Session) -> FlowSetup:
    """The flow setup row; a transient default (Automate on, the default roles) when
    none was saved yet (nothing is added to ``session``)."""
    setup = read_memo(session, ("flow_setup",), lambda: session.scalar(select(FlowSetup).order_by(FlowSetup.id).limit(1)))
    if setup is None:
        setup = FlowSetup(automate_enabled=True, run_roles=list(DEFAULT_FLOW_ROLES["run"]),
                          instant_roles=list(DEFAULT_FLOW_ROLES["instant"]),
                          automated_roles=list(DEFAULT_FLOW_ROLES["automated"]))
    return setup


def save_setup(session: Session, user: User, automate_enabled: bool, run_roles: list[str], instant_roles: list[str],
               automated_roles: list[str]) -> FlowSetup:
    """Store the flow setup (creating its row on first save); unknown role names are
    dropped. The caller commits. Returns the row."""
    setup = read_memo(session, ("flow_setup",), lambda: session.scalar(select(FlowSetup).order_by(FlowSetup.id).limit(1)))
    if setup is None:
        setup = FlowSetup()
        session.add(setup)

    def clean(roles):
        return [r for r in GRANTABLE_ROLES if r in set(roles or [])]

    setup.automate_enabled = bool(automate_enabled)
    setup.run_roles, setup.instant_roles, setup.automated_roles = clean(run_roles), clean(instant_roles), clean(automated_roles)
    setup.modified_by_id = user.id
    setup.modified_at = utcnow()
    session.flush()
    return setup


def automate_enabled(session: Session) -> bool:
    """True unless an admin turned Automate off for everyone."""
    return bool(get_setup(session).automate_enabled)


def may_run_flows(session: Session, user: User) -> bool:
    """True if Automate is on and ``user`` holds a role that may run flows (or is an admin)."""
    setup = get_setup(session)
    return bool(setup.automate_enabled) and user.has_role(*(setup.run_roles or []))


def may_create_flow(session: Session, user: User, trigger_kind: str) -> bool:
    """True if ``user`` may create a flow with ``trigger_kind`` (instant, automated or
    scheduled): admins always; others by the setup's role lists."""
    setup = get_setup(session)
    roles = setup.instant_roles if trigger_kind == TRIGGER_INSTANT else setup.automated_roles
    return user.has_role(*(roles or []))


def creatable_kinds(session: Session, user: User) -> list[str]:
    """The trigger kinds ``user`` may create flows with, in menu order."""
    return [k for k in ("automated", "instant", "scheduled") if may_create_flow(session, user, k)]


def notice_accepted(user: User) -> bool:
    """True once ``user`` accepted the automation notice (Get started)."""
    return user.automation_notice_accepted_at is not None


def accept_notice(user: User) -> None:
    """Remember (in the user's row) that ``user`` accepted the automation notice now
    (UTC). Accepting again keeps the first time. The caller commits."""
    if user.automation_notice_accepted_at is None:
        user.automation_notice_accepted_at = utcnow()
