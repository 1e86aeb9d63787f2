"""Approval setup: Approval User Setup (who approves for whom, up to which amount),
Test Setup (the gaps in that setup) and workflow user groups.

Plain functions over a SQLAlchemy session; no Flask request objects. The views in
:mod:`portal.approvals.setup_views` parse forms, call these and commit.

The rules follow Business Central's Approval User Setup (the approval fields of its
User Setup table) and its Workflow User Groups:

- each user has at most one approval user setup: an approver (the next user up the
  approver chain), a salesperson/purchaser code, three amount approval limits (sales,
  purchase, request) each either an amount or *Unlimited*, a substitute, an e-mail
  address and the approval administrator flag (at most one user has it);
- the same form sets the user's time zone (an IANA name, default UTC): an approval
  entry is overdue once its due date is today or earlier in its approver's time zone
  (Business Central compares due dates with the approver's ``Today``);
- a workflow user group is a code with members in sequence; the response *Create
  approval requests* with approver type *Workflow User Group* names it in its option
  ``workflow_user_group``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from zoneinfo import available_timezones

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.approvals.models import ApprovalUserSetup, WorkflowUserGroup, WorkflowUserGroupMember
from portal.audit.service import record_audit, record_field_changes
from portal.auth.models import User, time_zone_error
from portal.records.models import Salesperson
from portal.util import column_errors, read_memo
from portal.workflow.models import Workflow, WorkflowStep

#: The three kinds of amount approval limit, in the order Business Central shows them.
#: A sales document uses the sales limit, a purchase document the purchase limit and
#: anything else (purchase quotes, journal batches, master data) the request limit
#: (see :func:`portal.approvals.service.limit_covers`).
LIMIT_KINDS = ("sales", "purchase", "request")

#: The response whose option ``workflow_user_group`` names a workflow user group.
CREATE_APPROVAL_REQUESTS = "create_approval_requests"

GROUP_CODE_MAX = 20

#: The IANA time zone names offered for a user's time zone (UTC first).
TIME_ZONES: tuple[str, ...] = ("UTC", *sorted(z for z in available_timezones() if z != "UTC"))


class SetupError(Exception):
    """An approval setup change that was refused; ``str(exc)`` says why."""


class SetupErrors(SetupError):
    """Field errors: ``errors`` maps a field name to its message."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(errors.values()))
        self.errors = errors


def _name(user: User | None) -> str:
    return f"{user.full_name} ({user.user_name})" if user is not None else "an unknown user"


def _audit(session: Session, by_user_id: int | None, action: str, record_type: str, record_id: int | None, detail: str) -> None:
    record_audit(session, "approval_setup", action, user_id=by_user_id, record_type=record_type, record_id=record_id,
                 record_title=detail, detail=detail)


def _setup_snapshot(session: Session, setup: ApprovalUserSetup | None, user: User) -> dict[str, object]:
    """The approval user setup's values as the page shows them (captions → values),
    for the audit trail's from → to rows. None values for a user without a setup."""
    def who(user_id):
        return session.get(User, user_id).user_name if user_id else None

    values: dict[str, object] = {"Time Zone": user.time_zone}
    if setup is None:
        return values
    values.update({"Approver": who(setup.approver_id), "Salesperson/Purchaser Code": setup.salespers_purch_code})
    for kind in LIMIT_KINDS:
        values[f"{kind.capitalize()} Amount Approval Limit"] = (
            "Unlimited" if getattr(setup, f"unlimited_{kind}_approval") else getattr(setup, f"{kind}_amount_approval_limit"))
    values.update({"Substitute": who(setup.substitute_id), "E-Mail": setup.email,
                   "Approval Administrator": setup.approval_administrator})
    return values


# ---------------------------------------------------------------- permissions

def approval_administrator(session: Session, exclude_user_id: int | None = None) -> ApprovalUserSetup | None:
    """The setup of the user who is the approval administrator, or None.

    ``exclude_user_id``: ignore that user's setup (to ask "is someone *else* the
    approval administrator?" while editing a setup)."""
    q = select(ApprovalUserSetup).where(ApprovalUserSetup.approval_administrator.is_(True)).order_by(ApprovalUserSetup.id)
    if exclude_user_id is not None:
        q = q.where(ApprovalUserSetup.user_id != exclude_user_id)
    return session.scalars(q).first()


def may_administer(session: Session, user: User) -> bool:
    """True if ``user`` may change the approval setup: users with the role admin and
    the approval administrator (Business Central lets the approval administrator
    maintain the approval setup)."""
    if not getattr(user, "is_authenticated", False):
        return False
    if user.has_role("admin"):
        return True
    return is_approval_administrator(session, user.id)


def is_approval_administrator(session: Session, user_id: int) -> bool:
    """True if ``user_id`` is the approval administrator (Approval User Setup). Read
    once per request while nothing changes (:func:`portal.util.read_memo`)."""
    return read_memo(session, ("approval_administrator", user_id), lambda: bool(
        session.scalar(
            select(ApprovalUserSetup.id).where(
                ApprovalUserSetup.user_id == user_id, ApprovalUserSetup.approval_administrator.is_(True)
            )
        )
    ))


# ---------------------------------------------------------------- Approval User Setup

@dataclass
class SetupData:
    """The editable fields of one approval user setup.

    Limits are ``Decimal`` or None (no amount entered); ``unlimited`` maps each of
    :data:`LIMIT_KINDS` to its *Unlimited ... approval* flag. User references are
    user ids or None."""

    approver_id: int | None = None
    salespers_purch_code: str | None = None
    limits: dict[str, Decimal | None] = field(default_factory=lambda: {k: None for k in LIMIT_KINDS})
    unlimited: dict[str, bool] = field(default_factory=lambda: {k: False for k in LIMIT_KINDS})
    substitute_id: int | None = None
    email: str | None = None
    approval_administrator: bool = False
    #: the user's time zone (IANA name); None leaves it as it is
    time_zone: str | None = None

    @classmethod
    def of(cls, setup: ApprovalUserSetup | None, user: User | None = None) -> "SetupData":
        """The values of ``setup`` (empty values for None: a user without a setup) and
        the time zone of ``user`` (when given)."""
        time_zone = user.time_zone if user is not None else None
        if setup is None:
            return cls(time_zone=time_zone)
        return cls(
            time_zone=time_zone,
            approver_id=setup.approver_id,
            salespers_purch_code=setup.salespers_purch_code,
            limits={k: getattr(setup, f"{k}_amount_approval_limit") for k in LIMIT_KINDS},
            unlimited={k: bool(getattr(setup, f"unlimited_{k}_approval")) for k in LIMIT_KINDS},
            substitute_id=setup.substitute_id,
            email=setup.email,
            approval_administrator=setup.approval_administrator,
        )


def users_with_setups(session: Session) -> list[tuple[User, ApprovalUserSetup | None]]:
    """Every user (by full name) with their approval user setup, or None for users
    without one. Returns ``[(user, setup or None), ...]``."""
    setups = {s.user_id: s for s in session.scalars(select(ApprovalUserSetup)).unique()}
    users = session.scalars(select(User).order_by(User.full_name, User.user_name)).all()
    return [(u, setups.get(u.id)) for u in users]


def setup_for(session: Session, user_id: int) -> ApprovalUserSetup | None:
    """The approval user setup of the user ``user_id``, or None."""
    return session.scalar(select(ApprovalUserSetup).where(ApprovalUserSetup.user_id == user_id))


def validate_setup(session: Session, user: User, data: SetupData) -> dict[str, str]:
    """Check ``data`` as ``user``'s approval user setup. Returns ``{field: message}``
    (empty when valid); field names are those of :class:`ApprovalUserSetup` plus
    ``{kind}_amount_approval_limit`` for the limits.

    Rules (Business Central's User Setup validation):
    - a limit amount and *Unlimited* for the same kind exclude each other;
    - limits can't be negative;
    - the approver and the substitute can't be the user themself and must exist;
    - at most one user is the approval administrator;
    - the e-mail address, when given, must be a valid address;
    - the salesperson/purchaser code, when given, must exist and not be another
      user's (approver resolution starts from the user holding a document's code);
    - the time zone, when given, must be a known IANA time zone name."""
    # first what fits the columns (lengths, NUL bytes, amounts within the column's
    # digits): a value that doesn't isn't looked up either
    typed = {"salespers_purch_code": data.salespers_purch_code, "email": data.email,
             **{f"{k}_amount_approval_limit": data.limits.get(k) for k in LIMIT_KINDS}}
    errors: dict[str, str] = column_errors(ApprovalUserSetup, typed)
    if data.time_zone is not None:
        problem = time_zone_error(data.time_zone)
        if problem:
            errors["time_zone"] = problem
    for kind in LIMIT_KINDS:
        name = f"{kind}_amount_approval_limit"
        amount = data.limits.get(kind)
        if amount is None or name in errors:
            continue
        if not amount.is_finite():
            errors[name] = f"Enter the {kind} amount approval limit as a number, e.g. 1500.00."
        elif amount < 0:
            errors[name] = f"The {kind} amount approval limit can't be negative."
        elif data.unlimited.get(kind):
            errors[name] = (f"Enter a {kind} amount approval limit or tick Unlimited {kind} approval, not both "
                            f"(an unlimited approver has no limit).")
    for attr, role in (("approver_id", "approver"), ("substitute_id", "substitute")):
        other_id = getattr(data, attr)
        if other_id is None:
            continue
        if other_id == user.id:
            errors[attr] = f"A user can't be their own {role}."
        elif session.get(User, other_id) is None:
            errors[attr] = f"The {role} must be an existing user."
    if data.approval_administrator:
        current = approval_administrator(session, exclude_user_id=user.id)
        if current is not None:
            errors["approval_administrator"] = (
                f"{_name(current.user)} is already the approval administrator; there can be only one. "
                f"Untick it on their setup first."
            )
    if data.email and "email" not in errors:
        try:
            # test_environment: accept the reserved .test domain the demo data uses
            # (and the SMTP sink delivers); no DNS look-up either way.
            validate_email(data.email, check_deliverability=False, test_environment=True)
        except EmailNotValidError:
            errors["email"] = f"{data.email!r} is not a valid e-mail address, e.g. name@example.com."
    if data.salespers_purch_code and "salespers_purch_code" not in errors:
        code = data.salespers_purch_code
        if session.scalar(select(Salesperson.id).where(func.upper(Salesperson.code) == code.upper())) is None:
            errors["salespers_purch_code"] = f"There is no salesperson/purchaser with code {code}."
        else:
            holder = session.scalar(
                select(ApprovalUserSetup).where(
                    func.upper(ApprovalUserSetup.salespers_purch_code) == code.upper(), ApprovalUserSetup.user_id != user.id
                )
            )
            if holder is not None:
                errors["salespers_purch_code"] = (
                    f"Salesperson/purchaser code {code.upper()} is already used by {_name(holder.user)}."
                )
    return errors


def save_setup(session: Session, user: User, data: SetupData, by_user_id: int | None) -> ApprovalUserSetup:
    """Validate ``data`` and write it as ``user``'s approval user setup, creating the
    setup if the user has none; adds an audit entry. Flushes, doesn't commit.

    Returns the setup. Raises :class:`SetupErrors` (nothing changed) when
    :func:`validate_setup` finds problems."""
    errors = validate_setup(session, user, data)
    if errors:
        raise SetupErrors(errors)
    setup = setup_for(session, user.id)
    created = setup is None
    before = _setup_snapshot(session, setup, user)
    if created:
        setup = ApprovalUserSetup(user_id=user.id)
        session.add(setup)
    code = (data.salespers_purch_code or "").strip()
    if code:  # store the salesperson's own spelling of the code
        code = session.scalar(select(Salesperson.code).where(func.upper(Salesperson.code) == code.upper())) or code
    setup.approver_id = data.approver_id
    setup.salespers_purch_code = code or None
    for kind in LIMIT_KINDS:
        unlimited = bool(data.unlimited.get(kind))
        setattr(setup, f"unlimited_{kind}_approval", unlimited)
        setattr(setup, f"{kind}_amount_approval_limit", None if unlimited else data.limits.get(kind))
    setup.substitute_id = data.substitute_id
    setup.email = (data.email or "").strip() or None
    setup.approval_administrator = bool(data.approval_administrator)
    if data.time_zone is not None:
        user.time_zone = data.time_zone
    session.flush()
    title = f"Approval user setup of {user.user_name}"
    if created:
        _audit(session, by_user_id, "create", "approval_user_setup", setup.id, title)
    after = _setup_snapshot(session, setup, user)
    record_field_changes(session, {k: (before.get(k), v) for k, v in after.items() if before.get(k) != v},
                         user_id=by_user_id, record_type="approval_user_setup", record_id=setup.id, record_title=title,
                         kind="approval_setup")
    return setup


# ---------------------------------------------------------------- Test Setup

@dataclass(frozen=True)
class SetupGap:
    """One problem found by :func:`find_setup_gaps`.

    ``kind``: ``no_administrator``, ``approver_loop``, ``chain_tops_out``,
    ``missing_email``, ``approver_without_setup``, ``substitute_without_setup`` or
    ``inactive_user``; ``user_ids``: the users concerned (the loop's users in chain
    order for ``approver_loop``); ``message``: the sentence shown to the admin."""

    kind: str
    user_ids: tuple[int, ...]
    message: str


def _limit_text(setup: ApprovalUserSetup, kind: str) -> str:
    if getattr(setup, f"unlimited_{kind}_approval"):
        return "unlimited"
    return f"{Decimal(getattr(setup, f'{kind}_amount_approval_limit') or 0):,.2f}"


def _join(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def find_setup_gaps(session: Session) -> list[SetupGap]:
    """Test Setup: the gaps in the approval user setup that make approval requests
    fail or go unanswered, as a list of :class:`SetupGap` (empty = no gaps), in this
    order: no approval administrator, loops in approver chains, then per user (by
    full name) chains that top out, missing e-mail, approver / substitute without a
    setup, inactive approver / substitute.

    Where the rules come from: approver resolution
    (:func:`portal.approvals.service.resolve_approvers`) walks a user's approver
    chain until a user's limit covers the amount, so a chain must end at a user
    who is *Unlimited* for each of sales, purchase and request amounts, must not
    loop, and every approver in it needs a setup of their own (Business Central's
    Approval User Setup page offers a similar test report). Approval requests and
    notifications are e-mailed, so each approver needs an e-mail address; requests
    of an absent approver go to their substitute (delegation), who needs a setup;
    the approval administrator is the one who can act on any request."""
    setups = {s.user_id: s for s in session.scalars(select(ApprovalUserSetup)).unique()}
    users = {u.id: u for u in session.scalars(select(User))}
    gaps: list[SetupGap] = []

    if not any(s.approval_administrator for s in setups.values()):
        gaps.append(SetupGap("no_administrator", (), "No user is the approval administrator: tick Approval Administrator "
                                                      "on one user's setup, so someone can act on any approval request."))

    # Each setup points to at most one approver: follow the pointers to find loops
    # (reported once each, starting with the user first by name) and each chain's end.
    ordered = sorted(setups.values(), key=lambda s: (s.user.full_name, s.user.user_name))
    in_loop: set[int] = set()
    reported_loops: set[frozenset[int]] = set()
    chain_end: dict[int, int | None] = {}  # user id -> last user id of the chain (None: loops or breaks)
    for setup in ordered:
        path: list[int] = []
        seen: set[int] = set()
        current = setup.user_id
        end: int | None = None
        while True:
            if current in seen:  # a loop: from the first visit of ``current`` on
                loop = path[path.index(current):]
                key = frozenset(loop)
                if key not in reported_loops:
                    reported_loops.add(key)
                    in_loop.update(loop)
                    start = min(range(len(loop)), key=lambda i: (users[loop[i]].full_name, users[loop[i]].user_name))
                    loop = loop[start:] + loop[:start]
                    names = " → ".join(_name(users[u]) for u in loop + [loop[0]])
                    gaps.append(SetupGap("approver_loop", tuple(loop),
                                         f"The approver chain loops: {names}. An approval request that none of them "
                                         f"can approve never reaches a higher approver and fails."))
                break
            seen.add(current)
            path.append(current)
            node = setups.get(current)
            if node is None:  # approver without a setup: reported below
                break
            if node.approver_id is None:
                end = current
                break
            current = node.approver_id
        chain_end[setup.user_id] = end

    for setup in ordered:
        user = setup.user
        if setup.approver_id is None:
            short = [k for k in LIMIT_KINDS if not getattr(setup, f"unlimited_{k}_approval")]
            if short:
                below = [users[u] for u, end in chain_end.items() if end == user.id and u != user.id]
                below.sort(key=lambda u: (u.full_name, u.user_name))
                limits = ", ".join(f"{k} {_limit_text(setup, k)}" for k in short)
                whom = "them"
                if below:
                    whom += (f" or for {_join([_name(u) for u in below])}, whose approver chain"
                             f"{'s end' if len(below) > 1 else ' ends'} here too")
                gaps.append(SetupGap(
                    "chain_tops_out", (user.id, *(u.id for u in below)),
                    f"{_name(user)} has no approver and no unlimited {_join(short)} approval ({limits}): the approver "
                    f"chain tops out here, so larger {_join(short)} amounts can't be approved for {whom}. "
                    f"Give them an approver or tick Unlimited {_join(short)} approval.",
                ))
        if not (setup.email or "").strip():
            fallback = (f"notifications go to their user e-mail {user.email}" if user.email
                        else "they have no user e-mail either, so approval requests can't be e-mailed to them")
            gaps.append(SetupGap("missing_email", (user.id,),
                                 f"{_name(user)} has no e-mail address in Approval User Setup ({fallback})."))
        for attr, role in (("approver_id", "approver"), ("substitute_id", "substitute")):
            other_id = getattr(setup, attr)
            if other_id is None:
                continue
            other = users.get(other_id)
            if other_id not in setups:
                gaps.append(SetupGap(f"{role}_without_setup", (user.id, other_id),
                                     f"{_name(user)}'s {role} {_name(other)} has no approval user setup"
                                     + (": the approver chain stops there." if role == "approver" else
                                        ": requests delegated to them can't be routed further.")))
            if other is not None and not other.active:
                gaps.append(SetupGap("inactive_user", (user.id, other_id),
                                     f"{_name(user)}'s {role} {_name(other)} is inactive and can't sign in to approve."))
    return gaps


# ---------------------------------------------------------------- workflow user groups

@dataclass
class GroupData:
    """The editable fields of a workflow user group (``code`` as typed)."""

    code: str = ""
    description: str | None = None
    all_must_approve: bool = False

    @classmethod
    def of(cls, group: WorkflowUserGroup | None) -> "GroupData":
        """The values of ``group`` (defaults for None: a new group)."""
        if group is None:
            return cls()
        return cls(code=group.code, description=group.description, all_must_approve=group.all_must_approve)


def groups_with_counts(session: Session) -> list[tuple[WorkflowUserGroup, int]]:
    """Every workflow user group by code with its number of members:
    ``[(group, member_count), ...]``."""
    counts = dict(session.execute(
        select(WorkflowUserGroupMember.group_id, func.count()).group_by(WorkflowUserGroupMember.group_id)
    ).all())
    return [(g, counts.get(g.id, 0)) for g in session.scalars(select(WorkflowUserGroup).order_by(WorkflowUserGroup.code))]


def workflows_using_group(session: Session, code: str, enabled_only: bool = True) -> list[Workflow]:
    """The workflows (enabled ones only, by default) with a *Create approval
    requests* response whose option ``workflow_user_group`` names ``code``
    (compared case-insensitively, as codes are). Returns them by code."""
    wanted = code.strip().upper()
    q = (select(Workflow).join(WorkflowStep, WorkflowStep.workflow_id == Workflow.id)
         .where(WorkflowStep.function_name == CREATE_APPROVAL_REQUESTS).order_by(Workflow.code))
    if enabled_only:
        q = q.where(Workflow.enabled.is_(True))
    found: dict[int, Workflow] = {}
    for wf in session.scalars(q).unique():
        for step in wf.steps:
            option = (step.options or {}).get("workflow_user_group")
            if step.function_name == CREATE_APPROVAL_REQUESTS and str(option or "").strip().upper() == wanted:
                found[wf.id] = wf
    return list(found.values())


def validate_group(session: Session, group: WorkflowUserGroup | None, data: GroupData) -> dict[str, str]:
    """Check ``data`` for ``group`` (None: a new group). Returns ``{field: message}``.

    Rules: the code is required, at most 20 characters and unique (codes are
    upper-case, so compared case-insensitively); the code of a group that an enabled
    workflow names can't be changed (the workflow would lose its group)."""
    code = (data.code or "").strip().upper()
    # what fits the columns (NUL bytes) first: PostgreSQL refuses a NUL even in the lookup below
    errors: dict[str, str] = column_errors(WorkflowUserGroup, {"code": code, "description": data.description})
    code_problem = errors.pop("code", None)
    if not code:
        errors["code"] = "Enter a code."
    elif len(code) > GROUP_CODE_MAX:
        errors["code"] = f"The code can be at most {GROUP_CODE_MAX} characters."
    elif code_problem:
        errors["code"] = code_problem
    else:
        q = select(WorkflowUserGroup.id).where(func.upper(WorkflowUserGroup.code) == code)
        if group is not None:
            q = q.where(WorkflowUserGroup.id != group.id)
        if session.scalar(q) is not None:
            errors["code"] = f"A workflow user group with code {code} already exists."
        elif group is not None and code != group.code.upper():
            using = workflows_using_group(session, group.code)
            if using:
                errors["code"] = (f"The code can't be changed: enabled workflow {_join([w.code for w in using])} "
                                  f"uses workflow user group {group.code}. Disable it first.")
    if data.description and len(data.description) > 100:
        errors["description"] = "The description can be at most 100 characters."
    return errors


def save_group(session: Session, group: WorkflowUserGroup | None, data: GroupData, by_user_id: int | None) -> WorkflowUserGroup:
    """Create (``group`` None) or change a workflow user group from ``data``; the code
    is stored upper-case. Flushes, doesn't commit. Returns the group. Raises
    :class:`SetupErrors` when :func:`validate_group` finds problems."""
    errors = validate_group(session, group, data)
    if errors:
        raise SetupErrors(errors)
    created = group is None
    if created:
        group = WorkflowUserGroup()
        session.add(group)
    group.code = data.code.strip().upper()
    group.description = (data.description or "").strip() or None
    group.all_must_approve = bool(data.all_must_approve)
    session.flush()
    _audit(session, by_user_id, "create" if created else "modify", "workflow_user_group", group.id,
           f"Workflow user group {group.code}")
    return group


def delete_group(session: Session, group: WorkflowUserGroup, by_user_id: int | None) -> None:
    """Delete a workflow user group and its members. Raises :class:`SetupError` if an
    enabled workflow names the group (its approval requests would fail)."""
    using = workflows_using_group(session, group.code)
    if using:
        raise SetupError(f"Workflow user group {group.code} can't be deleted: enabled workflow "
                         f"{_join([w.code for w in using])} uses it. Disable the workflow or change its response first.")
    _audit(session, by_user_id, "delete", "workflow_user_group", group.id, f"Workflow user group {group.code}")
    session.delete(group)
    session.flush()


def next_sequence_no(group: WorkflowUserGroup) -> int:
    """The sequence no. proposed for a new member: one more than the highest."""
    return max((m.sequence_no for m in group.members), default=0) + 1


def _check_sequence(sequence_no: int | None) -> dict[str, str]:
    if sequence_no is None:
        return {"sequence_no": "Enter a sequence no. (a whole number, 1 or more)."}
    if sequence_no < 1:
        return {"sequence_no": "The sequence no. must be 1 or more."}
    return column_errors(WorkflowUserGroupMember, {"sequence_no": sequence_no}, {"sequence_no": "The sequence no."})


def add_member(session: Session, group: WorkflowUserGroup, user_id: int | None, sequence_no: int | None,
               by_user_id: int | None) -> WorkflowUserGroupMember:
    """Add the user ``user_id`` to ``group`` at ``sequence_no`` (members with the
    same sequence no. are asked at the same time). Flushes. Returns the member.
    Raises :class:`SetupErrors` (fields ``user_id``, ``sequence_no``) for an unknown
    user, a user already in the group, or a sequence no. below 1."""
    errors = _check_sequence(sequence_no)
    user = session.get(User, user_id) if user_id is not None else None
    if user is None:
        errors["user_id"] = "Choose a user."
    elif any(m.user_id == user.id for m in group.members):
        errors["user_id"] = f"{_name(user)} is already a member of workflow user group {group.code}."
    if errors:
        raise SetupErrors(errors)
    member = WorkflowUserGroupMember(user_id=user.id, sequence_no=sequence_no)
    group.members.append(member)
    session.flush()
    _audit(session, by_user_id, "add_member", "workflow_user_group", group.id,
           f"{user.user_name} added to {group.code} at sequence no. {sequence_no}")
    return member


def change_member(session: Session, member: WorkflowUserGroupMember, sequence_no: int | None, by_user_id: int | None) -> None:
    """Change a member's sequence no. Flushes. Raises :class:`SetupErrors` (field
    ``sequence_no``) for a sequence no. below 1."""
    errors = _check_sequence(sequence_no)
    if errors:
        raise SetupErrors(errors)
    member.sequence_no = sequence_no
    session.flush()
    _audit(session, by_user_id, "modify_member", "workflow_user_group", member.group_id,
           f"{member.user.user_name} at sequence no. {sequence_no}")


def remove_member(session: Session, member: WorkflowUserGroupMember, by_user_id: int | None) -> None:
    """Remove a member from its group. Flushes."""
    _audit(session, by_user_id, "remove_member", "workflow_user_group", member.group_id, f"{member.user.user_name} removed")
    session.delete(member)
    session.flush()
