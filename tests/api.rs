//! Integration tests of the foundation calls over real gRPC, each on SQLite
//! and on PostgreSQL.

mod common;

use chrono::Duration;
use tonic::Code;

use common::*;
use roster::proto::v1 as pb;

both_backends!(
    user_lifecycle,
    invalid_input_names_the_field_and_writes_nothing,
    duplicate_email_is_refused_neutrally_in_any_account,
    strict_seat_race_has_exactly_one_winner,
    auto_expand_buys_a_prorated_seat,
    request_id_replays_the_first_answer,
    members_read_but_cannot_write,
    accounts_are_isolated,
    bad_tokens_are_refused,
    stale_etag_and_last_admin,
    expired_trial_refuses_writes_but_reads_work,
    groups_and_paging,
    health_and_service_only_calls,
);

async fn user_lifecycle(db: Db) {
    let app = TestApp::spawn(db).await;
    let ws = app
        .account(pb::Plan::Base, pb::SeatPolicy::AutoExpand, 3)
        .await;
    assert_eq!(ws.admin.status, pb::UserStatus::Active as i32);
    let mut users = app.users();
    let added = users
        .add_user(authed(
            pb::AddUserRequest {
                role: pb::Role::Member as i32,
                ..new_user("  Nina.Newcomer@Example.COM ")
            },
            &ws.admin_token,
        ))
        .await
        .expect("add")
        .into_inner();
    let user = added.user.expect("user");
    assert_eq!(user.email, "nina.newcomer@example.com");
    assert_eq!(user.status, pb::UserStatus::Active as i32);
    assert_eq!(user.account_id, ws.account.id);
    let effect = added.seat_effect.expect("effect");
    assert_eq!((effect.active_before, effect.active_after), (1, 2));
    assert_eq!(effect.seats_purchased_after, 3);
    assert_eq!(effect.charge_minor, 0);

    let got = users
        .get_user(authed(
            pb::GetUserRequest {
                user_id: user.id.clone(),
                ..Default::default()
            },
            &ws.admin_token,
        ))
        .await
        .expect("get")
        .into_inner()
        .user
        .expect("user");
    assert_eq!(got, user);

    let active = users
        .list_users(authed(
            pb::ListUsersRequest {
                status: pb::UserStatus::Active as i32,
                ..Default::default()
            },
            &ws.admin_token,
        ))
        .await
        .expect("list")
        .into_inner();
    assert_eq!(active.users.len(), 2);
    let inactive = users
        .list_users(authed(
            pb::ListUsersRequest {
                status: pb::UserStatus::Inactive as i32,
                ..Default::default()
            },
            &ws.admin_token,
        ))
        .await
        .expect("list")
        .into_inner();
    assert!(inactive.users.is_empty());

    let found = users
        .list_users(authed(
            pb::ListUsersRequest {
                query: "NEWCOMER".into(),
                ..Default::default()
            },
            &ws.admin_token,
        ))
        .await
        .expect("search")
        .into_inner();
    assert_eq!(
        found.users.iter().map(|u| &u.id).collect::<Vec<_>>(),
        vec![&user.id]
    );
    let by_role = users
        .list_users(authed(
            pb::ListUsersRequest {
                role: pb::Role::Admin as i32,
                ..Default::default()
            },
            &ws.admin_token,
        ))
        .await
        .expect("by role")
        .into_inner();
    assert_eq!(
        by_role.users.iter().map(|u| &u.id).collect::<Vec<_>>(),
        vec![&ws.admin.id]
    );

    let updated = users
        .update_user(authed(
            pb::UpdateUserRequest {
                user_id: user.id.clone(),
                etag: user.etag.clone(),
                name: Some("Nina Renamed".into()),
                role: Some(pb::Role::Admin as i32),
                ..Default::default()
            },
            &ws.admin_token,
        ))
        .await
        .expect("update")
        .into_inner()
        .user
        .expect("user");
    assert_eq!(updated.name, "Nina Renamed");
    assert_eq!(updated.role, pb::Role::Admin as i32);
    assert_ne!(updated.etag, user.etag);
    let reread = users
        .get_user(authed(
            pb::GetUserRequest {
                user_id: user.id.clone(),
                ..Default::default()
            },
            &ws.admin_token,
        ))
        .await
        .expect("get")
        .into_inner()
        .user
        .expect("user");
    assert_eq!(reread, updated);

    let usage = app
        .seats()
        .get_seat_usage(authed(pb::GetSeatUsageRequest::default(), &ws.admin_token))
        .await
        .expect("usage")
        .into_inner()
        .usage
        .expect("usage");
    assert_eq!(
        (
            usage.seats_purchased,
            usage.active_users,
            usage.inactive_users,
            usage.available_seats
        ),
        (3, 2, 0, 1)
    );
    assert_eq!(usage.seat_price_monthly_minor, 1500);
}

async fn count_users(app: &TestApp, ws: &Workspace) -> usize {
    app.users()
        .list_users(authed(pb::ListUsersRequest::default(), &ws.admin_token))
        .await
        .expect("list")
        .into_inner()
        .users
        .len()
}

async fn invalid_input_names_the_field_and_writes_nothing(db: Db) {
    let app = TestApp::spawn(db).await;
    let ws = app
        .account(pb::Plan::Base, pb::SeatPolicy::AutoExpand, 5)
        .await;
    let mut users = app.users();
    let cases: Vec<(pb::AddUserRequest, &str)> = vec![
        (new_user("not-an-email"), "email"),
        (new_user(""), "email"),
        (
            pb::AddUserRequest {
                name: "   ".into(),
                ..new_user(&unique_email("a"))
            },
            "name",
        ),
        (
            pb::AddUserRequest {
                name: "n".repeat(201),
                ..new_user(&unique_email("a"))
            },
            "name",
        ),
        (
            pb::AddUserRequest {
                password: "short1".into(),
                ..new_user(&unique_email("a"))
            },
            "password",
        ),
        (
            pb::AddUserRequest {
                password: "aaaaaaaaaaaaaaaaaaaa".into(),
                ..new_user(&unique_email("a"))
            },
            "password",
        ),
        (
            pb::AddUserRequest {
                password: "ab1".repeat(90),
                ..new_user(&unique_email("a"))
            },
            "password",
        ),
        (
            pb::AddUserRequest {
                group_id: uuid::Uuid::now_v7().to_string(),
                ..new_user(&unique_email("a"))
            },
            "group_id",
        ),
        (
            pb::AddUserRequest {
                group_id: "not-a-uuid".into(),
                ..new_user(&unique_email("a"))
            },
            "group_id",
        ),
        (
            pb::AddUserRequest {
                role: 99,
                ..new_user(&unique_email("a"))
            },
            "role",
        ),
        (
            pb::AddUserRequest {
                request_id: "has space".into(),
                ..new_user(&unique_email("a"))
            },
            "request_id",
        ),
    ];
    for (request, field) in cases {
        let status = users
            .add_user(authed(request, &ws.admin_token))
            .await
            .expect_err("must fail");
        assert_eq!(status.code(), Code::InvalidArgument, "{field}: {status:?}");
        assert_eq!(reason(&status), "INVALID_ARGUMENT");
        assert!(
            bad_fields(&status).contains(&field.to_owned()),
            "{field}: {:?}",
            bad_fields(&status)
        );
    }
    for page_size in [-1, 1001] {
        let status = users
            .list_users(authed(
                pb::ListUsersRequest {
                    page_size,
                    ..Default::default()
                },
                &ws.admin_token,
            ))
            .await
            .expect_err("page size");
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(bad_fields(&status), vec!["page_size".to_owned()]);
    }
    // Several bad fields are reported together.
    let status = users
        .add_user(authed(
            pb::AddUserRequest {
                name: String::new(),
                email: "x".into(),
                password: "x".into(),
                ..Default::default()
            },
            &ws.admin_token,
        ))
        .await
        .expect_err("all bad");
    let mut fields = bad_fields(&status);
    fields.sort();
    assert_eq!(fields, vec!["email", "name", "password"]);
    assert_eq!(count_users(&app, &ws).await, 1, "nothing was written");
}

async fn duplicate_email_is_refused_neutrally_in_any_account(db: Db) {
    let app = TestApp::spawn(db).await;
    let a = app
        .account(pb::Plan::Base, pb::SeatPolicy::AutoExpand, 5)
        .await;
    let b = app
        .account(pb::Plan::Base, pb::SeatPolicy::AutoExpand, 5)
        .await;
    let email = unique_email("dup");
    app.users()
        .add_user(authed(new_user(&email), &a.admin_token))
        .await
        .expect("first");
    let same_account = app
        .users()
        .add_user(authed(new_user(&email.to_uppercase()), &a.admin_token))
        .await
        .expect_err("same account");
    let other_account = app
        .users()
        .add_user(authed(
            new_user(&format!("  {}  ", email.to_uppercase())),
            &b.admin_token,
        ))
        .await
        .expect_err("other account");
    for status in [&same_account, &other_account] {
        assert_error(status, Code::AlreadyExists, "EMAIL_TAKEN");
        assert!(!status.message().contains(&a.account.id));
    }
    assert_eq!(
        same_account.message(),
        other_account.message(),
        "the answer does not reveal the account"
    );
    assert_eq!(count_users(&app, &b).await, 1);
    // The first admin's address is taken too (CreateAccount checks it).
    let status = app
        .users()
        .create_account(authed(
            pb::CreateAccountRequest {
                name: "Copycat".into(),
                admin: Some(pb::NewAdmin {
                    name: "X".into(),
                    email: a.admin.email.to_uppercase(),
                    password: PASSWORD.into(),
                }),
                ..Default::default()
            },
            &app.service_token(),
        ))
        .await
        .expect_err("admin email taken");
    assert_error(&status, Code::AlreadyExists, "EMAIL_TAKEN");
}

async fn strict_seat_race_has_exactly_one_winner(db: Db) {
    let app = TestApp::spawn(db).await;
    // Two seats: the admin's and one free.
    let ws = app.account(pb::Plan::Base, pb::SeatPolicy::Strict, 2).await;
    let mut calls = Vec::new();
    for i in 0..8 {
        let mut users = app.users();
        let token = ws.admin_token.clone();
        calls.push(tokio::spawn(async move {
            users
                .add_user(authed(
                    new_user(&unique_email(&format!("racer{i}"))),
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
                    .expect("precondition failure");
                assert_eq!(failure.violations[0].description, "2 of 2 seats used");
            }
        }
    }
    assert_eq!(wins, 1);
    let usage = app
        .seats()
        .get_seat_usage(authed(pb::GetSeatUsageRequest::default(), &ws.admin_token))
        .await
        .expect("usage")
        .into_inner()
        .usage
        .expect("usage");
    assert_eq!((usage.seats_purchased, usage.active_users), (2, 2));
}

async fn auto_expand_buys_a_prorated_seat(db: Db) {
    let app = TestApp::spawn(db).await;
    // Created 2026-11-01 09:00: the monthly period is Nov 1 .. Dec 1 (30 days).
    let ws = app
        .account(pb::Plan::Base, pb::SeatPolicy::AutoExpand, 1)
        .await;
    // On Nov 21, 10 of 30 days remain: 15.00 * 10 / 30 = 5.00.
    app.clock.advance(Duration::days(20));
    let added = app
        .users()
        .add_user(authed(new_user(&unique_email("extra")), &ws.admin_token))
        .await
        .expect("add")
        .into_inner();
    let effect = added.seat_effect.expect("effect");
    assert_eq!(
        (effect.seats_purchased_before, effect.seats_purchased_after),
        (1, 2)
    );
    assert_eq!(effect.charge_minor, 500);
    assert_eq!(effect.currency, "USD");
    // On Nov 24, 7 days remain: 1500 * 7 / 30 = 350.
    app.clock.advance(Duration::days(3));
    let effect = app
        .users()
        .add_user(authed(new_user(&unique_email("extra")), &ws.admin_token))
        .await
        .expect("add")
        .into_inner()
        .seat_effect
        .expect("effect");
    assert_eq!(
        (effect.seats_purchased_after, effect.charge_minor),
        (3, 350)
    );

    // A trial buys seats for free.
    let trial = app
        .account(pb::Plan::Trial, pb::SeatPolicy::AutoExpand, 1)
        .await;
    let effect = app
        .users()
        .add_user(authed(new_user(&unique_email("trial")), &trial.admin_token))
        .await
        .expect("add")
        .into_inner()
        .seat_effect
        .expect("effect");
    assert_eq!((effect.seats_purchased_after, effect.charge_minor), (2, 0));
}

async fn request_id_replays_the_first_answer(db: Db) {
    let app = TestApp::spawn(db).await;
    let ws = app
        .account(pb::Plan::Base, pb::SeatPolicy::AutoExpand, 5)
        .await;
    let request = pb::AddUserRequest {
        request_id: "add-nina-1".into(),
        ..new_user(&unique_email("nina"))
    };
    let mut calls = Vec::new();
    for _ in 0..4 {
        let mut users = app.users();
        let token = ws.admin_token.clone();
        let request = request.clone();
        calls.push(tokio::spawn(async move {
            users.add_user(authed(request, &token)).await
        }));
    }
    let mut ids = Vec::new();
    for call in calls {
        ids.push(
            call.await
                .expect("join")
                .expect("add")
                .into_inner()
                .user
                .expect("user")
                .id,
        );
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "every retry returns the same user");
    assert_eq!(count_users(&app, &ws).await, 2, "one user added");
    let status = app
        .users()
        .add_user(authed(
            pb::AddUserRequest {
                name: "Someone Else".into(),
                ..request.clone()
            },
            &ws.admin_token,
        ))
        .await
        .expect_err("reused id");
    assert_error(&status, Code::FailedPrecondition, "REQUEST_ID_REUSED");
}

async fn members_read_but_cannot_write(db: Db) {
    let app = TestApp::spawn(db).await;
    let ws = app
        .account(pb::Plan::Base, pb::SeatPolicy::AutoExpand, 5)
        .await;
    let member = app
        .users()
        .add_user(authed(new_user(&unique_email("member")), &ws.admin_token))
        .await
        .expect("add")
        .into_inner()
        .user
        .expect("user");
    assert_eq!(member.role, pb::Role::Member as i32);
    let token = app.user_token(&member.id, &ws.account.id);
    let listed = app
        .users()
        .list_users(authed(pb::ListUsersRequest::default(), &token))
        .await
        .expect("members read");
    assert_eq!(listed.into_inner().users.len(), 2);
    let status = app
        .users()
        .add_user(authed(new_user(&unique_email("x")), &token))
        .await
        .expect_err("member add");
    assert_error(&status, Code::PermissionDenied, "PERMISSION_DENIED");
    let status = app
        .users()
        .update_user(authed(
            pb::UpdateUserRequest {
                user_id: member.id.clone(),
                etag: member.etag.clone(),
                role: Some(pb::Role::Admin as i32),
                ..Default::default()
            },
            &token,
        ))
        .await
        .expect_err("member promotes itself");
    assert_error(&status, Code::PermissionDenied, "PERMISSION_DENIED");
    let status = app
        .users()
        .create_group(authed(
            pb::CreateGroupRequest {
                name: "Sales".into(),
                ..Default::default()
            },
            &token,
        ))
        .await
        .expect_err("member creates group");
    assert_eq!(status.code(), Code::PermissionDenied);
    // A service without users:write cannot write either.
    let reader = app.service_token_with(&["users:read"]);
    let status = app
        .users()
        .add_user(authed(
            pb::AddUserRequest {
                account_id: ws.account.id.clone(),
                ..new_user(&unique_email("y"))
            },
            &reader,
        ))
        .await
        .expect_err("reader service");
    assert_eq!(status.code(), Code::PermissionDenied);
    // Only services create accounts.
    let status = app
        .users()
        .create_account(authed(pb::CreateAccountRequest::default(), &ws.admin_token))
        .await
        .expect_err("admin creates account");
    assert_eq!(status.code(), Code::PermissionDenied);
    assert_eq!(count_users(&app, &ws).await, 2);
}

async fn accounts_are_isolated(db: Db) {
    let app = TestApp::spawn(db).await;
    let a = app
        .account(pb::Plan::Base, pb::SeatPolicy::AutoExpand, 5)
        .await;
    let b = app
        .account(pb::Plan::Base, pb::SeatPolicy::AutoExpand, 5)
        .await;
    let b_user = app
        .users()
        .add_user(authed(new_user(&unique_email("b")), &b.admin_token))
        .await
        .expect("add")
        .into_inner()
        .user
        .expect("user");
    let foreign = app
        .users()
        .get_user(authed(
            pb::GetUserRequest {
                user_id: b_user.id.clone(),
                ..Default::default()
            },
            &a.admin_token,
        ))
        .await
        .expect_err("foreign user");
    let missing = app
        .users()
        .get_user(authed(
            pb::GetUserRequest {
                user_id: uuid::Uuid::now_v7().to_string(),
                ..Default::default()
            },
            &a.admin_token,
        ))
        .await
        .expect_err("missing user");
    assert_error(&foreign, Code::NotFound, "USER_NOT_FOUND");
    assert_eq!(
        foreign.message(),
        missing.message(),
        "foreign looks exactly like missing"
    );
    let status = app
        .users()
        .list_users(authed(
            pb::ListUsersRequest {
                account_id: b.account.id.clone(),
                ..Default::default()
            },
            &a.admin_token,
        ))
        .await
        .expect_err("foreign list");
    assert_error(&status, Code::NotFound, "ACCOUNT_NOT_FOUND");
    let status = app
        .users()
        .update_user(authed(
            pb::UpdateUserRequest {
                user_id: b_user.id.clone(),
                etag: b_user.etag.clone(),
                name: Some("Hijacked".into()),
                ..Default::default()
            },
            &a.admin_token,
        ))
        .await
        .expect_err("foreign update");
    assert_error(&status, Code::NotFound, "USER_NOT_FOUND");
    let status = app
        .seats()
        .get_seat_usage(authed(
            pb::GetSeatUsageRequest {
                account_id: b.account.id.clone(),
            },
            &a.admin_token,
        ))
        .await
        .expect_err("foreign seats");
    assert_eq!(status.code(), Code::NotFound);
    // A listing only ever shows the caller's account.
    let listed = app
        .users()
        .list_users(authed(pb::ListUsersRequest::default(), &a.admin_token))
        .await
        .expect("list")
        .into_inner();
    assert!(listed.users.iter().all(|u| u.account_id == a.account.id));
    assert_eq!(
        app.users()
            .get_user(authed(
                pb::GetUserRequest {
                    user_id: b_user.id.clone(),
                    ..Default::default()
                },
                &b.admin_token
            ))
            .await
            .expect("own")
            .into_inner()
            .user
            .expect("user")
            .name,
        "Nina Newcomer",
        "B's user is untouched"
    );
}

async fn bad_tokens_are_refused(db: Db) {
    let app = TestApp::spawn(db).await;
    let ws = app
        .account(pb::Plan::Base, pb::SeatPolicy::AutoExpand, 5)
        .await;
    let list = |token: Option<String>| {
        let mut users = app.users();
        async move {
            let mut request = tonic::Request::new(pb::ListUsersRequest::default());
            if let Some(token) = token {
                request
                    .metadata_mut()
                    .insert("authorization", token.parse().expect("header"));
            }
            users.list_users(request).await
        }
    };
    let now = app.now_secs();
    let forged =
        roster::auth::TokenIssuer::hs256(b"someone-else-s-secret-0123456789ab", "roster", "roster");
    let wrong_audience = roster::auth::TokenIssuer::hs256(SECRET, "roster", "billing");
    let wrong_issuer = roster::auth::TokenIssuer::hs256(SECRET, "evil", "roster");
    let bad: Vec<(&str, Option<String>)> = vec![
        ("missing", None),
        ("not bearer", Some(format!("Basic {}", ws.admin_token))),
        ("garbage", Some("Bearer not.a.jwt".into())),
        (
            "forged",
            Some(format!(
                "Bearer {}",
                forged
                    .sign(&forged.claims_for_user(&ws.admin.id, &ws.account.id, now, 600))
                    .expect("sign")
            )),
        ),
        (
            "expired",
            Some(format!(
                "Bearer {}",
                app.issuer
                    .sign(&app.issuer.claims_for_user(
                        &ws.admin.id,
                        &ws.account.id,
                        now - 7200,
                        600
                    ))
                    .expect("sign")
            )),
        ),
        (
            "wrong audience",
            Some(format!(
                "Bearer {}",
                wrong_audience
                    .sign(&wrong_audience.claims_for_user(&ws.admin.id, &ws.account.id, now, 600))
                    .expect("sign")
            )),
        ),
        (
            "wrong issuer",
            Some(format!(
                "Bearer {}",
                wrong_issuer
                    .sign(&wrong_issuer.claims_for_user(&ws.admin.id, &ws.account.id, now, 600))
                    .expect("sign")
            )),
        ),
        (
            "unknown user",
            Some(format!(
                "Bearer {}",
                app.user_token(&uuid::Uuid::now_v7().to_string(), &ws.account.id)
            )),
        ),
        (
            "user of another account claim",
            Some(format!(
                "Bearer {}",
                app.user_token(&ws.admin.id, &uuid::Uuid::now_v7().to_string())
            )),
        ),
    ];
    for (what, header) in bad {
        let status = list(header).await.expect_err(what);
        assert_error(&status, Code::Unauthenticated, "TOKEN_INVALID");
    }
    assert!(
        list(Some(format!("Bearer {}", ws.admin_token)))
            .await
            .is_ok()
    );

    // A user who is not active (or no longer exists) is refused at once.
    let member = app
        .users()
        .add_user(authed(new_user(&unique_email("gone")), &ws.admin_token))
        .await
        .expect("add")
        .into_inner()
        .user
        .expect("user");
    let token = app.user_token(&member.id, &ws.account.id);
    assert!(list(Some(format!("Bearer {token}"))).await.is_ok());
    app.sql(&format!(
        "UPDATE users SET status = 'INACTIVE', disabled_at = updated_at WHERE id = '{}'",
        member.id
    ))
    .await;
    let status = list(Some(format!("Bearer {token}")))
        .await
        .expect_err("inactive");
    assert_error(&status, Code::Unauthenticated, "TOKEN_INVALID");
    app.sql(&format!("DELETE FROM users WHERE id = '{}'", member.id))
        .await;
    let status = list(Some(format!("Bearer {token}")))
        .await
        .expect_err("deleted");
    assert_error(&status, Code::Unauthenticated, "TOKEN_INVALID");
}

async fn stale_etag_and_last_admin(db: Db) {
    let app = TestApp::spawn(db).await;
    let ws = app
        .account(pb::Plan::Base, pb::SeatPolicy::AutoExpand, 5)
        .await;
    let mut users = app.users();
    let update = |etag: &str, name: &str| pb::UpdateUserRequest {
        user_id: ws.admin.id.clone(),
        etag: etag.to_owned(),
        name: Some(name.to_owned()),
        ..Default::default()
    };
    let first = users
        .update_user(authed(update(&ws.admin.etag, "Ada One"), &ws.admin_token))
        .await
        .expect("first update")
        .into_inner()
        .user
        .expect("user");
    let status = users
        .update_user(authed(update(&ws.admin.etag, "Ada Stale"), &ws.admin_token))
        .await
        .expect_err("stale");
    assert_error(&status, Code::Aborted, "ETAG_MISMATCH");
    let status = users
        .update_user(authed(update("", "Ada"), &ws.admin_token))
        .await
        .expect_err("no etag");
    assert_eq!(bad_fields(&status), vec!["etag".to_owned()]);
    // The last active admin cannot become a member.
    let status = users
        .update_user(authed(
            pb::UpdateUserRequest {
                user_id: ws.admin.id.clone(),
                etag: first.etag.clone(),
                role: Some(pb::Role::Member as i32),
                ..Default::default()
            },
            &ws.admin_token,
        ))
        .await
        .expect_err("last admin");
    assert_error(&status, Code::FailedPrecondition, "LAST_ADMIN");
    let current = users
        .get_user(authed(
            pb::GetUserRequest {
                user_id: ws.admin.id.clone(),
                ..Default::default()
            },
            &ws.admin_token,
        ))
        .await
        .expect("get")
        .into_inner()
        .user
        .expect("user");
    assert_eq!(
        (current.name.as_str(), current.role),
        ("Ada One", pb::Role::Admin as i32)
    );
}

async fn expired_trial_refuses_writes_but_reads_work(db: Db) {
    let app = TestApp::spawn(db).await;
    let ws = app
        .account(pb::Plan::Trial, pb::SeatPolicy::AutoExpand, 5)
        .await;
    app.clock.advance(Duration::days(13));
    app.users()
        .add_user(authed(new_user(&unique_email("day13")), &ws.admin_token))
        .await
        .expect("day 13 is still in the trial");
    app.clock.advance(Duration::days(1));
    let status = app
        .users()
        .add_user(authed(new_user(&unique_email("day14")), &ws.admin_token))
        .await
        .expect_err("trial over");
    assert_error(&status, Code::FailedPrecondition, "TRIAL_EXPIRED");
    let status = app
        .users()
        .create_group(authed(
            pb::CreateGroupRequest {
                name: "Late".into(),
                ..Default::default()
            },
            &ws.admin_token,
        ))
        .await
        .expect_err("trial over");
    assert_error(&status, Code::FailedPrecondition, "TRIAL_EXPIRED");
    assert_eq!(count_users(&app, &ws).await, 2, "reads keep working");
}

async fn groups_and_paging(db: Db) {
    let app = TestApp::spawn(db).await;
    let ws = app
        .account(pb::Plan::Base, pb::SeatPolicy::AutoExpand, 10)
        .await;
    let mut users = app.users();
    let sales = users
        .create_group(authed(
            pb::CreateGroupRequest {
                name: "Sales".into(),
                ..Default::default()
            },
            &ws.admin_token,
        ))
        .await
        .expect("group")
        .into_inner()
        .group
        .expect("group");
    let status = users
        .create_group(authed(
            pb::CreateGroupRequest {
                name: " sales ".into(),
                ..Default::default()
            },
            &ws.admin_token,
        ))
        .await
        .expect_err("duplicate name");
    assert_error(&status, Code::AlreadyExists, "GROUP_NAME_TAKEN");
    users
        .create_group(authed(
            pb::CreateGroupRequest {
                name: "Support".into(),
                ..Default::default()
            },
            &ws.admin_token,
        ))
        .await
        .expect("group");
    let groups = users
        .list_groups(authed(
            pb::ListGroupsRequest {
                page_size: 1,
                ..Default::default()
            },
            &ws.admin_token,
        ))
        .await
        .expect("groups")
        .into_inner();
    assert_eq!(groups.groups[0].name, "Sales");
    let rest = users
        .list_groups(authed(
            pb::ListGroupsRequest {
                page_size: 1,
                page_token: groups.next_page_token.clone(),
                ..Default::default()
            },
            &ws.admin_token,
        ))
        .await
        .expect("groups")
        .into_inner();
    assert_eq!(rest.groups[0].name, "Support");

    for i in 0..5 {
        users
            .add_user(authed(
                pb::AddUserRequest {
                    group_id: sales.id.clone(),
                    ..new_user(&unique_email(&format!("seller{i}")))
                },
                &ws.admin_token,
            ))
            .await
            .expect("add");
    }
    // Page through the Sales group two at a time.
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = users
            .list_users(authed(
                pb::ListUsersRequest {
                    group_id: sales.id.clone(),
                    page_size: 2,
                    page_token: token.clone(),
                    ..Default::default()
                },
                &ws.admin_token,
            ))
            .await
            .expect("page")
            .into_inner();
        assert!(page.users.len() <= 2);
        seen.extend(page.users.into_iter().map(|u| u.id));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!((seen.len(), unique.len()), (5, 5));
    // A token is bound to its filters.
    let first = users
        .list_users(authed(
            pb::ListUsersRequest {
                group_id: sales.id.clone(),
                page_size: 2,
                ..Default::default()
            },
            &ws.admin_token,
        ))
        .await
        .expect("page")
        .into_inner();
    let status = users
        .list_users(authed(
            pb::ListUsersRequest {
                page_size: 2,
                page_token: first.next_page_token,
                ..Default::default()
            },
            &ws.admin_token,
        ))
        .await
        .expect_err("token with other filters");
    assert_eq!(bad_fields(&status), vec!["page_token".to_owned()]);
}

async fn health_and_service_only_calls(db: Db) {
    let app = TestApp::spawn(db).await;
    let mut health = tonic_health::pb::health_client::HealthClient::new(app.channel.clone());
    let mut serving = false;
    for _ in 0..50 {
        let answer = health
            .check(tonic_health::pb::HealthCheckRequest {
                service: "roster.v1.UserManagementService".into(),
            })
            .await;
        if answer.map(|r| r.into_inner().status).ok()
            == Some(tonic_health::pb::health_check_response::ServingStatus::Serving as i32)
        {
            serving = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(serving, "health reports SERVING");
    let ws = app
        .account(pb::Plan::Base, pb::SeatPolicy::AutoExpand, 5)
        .await;
    let status = app
        .users()
        .verify_password(authed(
            pb::VerifyPasswordRequest::default(),
            &ws.admin_token,
        ))
        .await
        .expect_err("users are not the login service");
    assert_eq!(status.code(), Code::PermissionDenied);
    let status = app
        .users()
        .verify_password(tonic::Request::new(pb::VerifyPasswordRequest::default()))
        .await
        .expect_err("no token");
    assert_eq!(status.code(), Code::Unauthenticated);
}
