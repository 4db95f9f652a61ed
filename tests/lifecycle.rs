//! User lifecycle with reassignment, seats and billing, and the event
//! stream, over real gRPC on SQLite and PostgreSQL.

mod common;

use chrono::{Duration, NaiveDate};
use tokio_stream::StreamExt;
use tonic::Code;

use common::*;
use roster::proto::v1 as pb;

both_backends!(
    disable_moves_user_to_inactive_tab_and_revokes_tokens,
    per_kind_reassignment_moves_conversations_with_their_parent,
    remove_requires_full_reassignment_then_forgets_the_user,
    invalid_targets_are_refused_and_nothing_moves,
    last_admin_cannot_be_disabled_or_removed,
    concurrent_disables_of_the_last_two_admins,
    concurrent_reactivations_for_the_last_strict_seat,
    reactivation_restores_records_still_held,
    validate_only_changes_nothing,
    annual_proration_and_reactivation_charge,
    recalculation_applies_at_period_rollover,
    billing_changes_by_services_only,
    expired_trial_refuses_lifecycle_changes,
    conservation_over_a_sequence_of_changes,
    event_stream_resumes_without_loss_or_repeats,
    companies_are_handed_over_with_their_conversations,
    batches_of_thousands_keep_every_record_as_sent,
    registering_a_known_key_re_points_it_and_a_new_one_creates_it,
);

fn record(kind: pb::RecordKind, id: &str, owner: &str) -> pb::WorkRecordInput {
    pb::WorkRecordInput {
        kind: kind as i32,
        external_id: id.to_owned(),
        owner_user_id: owner.to_owned(),
        ..Default::default()
    }
}

fn conversation(
    id: &str,
    owner: &str,
    parent: pb::RecordKind,
    parent_id: &str,
) -> pb::WorkRecordInput {
    pb::WorkRecordInput {
        kind: pb::RecordKind::Conversation as i32,
        external_id: id.to_owned(),
        owner_user_id: owner.to_owned(),
        parent_kind: parent as i32,
        parent_external_id: parent_id.to_owned(),
    }
}

/// 3 leads, 2 contacts, 1 customer, 2 tasks, 3 conversations (2 on leads,
/// 1 on a contact) and 2 notes for `owner`; ids prefixed by `p`.
fn portfolio(p: &str, owner: &str) -> Vec<pb::WorkRecordInput> {
    use pb::RecordKind::*;
    vec![
        record(Lead, &format!("{p}-l1"), owner),
        record(Lead, &format!("{p}-l2"), owner),
        record(Lead, &format!("{p}-l3"), owner),
        record(Contact, &format!("{p}-c1"), owner),
        record(Contact, &format!("{p}-c2"), owner),
        record(Customer, &format!("{p}-k1"), owner),
        record(Task, &format!("{p}-t1"), owner),
        record(Task, &format!("{p}-t2"), owner),
        conversation(&format!("{p}-v1"), owner, Lead, &format!("{p}-l1")),
        conversation(&format!("{p}-v2"), owner, Lead, &format!("{p}-l2")),
        conversation(&format!("{p}-v3"), owner, Contact, &format!("{p}-c1")),
        record(Note, &format!("{p}-n1"), owner),
        record(Note, &format!("{p}-n2"), owner),
    ]
}

async fn counts(app: &TestApp, ws: &Workspace, user_id: &str) -> pb::RecordCounts {
    app.users()
        .count_work_records(authed(
            pb::CountWorkRecordsRequest {
                user_id: user_id.to_owned(),
                ..Default::default()
            },
            &ws.admin_token,
        ))
        .await
        .expect("count")
        .into_inner()
        .counts
        .expect("counts")
}

fn c(
    leads: i64,
    contacts: i64,
    customers: i64,
    tasks: i64,
    conversations: i64,
    notes: i64,
) -> pb::RecordCounts {
    pb::RecordCounts {
        leads,
        contacts,
        customers,
        tasks,
        conversations,
        notes,
        ..Default::default()
    }
}

/// Counts with companies.
fn with_companies(companies: i64, rest: pb::RecordCounts) -> pb::RecordCounts {
    pb::RecordCounts { companies, ..rest }
}

async fn disable(
    app: &TestApp,
    ws: &Workspace,
    user_id: &str,
    reassignment: Option<pb::Reassignment>,
) -> Result<pb::DisableUserResponse, tonic::Status> {
    app.users()
        .disable_user(authed(
            pb::DisableUserRequest {
                user_id: user_id.to_owned(),
                reassignment,
                ..Default::default()
            },
            &ws.admin_token,
        ))
        .await
        .map(|r| r.into_inner())
}

async fn remove(
    app: &TestApp,
    ws: &Workspace,
    user_id: &str,
    reassignment: Option<pb::Reassignment>,
) -> Result<pb::RemoveUserResponse, tonic::Status> {
    app.users()
        .remove_user(authed(
            pb::RemoveUserRequest {
                user_id: user_id.to_owned(),
                reassignment,
                ..Default::default()
            },
            &ws.admin_token,
        ))
        .await
        .map(|r| r.into_inner())
}

async fn activate(
    app: &TestApp,
    ws: &Workspace,
    user_id: &str,
    restore: bool,
) -> Result<pb::ActivateUserResponse, tonic::Status> {
    app.users()
        .activate_user(authed(
            pb::ActivateUserRequest {
                user_id: user_id.to_owned(),
                restore_records: restore,
                ..Default::default()
            },
            &ws.admin_token,
        ))
        .await
        .map(|r| r.into_inner())
}

async fn list_ids(app: &TestApp, ws: &Workspace, status: pb::UserStatus) -> Vec<String> {
    app.users()
        .list_users(authed(
            pb::ListUsersRequest {
                status: status as i32,
                ..Default::default()
            },
            &ws.admin_token,
        ))
        .await
        .expect("list")
        .into_inner()
        .users
        .into_iter()
        .map(|u| u.id)
        .collect()
}

async fn usage(app: &TestApp, ws: &Workspace) -> pb::SeatUsage {
    app.seats()
        .get_seat_usage(authed(pb::GetSeatUsageRequest::default(), &ws.admin_token))
        .await
        .expect("usage")
        .into_inner()
        .usage
        .expect("usage")
}

async fn ledger(app: &TestApp, ws: &Workspace) -> Vec<pb::LedgerEntry> {
    app.seats()
        .list_ledger_entries(authed(
            pb::ListLedgerEntriesRequest::default(),
            &ws.admin_token,
        ))
        .await
        .expect("ledger")
        .into_inner()
        .entries
}

/// GetUser with a user's own token.
async fn get_user_with(
    app: &TestApp,
    token: &str,
    account_id: &str,
    user_id: &str,
) -> Result<pb::User, tonic::Status> {
    let request = pb::GetUserRequest {
        account_id: account_id.into(),
        user_id: user_id.into(),
    };
    let response = app.users().get_user(authed(request, token)).await?;
    response
        .into_inner()
        .user
        .ok_or_else(|| tonic::Status::internal("GetUser answered no user"))
}

async fn disable_moves_user_to_inactive_tab_and_revokes_tokens(db: Db) {
    let app = TestApp::spawn(db).await;
    let ws = app
        .account(pb::Plan::Base, pb::SeatPolicy::AutoExpand, 3)
        .await;
    let nina = member(&app, &ws, "nina").await;
    register(&app, &ws, portfolio("n", &nina.id)).await;
    let token = app.user_token_at_server_time(&nina.id, &ws.account.id);
    app.users()
        .list_users(authed(pb::ListUsersRequest::default(), &token))
        .await
        .expect("the token works before the disable");
    let admin = get_user_with(&app, &token, "", &ws.admin.id)
        .await
        .expect("GetUser works before the disable");
    assert_eq!(admin.id, ws.admin.id);
    app.clock.advance(Duration::seconds(5));
    let ledger_before = ledger(&app, &ws).await.len();

    let done = disable(&app, &ws, &nina.id, to(&ws.admin.id))
        .await
        .expect("disable");
    let user = done.user.expect("user");
    assert_eq!(user.status, pb::UserStatus::Inactive as i32);
    assert!(user.disable_time.is_some());
    assert_eq!(done.moved, Some(c(3, 2, 1, 2, 3, 0)));
    let effect = done.seat_effect.expect("effect");
    assert_eq!((effect.active_before, effect.active_after), (2, 1));
    assert_eq!(
        (
            effect.seats_purchased_before,
            effect.seats_purchased_after,
            effect.charge_minor
        ),
        (3, 3, 0)
    );

    assert_eq!(
        list_ids(&app, &ws, pb::UserStatus::Active).await,
        vec![ws.admin.id.clone()]
    );
    assert_eq!(
        list_ids(&app, &ws, pb::UserStatus::Inactive).await,
        vec![nina.id.clone()]
    );
    assert_eq!(
        counts(&app, &ws, &nina.id).await,
        c(0, 0, 0, 0, 0, 2),
        "notes keep their author"
    );
    assert_eq!(counts(&app, &ws, &ws.admin.id).await, c(3, 2, 1, 2, 3, 0));
    let u = usage(&app, &ws).await;
    assert_eq!(
        (
            u.seats_purchased,
            u.active_users,
            u.inactive_users,
            u.available_seats
        ),
        (3, 1, 1, 2)
    );
    assert_eq!(
        ledger(&app, &ws).await.len(),
        ledger_before,
        "disabling charges nothing"
    );

    let status = app
        .users()
        .list_users(authed(pb::ListUsersRequest::default(), &token))
        .await
        .expect_err("disabled user's token");
    assert_error(&status, Code::Unauthenticated, "TOKEN_INVALID");
    // GetUser reads the caller and the answer in one query: the same rule.
    for (account_id, user_id) in [
        ("", ws.admin.id.as_str()),
        (ws.account.id.as_str(), nina.id.as_str()),
        ("", "not-an-id"),
    ] {
        let status = get_user_with(&app, &token, account_id, user_id)
            .await
            .expect_err("disabled user's token on GetUser");
        assert_error(&status, Code::Unauthenticated, "TOKEN_INVALID");
    }
    // ListUsers reads the caller with the page (one round trip), or
    // separately for a text search or another account: the same rule, and
    // a bad page token or filter is not reported before it.
    let list =
        |account_id: &str, page_token: &str, query: &str, status: i32| pb::ListUsersRequest {
            account_id: account_id.to_owned(),
            page_token: page_token.to_owned(),
            query: query.to_owned(),
            status,
            ..Default::default()
        };
    for request in [
        list(&ws.account.id, "", "", 0),
        list("", "", "", pb::UserStatus::Active as i32),
        list("", "not-a-page-token", "", 0),
        list("", "", "nina", 0),
        list("", "", "", 99),
        list("00000000-0000-0000-0000-000000000000", "", "", 0),
    ] {
        let status = app
            .users()
            .list_users(authed(request.clone(), &token))
            .await
            .expect_err("disabled user's token on ListUsers");
        assert_error(&status, Code::Unauthenticated, "TOKEN_INVALID");
    }
    // Disabling again is refused; the email stays taken.
    let status = disable(&app, &ws, &nina.id, None).await.expect_err("twice");
    assert_error(&status, Code::FailedPrecondition, "INVALID_STATUS");
    let status = app
        .users()
        .add_user(authed(new_user(&nina.email), &ws.admin_token))
        .await
        .expect_err("email kept");
    assert_error(&status, Code::AlreadyExists, "EMAIL_TAKEN");
    // Reactivated, the old token still does not work (issued before the disable).
    activate(&app, &ws, &nina.id, false)
        .await
        .expect("activate");
    let status = app
        .users()
        .list_users(authed(pb::ListUsersRequest::default(), &token))
        .await
        .expect_err("old token after reactivation");
    assert_eq!(status.code(), Code::Unauthenticated);
    let status = get_user_with(&app, &token, "", &ws.admin.id)
        .await
        .expect_err("old token on GetUser after reactivation");
    assert_eq!(status.code(), Code::Unauthenticated);
}

async fn per_kind_reassignment_moves_conversations_with_their_parent(db: Db) {
    let app = TestApp::spawn(db).await;
    let ws = app
        .account(pb::Plan::Base, pb::SeatPolicy::AutoExpand, 5)
        .await;
    let (a, b, cc) = (
        member(&app, &ws, "a").await,
        member(&app, &ws, "b").await,
        member(&app, &ws, "c").await,
    );
    register(&app, &ws, portfolio("a", &a.id)).await;
    let done = disable(
        &app,
        &ws,
        &a.id,
        Some(pb::Reassignment {
            target_user_id: String::new(),
            by_kind: vec![
                pb::KindTarget {
                    kind: pb::RecordKind::Lead as i32,
                    target_user_id: b.id.clone(),
                },
                pb::KindTarget {
                    kind: pb::RecordKind::Task as i32,
                    target_user_id: cc.id.clone(),
                },
            ],
        }),
    )
    .await
    .expect("disable");
    assert_eq!(done.moved, Some(c(3, 0, 0, 2, 2, 0)));
    assert_eq!(
        counts(&app, &ws, &b.id).await,
        c(3, 0, 0, 0, 2, 0),
        "leads with their conversations"
    );
    assert_eq!(counts(&app, &ws, &cc.id).await, c(0, 0, 0, 2, 0, 0));
    assert_eq!(
        counts(&app, &ws, &a.id).await,
        c(0, 2, 1, 0, 1, 2),
        "untargeted kinds stay"
    );
    // The moved leads are listed under their new owner.
    let leads = app
        .users()
        .list_work_records(authed(
            pb::ListWorkRecordsRequest {
                user_id: b.id.clone(),
                kind: pb::RecordKind::Lead as i32,
                page_size: 2,
                ..Default::default()
            },
            &ws.admin_token,
        ))
        .await
        .expect("list")
        .into_inner();
    assert_eq!(leads.records.len(), 2);
    assert!(!leads.next_page_token.is_empty());
    // Conversations and notes cannot be targeted.
    let status = disable(
        &app,
        &ws,
        &b.id,
        Some(pb::Reassignment {
            target_user_id: String::new(),
            by_kind: vec![pb::KindTarget {
                kind: pb::RecordKind::Note as i32,
                target_user_id: cc.id.clone(),
            }],
        }),
    )
    .await
    .expect_err("notes never move");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(
        bad_fields(&status),
        vec!["reassignment.by_kind[0].kind".to_owned()]
    );
}

async fn remove_requires_full_reassignment_then_forgets_the_user(db: Db) {
    let app = TestApp::spawn(db).await;
    let ws = app
        .account(pb::Plan::Base, pb::SeatPolicy::AutoExpand, 5)
        .await;
    let other = app
        .account(pb::Plan::Base, pb::SeatPolicy::AutoExpand, 5)
        .await;
    let (gone, heir) = (
        member(&app, &ws, "gone").await,
        member(&app, &ws, "heir").await,
    );
    register(&app, &ws, portfolio("g", &gone.id)).await;

    let status = remove(&app, &ws, &gone.id, None)
        .await
        .expect_err("no target");
    assert_error(&status, Code::InvalidArgument, "REASSIGNMENT_REQUIRED");
    assert_eq!(bad_fields(&status), vec!["reassignment".to_owned()]);
    let partial = Some(pb::Reassignment {
        target_user_id: String::new(),
        by_kind: vec![pb::KindTarget {
            kind: pb::RecordKind::Lead as i32,
            target_user_id: heir.id.clone(),
        }],
    });
    let status = remove(&app, &ws, &gone.id, partial)
        .await
        .expect_err("partial");
    assert_error(&status, Code::InvalidArgument, "REASSIGNMENT_REQUIRED");
    assert_eq!(
        counts(&app, &ws, &gone.id).await,
        c(3, 2, 1, 2, 3, 2),
        "nothing moved"
    );

    let done = remove(&app, &ws, &gone.id, to(&heir.id))
        .await
        .expect("remove");
    assert_eq!(done.user_id, gone.id);
    assert_eq!(done.moved, Some(c(3, 2, 1, 2, 3, 0)));
    assert_eq!(counts(&app, &ws, &heir.id).await, c(3, 2, 1, 2, 3, 0));
    let status = app
        .users()
        .get_user(authed(
            pb::GetUserRequest {
                user_id: gone.id.clone(),
                ..Default::default()
            },
            &ws.admin_token,
        ))
        .await
        .expect_err("gone");
    assert_error(&status, Code::NotFound, "USER_NOT_FOUND");
    assert!(
        !list_ids(&app, &ws, pb::UserStatus::Unspecified)
            .await
            .contains(&gone.id)
    );
    let found = app
        .users()
        .list_users(authed(
            pb::ListUsersRequest {
                query: "gone".into(),
                ..Default::default()
            },
            &ws.admin_token,
        ))
        .await
        .expect("search")
        .into_inner();
    assert!(found.users.is_empty());
    // Personal data is gone from the database; notes show a former user.
    assert_eq!(
        app.sql_count(&format!(
            "SELECT COUNT(*) AS n FROM users WHERE id = '{}'",
            gone.id
        ))
        .await,
        0
    );
    assert_eq!(
        app.sql_count(&format!(
            "SELECT COUNT(*) AS n FROM users WHERE email = '{}'",
            gone.email
        ))
        .await,
        0
    );
    assert_eq!(
        app.sql_count("SELECT COUNT(*) AS n FROM work_records WHERE kind = 'NOTE' AND owner_user_id IS NULL AND owner_is_former")
            .await,
        2
    );
    // Registering a former user's note again gives it an owner: it is
    // re-pointed (not created), and no longer shows a former user.
    let again = register(
        &app,
        &ws,
        vec![record(pb::RecordKind::Note, "g-n1", &heir.id)],
    )
    .await;
    assert_eq!((again.created, again.updated), (0, 1));
    assert_eq!(
        app.sql_count(&format!(
            "SELECT COUNT(*) AS n FROM work_records WHERE kind = 'NOTE' AND external_id = 'g-n1' \
             AND owner_user_id = '{}' AND NOT owner_is_former",
            heir.id
        ))
        .await,
        1
    );
    // The email is free again, in another account too.
    app.users()
        .add_user(authed(new_user(&gone.email), &other.admin_token))
        .await
        .expect("email reused");
    // Inactive users can be removed too; seats_purchased never drops.
    let idle = member(&app, &ws, "idle").await;
    disable(&app, &ws, &idle.id, None).await.expect("disable");
    remove(&app, &ws, &idle.id, to(&heir.id))
        .await
        .expect("remove inactive");
    assert_eq!(usage(&app, &ws).await.seats_purchased, 5);
}

async fn invalid_targets_are_refused_and_nothing_moves(db: Db) {
    let app = TestApp::spawn(db).await;
    let ws = app
        .account(pb::Plan::Base, pb::SeatPolicy::AutoExpand, 5)
        .await;
    let other = app
        .account(pb::Plan::Base, pb::SeatPolicy::AutoExpand, 5)
        .await;
    let (subject, idle) = (
        member(&app, &ws, "subject").await,
        member(&app, &ws, "idle").await,
    );
    let stranger = member(&app, &other, "stranger").await;
    disable(&app, &ws, &idle.id, None)
        .await
        .expect("disable idle");
    register(&app, &ws, portfolio("s", &subject.id)).await;
    for (target, reason) in [
        (&idle.id, "TARGET_NOT_ACTIVE"),
        (&stranger.id, "TARGET_NOT_ACTIVE"),
        (&subject.id, "TARGET_IS_SUBJECT"),
    ] {
        let status = disable(&app, &ws, &subject.id, to(target))
            .await
            .expect_err("bad target");
        assert_error(&status, Code::FailedPrecondition, reason);
        let status = remove(&app, &ws, &subject.id, to(target))
            .await
            .expect_err("bad target");
        assert_error(&status, Code::FailedPrecondition, reason);
    }
    assert_eq!(counts(&app, &ws, &subject.id).await, c(3, 2, 1, 2, 3, 2));
    assert!(
        list_ids(&app, &ws, pb::UserStatus::Active)
            .await
            .contains(&subject.id)
    );
    assert_eq!(
        counts(&app, &other, &stranger.id).await,
        c(0, 0, 0, 0, 0, 0)
    );
}

async fn last_admin_cannot_be_disabled_or_removed(db: Db) {
    let app = TestApp::spawn(db).await;
    let ws = app
        .account(pb::Plan::Base, pb::SeatPolicy::AutoExpand, 5)
        .await;
    let heir = member(&app, &ws, "heir").await;
    let status = disable(&app, &ws, &ws.admin.id, None)
        .await
        .expect_err("last admin");
    assert_error(&status, Code::FailedPrecondition, "LAST_ADMIN");
    let status = remove(&app, &ws, &ws.admin.id, to(&heir.id))
        .await
        .expect_err("last admin");
    assert_error(&status, Code::FailedPrecondition, "LAST_ADMIN");
    assert!(
        list_ids(&app, &ws, pb::UserStatus::Active)
            .await
            .contains(&ws.admin.id)
    );
}

async fn concurrent_disables_of_the_last_two_admins(db: Db) {
    let app = TestApp::spawn(db).await;
    let ws = app
        .account(pb::Plan::Base, pb::SeatPolicy::AutoExpand, 5)
        .await;
    let second = app
        .users()
        .add_user(authed(
            pb::AddUserRequest {
                role: pb::Role::Admin as i32,
                ..new_user(&unique_email("admin2"))
            },
            &ws.admin_token,
        ))
        .await
        .expect("second admin")
        .into_inner()
        .user
        .expect("user");
    // Each admin disables the other at the same time (a service token acts
    // for both, so neither call is refused for its caller being disabled).
    let service = app.service_token();
    let mut calls = Vec::new();
    for target in [ws.admin.id.clone(), second.id.clone()] {
        let mut users = app.users();
        let token = service.clone();
        let account_id = ws.account.id.clone();
        calls.push(tokio::spawn(async move {
            users
                .disable_user(authed(
                    pb::DisableUserRequest {
                        account_id,
                        user_id: target,
                        ..Default::default()
                    },
                    &token,
                ))
                .await
        }));
    }
    let mut wins = 0;
    for call in calls {
        match call.await.expect("join") {
            Ok(_) => wins += 1,
            Err(status) => assert_error(&status, Code::FailedPrecondition, "LAST_ADMIN"),
        }
    }
    assert_eq!(wins, 1);
    let admins = app
        .users()
        .list_users(authed(
            pb::ListUsersRequest {
                account_id: ws.account.id.clone(),
                status: pb::UserStatus::Active as i32,
                role: pb::Role::Admin as i32,
                ..Default::default()
            },
            &service,
        ))
        .await
        .expect("list")
        .into_inner()
        .users;
    assert_eq!(admins.len(), 1);
}

async fn concurrent_reactivations_for_the_last_strict_seat(db: Db) {
    let app = TestApp::spawn(db).await;
    let ws = app.account(pb::Plan::Base, pb::SeatPolicy::Strict, 3).await;
    let (u1, u2) = (member(&app, &ws, "u1").await, member(&app, &ws, "u2").await);
    disable(&app, &ws, &u1.id, None).await.expect("disable u1");
    disable(&app, &ws, &u2.id, None).await.expect("disable u2");
    member(&app, &ws, "u3").await; // 2 of 3 seats used
    let mut calls = Vec::new();
    for id in [u1.id.clone(), u2.id.clone()] {
        let mut users = app.users();
        let token = ws.admin_token.clone();
        calls.push(tokio::spawn(async move {
            users
                .activate_user(authed(
                    pb::ActivateUserRequest {
                        user_id: id,
                        ..Default::default()
                    },
                    &token,
                ))
                .await
        }));
    }
    let mut wins = 0;
    for call in calls {
        match call.await.expect("join") {
            Ok(_) => wins += 1,
            Err(status) => {
                assert_error(&status, Code::FailedPrecondition, "SEAT_LIMIT_REACHED");
                let failure = tonic_types::StatusExt::get_details_precondition_failure(&status)
                    .expect("precondition");
                assert_eq!(failure.violations[0].description, "3 of 3 seats used");
            }
        }
    }
    assert_eq!(wins, 1);
    let u = usage(&app, &ws).await;
    assert_eq!(
        (u.seats_purchased, u.active_users, u.inactive_users),
        (3, 3, 1)
    );
}

async fn reactivation_restores_records_still_held(db: Db) {
    let app = TestApp::spawn(db).await;
    let ws = app
        .account(pb::Plan::Base, pb::SeatPolicy::AutoExpand, 5)
        .await;
    let (a, b, cc) = (
        member(&app, &ws, "a").await,
        member(&app, &ws, "b").await,
        member(&app, &ws, "c").await,
    );
    register(&app, &ws, portfolio("a", &a.id)).await;
    disable(&app, &ws, &a.id, to(&b.id)).await.expect("disable");
    // Another service hands one lead on to C meanwhile.
    register(
        &app,
        &ws,
        vec![record(pb::RecordKind::Lead, "a-l3", &cc.id)],
    )
    .await;
    let done = activate(&app, &ws, &a.id, true).await.expect("activate");
    assert_eq!(
        done.user.expect("user").status,
        pb::UserStatus::Active as i32
    );
    assert_eq!(done.restored, Some(c(2, 2, 1, 2, 3, 0)));
    assert_eq!(counts(&app, &ws, &a.id).await, c(2, 2, 1, 2, 3, 2));
    assert_eq!(counts(&app, &ws, &b.id).await, c(0, 0, 0, 0, 0, 0));
    assert_eq!(
        counts(&app, &ws, &cc.id).await,
        c(1, 0, 0, 0, 0, 0),
        "C keeps what it holds"
    );
    // Without restore_records nothing comes back.
    disable(&app, &ws, &a.id, to(&b.id))
        .await
        .expect("disable again");
    let done = activate(&app, &ws, &a.id, false).await.expect("activate");
    assert_eq!(done.restored, Some(c(0, 0, 0, 0, 0, 0)));
    assert_eq!(counts(&app, &ws, &b.id).await, c(2, 2, 1, 2, 3, 0));
}

async fn validate_only_changes_nothing(db: Db) {
    let app = TestApp::spawn(db).await;
    let ws = app
        .account(pb::Plan::Base, pb::SeatPolicy::AutoExpand, 5)
        .await;
    let (a, idle) = (
        member(&app, &ws, "a").await,
        member(&app, &ws, "idle").await,
    );
    disable(&app, &ws, &idle.id, None)
        .await
        .expect("disable idle");
    register(&app, &ws, portfolio("a", &a.id)).await;
    let events_before = app.sql_count("SELECT COUNT(*) AS n FROM events").await;

    let preview = app
        .users()
        .remove_user(authed(
            pb::RemoveUserRequest {
                user_id: a.id.clone(),
                reassignment: to(&ws.admin.id),
                validate_only: true,
                ..Default::default()
            },
            &ws.admin_token,
        ))
        .await
        .expect("preview")
        .into_inner();
    assert!(preview.refusals.is_empty());
    assert_eq!(preview.moved, Some(c(3, 2, 1, 2, 3, 0)));
    let effect = preview.seat_effect.expect("effect");
    assert_eq!(
        (
            effect.active_before,
            effect.active_after,
            effect.seats_purchased_after
        ),
        (2, 1, 5)
    );

    // Refusals come back as data, not as an error.
    let preview = app
        .users()
        .disable_user(authed(
            pb::DisableUserRequest {
                user_id: a.id.clone(),
                reassignment: to(&idle.id),
                validate_only: true,
                ..Default::default()
            },
            &ws.admin_token,
        ))
        .await
        .expect("preview")
        .into_inner();
    let reasons: Vec<i32> = preview.refusals.iter().map(|r| r.reason).collect();
    assert_eq!(reasons, vec![pb::ErrorReason::TargetNotActive as i32]);
    assert_eq!(preview.refusals[0].user_id, idle.id);

    let preview = app
        .users()
        .activate_user(authed(
            pb::ActivateUserRequest {
                user_id: idle.id.clone(),
                validate_only: true,
                ..Default::default()
            },
            &ws.admin_token,
        ))
        .await
        .expect("preview")
        .into_inner();
    assert!(preview.refusals.is_empty());
    assert_eq!(
        preview.user.expect("user").status,
        pb::UserStatus::Inactive as i32
    );

    assert_eq!(counts(&app, &ws, &a.id).await, c(3, 2, 1, 2, 3, 2));
    assert!(
        list_ids(&app, &ws, pb::UserStatus::Active)
            .await
            .contains(&a.id)
    );
    assert!(
        list_ids(&app, &ws, pb::UserStatus::Inactive)
            .await
            .contains(&idle.id)
    );
    assert_eq!(
        app.sql_count("SELECT COUNT(*) AS n FROM events").await,
        events_before
    );
}

async fn annual_proration_and_reactivation_charge(db: Db) {
    let app = TestApp::spawn(db).await;
    app.clock.set(
        NaiveDate::from_ymd_opt(2026, 1, 1)
            .and_then(|d| d.and_hms_opt(9, 0, 0))
            .expect("date"),
    );
    let created = app
        .users()
        .create_account(authed(
            pb::CreateAccountRequest {
                name: "Yearly".into(),
                plan: pb::Plan::Base as i32,
                billing_cycle: pb::BillingCycle::Annual as i32,
                seats_purchased: 2,
                admin: Some(pb::NewAdmin {
                    name: "Ann".into(),
                    email: unique_email("yearly"),
                    password: PASSWORD.into(),
                }),
                ..Default::default()
            },
            &app.service_token(),
        ))
        .await
        .expect("account")
        .into_inner();
    let account = created.account.expect("account");
    let admin = created.admin.expect("admin");
    let ws = Workspace {
        admin_token: app.user_token(&admin.id, &account.id),
        account,
        admin,
    };
    let spare = member(&app, &ws, "spare").await; // takes the second seat
    disable(&app, &ws, &spare.id, None).await.expect("disable");
    member(&app, &ws, "filler").await; // the freed seat is used again
    // 2026-11-28: 34 of 365 days remain; 12 x 15.00 x 34 / 365 = 16.767 -> 16.77.
    app.clock.set(
        NaiveDate::from_ymd_opt(2026, 11, 28)
            .and_then(|d| d.and_hms_opt(15, 0, 0))
            .expect("date"),
    );
    let done = activate(&app, &ws, &spare.id, false)
        .await
        .expect("reactivate");
    let effect = done.seat_effect.expect("effect");
    assert_eq!(
        (
            effect.seats_purchased_before,
            effect.seats_purchased_after,
            effect.charge_minor
        ),
        (2, 3, 1677)
    );
    let entry = ledger(&app, &ws)
        .await
        .into_iter()
        .next()
        .expect("ledger entry");
    assert_eq!(entry.kind, pb::LedgerEntryKind::SeatAutoExpanded as i32);
    assert_eq!(
        (entry.seats_before, entry.seats_after, entry.amount_minor),
        (2, 3, 1677)
    );
    assert_eq!(entry.user_id, spare.id);
}

async fn recalculation_applies_at_period_rollover(db: Db) {
    let app = TestApp::spawn(db).await;
    // Created 2026-11-01 09:00: the monthly period ends 2026-12-01 09:00.
    let ws = app
        .account(pb::Plan::Base, pb::SeatPolicy::AutoExpand, 6)
        .await;
    let (a, b) = (member(&app, &ws, "a").await, member(&app, &ws, "b").await);
    disable(&app, &ws, &b.id, None).await.expect("disable");
    let _ = a;
    let answer = app
        .seats()
        .request_seat_recalculation(authed(
            pb::RequestSeatRecalculationRequest {
                reason: "team shrank".into(),
                ..Default::default()
            },
            &ws.admin_token,
        ))
        .await
        .expect("request")
        .into_inner();
    let pending = answer.pending_change.expect("pending");
    assert_eq!(pending.seats_purchased_after, 2);
    let u = usage(&app, &ws).await;
    assert_eq!(
        u.seats_purchased, 6,
        "nothing changes before the period ends"
    );
    assert_eq!(
        u.pending_change.expect("pending").effective_time,
        u.period_end
    );
    let entries = ledger(&app, &ws).await;
    assert_eq!(
        entries[0].kind,
        pb::LedgerEntryKind::RecalculationRequested as i32
    );
    assert_eq!((entries[0].seats_before, entries[0].seats_after), (6, 2));

    let billing = app.service_token_with(&["billing:write", "users:read"]);
    let roll = |billing: String| {
        let mut seats = app.seats();
        async move {
            seats
                .roll_over_billing_periods(authed(
                    pb::RollOverBillingPeriodsRequest::default(),
                    &billing,
                ))
                .await
                .expect("roll over")
                .into_inner()
        }
    };
    assert_eq!(roll(billing.clone()).await.accounts_rolled_over, 0);
    app.clock.advance(Duration::days(31));
    let rolled = roll(billing.clone()).await;
    assert!(rolled.accounts_rolled_over >= 1);
    assert_eq!(rolled.recalculations_applied, 1);
    let u = usage(&app, &ws).await;
    assert_eq!(u.seats_purchased, 2);
    assert!(u.pending_change.is_none());
    let start = u.period_start.expect("start");
    assert_eq!(
        chrono::DateTime::from_timestamp(start.seconds, 0)
            .expect("ts")
            .date_naive(),
        NaiveDate::from_ymd_opt(2026, 12, 1).expect("date")
    );
    let kinds: Vec<i32> = ledger(&app, &ws)
        .await
        .iter()
        .take(2)
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds,
        vec![
            pb::LedgerEntryKind::RecalculationApplied as i32,
            pb::LedgerEntryKind::PeriodRolledOver as i32
        ]
    );
    assert_eq!(roll(billing).await.accounts_rolled_over, 0, "idempotent");
}

async fn billing_changes_by_services_only(db: Db) {
    let app = TestApp::spawn(db).await;
    let ws = app
        .account(pb::Plan::Trial, pb::SeatPolicy::AutoExpand, 2)
        .await;
    member(&app, &ws, "a").await;
    let status = app
        .seats()
        .change_plan(authed(
            pb::ChangePlanRequest {
                account_id: ws.account.id.clone(),
                plan: pb::Plan::Pro as i32,
                ..Default::default()
            },
            &ws.admin_token,
        ))
        .await
        .expect_err("admins do not change plans");
    assert_eq!(status.code(), Code::PermissionDenied);
    let billing = app.service_token_with(&["billing:write", "users:read"]);
    let account = app
        .seats()
        .change_plan(authed(
            pb::ChangePlanRequest {
                account_id: ws.account.id.clone(),
                plan: pb::Plan::Pro as i32,
                billing_cycle: pb::BillingCycle::Annual as i32,
                ..Default::default()
            },
            &billing,
        ))
        .await
        .expect("change plan")
        .into_inner()
        .account
        .expect("account");
    assert_eq!(
        (account.plan, account.billing_cycle),
        (pb::Plan::Pro as i32, pb::BillingCycle::Annual as i32)
    );
    assert_eq!(account.seat_price_monthly_minor, 4500);
    assert!(account.trial_ends_at.is_none());
    let status = app
        .seats()
        .set_seats_purchased(authed(
            pb::SetSeatsPurchasedRequest {
                account_id: ws.account.id.clone(),
                seats_purchased: 1,
                ..Default::default()
            },
            &billing,
        ))
        .await
        .expect_err("below active users");
    assert_eq!(bad_fields(&status), vec!["seats_purchased".to_owned()]);
    let set = app
        .seats()
        .set_seats_purchased(authed(
            pb::SetSeatsPurchasedRequest {
                account_id: ws.account.id.clone(),
                seats_purchased: 10,
                reason: "bought 10".into(),
            },
            &billing,
        ))
        .await
        .expect("set seats")
        .into_inner()
        .usage
        .expect("usage");
    assert_eq!((set.seats_purchased, set.available_seats), (10, 8));
    let policy = app
        .seats()
        .update_seat_policy(authed(
            pb::UpdateSeatPolicyRequest {
                seat_policy: pb::SeatPolicy::Strict as i32,
                ..Default::default()
            },
            &ws.admin_token,
        ))
        .await
        .expect("admins set the policy")
        .into_inner()
        .usage
        .expect("usage");
    assert_eq!(policy.seat_policy, pb::SeatPolicy::Strict as i32);
    let kinds: Vec<i32> = ledger(&app, &ws).await.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        vec![
            pb::LedgerEntryKind::SeatsSet as i32,
            pb::LedgerEntryKind::PlanChanged as i32,
            pb::LedgerEntryKind::AccountCreated as i32,
        ]
    );
}

async fn expired_trial_refuses_lifecycle_changes(db: Db) {
    let app = TestApp::spawn(db).await;
    let ws = app
        .account(pb::Plan::Trial, pb::SeatPolicy::AutoExpand, 3)
        .await;
    let a = member(&app, &ws, "a").await;
    app.clock.advance(Duration::days(15));
    let status = disable(&app, &ws, &a.id, None)
        .await
        .expect_err("trial over");
    assert_error(&status, Code::FailedPrecondition, "TRIAL_EXPIRED");
    let status = remove(&app, &ws, &a.id, to(&ws.admin.id))
        .await
        .expect_err("trial over");
    assert_error(&status, Code::FailedPrecondition, "TRIAL_EXPIRED");
    assert_eq!(usage(&app, &ws).await.active_users, 2, "reads work");
    app.seats()
        .change_plan(authed(
            pb::ChangePlanRequest {
                account_id: ws.account.id.clone(),
                plan: pb::Plan::Base as i32,
                ..Default::default()
            },
            &app.service_token(),
        ))
        .await
        .expect("a plan ends the trial block");
    disable(&app, &ws, &a.id, None)
        .await
        .expect("writes work again");
}

async fn conservation_over_a_sequence_of_changes(db: Db) {
    let app = TestApp::spawn(db).await;
    let ws = app
        .account(pb::Plan::Base, pb::SeatPolicy::AutoExpand, 5)
        .await;
    let mut people = Vec::new();
    for i in 0..4 {
        let u = member(&app, &ws, &format!("p{i}")).await;
        register(&app, &ws, portfolio(&format!("p{i}"), &u.id)).await;
        people.push(u);
    }
    const TOTAL: &str = "SELECT COUNT(*) AS n FROM work_records";
    let before = app.sql_count(TOTAL).await;
    disable(&app, &ws, &people[0].id, to(&people[1].id))
        .await
        .expect("d0");
    remove(&app, &ws, &people[1].id, to(&people[2].id))
        .await
        .expect("r1");
    activate(&app, &ws, &people[0].id, true).await.expect("a0");
    disable(&app, &ws, &people[2].id, to(&people[3].id))
        .await
        .expect("d2");
    remove(&app, &ws, &people[2].id, to(&people[0].id))
        .await
        .expect("r2 (inactive)");
    activate(&app, &ws, &people[0].id, true)
        .await
        .expect_err("already active");
    assert_eq!(
        app.sql_count(TOTAL).await,
        before,
        "no record lost or duplicated"
    );
    // Four portfolios of 3 leads, 2 contacts, 1 customer, 2 tasks, 3
    // conversations and 2 notes each.
    for (kind, expected) in [
        ("LEAD", 12),
        ("CONTACT", 8),
        ("CUSTOMER", 4),
        ("TASK", 8),
        ("CONVERSATION", 12),
        ("NOTE", 8),
    ] {
        assert_eq!(
            app.sql_count(&format!(
                "SELECT COUNT(*) AS n FROM work_records WHERE kind = '{kind}'"
            ))
            .await,
            expected,
            "{kind}"
        );
    }
    assert_eq!(
        app.sql_count(
            "SELECT COUNT(*) AS n FROM work_records w WHERE w.owner_user_id IS NOT NULL \
             AND NOT EXISTS (SELECT 1 FROM users u WHERE u.id = w.owner_user_id)"
        )
        .await,
        0,
        "every owner exists"
    );
    assert_eq!(
        app.sql_count(
            "SELECT COUNT(*) AS n FROM work_records WHERE owner_user_id IS NULL AND kind <> 'NOTE'"
        )
        .await,
        0,
        "only notes may show a former user"
    );
    // The API view agrees: every non-note record is held by a listed user.
    let mut held = 0;
    for id in list_ids(&app, &ws, pb::UserStatus::Unspecified).await {
        let n = counts(&app, &ws, &id).await;
        held += n.leads + n.contacts + n.customers + n.tasks + n.conversations;
    }
    assert_eq!(held, 4 * 11);
}

async fn event_stream_resumes_without_loss_or_repeats(db: Db) {
    let app = TestApp::spawn(db).await;
    let ws = app
        .account(pb::Plan::Base, pb::SeatPolicy::AutoExpand, 10)
        .await;
    let open = |after: i64, follow: bool| {
        let mut users = app.users();
        let token = ws.admin_token.clone();
        async move {
            users
                .stream_events(authed(
                    pb::StreamEventsRequest {
                        after_sequence: after,
                        follow,
                        ..Default::default()
                    },
                    &token,
                ))
                .await
                .expect("stream")
                .into_inner()
        }
    };
    // ACCOUNT_CREATED, USER_ADDED (admin), then 3 adds.
    for i in 0..3 {
        member(&app, &ws, &format!("e{i}")).await;
    }
    let mut stream = open(0, true).await;
    let mut seen = Vec::new();
    for _ in 0..3 {
        let event = stream
            .next()
            .await
            .expect("event")
            .expect("ok")
            .event
            .expect("event");
        seen.push(event);
    }
    drop(stream); // the consumer disconnects midway
    let cursor = seen.last().expect("last").sequence;
    // Changes keep happening while nobody listens.
    let a = member(&app, &ws, "later").await;
    disable(&app, &ws, &a.id, to(&ws.admin.id))
        .await
        .expect("disable");
    let mut stream = open(cursor, true).await;
    let writer = {
        let mut users = app.users();
        let token = ws.admin_token.clone();
        tokio::spawn(async move {
            for i in 0..3 {
                users
                    .add_user(authed(new_user(&unique_email(&format!("live{i}"))), &token))
                    .await
                    .expect("add");
            }
        })
    };
    writer.await.expect("writer");
    // 5 + 1 (later) + 1 (disabled) + 3 live adds = 10 events in all.
    while seen.len() < 10 {
        let next = tokio::time::timeout(std::time::Duration::from_secs(10), stream.next())
            .await
            .expect("no stall")
            .expect("event")
            .expect("ok")
            .event
            .expect("event");
        seen.push(next);
    }
    let sequences: Vec<i64> = seen.iter().map(|e| e.sequence).collect();
    assert_eq!(
        sequences,
        (1..=10).collect::<Vec<_>>(),
        "every event once, in order"
    );
    assert_eq!(seen[0].r#type, pb::EventType::AccountCreated as i32);
    assert_eq!(seen[6].r#type, pb::EventType::UserDisabled as i32);
    // A replay without follow ends after the last event.
    let replay: Vec<_> = open(0, false).await.collect().await;
    assert_eq!(replay.len(), 10);
}

async fn companies_are_handed_over_with_their_conversations(db: Db) {
    use pb::RecordKind::*;
    let app = TestApp::spawn(db).await;
    let ws = app
        .account(pb::Plan::Base, pb::SeatPolicy::AutoExpand, 5)
        .await;
    let (a, b, cc) = (
        member(&app, &ws, "a").await,
        member(&app, &ws, "b").await,
        member(&app, &ws, "c").await,
    );
    register(
        &app,
        &ws,
        vec![
            record(Company, "co1", &a.id),
            record(Company, "co2", &a.id),
            conversation("v1", &a.id, Company, "co1"),
            record(Lead, "l1", &a.id),
            conversation("v2", &a.id, Lead, "l1"),
            // The same external id in another kind is another record.
            record(Lead, "co1", &a.id),
        ],
    )
    .await;
    assert_eq!(
        counts(&app, &ws, &a.id).await,
        with_companies(2, c(2, 0, 0, 0, 2, 0))
    );
    let companies_to_b = || {
        Some(pb::Reassignment {
            target_user_id: String::new(),
            by_kind: vec![pb::KindTarget {
                kind: Company as i32,
                target_user_id: b.id.clone(),
            }],
        })
    };
    // The dry run counts what the real call then moves.
    let preview = app
        .users()
        .disable_user(authed(
            pb::DisableUserRequest {
                user_id: a.id.clone(),
                reassignment: companies_to_b(),
                validate_only: true,
                ..Default::default()
            },
            &ws.admin_token,
        ))
        .await
        .expect("preview")
        .into_inner();
    let done = disable(&app, &ws, &a.id, companies_to_b())
        .await
        .expect("disable");
    assert_eq!(preview.moved, done.moved);
    assert_eq!(done.moved, Some(with_companies(2, c(0, 0, 0, 0, 1, 0))));
    assert_eq!(
        counts(&app, &ws, &b.id).await,
        with_companies(2, c(0, 0, 0, 0, 1, 0)),
        "companies with their conversation"
    );
    assert_eq!(counts(&app, &ws, &a.id).await, c(2, 0, 0, 0, 1, 0));
    let listed = app
        .users()
        .list_work_records(authed(
            pb::ListWorkRecordsRequest {
                user_id: b.id.clone(),
                kind: Company as i32,
                ..Default::default()
            },
            &ws.admin_token,
        ))
        .await
        .expect("list")
        .into_inner()
        .records;
    let ids: Vec<&str> = listed.iter().map(|r| r.external_id.as_str()).collect();
    assert_eq!(ids, ["co1", "co2"]);
    assert!(listed.iter().all(|r| r.kind == Company as i32));
    // Restored from the journal.
    let back = activate(&app, &ws, &a.id, true).await.expect("activate");
    assert_eq!(back.restored, Some(with_companies(2, c(0, 0, 0, 0, 1, 0))));
    assert_eq!(
        counts(&app, &ws, &a.id).await,
        with_companies(2, c(2, 0, 0, 0, 2, 0))
    );
    // Removal needs a target for companies too.
    let status = remove(
        &app,
        &ws,
        &a.id,
        Some(pb::Reassignment {
            target_user_id: String::new(),
            by_kind: vec![pb::KindTarget {
                kind: Lead as i32,
                target_user_id: cc.id.clone(),
            }],
        }),
    )
    .await
    .expect_err("companies uncovered");
    assert_error(&status, Code::InvalidArgument, "REASSIGNMENT_REQUIRED");
    remove(&app, &ws, &a.id, to(&cc.id)).await.expect("remove");
    assert_eq!(
        counts(&app, &ws, &cc.id).await,
        with_companies(2, c(2, 0, 0, 0, 2, 0))
    );
    // A conversation cannot hang off a note or a task.
    let status = app
        .users()
        .register_work_records(authed(
            pb::RegisterWorkRecordsRequest {
                records: vec![conversation("v9", &b.id, Task, "t1")],
                ..Default::default()
            },
            &ws.admin_token,
        ))
        .await
        .expect_err("bad parent");
    assert_eq!(bad_fields(&status), vec!["records[0].parent_kind"]);
}

/// Records are written in statements of 1,000 rows on SQLite (a full one is
/// kept prepared) and as arrays in one kept statement on PostgreSQL: two
/// full statements and a partial one, then a full one with other values in
/// every column (nulls included), each row stored as sent.
async fn batches_of_thousands_keep_every_record_as_sent(db: Db) {
    use pb::RecordKind::*;
    let app = TestApp::spawn(db).await;
    let ws = app.account(pb::Plan::Base, pb::SeatPolicy::Strict, 3).await;
    let a = member(&app, &ws, "batch-a").await;
    let b = member(&app, &ws, "batch-b").await;
    let first = (0..2_500)
        .map(|i| match i % 2 {
            0 => record(Lead, &format!("big-{i}"), &a.id),
            _ => record(Contact, &format!("big-{i}"), &b.id),
        })
        .collect();
    register(&app, &ws, first).await;
    let second = (0..1_000)
        .map(|i| match i % 10 {
            0 => conversation(&format!("talk-{i}"), &a.id, Lead, &format!("big-{}", i * 2)),
            _ => record(Task, &format!("task-{i}"), &b.id),
        })
        .collect();
    register(&app, &ws, second).await;
    assert_eq!(counts(&app, &ws, &a.id).await, c(1_250, 0, 0, 0, 100, 0));
    assert_eq!(counts(&app, &ws, &b.id).await, c(0, 1_250, 0, 900, 0, 0));
    let stored = |query: String| {
        let app = &app;
        async move { app.sql_count(&query).await }
    };
    // The last row of the first statement and of the partial one.
    for id in ["big-999", "big-2499"] {
        let query = format!(
            "SELECT COUNT(*) AS n FROM work_records WHERE external_id = '{id}' \
             AND kind = 'CONTACT' AND owner_user_id = '{}' AND NOT owner_is_former \
             AND parent_kind IS NULL AND parent_external_id IS NULL",
            b.id
        );
        assert_eq!(stored(query).await, 1, "{id}");
    }
    let query = format!(
        "SELECT COUNT(*) AS n FROM work_records WHERE external_id = 'talk-990' \
         AND kind = 'CONVERSATION' AND owner_user_id = '{}' \
         AND parent_kind = 'LEAD' AND parent_external_id = 'big-1980'",
        a.id
    );
    assert_eq!(stored(query).await, 1);
    let query = "SELECT COUNT(*) AS n FROM work_records WHERE kind = 'TASK' \
                 AND created_at = updated_at AND created_at IS NOT NULL";
    assert_eq!(stored(query.to_owned()).await, 900);
}

/// A record is known by its kind and external id together: in one call an
/// existing key gets the new owner, the same external id under another
/// kind is a new record, and the answer counts each.
async fn registering_a_known_key_re_points_it_and_a_new_one_creates_it(db: Db) {
    use pb::RecordKind::*;
    let app = TestApp::spawn(db).await;
    let ws = app.account(pb::Plan::Base, pb::SeatPolicy::Strict, 3).await;
    let a = member(&app, &ws, "known-a").await;
    let b = member(&app, &ws, "known-b").await;
    register(
        &app,
        &ws,
        vec![record(Lead, "x", &a.id), record(Contact, "y", &a.id)],
    )
    .await;
    let answer = register(
        &app,
        &ws,
        vec![
            record(Task, "z", &b.id),
            record(Contact, "x", &b.id),
            record(Lead, "x", &b.id),
            conversation("v", &b.id, Contact, "x"),
        ],
    )
    .await;
    assert_eq!((answer.created, answer.updated), (3, 1));
    assert_eq!(counts(&app, &ws, &a.id).await, c(0, 1, 0, 0, 0, 0));
    assert_eq!(counts(&app, &ws, &b.id).await, c(1, 1, 0, 1, 1, 0));
    // Known keys only: nothing is created and each owner is set again.
    let again = register(
        &app,
        &ws,
        vec![record(Lead, "x", &a.id), record(Contact, "y", &b.id)],
    )
    .await;
    assert_eq!((again.created, again.updated), (0, 2));
    assert_eq!(counts(&app, &ws, &a.id).await, c(1, 0, 0, 0, 0, 0));
    assert_eq!(counts(&app, &ws, &b.id).await, c(0, 2, 0, 1, 1, 0));
}
