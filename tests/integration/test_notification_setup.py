"""Notification setup, schedules and digests, the dispatcher's rules and the inbox
(issue 10), on the Northwind data with the real SMTP sink and RQ worker:

- the method is the recipient's own setup → the default setup → a default created
  with Email; a Note setup makes a note in the inbox and no mail;
- no entry is made for a blank recipient, a recipient without approval user setup or
  a record that no longer exists; the dispatcher drops entries whose record was
  deleted; one recipient's failure never stops the others';
- a Daily/Weekly/Monthly schedule has one job queue entry per recipient and type
  (reused, removed with the schedule); instant dispatch leaves its entries alone; its
  run sends ONE digest per recipient and type; the instant dispatcher's one entry is
  reused and set back to Ready after an error;
- approvals: rejection tells the sender once and the approver never; the last
  approval tells the sender; a cancellation tells the approver;
- the inbox: unread count, mark read / mark all read; the settings page."""
from __future__ import annotations

from datetime import datetime, time, timedelta

import pytest
from sqlalchemy import delete, func, select, update

from portal.approvals import service as approvals
from portal.approvals.models import ApprovalUserSetup
from portal.auth.models import User
from portal.jobqueue.models import ERROR, FINISHED, READY, JobQueueEntry
from portal.notifications import schedule as sched
from portal.notifications import service, setup
from portal.notifications.digest import send_digest
from portal.notifications.models import NotificationEntry, NotificationSchedule, NotificationSetup, SentNotificationEntry
from portal.records.models import Customer
from portal.util import utcnow
from test_approval_controls import new_sales
from test_pages import csrf, sign_in

pytestmark = pytest.mark.usefixtures("clean_state")


def reset_notification_settings(session) -> None:
    """Only the default setup (Email) and no schedules, no digest entries."""
    session.execute(delete(NotificationSchedule))
    session.execute(delete(JobQueueEntry).where(JobQueueEntry.system_job == setup.DIGEST_JOB))
    session.execute(delete(NotificationSetup).where(NotificationSetup.user_id.is_not(None)))
    session.execute(update(NotificationSetup).values(method="Email"))
    setup.ensure_default_setup(session)
    session.commit()


@pytest.fixture
def settings_reset(app):
    """Default settings before and after a test-client test (no app context stays pushed)."""
    from portal.extensions import db

    with app.app_context():
        reset_notification_settings(db.session)
        db.session.remove()
    yield
    with app.app_context():
        reset_notification_settings(db.session)
        db.session.remove()


@pytest.fixture
def s(app):
    from portal.extensions import db

    with app.app_context():
        reset_notification_settings(db.session)
        yield db.session
        db.session.rollback()
        reset_notification_settings(db.session)
        db.session.remove()


def user(s, name) -> User:
    return s.scalar(select(User).where(User.user_name == name))


def notify(s, name, type_="Approval", message="hello", record=None, **kw):
    record = record or s.scalar(select(Customer).where(Customer.no == "ALFKI"))
    return service.create_notification(s, recipient_id=user(s, name).id if name else None, type_=type_, record_type="customer",
                                       record_id=record.id, template_code="workflow_notification", custom_message=message, **kw)


def sent(s, name=None):
    s.expire_all()
    q = select(SentNotificationEntry).order_by(SentNotificationEntry.id)
    if name:
        q = q.where(SentNotificationEntry.recipient_id == user(s, name).id)
    return list(s.scalars(q).unique())


def pending(s, name=None):
    s.expire_all()
    q = select(NotificationEntry).order_by(NotificationEntry.id)
    if name:
        q = q.where(NotificationEntry.recipient_id == user(s, name).id)
    return list(s.scalars(q).unique())


# ---------------------------------------------------------------- setup resolution

def test_the_method_is_the_users_own_then_the_default_then_a_created_default(s):
    suyama = user(s, "msuyama").id
    assert setup.notification_method(s, suyama, "Approval") == "Email"  # the default from the migration
    setup.save_setup(s, None, {"Approval": "Note"})
    assert setup.notification_method(s, suyama, "Approval") == "Note"  # the default's method
    setup.save_setup(s, suyama, {"Approval": "Email"})
    assert setup.notification_method(s, suyama, "Approval") == "Email"  # their own wins over the default
    assert setup.notification_method(s, user(s, "sbuchanan").id, "Approval") == "Note"  # others still get the default
    setup.save_setup(s, suyama, {"Approval": None})
    assert setup.notification_method(s, suyama, "Approval") == "Note"  # own row removed: the default again
    s.execute(delete(NotificationSetup).where(NotificationSetup.user_id.is_(None), NotificationSetup.notification_type == "Overdue"))
    assert setup.notification_method(s, suyama, "Overdue") == "Email"  # no default: one is created with Email
    assert s.scalar(select(NotificationSetup.method).where(NotificationSetup.user_id.is_(None),
                                                          NotificationSetup.notification_type == "Overdue")) == "Email"
    s.commit()


def test_a_batch_resolves_every_recipients_method_the_same_way_in_one_go(s):
    """``notification_methods`` (a send batch's look-up) answers as
    ``notification_method`` does for each pair: own setup, default, created default."""
    suyama, buchanan = user(s, "msuyama").id, user(s, "sbuchanan").id
    setup.save_setup(s, None, {"Approval": "Note"})
    setup.save_setup(s, suyama, {"Approval": "Email", "New Record": "Note"})
    s.execute(delete(NotificationSetup).where(NotificationSetup.user_id.is_(None), NotificationSetup.notification_type == "Overdue"))
    pairs = {(suyama, "Approval"), (buchanan, "Approval"), (suyama, "New Record"), (buchanan, "New Record"), (buchanan, "Overdue")}
    assert setup.notification_methods(s, pairs) == {
        (suyama, "Approval"): "Email", (buchanan, "Approval"): "Note", (suyama, "New Record"): "Note",
        (buchanan, "New Record"): "Email", (buchanan, "Overdue"): "Email"}
    assert {p: setup.notification_method(s, *p) for p in pairs} == setup.notification_methods(s, pairs)
    s.rollback()


def test_a_note_setup_puts_a_note_in_the_inbox_and_sends_no_mail(s, sink):
    setup.save_setup(s, user(s, "msuyama").id, {"New Record": "Note"})
    notify(s, "msuyama", "New Record", "note for Suyama")
    notify(s, "sbuchanan", "New Record", "mail for Buchanan")
    s.commit()
    report = service.send_due(s)
    assert report["sent"] == 2 and report["failed"] == 0
    [note] = sent(s, "msuyama")
    assert note.method == "Note" and "note for Suyama" in note.body and note.read_at is None
    assert "/notifications/settings" in note.body and "Change notification settings" in note.body
    [mail] = sink.wait_for("sbuchanan@northwind.test")
    assert "mail for Buchanan" in sink.body(mail) and "/notifications/settings" in sink.body(mail)
    assert sink.to("msuyama@northwind.test") == []


# ---------------------------------------------------------------- entries not made, dropped, isolated

def test_no_entry_for_a_blank_recipient_one_without_approval_user_setup_or_a_missing_record(s):
    nobody = User(user_name="nosetup-notif", full_name="No Setup", email="nosetup@northwind.test")
    s.add(nobody)
    s.flush()
    alfki = s.scalar(select(Customer).where(Customer.no == "ALFKI"))
    assert service.create_notification(s, recipient_id=None, type_="Approval", record_type="customer", record_id=alfki.id) is None
    assert service.create_notification(s, recipient_id=0, type_="Approval") is None
    assert service.create_notification(s, recipient_id=nobody.id, type_="Approval", record_type="customer", record_id=alfki.id) is None
    missing = (s.scalar(select(func.max(Customer.id))) or 0) + 1000
    assert service.create_notification(s, recipient_id=user(s, "msuyama").id, type_="Approval", record_type="customer",
                                       record_id=missing) is None
    assert pending(s) == []
    assert notify(s, "msuyama") is not None  # (a proper one is made)
    s.rollback()


def test_the_dispatcher_drops_entries_whose_record_was_deleted(s, sink):
    customer = Customer(no="ZZNOTIF1", name="Short-lived Customer")
    s.add(customer)
    s.flush()
    notify(s, "msuyama", "New Record", "about the short-lived customer", record=customer)
    notify(s, "sbuchanan", "New Record", "about Alfreds")
    s.commit()
    s.delete(s.get(Customer, customer.id))
    s.commit()
    report = service.send_due(s)
    assert report == {"sent": 1, "failed": 0, "dropped": 1}
    assert pending(s) == [] and sent(s, "msuyama") == []
    assert [m.subject for m in sent(s, "sbuchanan")]


def test_one_recipients_failure_never_stops_the_others(s, sink):
    bad = s.scalar(select(ApprovalUserSetup).where(ApprovalUserSetup.user_id == user(s, "rking").id))
    bad.email = "rking\r\nBcc: someone@example.test"  # a bad address: refused when the mail is built
    notify(s, "rking", "New Record", "for King")
    broken = notify(s, "ndavolio", "New Record", "for Davolio")
    broken.template_code = "no_such_template"  # can't be rendered
    notify(s, "sbuchanan", "New Record", "for Buchanan")
    setup.save_setup(s, user(s, "lcallahan").id, {"New Record": "Note"})
    notify(s, "lcallahan", "New Record", "for Callahan")
    s.commit()
    report = service.send_due(s)
    assert report["sent"] == 2 and report["failed"] == 2
    sink.wait_for("sbuchanan@northwind.test", count=1)
    assert [n.method for n in sent(s, "lcallahan")] == ["Note"]
    left = {e.recipient.user_name: e.error for e in pending(s)}
    assert set(left) == {"rking", "ndavolio"} and all(left.values())


# ---------------------------------------------------------------- approvals' messages

def approval_sent(s, run_jobs, sink):
    doc = new_sales(s)
    approvals.send_approval_request(s, "sales_header", doc, user(s, "msuyama"))
    s.commit()
    run_jobs()
    sink.wait_for("sbuchanan@northwind.test", "Approval requested")
    s.expire_all()
    return doc


def test_a_rejection_tells_the_sender_once_and_the_approver_never(s, run_jobs, sink):
    doc = approval_sent(s, run_jobs, sink)
    before = {n.id for n in sent(s)}
    entry = approvals.open_entry_for(s, "sales_header", doc.id, user(s, "sbuchanan").id)
    approvals.reject(s, entry.id, user(s, "sbuchanan"), "too expensive")
    s.commit()
    run_jobs()
    s.expire_all()
    assert s.get(type(doc), doc.id).status == "Open"
    new = [(n.recipient.user_name, n.subject) for n in sent(s) if n.id not in before]
    assert new == [("msuyama", f"Rejected: {entry.record_title}")]
    assert pending(s) == []


def test_the_last_approval_tells_the_sender(s, run_jobs, sink):
    doc = approval_sent(s, run_jobs, sink)
    entry = approvals.open_entry_for(s, "sales_header", doc.id, user(s, "sbuchanan").id)
    approvals.approve(s, entry.id, user(s, "sbuchanan"), "fine")
    s.commit()
    run_jobs()
    [mail] = sink.wait_for("msuyama@northwind.test", "Approved:")
    assert "fine" in sink.body(mail)
    assert sink.to("sbuchanan@northwind.test", "Approved:") == []


def test_a_cancellation_tells_the_approver(s, run_jobs, sink):
    doc = approval_sent(s, run_jobs, sink)
    approvals.cancel_approval_request(s, "sales_header", s.get(type(doc), doc.id), user(s, "msuyama"))
    s.commit()
    run_jobs()
    sink.wait_for("sbuchanan@northwind.test", "Request canceled")
    assert sink.to("msuyama@northwind.test", "canceled") == []


# ---------------------------------------------------------------- schedules and digests

def daily(at=time(12, 0)) -> setup.ScheduleData:
    return setup.ScheduleData(recurrence=sched.DAILY, at=at, daily_frequency=sched.EVERY_DAY)


def digest_entries(s):
    return list(s.scalars(select(JobQueueEntry).where(JobQueueEntry.system_job == setup.DIGEST_JOB)).unique())


def test_a_schedule_has_one_job_queue_entry_reused_when_it_changes_and_removed_with_it(s):
    suyama = user(s, "msuyama")
    now = datetime(2015, 5, 5, 10, 0)
    row = setup.save_schedule(s, suyama, "Approval", daily(), now)
    s.commit()
    [entry] = digest_entries(s)
    assert entry.parameters == {"recipient_id": suyama.id, "notification_type": "Approval"}
    assert entry.status == READY and entry.next_run_at == datetime(2015, 5, 5, 12, 0) and not entry.recurring
    assert row.job_queue_entry_id == entry.id
    monthly = setup.ScheduleData(recurrence=sched.MONTHLY, at=time(12, 0), monthly_date=sched.FIRST_WORKING_DAY)
    setup.save_schedule(s, suyama, "Approval", monthly, now)
    s.commit()
    s.expire_all()
    [again] = digest_entries(s)
    assert again.id == entry.id and again.next_run_at == datetime(2015, 6, 1, 12, 0)  # reused, new time
    setup.save_schedule(s, user(s, "sbuchanan"), "Approval", daily(), now)
    setup.save_schedule(s, suyama, "Overdue", daily(), now)
    s.commit()
    assert len(digest_entries(s)) == 3  # one per recipient and type
    setup.save_schedule(s, suyama, "Approval", setup.ScheduleData(recurrence=sched.INSTANTLY), now)  # deleted
    s.commit()
    s.expire_all()
    assert s.get(JobQueueEntry, entry.id) is None and len(digest_entries(s)) == 2
    assert setup.scheduled(s, suyama.id, "Approval") is None


def test_a_finished_digest_entry_is_armed_again_by_the_next_notification(s):
    suyama = user(s, "msuyama")
    row = setup.save_schedule(s, suyama, "Approval", daily(), utcnow())
    s.commit()
    entry_id = row.job_queue_entry_id
    s.execute(update(JobQueueEntry).where(JobQueueEntry.id == entry_id).values(status=FINISHED, next_run_at=None))
    s.commit()
    notify(s, "msuyama", "Approval")
    s.commit()
    s.expire_all()
    entry = s.get(JobQueueEntry, entry_id)
    assert entry.status == READY and entry.next_run_at > utcnow() and len(digest_entries(s)) == 1
    # a stalled one (Error) with entries waiting is armed again by the instant dispatcher's sweep
    s.execute(update(JobQueueEntry).where(JobQueueEntry.id == entry_id).values(status=ERROR))
    s.commit()
    service.send_due(s)
    s.expire_all()
    assert s.get(JobQueueEntry, entry_id).status == READY


def test_instant_dispatch_leaves_scheduled_entries_and_the_digest_sends_one_message_per_recipient_and_type(s, sink):
    suyama, buchanan = user(s, "msuyama"), user(s, "sbuchanan")
    setup.save_schedule(s, suyama, "Approval", daily(), utcnow())
    setup.save_schedule(s, buchanan, "Approval", daily(), utcnow())
    setup.save_setup(s, buchanan.id, {"Approval": "Note"})
    for i in range(3):
        notify(s, "msuyama", "Approval", f"approval {i} for Suyama")
    for i in range(2):
        notify(s, "sbuchanan", "Approval", f"approval {i} for Buchanan")
    notify(s, "msuyama", "New Record", "instant for Suyama")  # another type: instant
    s.commit()
    report = service.send_due(s)
    assert report["sent"] == 1  # only the instant one
    assert len(pending(s, "msuyama")) == 3 and len(pending(s, "sbuchanan")) == 2
    sink.wait_for("msuyama@northwind.test", count=1)

    assert send_digest(s, suyama.id, "Approval") == {"entries": 3, "digests": 1, "dropped": 0, "failed": 0}
    [mail] = sink.wait_for("msuyama@northwind.test", "3 approval notifications")
    body = sink.body(mail)
    assert all(f"approval {i} for Suyama" not in body for i in range(3))  # (the digest lists subjects, linked)
    assert body.count("Alfreds Futterkiste") == 3 and "/notifications/settings" in body
    assert send_digest(s, buchanan.id, "Approval")["digests"] == 1
    [note] = [n for n in sent(s, "sbuchanan")]
    assert note.method == "Note" and note.entry_count == 2 and note.subject == "2 approval notifications"
    assert pending(s) == []
    assert send_digest(s, suyama.id, "Approval") == {"entries": 0, "digests": 0, "dropped": 0, "failed": 0}  # nothing left


def test_the_digest_job_runs_from_its_job_queue_entry(s, run_jobs, sink):
    from portal.jobqueue import service as jq

    suyama = user(s, "msuyama")
    row = setup.save_schedule(s, suyama, "Overdue", daily(), utcnow())
    notify(s, "msuyama", "Overdue", "one")
    notify(s, "msuyama", "Overdue", "two")
    s.commit()
    entry_id = row.job_queue_entry_id
    s.execute(update(JobQueueEntry).where(JobQueueEntry.id == entry_id).values(next_run_at=utcnow() - timedelta(seconds=1)))
    s.commit()
    runs = jq.claim_due(s)
    assert entry_id in [r.entry_id for r in runs]
    jq.enqueue_runs(runs)
    run_jobs()
    [mail] = sink.wait_for("msuyama@northwind.test", "2 overdue notifications")
    s.expire_all()
    assert s.get(JobQueueEntry, entry_id).status == FINISHED and pending(s, "msuyama") == []


def test_the_instant_dispatcher_shares_one_entry_set_back_to_ready_after_an_error(s):
    from portal.jobqueue.service import ensure_system_jobs

    ensure_system_jobs(s)  # (what the scheduler does when it becomes active)
    s.info.pop("notification_dispatch_checked", None)
    entry = setup.ensure_dispatch_entry(s)
    s.commit()
    entries = s.scalars(select(JobQueueEntry).where(JobQueueEntry.system_job == setup.DISPATCH_JOB)).all()
    assert [e.id for e in entries] == [entry.id]
    s.execute(update(JobQueueEntry).where(JobQueueEntry.id == entry.id).values(status=ERROR, last_error="SMTP down"))
    s.commit()
    s.info.pop("notification_dispatch_checked", None)
    notify(s, "msuyama", "New Record")  # an instant notification looks at it
    s.commit()
    s.expire_all()
    again = s.scalars(select(JobQueueEntry).where(JobQueueEntry.system_job == setup.DISPATCH_JOB)).all()
    assert [(e.id, e.status, e.last_error) for e in again] == [(entry.id, READY, None)]


# ---------------------------------------------------------------- the inbox and the settings page

def test_inbox_unread_count_and_mark_read(app, settings_reset, client_factory):
    from portal.extensions import db

    with app.app_context():
        s = db.session
        setup.save_setup(s, user(s, "msuyama").id, {"New Record": "Note"})
        setup.save_setup(s, user(s, "sbuchanan").id, {"New Record": "Note"})
        for i in range(3):
            notify(s, "msuyama", "New Record", f"note {i}")
        notify(s, "sbuchanan", "New Record", "someone else's")
        s.commit()
        service.send_due(s)
        ids = [n.id for n in sent(s, "msuyama")]
        other = sent(s, "sbuchanan")[0].id
        s.commit()
        db.session.remove()

    client = client_factory("msuyama", "northwind")
    page = client.get("/notifications").get_data(as_text=True)
    assert 'id="notif-count"' in page and ">3<" in client.get("/notifications/count").get_data(as_text=True)
    assert page.index("note 2") < page.index("note 1") < page.index("note 0")  # newest first
    token = csrf(page)
    r = client.post(f"/notifications/{ids[0]}/read", data={"csrf_token": token}, headers={"HX-Request": "true"})
    assert r.status_code == 200 and r.headers["HX-Trigger"] == "notificationsChanged" and "Mark read" not in r.get_data(as_text=True)
    assert ">2<" in client.get("/notifications/count").get_data(as_text=True)
    assert client.post(f"/notifications/{other}/read", data={"csrf_token": token}, headers={"HX-Request": "true"}).status_code == 404
    assert client.post(f"/notifications/{ids[1]}/read").status_code == 400  # no CSRF token
    r = client.post("/notifications/read-all", data={"csrf_token": token}, follow_redirects=True)
    assert "2 notifications marked read." in r.get_data(as_text=True)
    assert "badge" not in client.get("/notifications/count").get_data(as_text=True)
    with app.app_context():
        from portal.extensions import db

        assert service.unread_count(db.session, user(db.session, "sbuchanan").id) == 1  # untouched
        alfki = db.session.scalar(select(Customer).where(Customer.no == "ALFKI"))
        box = client.get(f"/notifications/record/customer/{alfki.id}").get_data(as_text=True)
        assert box.count("<li") == 3 and "someone else" not in box
        card = client.get(f"/customers/{alfki.id}").get_data(as_text=True)
        assert f'hx-get="/notifications/record/customer/{alfki.id}"' in card  # the card page loads the fact box


@pytest.fixture
def client_factory(app):
    def make(name, password):
        client = app.test_client()
        sign_in(client, name, password)
        return client

    return make


def test_the_settings_page_saves_method_and_schedule_and_refuses_bad_input(app, settings_reset, client_factory):
    client = client_factory("msuyama", "northwind")
    page = client.get("/notifications/settings").get_data(as_text=True)
    assert "Approval notifications" in page
    form = {"csrf_token": csrf(page)}
    for key in ("new_record", "approval", "overdue"):
        form.update({f"{key}-method": "", f"{key}-recurrence": "Instantly", f"{key}-at": "12:00",
                     f"{key}-daily_frequency": "Working days", f"{key}-monthly_date": "First working day", f"{key}-date_of_month": "1"})
    bad = {**form, "approval-recurrence": "Weekly", "overdue-recurrence": "Monthly", "overdue-monthly_date": "Chosen day",
           "overdue-date_of_month": "40"}
    r = client.post("/notifications/settings", data=bad)
    body = r.get_data(as_text=True)
    assert r.status_code == 422 and "Choose at least one weekday." in body and "from 1 to 31" in body
    r = client.post("/notifications/settings", data={**form, "approval-method": "Note", "approval-recurrence": "Weekly",
                                                     "approval-weekdays": ["0", "3"], "approval-at": "08:30"}, follow_redirects=True)
    assert r.status_code == 200 and "Notification settings saved." in r.get_data(as_text=True)
    assert "Weekly on Monday, Thursday at 08:30" in r.get_data(as_text=True)
    r = client.post("/notifications/settings", data={**form, "approval-method": "Fax"})
    assert r.status_code == 422
    # a day typed for a first-working-day schedule (the field is hidden) is no error
    r = client.post("/notifications/settings", data={**form, "approval-method": "Note", "approval-recurrence": "Weekly",
                                                     "approval-weekdays": ["0", "3"], "approval-at": "08:30",
                                                     "overdue-recurrence": "Monthly", "overdue-date_of_month": "40"})
    assert r.status_code == 302
    r = client.post("/notifications/settings", data={**form, "overdue-recurrence": "Monthly", "overdue-monthly_date": "Chosen day",
                                                     "overdue-date_of_month": "soon"})
    assert r.status_code == 422 and "Not a valid integer value" in r.get_data(as_text=True)
    assert client.get("/notifications/settings?user=sbuchanan").status_code == 403
    assert client.post("/notifications/settings?user=default", data=form).status_code == 403
    with app.app_context():
        from portal.extensions import db

        u = user(db.session, "msuyama")
        assert setup.notification_method(db.session, u.id, "Approval") == "Note"
        row = setup.scheduled(db.session, u.id, "Approval")
        assert (row.recurrence, row.weekdays, row.time) == ("Weekly", "1001000", time(8, 30))
        overdue = setup.scheduled(db.session, u.id, "Overdue")
        assert (overdue.recurrence, overdue.monthly_date, overdue.date_of_month) == ("Monthly", "First working day", 31)
        assert db.session.get(JobQueueEntry, row.job_queue_entry_id).parameters["recipient_id"] == u.id

    admin = client_factory("afuller", "northwind")
    page = admin.get("/notifications/settings?user=default").get_data(as_text=True)
    assert "the default setup" in page
    r = admin.post("/notifications/settings?user=default", data={"csrf_token": csrf(page), "new_record-method": "Note",
                                                                  "approval-method": "Email", "overdue-method": "Email"},
                   follow_redirects=True)
    assert r.status_code == 200 and "saved" in r.get_data(as_text=True)
    page = admin.get("/notifications/settings?user=msuyama").get_data(as_text=True)
    assert "Michael Suyama" in page
    r = admin.post("/notifications/settings?user=msuyama", data={**form, "csrf_token": csrf(page)}, follow_redirects=True)
    assert r.status_code == 200
    assert admin.get("/notifications/settings?user=nosuchuser").status_code == 404
    with app.app_context():
        from portal.extensions import db

        assert setup.setup_methods(db.session, None)["New Record"] == "Note"
        assert setup.scheduled(db.session, user(db.session, "msuyama").id, "Approval") is None  # back to Instantly


@pytest.mark.parametrize("junk", [
    {"approval-recurrence": "Hourly"}, {"approval-at": "25:99", "approval-recurrence": "Daily"},
    {"approval-weekdays": ["9", "x"], "approval-recurrence": "Weekly"}, {"approval-monthly_date": "Second Tuesday", "approval-recurrence": "Monthly"},
    {"approval-date_of_month": "-3", "approval-recurrence": "Monthly", "approval-monthly_date": "Chosen day"},
    {"new_record-method": "Pigeon"}, {"overdue-daily_frequency": "Weekends", "overdue-recurrence": "Daily"}, {},
])
def test_the_settings_page_answers_junk_with_field_errors_never_a_500(app, settings_reset, client_factory, junk):
    client = client_factory("msuyama", "northwind")
    page = client.get("/notifications/settings").get_data(as_text=True)
    r = client.post("/notifications/settings", data={"csrf_token": csrf(page), **junk})
    assert r.status_code in (302, 422), r.status_code
    if r.status_code == 422:
        assert 'class="field-error"' in r.get_data(as_text=True)
