"""Approval setup pages through the Flask test client: Approval User Setup (list, edit
with field errors, the approval administrator rule, Test Setup) and Workflow User
Groups (list, card, members, delete refused while an enabled workflow uses the group),
and who may open them. Every test puts the Northwind approval user setup back as it
was and removes the groups it made."""
from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import inspect as sa_inspect
from sqlalchemy import select

from portal.approvals import setup as approval_setup
from portal.approvals.models import ApprovalUserSetup, WorkflowUserGroup
from portal.auth.models import User
from portal.workflow.library import build_workflow
from portal.workflow.models import Workflow

from test_pages import csrf, sign_in

pytestmark = pytest.mark.usefixtures("clean_state", "restore_setup")

SETUP_COLUMNS = [c.key for c in sa_inspect(ApprovalUserSetup).column_attrs]
REPS = ("msuyama", "rking", "ndavolio", "jleverling", "mpeacock", "adodsworth")


@pytest.fixture
def restore_setup(app):
    """Snapshot every approval user setup; afterwards restore it, delete setups, groups,
    users and workflows the test made (clean_state resets workflow state only)."""
    from portal.extensions import db

    with app.app_context():
        saved = {s.id: {k: getattr(s, k) for k in SETUP_COLUMNS} for s in db.session.scalars(select(ApprovalUserSetup)).unique()}
        users = set(db.session.scalars(select(User.id)))
        groups = set(db.session.scalars(select(WorkflowUserGroup.id)))
        db.session.remove()
    yield
    with app.app_context():
        s = db.session
        for wf in s.scalars(select(Workflow).where(Workflow.code.like("AUSTEST-%"))).unique():
            s.delete(wf)
        for group in s.scalars(select(WorkflowUserGroup)).unique():
            if group.id not in groups:
                s.delete(group)
        s.flush()
        # Clear cross-references first, so restoring one row never points at a row
        # that is about to be deleted.
        for setup in s.scalars(select(ApprovalUserSetup)).unique():
            if setup.id not in saved:
                s.delete(setup)
            else:
                setup.approval_administrator = False
        s.flush()
        for setup_id, values in saved.items():
            setup = s.get(ApprovalUserSetup, setup_id)
            for key, value in values.items():
                setattr(setup, key, value)
        s.flush()
        for user in s.scalars(select(User)).unique():
            if user.id not in users:
                s.delete(user)
        s.commit()
        s.remove()


@pytest.fixture
def admin(app):
    client = app.test_client()
    sign_in(client, "admin", "admin")
    return client


def ids(app, *user_names) -> list[int]:
    from portal.extensions import db

    with app.app_context():
        found = {u.user_name: u.id for u in db.session.scalars(select(User).where(User.user_name.in_(user_names)))}
        return [found[n] for n in user_names]


def setup_of(app, user_name) -> dict:
    from portal.extensions import db

    with app.app_context():
        setup = db.session.scalar(select(ApprovalUserSetup).join(User, User.id == ApprovalUserSetup.user_id).where(User.user_name == user_name))
        values = {k: getattr(setup, k) for k in SETUP_COLUMNS} if setup else None
        db.session.remove()
        return values


def form_of(values: dict, **changes) -> dict:
    """A setup form post from a setup's values (as :func:`setup_of` returns them)."""
    data = {
        "approver_id": values["approver_id"] or "",
        "salespers_purch_code": values["salespers_purch_code"] or "",
        "substitute_id": values["substitute_id"] or "",
        "email": values["email"] or "",
    }
    for kind in approval_setup.LIMIT_KINDS:
        limit = values[f"{kind}_amount_approval_limit"]
        data[f"{kind}_amount_approval_limit"] = "" if limit is None else str(limit)
        if values[f"unlimited_{kind}_approval"]:
            data[f"unlimited_{kind}_approval"] = "y"
    if values["approval_administrator"]:
        data["approval_administrator"] = "y"
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return data


def post_setup(client, user_id: int, data: dict):
    page = client.get(f"/approvals/setup/users/{user_id}").get_data(as_text=True)
    return client.post(f"/approvals/setup/users/{user_id}", data={**data, "csrf_token": csrf(page)})


def gaps(app) -> list[approval_setup.SetupGap]:
    from portal.extensions import db

    with app.app_context():
        found = approval_setup.find_setup_gaps(db.session)
        db.session.remove()
        return found


def change_setups(app, changes: dict[str, dict]) -> None:
    """Write ``{user_name: {column: value}}`` straight to the setups (what Test Setup
    must find even if the form would refuse it, e.g. a loop)."""
    from portal.extensions import db

    with app.app_context():
        users = {u.user_name: u for u in db.session.scalars(select(User))}
        for name, values in changes.items():
            setup = db.session.scalar(select(ApprovalUserSetup).where(ApprovalUserSetup.user_id == users[name].id))
            for key, value in values.items():
                if key in ("approver", "substitute"):
                    key, value = f"{key}_id", users[value].id if value else None
                setattr(setup, key, value)
        db.session.commit()
        db.session.remove()


# ---------------------------------------------------------------- Approval User Setup

def test_list_shows_the_northwind_setup(admin, app):
    res = admin.get("/approvals/setup/users")
    assert res.status_code == 200
    html = res.get_data(as_text=True)
    assert "<h1>Approval User Setup</h1>" in html and "Test Setup" in html
    row = lambda name: html.split(f'id="setup-{name}"')[1].split("</tr>")[0]  # noqa: E731
    for rep in REPS:
        assert row(rep).count("1,000.00") == 3, rep
    assert row("msuyama").count("Steven Buchanan") == 1 and "MSUYAMA" in row("msuyama")
    assert "msuyama@northwind.test" in row("msuyama")
    assert row("lcallahan").count("2,000.00") == 3 and "Andrew Fuller" in row("lcallahan")
    assert row("sbuchanan").count("5,000.00") == 3 and "Andrew Fuller" in row("sbuchanan")
    assert row("afuller").count("Unlimited") == 3
    assert "<td>Yes</td>" in row("admin") and "<td>No</td>" in row("afuller")
    # The header links to both setup pages for admins.
    assert 'href="/approvals/setup/users"' in html and 'href="/approvals/setup/groups"' in html


def test_a_valid_edit_saves(admin, app):
    suyama, buchanan, fuller, king = ids(app, "msuyama", "sbuchanan", "afuller", "rking")
    before = setup_of(app, "msuyama")
    res = post_setup(admin, suyama, form_of(before, approver_id=str(fuller), sales_amount_approval_limit="1500.50",
                                            unlimited_request_approval="y", request_amount_approval_limit="",
                                            substitute_id=str(king), email="michael.suyama@example.com",
                                            salespers_purch_code="msuyama"))
    assert res.status_code == 302 and res.headers["Location"].endswith("/approvals/setup/users")
    after = setup_of(app, "msuyama")
    assert after["approver_id"] == fuller and after["substitute_id"] == king
    assert after["sales_amount_approval_limit"] == Decimal("1500.50")
    assert after["purchase_amount_approval_limit"] == Decimal("1000.00") and not after["unlimited_purchase_approval"]
    assert after["unlimited_request_approval"] and after["request_amount_approval_limit"] is None
    assert after["email"] == "michael.suyama@example.com"
    assert after["salespers_purch_code"] == "MSUYAMA"  # the salesperson's own spelling
    html = admin.get("/approvals/setup/users").get_data(as_text=True)
    assert "Approval user setup of Michael Suyama saved." in html and "1,500.50" in html


CASES = [
    # (field changes, field with the error, message part)
    ({"sales_amount_approval_limit": "2000", "unlimited_sales_approval": "y"}, "sales_amount_approval_limit",
     "Enter a sales amount approval limit or tick Unlimited sales approval, not both"),
    ({"purchase_amount_approval_limit": "-5"}, "purchase_amount_approval_limit", "The purchase amount approval limit can&#39;t be negative."),
    ({"request_amount_approval_limit": "lots"}, "request_amount_approval_limit", "Enter the request amount approval limit as a number"),
    ({"approver_id": "SELF"}, "approver_id", "A user can&#39;t be their own approver."),
    ({"substitute_id": "SELF"}, "substitute_id", "A user can&#39;t be their own substitute."),
    ({"approver_id": "999999"}, "approver_id", "Choose an approver from the list."),
    ({"email": "not-an-address"}, "email", "is not a valid e-mail address"),
    ({"salespers_purch_code": "NOSUCH"}, "salespers_purch_code", "There is no salesperson/purchaser with code NOSUCH."),
    ({"salespers_purch_code": "SBUCHANAN"}, "salespers_purch_code",
     "Salesperson/purchaser code SBUCHANAN is already used by Steven Buchanan (sbuchanan)."),
]


@pytest.mark.parametrize("changes,field,message", CASES, ids=[c[1] + "-" + str(i) for i, c in enumerate(CASES)])
def test_each_validation_error_re_renders_with_the_input_kept_and_saves_nothing(admin, app, changes, field, message):
    (suyama,) = ids(app, "msuyama")
    before = setup_of(app, "msuyama")
    changes = {k: (str(suyama) if v == "SELF" else v) for k, v in changes.items()}
    # Another field changed too: it must not be saved either, and must be shown as typed.
    res = post_setup(admin, suyama, form_of(before, email=changes.pop("email", "changed@example.com"), **changes))
    assert res.status_code == 422
    html = res.get_data(as_text=True)
    assert "The approval user setup was not saved" in html
    error = html.split(f'id="{field}-error"')[1].split("</p>")[0]
    assert message in error
    if field != "email":
        assert 'value="changed@example.com"' in html
    for key, value in changes.items():
        if key.endswith("_limit") and value:
            assert f'value="{value}"' in html  # the typed amount is kept
    assert setup_of(app, "msuyama") == before


def test_a_second_approval_administrator_is_refused(admin, app):
    (fuller,) = ids(app, "afuller")
    before = setup_of(app, "afuller")
    res = post_setup(admin, fuller, form_of(before, approval_administrator="y"))
    assert res.status_code == 422
    error = res.get_data(as_text=True).split('id="approval_administrator-error"')[1].split("</p>")[0]
    assert "Portal Administrator (admin) is already the approval administrator" in error
    assert setup_of(app, "afuller") == before
    # Untick it on admin first, then Fuller can have it.
    (admin_id,) = ids(app, "admin")
    assert post_setup(admin, admin_id, form_of(setup_of(app, "admin"), approval_administrator=None)).status_code == 302
    assert post_setup(admin, fuller, form_of(before, approval_administrator="y")).status_code == 302
    assert setup_of(app, "afuller")["approval_administrator"] and not setup_of(app, "admin")["approval_administrator"]


def test_new_setup_for_a_user_without_one(admin, app):
    from portal.extensions import db

    with app.app_context():
        user = User(user_name="austest-new", full_name="Aus Test New", email="austest-new@example.com")
        db.session.add(user)
        db.session.commit()
        user_id = user.id
        db.session.remove()
    html = admin.get("/approvals/setup/users").get_data(as_text=True)
    row = html.split('id="setup-austest-new"')[1].split("</tr>")[0]
    assert "No approval user setup." in row and ">New</a>" in row
    page = admin.get(f"/approvals/setup/users/{user_id}").get_data(as_text=True)
    assert "New Approval User Setup: Aus Test New" in page
    (buchanan,) = ids(app, "sbuchanan")
    res = post_setup(admin, user_id, {"approver_id": str(buchanan), "sales_amount_approval_limit": "250",
                                      "email": "austest-new@example.com"})
    assert res.status_code == 302
    created = setup_of(app, "austest-new")
    assert created["approver_id"] == buchanan and created["sales_amount_approval_limit"] == Decimal("250.00")
    assert created["purchase_amount_approval_limit"] is None and not created["approval_administrator"]


# ---------------------------------------------------------------- Test Setup

def make_clean(app) -> None:
    """The Northwind setup has one gap: the portal administrator has no approver and no
    limits. Giving them Fuller (unlimited) as approver makes it clean."""
    change_setups(app, {"admin": {"approver": "afuller"}})


def test_the_northwind_setup_has_no_gaps(admin, app):
    # The portal administrator tops no chain but has unlimited limits.
    assert gaps(app) == []


def test_an_administrator_without_approver_or_unlimited_limits_is_a_gap(admin, app):
    change_setups(app, {"admin": {"unlimited_sales_approval": False, "unlimited_purchase_approval": False,
                                  "unlimited_request_approval": False}})
    found = gaps(app)
    assert [(g.kind, g.user_ids[0]) for g in found] == [("chain_tops_out", ids(app, "admin")[0])]
    assert "Portal Administrator (admin) has no approver and no unlimited sales, purchase and request approval" in found[0].message


def test_test_setup_reports_nothing_for_a_clean_setup(admin, app):
    make_clean(app)
    assert gaps(app) == []
    html = admin.get("/approvals/setup/test").get_data(as_text=True)
    assert 'id="setup-ok"' in html and "No gaps found" in html and "setup-gaps" not in html


def test_test_setup_reports_a_loop_a_missing_email_and_a_chain_that_tops_out(admin, app):
    make_clean(app)
    # A loop: Fuller → Suyama → Buchanan → Fuller (Fuller's unlimited approval doesn't
    # matter: a chain must end somewhere).
    # A chain that tops out: Callahan has no approver and a 2,000 limit; King reports to her.
    # A missing e-mail: Peacock.
    change_setups(app, {
        "afuller": {"approver": "msuyama"},
        "lcallahan": {"approver": None},
        "rking": {"approver": "lcallahan"},
        "mpeacock": {"email": None},
    })
    found = gaps(app)
    kinds = sorted(g.kind for g in found)
    assert kinds == ["approver_loop", "chain_tops_out", "missing_email"], [g.message for g in found]
    loop = next(g for g in found if g.kind == "approver_loop")
    assert loop.message.startswith(
        "The approver chain loops: Andrew Fuller (afuller) → Michael Suyama (msuyama) → Steven Buchanan (sbuchanan) → Andrew Fuller (afuller)."
    )
    tops = {g.user_ids[0]: g.message for g in found if g.kind == "chain_tops_out"}
    callahan, king, admin_id = ids(app, "lcallahan", "rking", "admin")
    assert "Laura Callahan (lcallahan) has no approver and no unlimited sales, purchase and request approval " \
           "(sales 2,000.00, purchase 2,000.00, request 2,000.00)" in tops[callahan]
    assert ("the approver chain tops out here, so larger sales, purchase and request amounts can't be approved "
            "for them or for Robert King (rking), whose approver chain ends here too.") in tops[callahan]
    assert admin_id not in tops  # admin → Fuller: in the loop now, reported there, not as topping out
    email = next(g for g in found if g.kind == "missing_email")
    assert "Margaret Peacock (mpeacock) has no e-mail address in Approval User Setup" in email.message

    html = admin.get("/approvals/setup/test").get_data(as_text=True)
    assert "The approval user setup has 3 gaps" in html
    assert "Andrew Fuller (afuller) → Michael Suyama (msuyama)" in html
    assert "Laura Callahan (lcallahan) has no approver" in html and "Margaret Peacock (mpeacock) has no e-mail" in html


def test_test_setup_reports_only_one_limit_kind_that_tops_out(app):
    make_clean(app)
    change_setups(app, {"afuller": {"unlimited_purchase_approval": False, "purchase_amount_approval_limit": Decimal("100000")}})
    (found,) = gaps(app)
    assert found.kind == "chain_tops_out"
    assert "Andrew Fuller (afuller) has no approver and no unlimited purchase approval (purchase 100,000.00)" in found.message
    # Everybody else's chain ends at Fuller.
    assert "whose approver chains end here too" in found.message
    for name in ("Portal Administrator (admin)", "Steven Buchanan (sbuchanan)", "Michael Suyama (msuyama)", "Laura Callahan (lcallahan)"):
        assert name in found.message


def test_test_setup_reports_no_administrator_and_people_without_a_setup(app):
    from portal.extensions import db

    make_clean(app)
    with app.app_context():
        outsider = User(user_name="austest-outsider", full_name="Aus Test Outsider")
        db.session.add(outsider)
        db.session.commit()
        db.session.remove()
    change_setups(app, {"admin": {"approval_administrator": False}, "ndavolio": {"substitute": "austest-outsider"},
                        "jleverling": {"approver": "austest-outsider"}})
    found = {g.kind: g.message for g in gaps(app)}
    assert set(found) == {"no_administrator", "substitute_without_setup", "approver_without_setup"}
    assert found["no_administrator"].startswith("No user is the approval administrator")
    assert "Nancy Davolio (ndavolio)'s substitute Aus Test Outsider (austest-outsider) has no approval user setup" in found["substitute_without_setup"]
    assert "Janet Leverling (jleverling)'s approver Aus Test Outsider (austest-outsider) has no approval user setup" in found["approver_without_setup"]


# ---------------------------------------------------------------- permissions

def test_business_users_are_not_permitted(app):
    client = app.test_client()
    sign_in(client, "msuyama", "northwind")
    for url in ("/approvals/setup/users", "/approvals/setup/test", "/approvals/setup/groups", "/approvals/setup/groups/new"):
        res = client.get(url)
        assert res.status_code == 403, url
        assert "You are not permitted to change the approval setup" in res.get_data(as_text=True)
    page = client.get("/customers").get_data(as_text=True)
    assert "/approvals/setup/users" not in page  # no header link either
    (suyama,) = ids(app, "msuyama")
    before = setup_of(app, "msuyama")
    res = client.post(f"/approvals/setup/users/{suyama}", data={**form_of(before, sales_amount_approval_limit="99999"), "csrf_token": csrf(page)})
    assert res.status_code == 403 and setup_of(app, "msuyama") == before


def test_the_approval_administrator_without_the_admin_role_is_permitted(app):
    # Fuller (admin role) hands the approval administrator flag to Buchanan (no admin role).
    change_setups(app, {"admin": {"approval_administrator": False}, "sbuchanan": {"approval_administrator": True}})
    client = app.test_client()
    sign_in(client, "sbuchanan", "northwind")
    res = client.get("/approvals/setup/users")
    assert res.status_code == 200 and 'href="/approvals/setup/groups"' in res.get_data(as_text=True)


def test_anonymous_users_are_sent_to_sign_in(app):
    res = app.test_client().get("/approvals/setup/users")
    assert res.status_code == 302 and "/sign-in" in res.headers["Location"]


# ---------------------------------------------------------------- Workflow User Groups

def group_id(app, code) -> int | None:
    from portal.extensions import db

    with app.app_context():
        return db.session.scalar(select(WorkflowUserGroup.id).where(WorkflowUserGroup.code == code))


def post(client, url, data, page_url=None):
    page = client.get(page_url or url).get_data(as_text=True)
    return client.post(url, data={**data, "csrf_token": csrf(page)})


def members(app, code) -> list[tuple[str, int]]:
    from portal.extensions import db

    with app.app_context():
        group = db.session.scalar(select(WorkflowUserGroup).where(WorkflowUserGroup.code == code))
        result = [(m.user.user_name, m.sequence_no) for m in group.members]
        db.session.remove()
        return result


def test_group_create_edit_and_validation(admin, app):
    res = post(admin, "/approvals/setup/groups/new", {"code": "", "description": "Nameless"})
    assert res.status_code == 422 and "Enter a code." in res.get_data(as_text=True)
    assert 'value="Nameless"' in res.get_data(as_text=True)
    res = post(admin, "/approvals/setup/groups/new", {"code": "X" * 21})
    assert res.status_code == 422 and "The code can be at most 20 characters." in res.get_data(as_text=True)
    res = post(admin, "/approvals/setup/groups/new", {"code": "austest-sales", "description": "Sales managers", "all_must_approve": "y"})
    assert res.status_code == 302
    gid = group_id(app, "AUSTEST-SALES")  # codes are stored in capitals
    assert gid and res.headers["Location"].endswith(f"/approvals/setup/groups/{gid}")
    res = post(admin, "/approvals/setup/groups/new", {"code": "AusTest-Sales"})
    assert res.status_code == 422 and "A workflow user group with code AUSTEST-SALES already exists." in res.get_data(as_text=True)
    # Edit: description and flag.
    res = post(admin, f"/approvals/setup/groups/{gid}", {"code": "AUSTEST-SALES", "description": "Sales managers (EU)"})
    assert res.status_code == 302
    html = admin.get("/approvals/setup/groups").get_data(as_text=True)
    row = html.split('id="group-AUSTEST-SALES"')[1].split("</tr>")[0]
    assert "Sales managers (EU)" in row and "<td>No</td>" in row and '<td class="decimal">0</td>' in row


def test_group_members_add_change_remove(admin, app):
    post(admin, "/approvals/setup/groups/new", {"code": "AUSTEST-MEM"})
    gid = group_id(app, "AUSTEST-MEM")
    card = f"/approvals/setup/groups/{gid}"
    suyama, king = ids(app, "msuyama", "rking")
    res = post(admin, f"{card}/members", {"user_id": str(suyama), "sequence_no": "1"}, card)
    assert res.status_code == 302
    assert "Michael Suyama added to workflow user group AUSTEST-MEM." in admin.get(card).get_data(as_text=True)
    # The proposed sequence no. is one more than the highest.
    assert 'id="sequence_no" min="1" name="sequence_no" type="number" value="2"' in admin.get(card).get_data(as_text=True)
    assert post(admin, f"{card}/members", {"user_id": str(king), "sequence_no": "2"}, card).status_code == 302
    assert members(app, "AUSTEST-MEM") == [("msuyama", 1), ("rking", 2)]
    # Validation: a user only once, sequence no. >= 1, a whole number, a user chosen.
    res = post(admin, f"{card}/members", {"user_id": str(suyama), "sequence_no": "3"}, card)
    assert res.status_code == 422 and "Michael Suyama (msuyama) is already a member of workflow user group AUSTEST-MEM." in res.get_data(as_text=True)
    res = post(admin, f"{card}/members", {"user_id": ids(app, "afuller")[0], "sequence_no": "0"}, card)
    assert res.status_code == 422 and "The sequence no. must be 1 or more." in res.get_data(as_text=True)
    res = post(admin, f"{card}/members", {"user_id": ids(app, "afuller")[0], "sequence_no": "first"}, card)
    assert res.status_code == 422 and "Enter the sequence no. as a whole number, 1 or more." in res.get_data(as_text=True)
    res = post(admin, f"{card}/members", {"user_id": "", "sequence_no": "3"}, card)
    assert res.status_code == 422 and "Choose a user." in res.get_data(as_text=True)
    assert members(app, "AUSTEST-MEM") == [("msuyama", 1), ("rking", 2)]
    # Change a sequence no. (refused below 1; the members re-order by sequence no.).
    from portal.extensions import db

    with app.app_context():
        member_ids = {m.user.user_name: m.id for m in db.session.get(WorkflowUserGroup, gid).members}
    res = post(admin, f"{card}/members/{member_ids['msuyama']}", {"sequence_no": "-1"}, card)
    assert res.status_code == 422
    html = res.get_data(as_text=True)
    assert "The sequence no. must be 1 or more." in html and 'value="-1"' in html
    assert post(admin, f"{card}/members/{member_ids['msuyama']}", {"sequence_no": "3"}, card).status_code == 302
    assert members(app, "AUSTEST-MEM") == [("rking", 2), ("msuyama", 3)]
    row = admin.get("/approvals/setup/groups").get_data(as_text=True).split('id="group-AUSTEST-MEM"')[1].split("</tr>")[0]
    assert '<td class="decimal">2</td>' in row
    # Remove.
    assert post(admin, f"{card}/members/{member_ids['rking']}/delete", {}, card).status_code == 302
    assert members(app, "AUSTEST-MEM") == [("msuyama", 3)]
    assert "Robert King removed from workflow user group AUSTEST-MEM." in admin.get(card).get_data(as_text=True)


def test_group_delete_is_refused_while_an_enabled_workflow_uses_it(admin, app):
    from portal.extensions import db

    post(admin, "/approvals/setup/groups/new", {"code": "AUSTEST-USED"})
    gid = group_id(app, "AUSTEST-USED")
    card = f"/approvals/setup/groups/{gid}"
    with app.app_context():
        db.session.add(build_workflow({
            "code": "AUSTEST-WF", "description": "Group approval", "record_type": "sales_header",
            "steps": [
                (1, None, None, 1, "event", "sales_document_approval_requested", {}, []),
                (2, 1, None, 1, "response", "create_approval_requests",
                 {"approver_type": "Workflow User Group", "limit_type": "Approver Chain", "workflow_user_group": "austest-used"}, []),
            ],
        }, enabled=True))
        db.session.commit()
    html = admin.get(card).get_data(as_text=True)
    assert "AUSTEST-WF</a> (enabled)" in html
    res = post(admin, f"{card}/delete", {}, card)
    assert res.status_code == 302
    html = admin.get(card).get_data(as_text=True)
    assert "Workflow user group AUSTEST-USED can&#39;t be deleted: enabled workflow AUSTEST-WF uses it." in html
    assert group_id(app, "AUSTEST-USED") == gid
    # Renaming it is refused too (the workflow would lose its group).
    res = post(admin, card, {"code": "AUSTEST-RENAMED"})
    assert res.status_code == 422 and "The code can&#39;t be changed: enabled workflow AUSTEST-WF" in res.get_data(as_text=True)
    # Once the workflow is disabled, the group can be deleted.
    with app.app_context():
        db.session.scalar(select(Workflow).where(Workflow.code == "AUSTEST-WF")).enabled = False
        db.session.commit()
    res = post(admin, f"{card}/delete", {}, card)
    assert res.status_code == 302 and res.headers["Location"].endswith("/approvals/setup/groups")
    assert "Workflow user group AUSTEST-USED deleted." in admin.get("/approvals/setup/groups").get_data(as_text=True)
    assert group_id(app, "AUSTEST-USED") is None


def test_group_pages_refuse_business_users(app, admin):
    post(admin, "/approvals/setup/groups/new", {"code": "AUSTEST-PERM"})
    gid = group_id(app, "AUSTEST-PERM")
    client = app.test_client()
    sign_in(client, "lcallahan", "northwind")
    token = csrf(client.get("/customers").get_data(as_text=True))
    assert client.get(f"/approvals/setup/groups/{gid}").status_code == 403
    assert client.post(f"/approvals/setup/groups/{gid}/delete", data={"csrf_token": token}).status_code == 403
    assert group_id(app, "AUSTEST-PERM") == gid
