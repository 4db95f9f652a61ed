#!/usr/bin/env python3
"""Roster's product scenario, run by a generated Python client against a real server.

    pip install -r requirements.txt && ./generate.sh
    python scenario.py 127.0.0.1:50051 "$TOKEN"      # or ROSTER_ADDR / ROSTER_TOKEN

The token must be a service token with the scopes accounts:create, users:read,
users:write and records:write (`roster token --service clients` mints one with
every scope). Each run creates its own account with unique emails, so it can be
repeated against the same server. Every answer is checked; the first wrong one
stops the run with an AssertionError and a non-zero exit.
"""

import datetime
import os
import sys
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "gen"))  # output of generate.sh

import grpc  # noqa: E402
from google.rpc import error_details_pb2  # noqa: E402  (googleapis-common-protos)
from grpc_status import rpc_status  # noqa: E402

from roster.v1 import access_pb2  # noqa: E402
from roster.v1 import access_pb2_grpc  # noqa: E402
from roster.v1 import account_pb2  # noqa: E402
from roster.v1 import job_pb2  # noqa: E402
from roster.v1 import reassignment_pb2  # noqa: E402
from roster.v1 import seats_service_pb2  # noqa: E402
from roster.v1 import seats_service_pb2_grpc  # noqa: E402
from roster.v1 import user_management_service_pb2 as um  # noqa: E402
from roster.v1 import user_management_service_pb2_grpc as um_grpc  # noqa: E402
from roster.v1 import user_pb2  # noqa: E402
from roster.v1 import work_record_pb2 as wr  # noqa: E402

PASSWORD = "correct horse 42"
TIMEOUT = 30  # seconds, per call


def step(text):
    print(f"  ok  {text}", flush=True)


def expected_charge(price_monthly_minor, months, period_start, period_end, today):
    """The proration of docs/concepts.md: price x months x remaining days / days of the
    period, half-up, UTC calendar days (first day of the period = whole period)."""
    days = (period_end.ToDatetime().date() - period_start.ToDatetime().date()).days
    remaining = (period_end.ToDatetime().date() - today).days
    return (2 * price_monthly_minor * months * remaining + days) // (2 * days)


def counts(leads=0, contacts=0, customers=0, tasks=0, conversations=0, notes=0):
    return wr.RecordCounts(
        leads=leads, contacts=contacts, customers=customers,
        tasks=tasks, conversations=conversations, notes=notes,
    )


def rich_error(err):
    """Splits the grpc-status-details-bin trailer of a failed call into its
    google.rpc.ErrorInfo and google.rpc.BadRequest (None when absent)."""
    status = rpc_status.from_call(err)  # also checks code/message match the trailer
    assert status is not None, f"no grpc-status-details-bin trailer on {err.code()}"
    info = bad_request = None
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad_request = error_details_pb2.BadRequest()
            detail.Unpack(bad_request)
    assert info is not None, f"no google.rpc.ErrorInfo in {status}"
    return status, info, bad_request


def main():
    addr = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("ROSTER_ADDR", "127.0.0.1:50051")
    token = sys.argv[2] if len(sys.argv) > 2 else os.environ.get("ROSTER_TOKEN")
    if not token:
        sys.exit("usage: scenario.py ADDRESS TOKEN  (or set ROSTER_ADDR and ROSTER_TOKEN)")
    run = uuid.uuid4().hex[:10]
    md = [("authorization", f"Bearer {token}")]

    channel = grpc.insecure_channel(addr)
    grpc.channel_ready_future(channel).result(timeout=TIMEOUT)
    users = um_grpc.UserManagementServiceStub(channel)
    seats = seats_service_pb2_grpc.SeatsServiceStub(channel)
    access = access_pb2_grpc.AccessServiceStub(channel)
    print(f"python scenario against {addr} (run {run})")

    def call(method, request):
        return method(request, metadata=md, timeout=TIMEOUT)

    def usage(account_id):
        return call(seats.GetSeatUsage, seats_service_pb2.GetSeatUsageRequest(account_id=account_id)).usage

    def record_counts(account_id, user_id):
        return call(users.CountWorkRecords,
                    um.CountWorkRecordsRequest(account_id=account_id, user_id=user_id)).counts

    def tab(account_id, status):
        resp = call(users.ListUsers, um.ListUsersRequest(account_id=account_id, status=status, page_size=1000))
        assert resp.next_page_token == "", "one page expected"
        return [u.id for u in resp.users]

    # 1. CreateAccount: Base plan, 3 seats, AUTO_EXPAND, first admin.
    created = call(users.CreateAccount, um.CreateAccountRequest(
        name=f"Acme {run}",
        plan=account_pb2.PLAN_BASE,
        seat_policy=account_pb2.SEAT_POLICY_AUTO_EXPAND,
        seats_purchased=3,
        admin=um.NewAdmin(name="Ada Admin", email=f"ada-{run}@example.com", password=PASSWORD),
        request_id=f"create-{run}",
    ))
    account, admin = created.account, created.admin
    acc = account.id
    assert account.id and account.name == f"Acme {run}", account
    assert account.plan == account_pb2.PLAN_BASE, account.plan
    assert account.billing_cycle == account_pb2.BILLING_CYCLE_MONTHLY, account.billing_cycle
    assert account.seat_policy == account_pb2.SEAT_POLICY_AUTO_EXPAND, account.seat_policy
    assert account.seats_purchased == 3, account.seats_purchased
    assert account.currency == "USD" and account.seat_price_monthly_minor > 0, account
    assert admin.account_id == acc and admin.role == user_pb2.ROLE_ADMIN, admin
    assert admin.status == user_pb2.USER_STATUS_ACTIVE and admin.email == f"ada-{run}@example.com", admin
    step(f"CreateAccount: {acc} plan BASE, 3 seats, AUTO_EXPAND, admin {admin.id}")

    # 2. AddUser x3. The admin holds one of the 3 seats, so the first two
    # members fit and the third is the first one over the purchased seats.
    def add(name, request_id=""):
        local = name.split()[0].lower()
        return call(users.AddUser, um.AddUserRequest(
            account_id=acc, name=name, email=f"{local}-{run}@example.com",
            password=PASSWORD, request_id=request_id,
        ))

    ann_resp = add("Ann Lee", request_id=f"add-ann-{run}")
    ann = ann_resp.user
    assert ann.id and ann.account_id == acc and ann.status == user_pb2.USER_STATUS_ACTIVE, ann
    assert ann.role == user_pb2.ROLE_MEMBER and ann.email == f"ann-{run}@example.com", ann
    e = ann_resp.seat_effect
    assert (e.active_before, e.active_after, e.seats_purchased_before, e.seats_purchased_after,
            e.charge_minor) == (1, 2, 3, 3, 0), e
    retry = add("Ann Lee", request_id=f"add-ann-{run}")
    assert retry.user.id == ann.id, f"retry made another user: {retry.user.id} != {ann.id}"
    assert retry.seat_effect == ann_resp.seat_effect, retry.seat_effect
    assert usage(acc).active_users == 2, "the retry must not add a second user"
    step(f"AddUser Ann (request_id) {ann.id}; retried with the same request_id -> same id, 2 active")

    ben_resp = add("Ben Ortiz")
    ben = ben_resp.user
    e = ben_resp.seat_effect
    assert (e.active_before, e.active_after, e.seats_purchased_before, e.seats_purchased_after,
            e.charge_minor) == (2, 3, 3, 3, 0), e
    step(f"AddUser Ben {ben.id}: 3 of 3 seats used, no charge")

    today = datetime.datetime.now(datetime.timezone.utc).date()
    cat_resp = add("Cat Novak")
    cat = cat_resp.user
    e = cat_resp.seat_effect
    charge = expected_charge(account.seat_price_monthly_minor, 1, account.period_start, account.period_end, today)
    assert (e.active_before, e.active_after, e.seats_purchased_before, e.seats_purchased_after) == (3, 4, 3, 4), e
    assert e.charge_minor > 0 and e.charge_minor == charge and e.currency == "USD", (e, charge)
    step(f"AddUser Cat {cat.id}: over the 3 seats -> AUTO_EXPAND seats 3->4, charge {e.charge_minor} USD minor")

    # 3. A 4th AddUser: another seat bought.
    dan_resp = add("Dan Weiss")
    dan = dan_resp.user
    e = dan_resp.seat_effect
    assert (e.active_before, e.active_after, e.seats_purchased_before, e.seats_purchased_after) == (4, 5, 4, 5), e
    assert e.charge_minor > 0 and e.charge_minor == charge, (e, charge)
    u = usage(acc)
    assert (u.seats_purchased, u.active_users, u.inactive_users, u.available_seats) == (5, 5, 0, 0), u
    ledger = call(seats.ListLedgerEntries, seats_service_pb2.ListLedgerEntriesRequest(account_id=acc)).entries
    expanded = [x for x in ledger if x.user_id in (cat.id, dan.id)]
    assert sorted((x.seats_before, x.seats_after, x.amount_minor) for x in expanded) == \
        [(3, 4, charge), (4, 5, charge)], ledger
    step(f"AddUser Dan {dan.id}: seats 4->5, charge {e.charge_minor}; ledger has both seat purchases")

    # 4. RegisterWorkRecords for Ann: 2 leads, 1 contact, 3 tasks, a
    # conversation on lead-1 and a note.
    def rec(kind, ext, owner, parent_kind=wr.RECORD_KIND_UNSPECIFIED, parent=""):
        return wr.WorkRecordInput(kind=kind, external_id=ext, owner_user_id=owner,
                                  parent_kind=parent_kind, parent_external_id=parent)

    reg = call(users.RegisterWorkRecords, um.RegisterWorkRecordsRequest(account_id=acc, records=[
        rec(wr.RECORD_KIND_LEAD, "lead-1", ann.id),
        rec(wr.RECORD_KIND_LEAD, "lead-2", ann.id),
        rec(wr.RECORD_KIND_CONTACT, "contact-1", ann.id),
        rec(wr.RECORD_KIND_TASK, "task-1", ann.id),
        rec(wr.RECORD_KIND_TASK, "task-2", ann.id),
        rec(wr.RECORD_KIND_TASK, "task-3", ann.id),
        rec(wr.RECORD_KIND_CONVERSATION, "chat-1", ann.id, wr.RECORD_KIND_LEAD, "lead-1"),
        rec(wr.RECORD_KIND_NOTE, "note-1", ann.id),
    ]))
    assert (reg.created, reg.updated) == (8, 0), reg
    ann_all = counts(leads=2, contacts=1, tasks=3, conversations=1, notes=1)
    assert record_counts(acc, ann.id) == ann_all, record_counts(acc, ann.id)
    chats = call(users.ListWorkRecords, um.ListWorkRecordsRequest(
        account_id=acc, user_id=ann.id, kind=wr.RECORD_KIND_CONVERSATION)).records
    assert [(c.external_id, c.parent_kind, c.parent_external_id) for c in chats] == \
        [("chat-1", wr.RECORD_KIND_LEAD, "lead-1")], chats
    step("RegisterWorkRecords for Ann: 2 leads, 1 contact, 3 tasks, 1 conversation on lead-1, 1 note")

    # 5. The tabs.
    active, inactive = tab(acc, user_pb2.USER_STATUS_ACTIVE), tab(acc, user_pb2.USER_STATUS_INACTIVE)
    assert active == [admin.id, ann.id, ben.id, cat.id, dan.id], active
    assert inactive == [], inactive
    step("ListUsers: Active tab has the 5 users in creation order, Inactive tab is empty")

    # 6. DisableUser Ann: tasks to Cat, everything else to Ben; the
    # conversation follows its lead, the note stays.
    disabled = call(users.DisableUser, um.DisableUserRequest(
        account_id=acc, user_id=ann.id,
        reassignment=reassignment_pb2.Reassignment(
            target_user_id=ben.id,
            by_kind=[reassignment_pb2.KindTarget(kind=wr.RECORD_KIND_TASK, target_user_id=cat.id)],
        ),
        request_id=f"disable-ann-{run}",
    ))
    assert disabled.user.id == ann.id and disabled.user.status == user_pb2.USER_STATUS_INACTIVE, disabled.user
    assert disabled.user.HasField("disable_time"), disabled.user
    assert disabled.job_id == "", disabled.job_id
    assert disabled.moved == counts(leads=2, contacts=1, tasks=3, conversations=1), disabled.moved
    e = disabled.seat_effect
    assert (e.active_before, e.active_after, e.seats_purchased_before, e.seats_purchased_after,
            e.charge_minor) == (5, 4, 5, 5, 0), e
    assert record_counts(acc, ann.id) == counts(notes=1), record_counts(acc, ann.id)
    assert record_counts(acc, ben.id) == counts(leads=2, contacts=1, conversations=1), record_counts(acc, ben.id)
    assert record_counts(acc, cat.id) == counts(tasks=3), record_counts(acc, cat.id)
    active, inactive = tab(acc, user_pb2.USER_STATUS_ACTIVE), tab(acc, user_pb2.USER_STATUS_INACTIVE)
    assert ann.id not in active and inactive == [ann.id], (active, inactive)
    step("DisableUser Ann: moved 2 leads, 1 contact, 1 conversation to Ben and 3 tasks to Cat; "
         "note stays; seats stay 5; Ann only in the Inactive tab")

    # 7. ActivateUser Ann with restore_records: everything comes back.
    activated = call(users.ActivateUser, um.ActivateUserRequest(
        account_id=acc, user_id=ann.id, restore_records=True, request_id=f"activate-ann-{run}"))
    assert activated.user.status == user_pb2.USER_STATUS_ACTIVE, activated.user
    assert activated.restored == counts(leads=2, contacts=1, tasks=3, conversations=1), activated.restored
    e = activated.seat_effect
    assert (e.active_before, e.active_after, e.seats_purchased_before, e.seats_purchased_after,
            e.charge_minor) == (4, 5, 5, 5, 0), e
    assert record_counts(acc, ann.id) == ann_all, record_counts(acc, ann.id)
    assert record_counts(acc, ben.id) == counts() and record_counts(acc, cat.id) == counts()
    assert ann.id in tab(acc, user_pb2.USER_STATUS_ACTIVE) and tab(acc, user_pb2.USER_STATUS_INACTIVE) == []
    step("ActivateUser Ann (restore_records): 2 leads, 1 contact, 3 tasks, 1 conversation back; "
         "free seat reused, no charge")

    # 8. RemoveUser Ann: every kind she holds goes to Ben; the note shows a
    # former user; the user is gone.
    removed = call(users.RemoveUser, um.RemoveUserRequest(
        account_id=acc, user_id=ann.id,
        reassignment=reassignment_pb2.Reassignment(target_user_id=ben.id),
        request_id=f"remove-ann-{run}",
    ))
    assert removed.user_id == ann.id and removed.job_id == "", removed
    assert removed.moved == counts(leads=2, contacts=1, tasks=3, conversations=1), removed.moved
    e = removed.seat_effect
    assert (e.active_before, e.active_after, e.seats_purchased_before, e.seats_purchased_after) == (5, 4, 5, 5), e
    assert record_counts(acc, ben.id) == counts(leads=2, contacts=1, tasks=3, conversations=1)
    try:
        call(users.GetUser, um.GetUserRequest(account_id=acc, user_id=ann.id))
        raise AssertionError("GetUser found a removed user")
    except grpc.RpcError as err:
        assert err.code() == grpc.StatusCode.NOT_FOUND, err
        _, info, _ = rich_error(err)
        assert (info.reason, info.domain) == ("USER_NOT_FOUND", "roster.v1"), info
    step("RemoveUser Ann: 2 leads, 1 contact, 3 tasks, 1 conversation to Ben; GetUser -> NOT_FOUND (USER_NOT_FOUND)")

    # 9. GetSeatUsage: removing and disabling never lower seats_purchased.
    u = usage(acc)
    assert u.account_id == acc and u.plan == account_pb2.PLAN_BASE, u
    assert (u.seats_purchased, u.active_users, u.inactive_users, u.available_seats) == (5, 4, 0, 1), u
    assert u.seat_price_monthly_minor == account.seat_price_monthly_minor and u.currency == "USD", u
    step("GetSeatUsage: 5 purchased, 4 active, 0 inactive, 1 available")

    # 10. BulkDisableUsers over Cat and Dan (records to Ben), streamed to the end.
    reg = call(users.RegisterWorkRecords, um.RegisterWorkRecordsRequest(account_id=acc, records=(
        [rec(wr.RECORD_KIND_LEAD, f"dan-lead-{i}", dan.id) for i in range(5)]
        + [rec(wr.RECORD_KIND_CONTACT, f"cat-contact-{i}", cat.id) for i in range(3)]
    )))
    assert (reg.created, reg.updated) == (8, 0), reg
    stream = users.BulkDisableUsers(um.BulkDisableUsersRequest(
        account_id=acc, user_ids=[cat.id, dan.id],
        reassignment=reassignment_pb2.Reassignment(target_user_id=ben.id),
        request_id=f"bulk-disable-{run}",
    ), metadata=md, timeout=120)
    updates, last_moved, last_percent, last_state, final = [], -1, -1, 0, None
    for msg in stream:
        up = msg.update
        assert final is None, "message after the final one"
        assert up.job_id and (not updates or up.job_id == updates[0].job_id), up
        # QUEUED(1) -> RUNNING(2) -> an end state (3..5): never backwards.
        assert min(up.state, 3) >= min(last_state, 3), f"state went back: {last_state} -> {up.state}"
        last_state = up.state
        assert up.records_moved >= last_moved, f"records_moved went back: {last_moved} -> {up.records_moved}"
        assert up.percent_complete >= last_percent, f"percent went back: {last_percent} -> {up.percent_complete}"
        assert 0 <= up.percent_complete <= 100, up
        last_moved, last_percent = up.records_moved, up.percent_complete
        updates.append(up)
        if up.final:
            final = up
    assert updates and updates[0].HasField("job"), "the first message carries the whole job"
    assert final is not None, "the stream ended without final=true"
    job = final.job
    assert final.state == job_pb2.JOB_STATE_SUCCEEDED and job.state == job_pb2.JOB_STATE_SUCCEEDED, final
    assert job.kind == job_pb2.JOB_KIND_BULK_DISABLE and job.request_id == f"bulk-disable-{run}", job
    assert (final.records_total, final.records_moved, final.percent_complete) == (8, 8, 100), final
    assert job.moved == counts(leads=5, contacts=3), job.moved
    assert [(r.user_id, r.outcome) for r in job.users] == \
        [(cat.id, job_pb2.USER_OUTCOME_DONE), (dan.id, job_pb2.USER_OUTCOME_DONE)], job.users
    assert record_counts(acc, ben.id) == counts(leads=7, contacts=4, tasks=3, conversations=1)
    assert tab(acc, user_pb2.USER_STATUS_INACTIVE) == [cat.id, dan.id]
    u = usage(acc)
    assert (u.seats_purchased, u.active_users, u.inactive_users) == (5, 2, 2), u
    progress = " ".join(f"{job_pb2.JobState.Name(x.state)[10:]}:{x.records_moved}/{x.records_total}"
                        for x in updates)
    step(f"BulkDisableUsers Cat+Dan: job {job.id}, {len(updates)} updates ({progress}), "
         f"SUCCEEDED, 8 records moved to Ben, both in the Inactive tab")

    # 11. Rich errors from the grpc-status-details-bin trailer.
    try:
        call(users.AddUser, um.AddUserRequest(account_id=acc, name="Eve", email="not-an-email", password=PASSWORD))
        raise AssertionError("AddUser accepted not-an-email")
    except grpc.RpcError as err:
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, err
        status, info, bad = rich_error(err)
        assert status.code == grpc.StatusCode.INVALID_ARGUMENT.value[0], status
        assert (info.reason, info.domain) == ("INVALID_ARGUMENT", "roster.v1"), info
        assert bad is not None, "no google.rpc.BadRequest"
        fields = [v.field for v in bad.field_violations]
        assert fields == ["email"], bad
        assert bad.field_violations[0].description, bad
    step(f"AddUser not-an-email: INVALID_ARGUMENT, ErrorInfo {info.reason}@{info.domain}, "
         f"BadRequest email: {bad.field_violations[0].description}")

    try:
        call(users.AddUser, um.AddUserRequest(
            account_id=acc, name="Ben Again", email=f"  BEN-{run}@Example.COM ", password=PASSWORD))
        raise AssertionError("AddUser accepted a taken email")
    except grpc.RpcError as err:
        assert err.code() == grpc.StatusCode.ALREADY_EXISTS, err
        _, info, _ = rich_error(err)
        assert (info.reason, info.domain) == ("EMAIL_TAKEN", "roster.v1"), info
    step("AddUser with Ben's email (other case, spaces): ALREADY_EXISTS, ErrorInfo EMAIL_TAKEN")

    # 12. BatchCheckAccess, as the CRM's other services ask: one decision per
    # check, in order, with the reason.
    def chk(user_id, action, owner_user_id):
        return access_pb2.AccessCheck(user_id=user_id, action=action, kind=wr.RECORD_KIND_LEAD,
                                      owner_user_id=owner_user_id)
    decisions = call(access.BatchCheckAccess, access_pb2.BatchCheckAccessRequest(account_id=acc, checks=[
        chk(ben.id, access_pb2.ACCESS_ACTION_EDIT, ben.id),
        chk(ben.id, access_pb2.ACCESS_ACTION_EDIT, admin.id),
        chk(ben.id, access_pb2.ACCESS_ACTION_VIEW, admin.id),
        chk(admin.id, access_pb2.ACCESS_ACTION_DELETE, ben.id),
        chk(cat.id, access_pb2.ACCESS_ACTION_VIEW, cat.id),
        chk(ann.id, access_pb2.ACCESS_ACTION_VIEW, ann.id),
    ])).decisions
    L = user_pb2
    got = [(d.allowed, d.basis, d.level, d.owner_relation) for d in decisions]
    assert got == [
        (True, access_pb2.ACCESS_BASIS_LEVEL, L.PERMISSION_LEVEL_OWN, access_pb2.OWNER_RELATION_SELF),
        (False, access_pb2.ACCESS_BASIS_LEVEL, L.PERMISSION_LEVEL_OWN, access_pb2.OWNER_RELATION_OTHER),
        (True, access_pb2.ACCESS_BASIS_LEVEL, L.PERMISSION_LEVEL_ALL, access_pb2.OWNER_RELATION_UNSPECIFIED),
        (True, access_pb2.ACCESS_BASIS_LEVEL, L.PERMISSION_LEVEL_ALL, access_pb2.OWNER_RELATION_UNSPECIFIED),
        (False, access_pb2.ACCESS_BASIS_USER_INACTIVE, L.PERMISSION_LEVEL_UNSPECIFIED,
         access_pb2.OWNER_RELATION_UNSPECIFIED),
        (False, access_pb2.ACCESS_BASIS_USER_NOT_FOUND, L.PERMISSION_LEVEL_UNSPECIFIED,
         access_pb2.OWNER_RELATION_UNSPECIFIED),
    ], got
    assert all(d.source == access_pb2.RIGHTS_SOURCE_USER for d in decisions[:4]), decisions
    step("BatchCheckAccess: Ben edits his own lead (OWN, SELF), not the admin's (OTHER), views it (ALL); "
         "the admin deletes Ben's (ALL); disabled Cat -> USER_INACTIVE; removed Ann -> USER_NOT_FOUND")

    channel.close()
    print("python scenario passed")


if __name__ == "__main__":
    main()
