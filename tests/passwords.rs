//! VerifyPassword, ChangePassword and ResetPassword over real gRPC, on
//! SQLite and PostgreSQL: matching, neutral failures, lockout counted in
//! the database (shared by two replicas, exact under parallel guesses),
//! rehash on success, token revocation on change and reset.

mod common;

use chrono::Duration;
use tonic::Code;

use common::*;
use roster::auth::password::{HashParams, PasswordHasher};
use roster::domain::Password;
use roster::proto::v1 as pb;

both_backends!(
    verify_password_matches_only_active_users,
    lockout_is_counted_in_the_database,
    weaker_hashes_are_replaced_on_success,
    change_and_reset_revoke_tokens,
);

fn verify(email: &str, password: &str) -> pb::VerifyPasswordRequest {
    pb::VerifyPasswordRequest {
        email: email.into(),
        password: password.into(),
    }
}

async fn verify_password_matches_only_active_users(db: Db) {
    let app = TestApp::spawn(db).await;
    let ws = app
        .account(pb::Plan::Base, pb::SeatPolicy::AutoExpand, 5)
        .await;
    let login = app.service_token_with(&["passwords:verify"]);
    let mut users = app.users();

    let ok = users
        .verify_password(authed(
            verify(&ws.admin.email.to_uppercase(), PASSWORD),
            &login,
        ))
        .await
        .expect("matching credentials")
        .into_inner();
    assert_eq!(ok.user.expect("user").id, ws.admin.id);

    // A wrong password and an unknown email get the very same answer.
    let wrong = users
        .verify_password(authed(verify(&ws.admin.email, "wrong horse 42"), &login))
        .await
        .expect_err("wrong password");
    let unknown = users
        .verify_password(authed(verify("nobody@example.com", PASSWORD), &login))
        .await
        .expect_err("unknown email");
    assert_error(&wrong, Code::Unauthenticated, "WRONG_CREDENTIALS");
    assert_error(&unknown, Code::Unauthenticated, "WRONG_CREDENTIALS");
    assert_eq!(wrong.message(), unknown.message());
    assert!(!wrong.message().contains(PASSWORD) && !wrong.message().contains("wrong horse"));

    // Only a service with the scope may ask.
    for token in [
        ws.admin_token.clone(),
        app.service_token_with(&["users:read", "users:write"]),
    ] {
        let status = users
            .verify_password(authed(verify(&ws.admin.email, PASSWORD), &token))
            .await
            .expect_err("not the login service");
        assert_eq!(status.code(), Code::PermissionDenied);
    }
    let status = users
        .verify_password(authed(verify("", ""), &login))
        .await
        .expect_err("empty");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(bad_fields(&status), vec!["email", "password"]);
    let status = users
        .verify_password(authed(verify(&ws.admin.email, &"x".repeat(257)), &login))
        .await
        .expect_err("too long");
    assert_eq!(bad_fields(&status), vec!["password"]);

    // A disabled user's right password no longer matches.
    let member = member(&app, &ws, "mara").await;
    users
        .verify_password(authed(verify(&member.email, PASSWORD), &login))
        .await
        .expect("active member");
    users
        .disable_user(authed(
            pb::DisableUserRequest {
                user_id: member.id.clone(),
                ..Default::default()
            },
            &ws.admin_token,
        ))
        .await
        .expect("disable");
    let status = users
        .verify_password(authed(verify(&member.email, PASSWORD), &login))
        .await
        .expect_err("disabled");
    assert_error(&status, Code::Unauthenticated, "WRONG_CREDENTIALS");
}

async fn lockout_is_counted_in_the_database(db: Db) {
    let app = TestApp::spawn(db).await;
    // A second replica on the same database.
    let shared_url = app.database_url.clone();
    let replica = TestApp::spawn_with(db, |s| {
        s.database_url = shared_url.parse().expect("database url")
    })
    .await;
    let ws = app
        .account(pb::Plan::Base, pb::SeatPolicy::AutoExpand, 5)
        .await;
    let login = app.service_token_with(&["passwords:verify"]);

    // Five failures spread over both replicas lock the email on both.
    for n in 0..5 {
        let server = if n % 2 == 0 { &app } else { &replica };
        let status = server
            .users()
            .verify_password(authed(verify(&ws.admin.email, "wrong horse 42"), &login))
            .await
            .expect_err("wrong");
        assert_error(&status, Code::Unauthenticated, "WRONG_CREDENTIALS");
    }
    for server in [&app, &replica] {
        let status = server
            .users()
            .verify_password(authed(verify(&ws.admin.email, PASSWORD), &login))
            .await
            .expect_err("locked, even with the right password");
        assert_error(&status, Code::ResourceExhausted, "TOO_MANY_ATTEMPTS");
    }
    // The lock ends after 15 minutes; a success clears the count.
    app.clock.advance(Duration::minutes(16));
    replica.clock.advance(Duration::minutes(16));
    app.users()
        .verify_password(authed(verify(&ws.admin.email, PASSWORD), &login))
        .await
        .expect("unlocked");

    // Ten parallel guesses for an unknown email: exactly five are compared,
    // the rest refused; unknown emails lock like known ones.
    let mut guesses = Vec::new();
    for n in 0..10 {
        let mut users = if n % 2 == 0 {
            app.users()
        } else {
            replica.users()
        };
        let login = login.clone();
        guesses.push(tokio::spawn(async move {
            users
                .verify_password(authed(
                    verify("ghost@example.com", &format!("guess number {n:02}")),
                    &login,
                ))
                .await
                .expect_err("never matches")
        }));
    }
    let mut reasons = Vec::new();
    for guess in guesses {
        reasons.push(reason(&guess.await.expect("join")));
    }
    reasons.sort();
    assert_eq!(
        reasons,
        [
            vec!["TOO_MANY_ATTEMPTS".to_owned(); 5],
            vec!["WRONG_CREDENTIALS".to_owned(); 5]
        ]
        .concat()
    );
}

async fn weaker_hashes_are_replaced_on_success(db: Db) {
    let app = TestApp::spawn(db).await;
    let ws = app
        .account(pb::Plan::Base, pb::SeatPolicy::AutoExpand, 5)
        .await;
    // A hash made with older, weaker parameters.
    let weak = PasswordHasher::new(
        HashParams {
            memory_kib: 8192,
            iterations: 1,
            parallelism: 1,
        },
        1,
    )
    .expect("hasher");
    let old = weak
        .hash(&Password::parse(PASSWORD).expect("password"))
        .await
        .expect("hash");
    assert!(old.starts_with("$argon2id$v=19$m=8192,t=1,p=1$"));
    app.sql(&format!(
        "UPDATE users SET password_hash = '{old}' WHERE id = '{}'",
        ws.admin.id
    ))
    .await;
    let login = app.service_token_with(&["passwords:verify"]);
    // A failed check keeps the old hash; a successful one replaces it.
    app.users()
        .verify_password(authed(verify(&ws.admin.email, "wrong horse 42"), &login))
        .await
        .expect_err("wrong");
    let hash_like = |prefix: &str| {
        format!(
            "SELECT COUNT(*) AS n FROM users WHERE id = '{}' AND password_hash LIKE '{prefix}%'",
            ws.admin.id
        )
    };
    assert_eq!(
        app.sql_count(&hash_like("$argon2id$v=19$m=8192,t=1")).await,
        1
    );
    app.users()
        .verify_password(authed(verify(&ws.admin.email, PASSWORD), &login))
        .await
        .expect("old hash still verifies");
    assert_eq!(
        app.sql_count(&hash_like("$argon2id$v=19$m=19456,t=2,p=1$"))
            .await,
        1
    );
    app.users()
        .verify_password(authed(verify(&ws.admin.email, PASSWORD), &login))
        .await
        .expect("new hash verifies");
}

async fn change_and_reset_revoke_tokens(db: Db) {
    let app = TestApp::spawn(db).await;
    let ws = app
        .account(pb::Plan::Base, pb::SeatPolicy::AutoExpand, 5)
        .await;
    let other = app
        .account(pb::Plan::Base, pb::SeatPolicy::AutoExpand, 5)
        .await;
    let login = app.service_token_with(&["passwords:verify"]);
    let mara = member(&app, &ws, "mara").await;
    let mara_token = app.user_token_at_server_time(&mara.id, &ws.account.id);
    app.clock.advance(Duration::seconds(1));
    let mut users = app.users();
    let change = |current: &str, new: &str| pb::ChangePasswordRequest {
        current_password: current.into(),
        new_password: new.into(),
    };

    let status = users
        .change_password(authed(
            change("wrong horse 42", "a brand new secret"),
            &mara_token,
        ))
        .await
        .expect_err("wrong current password");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(bad_fields(&status), vec!["current_password"]);
    let status = users
        .change_password(authed(change("", "short"), &mara_token))
        .await
        .expect_err("bad input");
    assert_eq!(
        bad_fields(&status),
        vec!["current_password", "new_password"]
    );
    let status = users
        .change_password(authed(
            change(PASSWORD, "a brand new secret"),
            &app.service_token(),
        ))
        .await
        .expect_err("services have no own password");
    assert_eq!(status.code(), Code::PermissionDenied);

    users
        .change_password(authed(change(PASSWORD, "a brand new secret"), &mara_token))
        .await
        .expect("change");
    // Every earlier token of hers stops working; only the new password matches.
    let status = users
        .get_user(authed(
            pb::GetUserRequest {
                user_id: mara.id.clone(),
                ..Default::default()
            },
            &mara_token,
        ))
        .await
        .expect_err("revoked");
    assert_eq!(status.code(), Code::Unauthenticated);
    users
        .verify_password(authed(verify(&mara.email, "a brand new secret"), &login))
        .await
        .expect("new password");
    let status = users
        .verify_password(authed(verify(&mara.email, PASSWORD), &login))
        .await
        .expect_err("old password");
    assert_error(&status, Code::Unauthenticated, "WRONG_CREDENTIALS");

    // Lock her email, then an admin reset sets a password and lifts the lock.
    for _ in 0..5 {
        let _ = users
            .verify_password(authed(verify(&mara.email, "wrong horse 42"), &login))
            .await;
    }
    let reset = |account_id: &str, new: &str| pb::ResetPasswordRequest {
        account_id: account_id.into(),
        user_id: mara.id.clone(),
        new_password: new.into(),
    };
    let nick = member(&app, &ws, "nick").await;
    let nick_token = app.user_token(&nick.id, &ws.account.id);
    let status = users
        .reset_password(authed(reset("", "set by a member"), &nick_token))
        .await
        .expect_err("members cannot reset");
    assert_eq!(status.code(), Code::PermissionDenied);
    // Authorization before validation: a member learns nothing of the rules.
    let status = users
        .reset_password(authed(reset("", "tiny"), &nick_token))
        .await
        .expect_err("members cannot reset");
    assert_eq!(status.code(), Code::PermissionDenied);
    let status = users
        .reset_password(authed(
            reset(&ws.account.id, "set by a stranger"),
            &other.admin_token,
        ))
        .await
        .expect_err("another account's admin");
    assert_error(&status, Code::NotFound, "ACCOUNT_NOT_FOUND");
    let status = users
        .reset_password(authed(reset("", "tiny"), &ws.admin_token))
        .await
        .expect_err("too short");
    assert_eq!(bad_fields(&status), vec!["new_password"]);
    users
        .reset_password(authed(reset("", "set by the admin"), &ws.admin_token))
        .await
        .expect("admin reset");
    users
        .verify_password(authed(verify(&mara.email, "set by the admin"), &login))
        .await
        .expect("reset lifted the lock");
}
