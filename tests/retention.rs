//! Retention: stored replies, events, finished jobs and throttle rows are
//! pruned once expired (by the server's clock), live rows stay, a
//! StreamEvents cursor into pruned events gets OUT_OF_RANGE, and journal
//! rows go with the user they could give records back to.

mod common;

use std::time::Duration;

use chrono::Duration as Age;
use tokio_stream::StreamExt;
use tonic::Code;
use tonic_types::StatusExt;

use common::*;
use roster::proto::v1 as pb;
use roster::service::retention::RetentionSettings;

fn settings() -> RetentionSettings {
    RetentionSettings {
        idempotency: Duration::from_secs(24 * 3600),
        events: Some(Duration::from_secs(7 * 24 * 3600)),
        jobs: Duration::from_secs(30 * 24 * 3600),
        // Small, so that every table is worked off in several batches.
        batch_size: 2,
        batches_per_pass: 100,
    }
}

fn add_with_id(email: &str, request_id: &str) -> pb::AddUserRequest {
    pb::AddUserRequest {
        request_id: request_id.into(),
        ..new_user(email)
    }
}

async fn count(app: &TestApp, table: &str) -> i64 {
    app.sql_count(&format!("SELECT COUNT(*) AS n FROM {table}"))
        .await
}

async fn stream_from(app: &TestApp, token: &str, after: i64) -> Result<Vec<i64>, tonic::Status> {
    let mut stream = app
        .users()
        .stream_events(authed(
            pb::StreamEventsRequest {
                after_sequence: after,
                ..Default::default()
            },
            token,
        ))
        .await?
        .into_inner();
    let mut seen = Vec::new();
    while let Some(item) = stream.next().await {
        seen.push(item?.event.expect("event").sequence);
    }
    Ok(seen)
}

async fn expired_rows_go_and_live_rows_stay(db: Db) {
    let app = TestApp::spawn(db).await;
    let ws = app
        .account(pb::Plan::Base, pb::SeatPolicy::AutoExpand, 10)
        .await;
    let retention = settings();
    let token = ws.admin_token.clone();
    let first_email = unique_email("first");

    // Day 0: a stored reply, a finished job, a throttle row, events.
    let first = app
        .users()
        .add_user(authed(add_with_id(&first_email, "r-1"), &token))
        .await
        .expect("add")
        .into_inner()
        .user
        .expect("user");
    let leaver = member(&app, &ws, "leaver").await;
    let job = app
        .users()
        .bulk_disable_users(authed(
            pb::BulkDisableUsersRequest {
                user_ids: vec![leaver.id.clone()],
                ..Default::default()
            },
            &token,
        ))
        .await
        .expect("bulk disable")
        .into_inner()
        .filter_map(|u| u.ok().and_then(|u| u.update))
        .filter_map(|u| u.job)
        .collect::<Vec<_>>()
        .await
        .pop()
        .expect("job");
    assert_eq!(job.state, pb::JobState::Succeeded as i32, "{job:?}");
    for _ in 0..2 {
        let denied = app
            .users()
            .verify_password(authed(
                pb::VerifyPasswordRequest {
                    email: "nobody@example.com".into(),
                    password: "not the password".into(),
                },
                &app.service_token(),
            ))
            .await;
        assert!(denied.is_err());
    }
    assert_eq!(count(&app, "idempotency_keys").await, 1);
    assert_eq!(count(&app, "jobs").await, 1);
    assert!(count(&app, "job_users").await >= 1);
    assert_eq!(count(&app, "login_throttle").await, 1);
    let day0_events = count(&app, "events").await;
    assert!(day0_events >= 4, "{day0_events}");

    // Nothing has expired yet.
    let pruned = app
        .roster
        .retention
        .prune_expired(&retention)
        .await
        .expect("prune");
    assert_eq!(pruned, Default::default());

    // An hour later the throttle window is over: its row goes, the rest stays.
    app.clock.advance(Age::hours(1));
    let pruned = app
        .roster
        .retention
        .prune_expired(&retention)
        .await
        .expect("prune");
    assert_eq!(pruned.login_throttle, 1);
    assert_eq!(count(&app, "login_throttle").await, 0);
    assert_eq!(count(&app, "idempotency_keys").await, 1);

    // Two hours in: another stored reply.
    app.clock.advance(Age::hours(1));
    let second_email = unique_email("second");
    app.users()
        .add_user(authed(add_with_id(&second_email, "r-2"), &token))
        .await
        .expect("add second");
    // A replay inside the retention answers the first result.
    let replay = app
        .users()
        .add_user(authed(add_with_id(&first_email, "r-1"), &token))
        .await
        .expect("replay")
        .into_inner()
        .user
        .expect("user");
    assert_eq!(replay.id, first.id);

    // Day 1 + 1 h: the first reply expired, the second is live.
    app.clock.advance(Age::hours(24));
    let pruned = app
        .roster
        .retention
        .prune_expired(&retention)
        .await
        .expect("prune");
    assert_eq!(pruned.idempotency_keys, 1);
    assert_eq!(count(&app, "idempotency_keys").await, 1);
    // A retry after expiry is a new request: the email is taken by then.
    let status = app
        .users()
        .add_user(authed(add_with_id(&first_email, "r-1"), &token))
        .await
        .expect_err("a new request");
    assert_error(&status, Code::AlreadyExists, "EMAIL_TAKEN");
    let status = app
        .users()
        .add_user(authed(add_with_id(&second_email, "r-2"), &token))
        .await;
    assert!(status.is_ok(), "the live reply answers: {status:?}");

    // Day 7 + 1 h: an event that will outlive the rest.
    app.clock.advance(Age::days(6));
    member(&app, &ws, "late").await;
    let all_events = count(&app, "events").await;

    // Day 8 + 1 h: events of days 0 and 1 go, in batches of two.
    app.clock.advance(Age::days(1));
    let pruned = app
        .roster
        .retention
        .prune_expired(&retention)
        .await
        .expect("prune");
    let kept = count(&app, "events").await;
    assert_eq!(pruned.events as i64, all_events - kept);
    assert!(pruned.events as i64 >= day0_events, "{pruned:?}");
    assert!(kept >= 1);

    // A cursor into the pruned range is refused, naming the oldest kept.
    let status = stream_from(&app, &token, 0).await.expect_err("gap refused");
    assert_error(&status, Code::OutOfRange, "CURSOR_EXPIRED");
    let oldest: i64 = status
        .get_details_error_info()
        .and_then(|i| i.metadata.get("oldest_sequence").cloned())
        .and_then(|s| s.parse().ok())
        .expect("oldest_sequence");
    let resumed = stream_from(&app, &token, oldest - 1).await.expect("resume");
    assert_eq!(resumed.first(), Some(&oldest));
    assert_eq!(resumed.len() as i64, kept);
    assert!(resumed.windows(2).all(|w| w[1] == w[0] + 1), "{resumed:?}");

    // Day 31: the finished job and its per-user rows go.
    assert_eq!(count(&app, "jobs").await, 1);
    app.clock.advance(Age::days(23));
    let pruned = app
        .roster
        .retention
        .prune_expired(&retention)
        .await
        .expect("prune");
    assert_eq!(pruned.jobs, 1);
    assert_eq!(count(&app, "jobs").await, 0);
    assert_eq!(count(&app, "job_users").await, 0);
    let status = app
        .users()
        .get_job(authed(
            pb::GetJobRequest {
                job_id: job.id.clone(),
                ..Default::default()
            },
            &token,
        ))
        .await
        .expect_err("pruned job");
    assert_error(&status, Code::NotFound, "JOB_NOT_FOUND");
}

/// With every event pruned, a cursor behind the last sequence is refused
/// and the next sequence is named; the background task prunes on its own.
async fn the_background_task_prunes(db: Db) {
    let app = TestApp::spawn_with(db, |s| {
        s.retention = RetentionSettings {
            events: Some(Duration::from_secs(3600)),
            ..settings()
        };
        s.prune_interval = Some(Duration::from_millis(50));
    })
    .await;
    let ws = app
        .account(pb::Plan::Base, pb::SeatPolicy::AutoExpand, 10)
        .await;
    let events = count(&app, "events").await;
    assert!(events >= 1);
    app.clock.advance(Age::hours(2));
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while count(&app, "events").await > 0 {
        assert!(std::time::Instant::now() < deadline, "not pruned");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let status = stream_from(&app, &ws.admin_token, 0)
        .await
        .expect_err("gap refused");
    assert_error(&status, Code::OutOfRange, "CURSOR_EXPIRED");
    // From the last sequence: nothing missed, nothing to send.
    let none = stream_from(&app, &ws.admin_token, events)
        .await
        .expect("stream");
    assert!(none.is_empty());
}

/// Disables `leaver`, handing its records to `heir`.
async fn disable_to(app: &TestApp, ws: &Workspace, leaver: &pb::User, heir: &pb::User) {
    app.users()
        .disable_user(authed(
            pb::DisableUserRequest {
                user_id: leaver.id.clone(),
                reassignment: to(&heir.id),
                ..Default::default()
            },
            &ws.admin_token,
        ))
        .await
        .expect("disable");
}

/// Removes `leaver` for good, handing its records to `heir`.
async fn remove_to(app: &TestApp, ws: &Workspace, leaver: &pb::User, heir: &pb::User) {
    app.users()
        .remove_user(authed(
            pb::RemoveUserRequest {
                user_id: leaver.id.clone(),
                reassignment: to(&heir.id),
                ..Default::default()
            },
            &ws.admin_token,
        ))
        .await
        .expect("remove");
}

/// Journal rows go once a user they start or end at is removed, and not
/// before.
async fn journal_rows_go_with_their_user(db: Db) {
    let app = TestApp::spawn(db).await;
    let ws = app
        .account(pb::Plan::Base, pb::SeatPolicy::AutoExpand, 10)
        .await;
    let a = member(&app, &ws, "a").await;
    let b = member(&app, &ws, "b").await;
    let c = member(&app, &ws, "c").await;
    register(
        &app,
        &ws,
        vec![pb::WorkRecordInput {
            kind: pb::RecordKind::Lead as i32,
            external_id: "lead-1".into(),
            owner_user_id: a.id.clone(),
            ..Default::default()
        }],
    )
    .await;
    // a -> b (disable), then b -> c (remove b).
    disable_to(&app, &ws, &a, &b).await;
    let journal = |user: &str| {
        format!(
            "SELECT COUNT(*) AS n FROM record_moves WHERE from_user_id = '{user}' OR to_user_id = '{user}'"
        )
    };
    assert_eq!(app.sql_count(&journal(&a.id)).await, 1);
    remove_to(&app, &ws, &b, &c).await;
    // Kept until a pruning pass: the removal's own moves are journalled.
    assert_eq!(app.sql_count(&journal(&b.id)).await, 2);
    let pruned = app
        .roster
        .retention
        .prune_expired(&settings())
        .await
        .expect("prune");
    // a's row ended at b, who is gone: nothing left to give back to a.
    assert_eq!(pruned.journal, 2);
    assert_eq!(app.sql_count(&journal(&b.id)).await, 0);
    assert_eq!(app.sql_count(&journal(&a.id)).await, 0);
    assert_eq!(
        app.sql_count("SELECT COUNT(*) AS n FROM removed_users")
            .await,
        0
    );
    // c's own journal row would stay while c exists: c received b's lead.
    assert_eq!(
        app.sql_count("SELECT COUNT(*) AS n FROM record_moves")
            .await,
        0,
        "the b -> c row ends at c but starts at b, who is gone"
    );
}

/// A pruning transaction's limit counts what its rows carry: a journal
/// row of three records counts three, a job of three users four. With a
/// limit of 2 and one transaction per pass, each pass deletes one such row
/// (counting rows, one transaction would take two).
async fn a_batch_counts_what_its_rows_carry(db: Db) {
    let app = TestApp::spawn(db).await;
    let ws = app
        .account(pb::Plan::Base, pb::SeatPolicy::AutoExpand, 20)
        .await;
    let one_batch = RetentionSettings {
        batches_per_pass: 1,
        ..settings()
    };
    let [a, b, c] = [
        member(&app, &ws, "a").await,
        member(&app, &ws, "b").await,
        member(&app, &ws, "c").await,
    ];
    let leads = (0..3)
        .map(|n| pb::WorkRecordInput {
            kind: pb::RecordKind::Lead as i32,
            external_id: format!("lead-{n}"),
            owner_user_id: a.id.clone(),
            ..Default::default()
        })
        .collect();
    register(&app, &ws, leads).await;
    let mut users = app.users();
    // a -> b, then b -> c (b removed): two journal rows of three records.
    disable_to(&app, &ws, &a, &b).await;
    remove_to(&app, &ws, &b, &c).await;
    // Two finished jobs of three users each.
    for round in 0..2 {
        let leavers = [
            member(&app, &ws, &format!("x{round}")).await,
            member(&app, &ws, &format!("y{round}")).await,
            member(&app, &ws, &format!("z{round}")).await,
        ];
        let job = users
            .bulk_disable_users(authed(
                pb::BulkDisableUsersRequest {
                    user_ids: leavers.iter().map(|u| u.id.clone()).collect(),
                    ..Default::default()
                },
                &ws.admin_token,
            ))
            .await
            .expect("bulk disable")
            .into_inner()
            .filter_map(|u| u.ok().and_then(|u| u.update))
            .filter_map(|u| u.job)
            .collect::<Vec<_>>()
            .await
            .pop()
            .expect("job");
        assert_eq!(job.state, pb::JobState::Succeeded as i32, "{job:?}");
    }
    assert_eq!(count(&app, "record_moves").await, 2);
    assert_eq!(count(&app, "jobs").await, 2);
    assert_eq!(count(&app, "job_users").await, 6);
    app.clock.advance(Age::days(31));

    let first = app
        .roster
        .retention
        .prune_expired(&one_batch)
        .await
        .expect("prune");
    assert_eq!((first.journal, first.jobs), (1, 1), "{first:?}");
    assert_eq!(count(&app, "record_moves").await, 1);
    assert_eq!(count(&app, "job_users").await, 3);
    let second = app
        .roster
        .retention
        .prune_expired(&one_batch)
        .await
        .expect("prune");
    assert_eq!((second.journal, second.jobs), (1, 1), "{second:?}");
    assert_eq!(count(&app, "record_moves").await, 0);
    assert_eq!(count(&app, "jobs").await, 0);
    assert_eq!(count(&app, "job_users").await, 0);
    // b left the queue once its last row went (at the latest on the next pass).
    app.roster
        .retention
        .prune_expired(&one_batch)
        .await
        .expect("prune");
    assert_eq!(count(&app, "removed_users").await, 0);
}

both_backends!(
    expired_rows_go_and_live_rows_stay,
    the_background_task_prunes,
    journal_rows_go_with_their_user,
    a_batch_counts_what_its_rows_carry
);
