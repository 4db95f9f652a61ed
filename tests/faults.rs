//! Faults: PostgreSQL going away under write load (through a relay that
//! drops every connection, as a restart does), an exhausted connection
//! pool, client and server deadlines, graceful shutdown with calls and
//! streams in flight.

mod common;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use tokio_stream::StreamExt;
use tonic::Code;

use common::relay::through_relay;
use common::*;
use roster::proto::v1 as pb;

const BATCH: usize = 20;

fn batch(owner: &str, writer: usize, n: usize) -> pb::RegisterWorkRecordsRequest {
    pb::RegisterWorkRecordsRequest {
        account_id: String::new(),
        records: (0..BATCH)
            .map(|i| pb::WorkRecordInput {
                kind: pb::RecordKind::Lead as i32,
                external_id: format!("w{writer}-b{n}-r{i}"),
                owner_user_id: owner.to_owned(),
                ..Default::default()
            })
            .collect(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_outage_under_load_loses_nothing_and_recovers() {
    let direct = fresh_pg_schema().await;
    let (url, open) = through_relay(&direct).await;
    let app = TestApp::spawn_with(Db::Postgres, |s| {
        s.database_url = url.parse().expect("database url");
        s.db_acquire_timeout = Duration::from_secs(1);
    })
    .await;
    let ws = app
        .account(pb::Plan::Base, pb::SeatPolicy::AutoExpand, 50)
        .await;
    let owner = member(&app, &ws, "owen").await;

    // Four writers register batches of records and add users until told
    // to stop; each remembers what was acknowledged and what failed how.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut writers = Vec::new();
    for writer in 0..4 {
        let (mut users, token, owner, stop) = (
            app.users(),
            ws.admin_token.clone(),
            owner.id.clone(),
            stop.clone(),
        );
        writers.push(tokio::spawn(async move {
            let (mut acked, mut codes) = (Vec::new(), Vec::new());
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) {
                let result = users
                    .register_work_records(authed(batch(&owner, writer, n), &token))
                    .await;
                match result {
                    Ok(_) => acked.push(n),
                    Err(status) => codes.push(status.code()),
                }
                n += 1;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            (writer, n, acked, codes)
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    open.store(false, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    open.store(true, Ordering::SeqCst);
    // Recovered without a restart: a write goes through again.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let ok = app
            .users()
            .add_user(authed(new_user(&unique_email("after")), &ws.admin_token))
            .await;
        if ok.is_ok() {
            break;
        }
        assert!(Instant::now() < deadline, "no recovery: {ok:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::SeqCst);

    let mut failures = 0;
    for writer in writers {
        let (writer, sent, acked, codes) = writer.await.expect("writer");
        failures += codes.len();
        for code in &codes {
            assert_eq!(*code, Code::Unavailable, "outage errors are UNAVAILABLE");
        }
        // Every batch is all there or not there at all; every acknowledged
        // one is all there.
        for n in 0..sent {
            let present = app
                .sql_count(&format!(
                    "SELECT COUNT(*) AS n FROM work_records WHERE external_id LIKE 'w{writer}-b{n}-r%'"
                ))
                .await;
            assert!(
                present == 0 || present == BATCH as i64,
                "batch {writer}/{n} half-written: {present}"
            );
            if acked.contains(&n) {
                assert_eq!(
                    present, BATCH as i64,
                    "acknowledged batch {writer}/{n} lost"
                );
            }
        }
    }
    assert!(failures > 0, "the outage was noticed by some call");
    // Seats and users agree after the outage.
    let usage = app
        .seats()
        .get_seat_usage(authed(pb::GetSeatUsageRequest::default(), &ws.admin_token))
        .await
        .expect("usage")
        .into_inner()
        .usage
        .expect("usage");
    let active = app
        .sql_count(&format!(
            "SELECT COUNT(*) AS n FROM users WHERE account_id = '{}' AND status = 'ACTIVE'",
            ws.account.id
        ))
        .await;
    assert_eq!(i64::from(usage.active_users), active);
}

/// An account row locked from outside, so a write through Roster waits on
/// it while holding Roster's only pooled connection.
async fn lock_account_outside(app: &TestApp, account_id: &str) -> AsyncPgConnection {
    let mut conn = AsyncPgConnection::establish(&app.database_url)
        .await
        .expect("connect");
    conn.batch_execute(&format!(
        "BEGIN; SELECT id FROM accounts WHERE id = '{account_id}' FOR UPDATE;"
    ))
    .await
    .expect("lock");
    conn
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn exhausted_pool_and_deadlines_fail_fast_and_write_nothing() {
    let app = TestApp::spawn_with(Db::Postgres, |s| {
        s.db_max_connections = 1;
        s.db_acquire_timeout = Duration::from_millis(300);
    })
    .await;
    let ws = app
        .account(pb::Plan::Base, pb::SeatPolicy::AutoExpand, 5)
        .await;
    let mut locker = lock_account_outside(&app, &ws.account.id).await;

    // A write that will wait for the lock, holding the only connection.
    let mut seats = app.seats();
    let service = app.service_token();
    let account_id = ws.account.id.clone();
    let blocked = tokio::spawn(async move {
        seats
            .set_seats_purchased(authed(
                pb::SetSeatsPurchasedRequest {
                    account_id,
                    seats_purchased: 9,
                    reason: "while locked".into(),
                },
                &service,
            ))
            .await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Another call finds no free connection: refused quickly, not hung.
    // (A text search takes a pooled connection; plain point reads share
    // their own connections, so they keep working.)
    let search = pb::ListUsersRequest {
        query: "ada".into(),
        ..Default::default()
    };
    let started = Instant::now();
    let status = app
        .users()
        .list_users(authed(search, &ws.admin_token))
        .await
        .expect_err("pool exhausted");
    assert!(
        matches!(status.code(), Code::Unavailable | Code::ResourceExhausted),
        "{status:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(3), "fails fast");
    let page = app
        .users()
        .list_users(authed(pb::ListUsersRequest::default(), &ws.admin_token))
        .await
        .expect("a plain page needs no pooled connection")
        .into_inner();
    assert_eq!(page.users.len(), 1);

    // A client deadline ends a call stuck behind the lock.
    let mut request = authed(
        pb::UpdateSeatPolicyRequest {
            account_id: ws.account.id.clone(),
            seat_policy: pb::SeatPolicy::Strict as i32,
        },
        &ws.admin_token,
    );
    request.set_timeout(Duration::from_millis(200));
    let started = Instant::now();
    let status = app
        .seats()
        .update_seat_policy(request)
        .await
        .expect_err("deadline");
    assert!(
        matches!(
            status.code(),
            Code::DeadlineExceeded | Code::Cancelled | Code::Unavailable
        ),
        "{status:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(3));

    // Releasing the lock lets the waiting write finish; the timed-out one
    // changed nothing.
    locker.batch_execute("ROLLBACK").await.expect("unlock");
    let done = blocked.await.expect("join").expect("the waiting write");
    assert_eq!(done.into_inner().usage.expect("usage").seats_purchased, 9);
    let usage = app
        .seats()
        .get_seat_usage(authed(pb::GetSeatUsageRequest::default(), &ws.admin_token))
        .await
        .expect("usage")
        .into_inner()
        .usage
        .expect("usage");
    assert_eq!(usage.seat_policy, pb::SeatPolicy::AutoExpand as i32);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn graceful_shutdown_finishes_calls_and_ends_streams() {
    for db in [Db::Sqlite, Db::Postgres] {
        let mut app = TestApp::spawn(db).await;
        let ws = app
            .account(pb::Plan::Base, pb::SeatPolicy::AutoExpand, 20)
            .await;
        let mut events = app
            .users()
            .stream_events(authed(
                pb::StreamEventsRequest {
                    account_id: String::new(),
                    after_sequence: 0,
                    follow: true,
                    ..Default::default()
                },
                &ws.admin_token,
            ))
            .await
            .expect("stream")
            .into_inner();
        // Calls in flight (each hashes a password, ~tens of ms) when the
        // shutdown begins.
        let mut calls = Vec::new();
        for n in 0..6 {
            let (mut users, token) = (app.users(), ws.admin_token.clone());
            calls.push(tokio::spawn(async move {
                users
                    .add_user(authed(new_user(&format!("late-{n}@example.com")), &token))
                    .await
            }));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        app.begin_shutdown();
        let mut added = 0;
        for call in calls {
            match call.await.expect("join") {
                Ok(_) => added += 1,
                // Refused before it started: fine; cut off half-way: not.
                Err(status) => assert_eq!(status.code(), Code::Unavailable, "{status:?}"),
            }
        }
        // The follow stream ends (cleanly or with UNAVAILABLE), not hangs.
        let ended = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                match events.next().await {
                    Some(Ok(_)) => continue,
                    Some(Err(status)) => return Some(status.code()),
                    None => return None,
                }
            }
        })
        .await
        .expect("the event stream ended");
        assert!(matches!(ended, None | Some(Code::Unavailable)), "{ended:?}");
        // Every acknowledged user is there.
        let stored = app
            .sql_count("SELECT COUNT(*) AS n FROM users WHERE email LIKE 'late-%'")
            .await;
        assert_eq!(stored, added, "{db:?}");
    }
}

/// Point reads (token checks, GetUser, ListUsers pages) share a couple of
/// pipelined PostgreSQL connections. When those are killed (a restart, an
/// admin's pg_terminate_backend), the next reads go through new ones: the
/// first read to hit a dead connection is run again, not failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killed_shared_read_connections_are_replaced_without_failing_a_read() {
    let tag = format!("roster_shared_{}", std::process::id());
    let app = TestApp::spawn_with(Db::Postgres, |s| {
        s.database_url = format!("{}&application_name={tag}", s.database_url.as_str())
            .parse()
            .expect("database url");
        // Two, whatever the cores: all of them end at once.
        s.db_shared_read_connections = 2;
    })
    .await;
    let ws = app
        .account(pb::Plan::Base, pb::SeatPolicy::AutoExpand, 5)
        .await;
    let get = pb::GetUserRequest {
        account_id: String::new(),
        user_id: ws.admin.id.clone(),
    };
    let mut users = app.users();
    for _ in 0..4 {
        users
            .get_user(authed(get.clone(), &ws.admin_token))
            .await
            .expect("get before");
    }
    let killed = app
        .sql_count(&format!(
            "SELECT count(*) AS n FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE application_name = '{tag}' AND pid <> pg_backend_pid()) AS t"
        ))
        .await;
    assert!(killed >= 2, "the server's connections were found: {killed}");
    for i in 0..8 {
        let reply = users
            .get_user(authed(get.clone(), &ws.admin_token))
            .await
            .unwrap_or_else(|e| panic!("read {i} after the kill failed: {e:?}"));
        assert_eq!(
            reply.into_inner().user.map(|u| u.id),
            Some(ws.admin.id.clone())
        );
    }
    let list = pb::ListUsersRequest {
        page_size: 10,
        ..Default::default()
    };
    let page = users
        .list_users(authed(list, &ws.admin_token))
        .await
        .expect("list after the kill")
        .into_inner();
    assert_eq!(page.users.len(), 1);
}
