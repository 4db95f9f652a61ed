//! Followers hear commits instead of polling: a following StreamEvents
//! wakes when its account commits (in-process on SQLite; PostgreSQL
//! LISTEN/NOTIFY, across two server processes on one database), and reads
//! anyway on its fallback timer when a notification is missed.
//!
//! The push tests set the fallback to 60 s and wait at most 20 s, so an
//! event that arrives was pushed; the fallback test disables the trigger
//! that notifies and sets the fallback to 300 ms.

mod common;

use std::time::Duration;

use tokio_stream::StreamExt;
use tonic::Streaming;

use common::*;
use roster::auth::Scope;
use roster::proto::v1 as pb;

both_backends!(a_follower_wakes_on_a_commit_of_its_account);

const PATIENCE: Duration = Duration::from_secs(20);

/// Reads the stream until an event about `user_id` arrives; panics after
/// [`PATIENCE`].
async fn event_about(stream: &mut Streaming<pb::StreamEventsResponse>, user_id: &str) -> pb::Event {
    tokio::time::timeout(PATIENCE, async {
        loop {
            let event = stream
                .next()
                .await
                .expect("the stream stays open")
                .expect("event")
                .event
                .expect("event");
            if event.user_id == user_id {
                return event;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no event about {user_id} within {PATIENCE:?}"))
}

fn follow() -> pb::StreamEventsRequest {
    pb::StreamEventsRequest {
        follow: true,
        ..Default::default()
    }
}

async fn a_follower_wakes_on_a_commit_of_its_account(db: Db) {
    let app = TestApp::spawn_with(db, |s| s.follow_fallback = Duration::from_secs(60)).await;
    let ws = app
        .account(pb::Plan::Base, pb::SeatPolicy::AutoExpand, 5)
        .await;
    let other = app
        .account(pb::Plan::Base, pb::SeatPolicy::AutoExpand, 5)
        .await;
    let mut stream = app
        .users()
        .stream_events(authed(follow(), &ws.admin_token))
        .await
        .expect("follow")
        .into_inner();
    // Another account's commit first: it must not end up in this stream.
    let stranger = member(&app, &other, "stranger").await;
    let added = member(&app, &ws, "newcomer").await;
    let event = event_about(&mut stream, &added.id).await;
    assert_eq!(event.r#type(), pb::EventType::UserAdded);
    assert_ne!(event.user_id, stranger.id);
}

/// Two processes on one PostgreSQL database: a commit on one wakes a
/// follower on the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_follower_on_another_replica_hears_the_commit() {
    let url = fresh_pg_schema().await;
    let args = ["--follow-fallback-ms", "60000"];
    let writer = process::Server::spawn(&url, "writer", &args);
    writer.wait_serving().await;
    let follower = process::Server::spawn(&url, "follower", &args);
    follower.wait_serving().await;

    let issuer = roster::auth::TokenIssuer::hs256(SECRET, "roster", "roster");
    let now = chrono::Utc::now().timestamp();
    let scopes: Vec<&str> = Scope::ALL.iter().map(|s| s.as_str()).collect();
    let service = issuer
        .sign(&issuer.claims_for_service("notify-test", &scopes, now, 600))
        .expect("sign");
    let created = writer
        .users()
        .await
        .create_account(authed(
            pb::CreateAccountRequest {
                name: "Replicas".into(),
                plan: pb::Plan::Base as i32,
                seats_purchased: 5,
                admin: Some(pb::NewAdmin {
                    name: "Admin".into(),
                    email: unique_email("replica-admin"),
                    password: PASSWORD.into(),
                }),
                ..Default::default()
            },
            &service,
        ))
        .await
        .expect("account")
        .into_inner();
    let account_id = created.account.expect("account").id;
    let mut stream = follower
        .users()
        .await
        .stream_events(authed(
            pb::StreamEventsRequest {
                account_id: account_id.clone(),
                ..follow()
            },
            &service,
        ))
        .await
        .expect("follow on the other replica")
        .into_inner();
    for round in 0..3 {
        let added = writer
            .users()
            .await
            .add_user(authed(
                pb::AddUserRequest {
                    account_id: account_id.clone(),
                    ..new_user(&unique_email(&format!("replica{round}")))
                },
                &service,
            ))
            .await
            .expect("add on the writer")
            .into_inner()
            .user
            .expect("user");
        let event = event_about(&mut stream, &added.id).await;
        assert_eq!(event.r#type(), pb::EventType::UserAdded);
    }
}

/// With the notifying trigger disabled, commits are silent: the follower
/// still gets the event, on its fallback timer.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_missed_notification_is_caught_by_the_fallback_read() {
    let app = TestApp::spawn_with(Db::Postgres, |s| {
        s.follow_fallback = Duration::from_millis(300)
    })
    .await;
    let ws = app
        .account(pb::Plan::Base, pb::SeatPolicy::AutoExpand, 5)
        .await;
    app.sql("ALTER TABLE events DISABLE TRIGGER events_notify")
        .await;
    let mut stream = app
        .users()
        .stream_events(authed(follow(), &ws.admin_token))
        .await
        .expect("follow")
        .into_inner();
    let added = member(&app, &ws, "unannounced").await;
    let event = event_about(&mut stream, &added.id).await;
    assert_eq!(event.r#type(), pb::EventType::UserAdded);
}
