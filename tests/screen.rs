//! The rest of the user-management screen over gRPC, on SQLite and
//! PostgreSQL: renaming and deleting groups, changing a user's email, and
//! AddUser's preview of the seat and billing change.

mod common;

use chrono::Duration;
use tonic::Code;

use common::*;
use roster::proto::v1 as pb;

both_backends!(
    groups_are_renamed_and_deleted_with_their_users_moved,
    email_changes_are_unique_free_the_old_address_and_revoke_tokens,
    add_user_preview_equals_the_real_charge,
);

async fn group(app: &TestApp, ws: &Workspace, name: &str) -> pb::Group {
    app.users()
        .create_group(authed(
            pb::CreateGroupRequest {
                account_id: String::new(),
                name: name.into(),
            },
            &ws.admin_token,
        ))
        .await
        .expect("group")
        .into_inner()
        .group
        .expect("group")
}

async fn in_group(app: &TestApp, ws: &Workspace, name: &str, group_id: &str) -> pb::User {
    app.users()
        .add_user(authed(
            pb::AddUserRequest {
                group_id: group_id.into(),
                ..new_user(&unique_email(name))
            },
            &ws.admin_token,
        ))
        .await
        .expect("add")
        .into_inner()
        .user
        .expect("user")
}

async fn get(app: &TestApp, ws: &Workspace, id: &str) -> pb::User {
    app.users()
        .get_user(authed(
            pb::GetUserRequest {
                account_id: String::new(),
                user_id: id.into(),
            },
            &ws.admin_token,
        ))
        .await
        .expect("get")
        .into_inner()
        .user
        .expect("user")
}

async fn events_of(app: &TestApp, ws: &Workspace, event_type: &str) -> i64 {
    app.sql_count(&format!(
        "SELECT count(*) AS n FROM events WHERE account_id = '{}' AND event_type = '{event_type}'",
        ws.account.id
    ))
    .await
}

async fn groups_are_renamed_and_deleted_with_their_users_moved(db: Db) {
    let app = TestApp::spawn(db).await;
    let ws = app
        .account(pb::Plan::Base, pb::SeatPolicy::AutoExpand, 10)
        .await;
    let north = group(&app, &ws, "North").await;
    let south = group(&app, &ws, "South").await;
    let (a, b) = (
        in_group(&app, &ws, "a", &north.id).await,
        in_group(&app, &ws, "b", &north.id).await,
    );
    let s = in_group(&app, &ws, "s", &south.id).await;

    let rename = |id: &str, name: &str| {
        let mut users = app.users();
        let request = authed(
            pb::UpdateGroupRequest {
                account_id: String::new(),
                group_id: id.into(),
                name: name.into(),
            },
            &ws.admin_token,
        );
        async move { users.update_group(request).await }
    };
    let renamed = rename(&north.id, "Northern team")
        .await
        .expect("rename")
        .into_inner()
        .group
        .expect("group");
    assert_eq!(
        (renamed.id.as_str(), renamed.name.as_str()),
        (north.id.as_str(), "Northern team")
    );
    let status = rename(&north.id, "SOUTH").await.expect_err("taken");
    assert_error(&status, Code::AlreadyExists, "GROUP_NAME_TAKEN");
    // The same name in other case is the group's own: allowed.
    rename(&north.id, "NORTHERN TEAM").await.expect("recase");
    let status = rename(&uuid::Uuid::new_v4().to_string(), "X")
        .await
        .expect_err("missing");
    assert_error(&status, Code::NotFound, "GROUP_NOT_FOUND");
    assert_eq!(events_of(&app, &ws, "GROUP_UPDATED").await, 2);

    let delete = |id: &str, to: &str| {
        let mut users = app.users();
        let request = authed(
            pb::DeleteGroupRequest {
                account_id: String::new(),
                group_id: id.into(),
                move_users_to_group_id: to.into(),
            },
            &ws.admin_token,
        );
        async move { users.delete_group(request).await }
    };
    let status = delete(&north.id, &north.id).await.expect_err("itself");
    assert_eq!(bad_fields(&status), vec!["move_users_to_group_id"]);
    let status = delete(&north.id, &uuid::Uuid::new_v4().to_string())
        .await
        .expect_err("no such target");
    assert_eq!(bad_fields(&status), vec!["move_users_to_group_id"]);
    assert_eq!(
        get(&app, &ws, &a.id).await.group_id,
        north.id,
        "nothing moved"
    );
    let updated_before = events_of(&app, &ws, "USER_UPDATED").await;

    let moved = delete(&north.id, &south.id)
        .await
        .expect("delete")
        .into_inner();
    assert_eq!(moved.moved_users, 2);
    for before in [&a, &b] {
        let now = get(&app, &ws, &before.id).await;
        assert_eq!(now.group_id, south.id);
        assert_ne!(now.etag, before.etag);
    }
    assert_eq!(
        get(&app, &ws, &s.id).await.etag,
        s.etag,
        "South's own users untouched"
    );
    assert_eq!(
        events_of(&app, &ws, "USER_UPDATED").await,
        updated_before + 2
    );
    assert_eq!(events_of(&app, &ws, "GROUP_DELETED").await, 1);
    let names: Vec<String> = app
        .users()
        .list_groups(authed(pb::ListGroupsRequest::default(), &ws.admin_token))
        .await
        .expect("list")
        .into_inner()
        .groups
        .into_iter()
        .map(|g| g.name)
        .collect();
    assert_eq!(names, ["South"]);
    // The name is free again.
    group(&app, &ws, "Northern team").await;
    // Into no group.
    assert_eq!(
        delete(&south.id, "")
            .await
            .expect("delete")
            .into_inner()
            .moved_users,
        3
    );
    assert_eq!(get(&app, &ws, &s.id).await.group_id, "");
    let filtered = app
        .users()
        .list_users(authed(
            pb::ListUsersRequest {
                group_id: south.id.clone(),
                ..Default::default()
            },
            &ws.admin_token,
        ))
        .await
        .expect("list")
        .into_inner()
        .users;
    assert!(filtered.is_empty());
    let status = delete(&south.id, "").await.expect_err("gone");
    assert_error(&status, Code::NotFound, "GROUP_NOT_FOUND");
}

async fn change_email(
    app: &TestApp,
    ws: &Workspace,
    user: &pb::User,
    email: &str,
) -> Result<pb::User, tonic::Status> {
    app.users()
        .change_user_email(authed(
            pb::ChangeUserEmailRequest {
                account_id: String::new(),
                user_id: user.id.clone(),
                etag: user.etag.clone(),
                email: email.into(),
            },
            &ws.admin_token,
        ))
        .await
        .map(|r| r.into_inner().user.expect("user"))
}

async fn email_changes_are_unique_free_the_old_address_and_revoke_tokens(db: Db) {
    let app = TestApp::spawn(db).await;
    let ws = app
        .account(pb::Plan::Base, pb::SeatPolicy::AutoExpand, 10)
        .await;
    let other = app
        .account(pb::Plan::Base, pb::SeatPolicy::AutoExpand, 10)
        .await;
    let mia = member(&app, &ws, "mia").await;
    let token = app.user_token_at_server_time(&mia.id, &ws.account.id);
    let own_read = || {
        let mut users = app.users();
        let request = authed(
            pb::GetUserRequest {
                account_id: String::new(),
                user_id: mia.id.clone(),
            },
            &token,
        );
        async move { users.get_user(request).await }
    };
    own_read().await.expect("token works before");
    app.clock.advance(Duration::seconds(1));

    // Taken in another account, in any case: refused, nothing changes.
    let status = change_email(&app, &ws, &mia, &other.admin.email.to_uppercase())
        .await
        .expect_err("taken elsewhere");
    assert_error(&status, Code::AlreadyExists, "EMAIL_TAKEN");
    own_read().await.expect("a refused change revokes nothing");
    let status = change_email(&app, &ws, &mia, "not an email")
        .await
        .expect_err("invalid");
    assert_eq!(bad_fields(&status), vec!["email"]);
    let status = change_email(
        &app,
        &ws,
        &pb::User {
            etag: "v0".into(),
            ..mia.clone()
        },
        "fresh@example.com",
    )
    .await
    .expect_err("stale");
    assert_error(&status, Code::Aborted, "ETAG_MISMATCH");

    let new_address = unique_email("mia-new");
    let changed = change_email(
        &app,
        &ws,
        &mia,
        &format!("  {}  ", new_address.to_uppercase()),
    )
    .await
    .expect("change");
    assert_eq!(changed.email, new_address, "trimmed and lower-cased");
    assert_ne!(changed.etag, mia.etag);
    let status = own_read().await.expect_err("old tokens revoked");
    assert_eq!(status.code(), Code::Unauthenticated);
    let fresh = app.user_token_at_server_time(&mia.id, &ws.account.id);
    app.users()
        .get_user(authed(
            pb::GetUserRequest {
                account_id: String::new(),
                user_id: mia.id.clone(),
            },
            &fresh,
        ))
        .await
        .expect("a new token works");
    assert_eq!(events_of(&app, &ws, "USER_EMAIL_CHANGED").await, 1);
    // Search finds the new address, not the old one.
    let found = |query: String| {
        let mut users = app.users();
        let request = authed(
            pb::ListUsersRequest {
                query,
                ..Default::default()
            },
            &ws.admin_token,
        );
        async move {
            users
                .list_users(request)
                .await
                .expect("list")
                .into_inner()
                .users
                .len()
        }
    };
    assert_eq!(found(new_address.clone()).await, 1);
    assert_eq!(found(mia.email.clone()).await, 0);
    // The old address is free at once, in any account.
    app.users()
        .add_user(authed(new_user(&mia.email), &other.admin_token))
        .await
        .expect("old address reused");
    // The same address again changes nothing.
    let same = change_email(&app, &ws, &changed, &new_address)
        .await
        .expect("same");
    assert_eq!(same.etag, changed.etag);
    assert_eq!(events_of(&app, &ws, "USER_EMAIL_CHANGED").await, 1);
    // A member cannot change anyone's email.
    let status = app
        .users()
        .change_user_email(authed(
            pb::ChangeUserEmailRequest {
                account_id: String::new(),
                user_id: mia.id.clone(),
                etag: changed.etag.clone(),
                email: "x@example.com".into(),
            },
            &fresh,
        ))
        .await
        .expect_err("member");
    assert_eq!(status.code(), Code::PermissionDenied);
}

async fn preview(app: &TestApp, ws: &Workspace, email: &str) -> pb::AddUserResponse {
    app.users()
        .add_user(authed(
            pb::AddUserRequest {
                validate_only: true,
                ..new_user(email)
            },
            &ws.admin_token,
        ))
        .await
        .expect("preview")
        .into_inner()
}

async fn add_user_preview_equals_the_real_charge(db: Db) {
    let app = TestApp::spawn(db).await;
    // Two seats, one taken by the admin.
    let ws = app
        .account(pb::Plan::Pro, pb::SeatPolicy::AutoExpand, 2)
        .await;
    app.clock.advance(Duration::days(9));
    let users_before = app
        .sql_count(&format!(
            "SELECT count(*) AS n FROM users WHERE account_id = '{}'",
            ws.account.id
        ))
        .await;
    // A free seat: no charge.
    let free = preview(&app, &ws, &unique_email("p1")).await;
    assert!(free.refusals.is_empty());
    let effect = free.seat_effect.clone().expect("effect");
    assert_eq!(
        (
            effect.seats_purchased_before,
            effect.seats_purchased_after,
            effect.charge_minor
        ),
        (2, 2, 0)
    );
    let user = free.user.expect("user");
    assert_eq!((user.id.as_str(), user.etag.as_str()), ("", ""));
    assert_eq!(
        app.sql_count(&format!(
            "SELECT count(*) AS n FROM users WHERE account_id = '{}'",
            ws.account.id
        ))
        .await,
        users_before,
        "the preview adds nobody"
    );
    let real = app
        .users()
        .add_user(authed(new_user(&unique_email("r1")), &ws.admin_token))
        .await
        .expect("add")
        .into_inner();
    assert_eq!(real.seat_effect, free.seat_effect);
    // No free seat: the preview's prorated charge is the real one.
    let ledger_sql = format!(
        "SELECT count(*) AS n FROM ledger_entries WHERE account_id = '{}'",
        ws.account.id
    );
    let ledger_before = app.sql_count(&ledger_sql).await;
    let email = unique_email("p2");
    let paid = preview(&app, &ws, &email).await;
    let effect = paid.seat_effect.clone().expect("effect");
    assert_eq!(
        (effect.seats_purchased_before, effect.seats_purchased_after),
        (2, 3)
    );
    assert!(effect.charge_minor > 0);
    assert_eq!(
        app.sql_count(&ledger_sql).await,
        ledger_before,
        "the preview charges nothing"
    );
    let real = app
        .users()
        .add_user(authed(new_user(&email), &ws.admin_token))
        .await
        .expect("add")
        .into_inner();
    assert_eq!(real.seat_effect, paid.seat_effect);
    let usage = app
        .seats()
        .get_seat_usage(authed(pb::GetSeatUsageRequest::default(), &ws.admin_token))
        .await
        .expect("usage")
        .into_inner()
        .usage
        .expect("usage");
    assert_eq!(usage.seats_purchased, 3);
    // Refusals come as data: a taken email, and under STRICT a full account.
    app.seats()
        .update_seat_policy(authed(
            pb::UpdateSeatPolicyRequest {
                account_id: String::new(),
                seat_policy: pb::SeatPolicy::Strict as i32,
            },
            &ws.admin_token,
        ))
        .await
        .expect("strict");
    let refused = preview(&app, &ws, &email).await;
    let reasons: Vec<i32> = refused.refusals.iter().map(|r| r.reason).collect();
    assert_eq!(
        reasons,
        [
            pb::ErrorReason::EmailTaken as i32,
            pb::ErrorReason::SeatLimitReached as i32
        ]
    );
    // Invalid input is still an error, naming the field.
    let status = app
        .users()
        .add_user(authed(
            pb::AddUserRequest {
                validate_only: true,
                group_id: uuid::Uuid::new_v4().to_string(),
                ..new_user(&unique_email("p3"))
            },
            &ws.admin_token,
        ))
        .await
        .expect_err("bad group");
    assert_eq!(bad_fields(&status), vec!["group_id"]);
}
