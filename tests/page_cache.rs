//! ListUsers keeps recent pages in memory (`service::page_cache`), each
//! with the account's `users_version`, which a trigger bumps on every change
//! to the account's users. These tests prove that a kept page is really
//! served (with the trigger gone, a change by hand stays unseen until the
//! version moves), that with the trigger every change, through the API or
//! by SQL from elsewhere, shows in the very next call, and that a kept page
//! never outlives its caller's token.

mod common;

use tonic::Code;

use common::*;
use roster::proto::v1 as pb;

both_backends!(
    kept_pages_show_every_change_at_once,
    a_kept_page_is_served_only_while_the_version_holds,
    without_the_cache_a_change_by_hand_shows_at_once,
    a_kept_page_never_outlives_the_callers_token,
);

/// One page of two users, as `token` sees it.
async fn page(
    app: &TestApp,
    token: &str,
    account_id: &str,
    page_token: &str,
) -> Result<pb::ListUsersResponse, tonic::Status> {
    app.users()
        .list_users(authed(
            pb::ListUsersRequest {
                account_id: account_id.into(),
                page_size: 2,
                page_token: page_token.into(),
                ..Default::default()
            },
            token,
        ))
        .await
        .map(|r| r.into_inner())
}

/// Both pages of a three- or four-user account, read twice (the second
/// read may come from the cache) and checked to agree.
async fn both_pages(app: &TestApp, token: &str, account_id: &str) -> Vec<pb::User> {
    let mut seen = Vec::new();
    for _ in 0..2 {
        let first = page(app, token, account_id, "").await.expect("page 1");
        assert!(!first.next_page_token.is_empty(), "a second page exists");
        let second = page(app, token, account_id, &first.next_page_token)
            .await
            .expect("page 2");
        let users: Vec<pb::User> = first.users.into_iter().chain(second.users).collect();
        seen.push(users);
    }
    assert_eq!(seen[0], seen[1], "a repeated read agrees with the first");
    seen.swap_remove(1)
}

fn find<'a>(users: &'a [pb::User], id: &str) -> Option<&'a pb::User> {
    users.iter().find(|u| u.id == id)
}

/// An account of three: its admin and two members.
async fn account_of_three(app: &TestApp) -> (Workspace, pb::User, pb::User) {
    let ws = app
        .account(pb::Plan::Base, pb::SeatPolicy::AutoExpand, 4)
        .await;
    let first = member(app, &ws, "first").await;
    let second = member(app, &ws, "second").await;
    (ws, first, second)
}

/// Renames a user by SQL, as another replica or an operator would.
async fn rename_by_hand(app: &TestApp, user_id: &str, name: &str) {
    app.sql(&format!(
        "UPDATE users SET name = '{name}' WHERE id = '{user_id}'"
    ))
    .await;
}

async fn kept_pages_show_every_change_at_once(db: Db) {
    let app = TestApp::spawn(db).await;
    let (ws, first, second) = account_of_three(&app).await;
    let account = ws.account.id.as_str();
    // A user token on its own account and a service token take different
    // paths through ListUsers; both keep pages.
    let service = app.service_token();
    let callers = [ws.admin_token.as_str(), service.as_str()];
    for token in callers {
        let users = both_pages(&app, token, account).await;
        assert_eq!(users.len(), 3);
        assert_eq!(find(&users, &first.id).expect("first").name, first.name);
    }

    // Through the API.
    app.users()
        .update_user(authed(
            pb::UpdateUserRequest {
                user_id: first.id.clone(),
                etag: first.etag.clone(),
                name: Some("Renamed Through The Api".into()),
                ..Default::default()
            },
            &ws.admin_token,
        ))
        .await
        .expect("update");
    for token in callers {
        let users = both_pages(&app, token, account).await;
        assert_eq!(
            find(&users, &first.id).expect("first").name,
            "Renamed Through The Api"
        );
    }

    // By SQL, as another replica or an operator would change it.
    rename_by_hand(&app, &first.id, "Renamed By Hand").await;
    for token in callers {
        let users = both_pages(&app, token, account).await;
        assert_eq!(
            find(&users, &first.id).expect("first").name,
            "Renamed By Hand"
        );
    }

    // A new user, a disabled one, a new password (new etag).
    let third = member(&app, &ws, "third").await;
    for token in callers {
        assert!(find(&both_pages(&app, token, account).await, &third.id).is_some());
    }
    app.users()
        .disable_user(authed(
            pb::DisableUserRequest {
                user_id: second.id.clone(),
                ..Default::default()
            },
            &ws.admin_token,
        ))
        .await
        .expect("disable");
    for token in callers {
        let users = both_pages(&app, token, account).await;
        let status = find(&users, &second.id).expect("second").status;
        assert_eq!(status, pb::UserStatus::Inactive as i32);
    }
    let etag_before = find(
        &both_pages(&app, service.as_str(), account).await,
        &third.id,
    )
    .expect("third")
    .etag
    .clone();
    app.users()
        .reset_password(authed(
            pb::ResetPasswordRequest {
                user_id: third.id.clone(),
                new_password: "another horse 43".into(),
                ..Default::default()
            },
            &ws.admin_token,
        ))
        .await
        .expect("reset password");
    for token in callers {
        let users = both_pages(&app, token, account).await;
        assert_ne!(find(&users, &third.id).expect("third").etag, etag_before);
    }

    // A removed user is gone from the kept pages too.
    app.users()
        .remove_user(authed(
            pb::RemoveUserRequest {
                user_id: second.id.clone(),
                reassignment: to(&ws.admin.id),
                ..Default::default()
            },
            &ws.admin_token,
        ))
        .await
        .expect("remove");
    for token in callers {
        let users = both_pages(&app, token, account).await;
        assert!(find(&users, &second.id).is_none());
        assert_eq!(users.len(), 3);
    }
}

async fn a_kept_page_is_served_only_while_the_version_holds(db: Db) {
    let app = TestApp::spawn(db).await;
    let (ws, first, _) = account_of_three(&app).await;
    let account = ws.account.id.as_str();
    let service = app.service_token();
    let callers = [ws.admin_token.as_str(), service.as_str()];
    for token in callers {
        both_pages(&app, token, account).await;
    }

    // Without the trigger a change by hand leaves the version as it was:
    // the kept pages are what both callers see.
    app.sql(db.drop_users_version_trigger()).await;
    rename_by_hand(&app, &first.id, "Unseen Until The Version Moves").await;
    for token in callers {
        let users = both_pages(&app, token, account).await;
        assert_eq!(find(&users, &first.id).expect("first").name, first.name);
    }

    // The version moves: the next call reads the pages again.
    app.sql(&format!(
        "UPDATE accounts SET users_version = users_version + 1 WHERE id = '{account}'"
    ))
    .await;
    for token in callers {
        let users = both_pages(&app, token, account).await;
        assert_eq!(
            find(&users, &first.id).expect("first").name,
            "Unseen Until The Version Moves"
        );
    }
}

async fn without_the_cache_a_change_by_hand_shows_at_once(db: Db) {
    let app = TestApp::spawn_with(db, |s| s.list_cache_users = 0).await;
    let (ws, first, _) = account_of_three(&app).await;
    let account = ws.account.id.as_str();
    both_pages(&app, &ws.admin_token, account).await;
    app.sql(db.drop_users_version_trigger()).await;
    rename_by_hand(&app, &first.id, "Seen At Once").await;
    let users = both_pages(&app, &ws.admin_token, account).await;
    assert_eq!(find(&users, &first.id).expect("first").name, "Seen At Once");
}

async fn a_kept_page_never_outlives_the_callers_token(db: Db) {
    let app = TestApp::spawn(db).await;
    let (ws, leaver, quiet) = account_of_three(&app).await;
    let account = ws.account.id.as_str();
    let leaver_token = app.user_token(&leaver.id, account);
    let quiet_token = app.user_token(&quiet.id, account);
    both_pages(&app, &leaver_token, account).await;
    both_pages(&app, &quiet_token, account).await;

    app.users()
        .disable_user(authed(
            pb::DisableUserRequest {
                user_id: leaver.id.clone(),
                ..Default::default()
            },
            &ws.admin_token,
        ))
        .await
        .expect("disable");
    let status = page(&app, &leaver_token, account, "")
        .await
        .expect_err("a disabled user's token");
    assert_error(&status, Code::Unauthenticated, "TOKEN_INVALID");

    // With the trigger gone the page stays kept at its version; the token
    // is still checked against the user's row on every call.
    let kept = page(&app, &quiet_token, account, "").await.expect("page");
    app.sql(db.drop_users_version_trigger()).await;
    app.sql(&format!(
        "UPDATE users SET status = 'INACTIVE', disabled_at = updated_at WHERE id = '{}'",
        quiet.id
    ))
    .await;
    let status = page(&app, &quiet_token, account, "")
        .await
        .expect_err("a user disabled by hand");
    assert_error(&status, Code::Unauthenticated, "TOKEN_INVALID");
    // The kept page itself is still served to a valid caller.
    let again = page(&app, &ws.admin_token, account, "")
        .await
        .expect("page");
    assert_eq!(again, kept);
}
