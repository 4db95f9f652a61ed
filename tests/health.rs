//! Health follows the database: NOT_SERVING while PostgreSQL is out of
//! reach, SERVING again when it returns, with no restart. The outage is a
//! TCP relay between Roster and PostgreSQL that the test cuts and restores.

mod common;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tonic_health::pb::health_check_response::ServingStatus;

use common::relay::through_relay;
use common::*;

async fn status(app: &TestApp) -> Option<i32> {
    let mut health = tonic_health::pb::health_client::HealthClient::new(app.channel.clone());
    health
        .check(tonic_health::pb::HealthCheckRequest {
            service: "roster.v1.UserManagementService".into(),
        })
        .await
        .ok()
        .map(|r| r.into_inner().status)
}

async fn wait_for(app: &TestApp, wanted: ServingStatus) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while status(app).await != Some(wanted as i32) {
        assert!(Instant::now() < deadline, "health never became {wanted:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn health_turns_not_serving_while_postgres_is_unreachable() {
    // A real schema, reached through the relay.
    let direct = fresh_pg_schema().await;
    let (through_relay, open) = through_relay(&direct).await;

    let app = TestApp::spawn_with(Db::Postgres, |s| {
        s.database_url = through_relay.parse().expect("database url");
        s.db_acquire_timeout = Duration::from_secs(1);
    })
    .await;
    wait_for(&app, ServingStatus::Serving).await;
    let ws = app
        .account(
            roster::proto::v1::Plan::Base,
            roster::proto::v1::SeatPolicy::AutoExpand,
            2,
        )
        .await;

    open.store(false, Ordering::SeqCst);
    wait_for(&app, ServingStatus::NotServing).await;
    // The liveness name stays SERVING: the process itself is fine.
    let mut health = tonic_health::pb::health_client::HealthClient::new(app.channel.clone());
    let live = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: "roster.liveness".into(),
        })
        .await
        .expect("liveness")
        .into_inner()
        .status;
    assert_eq!(live, ServingStatus::Serving as i32);
    // Calls fail cleanly meanwhile (no hang, no panic).
    let started = Instant::now();
    let err = app
        .users()
        .list_users(authed(
            roster::proto::v1::ListUsersRequest::default(),
            &ws.admin_token,
        ))
        .await
        .expect_err("database down");
    assert!(started.elapsed() < Duration::from_secs(10), "fails fast");
    assert_eq!(err.code(), tonic::Code::Unavailable, "{err:?}");

    open.store(true, Ordering::SeqCst);
    wait_for(&app, ServingStatus::Serving).await;
    // Calls work again without a restart.
    app.users()
        .list_users(authed(
            roster::proto::v1::ListUsersRequest::default(),
            &ws.admin_token,
        ))
        .await
        .expect("recovered");
}
