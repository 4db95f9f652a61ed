//! The Prometheus endpoint, scraped after real calls. One test per binary:
//! the metrics recorder is process-wide.

mod common;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic::Code;

use common::*;
use roster::proto::v1 as pb;

async fn scrape(addr: std::net::SocketAddr) -> String {
    for _ in 0..50 {
        if let Ok(mut stream) = tokio::net::TcpStream::connect(addr).await {
            stream
                .write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                .await
                .expect("request");
            let mut body = String::new();
            stream.read_to_string(&mut body).await.expect("response");
            return body;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("metrics endpoint did not answer");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn metrics_endpoint_reports_rpcs_pools_and_hashing() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("port")
        .local_addr()
        .expect("addr");
    roster::telemetry::install_metrics(port).expect("install metrics");
    let app = TestApp::spawn(Db::Sqlite).await;
    let ws = app
        .account(pb::Plan::Base, pb::SeatPolicy::AutoExpand, 5)
        .await;
    app.users()
        .add_user(authed(new_user(&unique_email("m")), &ws.admin_token))
        .await
        .expect("add");
    let status = app
        .users()
        .add_user(authed(new_user("bad"), &ws.admin_token))
        .await
        .expect_err("bad email");
    assert_eq!(status.code(), Code::InvalidArgument);
    // The same page three times: read once, then served from memory twice.
    for _ in 0..3 {
        app.users()
            .list_users(authed(pb::ListUsersRequest::default(), &ws.admin_token))
            .await
            .expect("list");
    }
    // Let the health monitor publish the pool gauges.
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    let body = scrape(port).await;
    for expected in [
        r#"roster_rpc_requests_total{method="/roster.v1.UserManagementService/AddUser",code="Ok"} 1"#,
        r#"roster_rpc_requests_total{method="/roster.v1.UserManagementService/AddUser",code="InvalidArgument"} 1"#,
        r#"roster_rpc_requests_total{method="/roster.v1.UserManagementService/CreateAccount",code="Ok"} 1"#,
        r#"roster_rpc_duration_seconds_bucket{method="/roster.v1.UserManagementService/AddUser",le="#,
        r#"roster_db_pool_connections{pool="read",state="max"} 8"#,
        // SQLite writes one transaction at a time: one write connection.
        r#"roster_db_pool_connections{pool="write",state="max"} 1"#,
        "roster_db_pool_waiting",
        "roster_password_hash_slots 2",
        // Both hashes (the admin's, the member's) are over: none is
        // counted as running.
        "roster_password_hashes_in_use 0\n",
        r#"roster_list_pages_total{source="read"} 1"#,
        r#"roster_list_pages_total{source="kept"} 2"#,
        "roster_list_cache_users 2",
    ] {
        assert!(body.contains(expected), "missing {expected:?} in:\n{body}");
    }

    // Text searches: the database answers the first, which has the
    // account's copy read in the background; the copy answers the ones
    // after. After a change the next is the database's again, while a
    // fresh copy is read, which answers the ones after.
    let search = |query: &str| {
        let mut users = app.users();
        let request = authed(
            pb::ListUsersRequest {
                query: query.into(),
                ..Default::default()
            },
            &ws.admin_token,
        );
        async move { users.list_users(request).await.expect("search") }
    };
    let memory = r#"roster_search_pages_total{source="memory"}"#;
    let database = r#"roster_search_pages_total{source="database"}"#;
    search("admin").await;
    let body = scrape(port).await;
    assert_eq!(counter(&body, memory), 0, "{body}");
    assert_eq!(counter(&body, database), 1, "{body}");
    let answered_from_memory = async |expected: u64| {
        for _ in 0..100 {
            search("example").await;
            if counter(&scrape(port).await, memory) == expected {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("no search answered from a copy after 5 s");
    };
    answered_from_memory(1).await;
    // A page the copy answered is not kept among the listing pages (which
    // hold the plain page's 2 users and the database's "admin" page): the
    // copy answers the same search again.
    search("example").await;
    let body = scrape(port).await;
    assert_eq!(counter(&body, memory), 2, "{body}");
    assert!(body.contains("roster_list_cache_users 3\n"), "{body}");
    assert!(body.contains("roster_search_index_users 2"), "{body}");
    let bytes = gauge(&body, "roster_search_index_bytes");
    assert!((100.0..100_000.0).contains(&bytes), "{body}");
    let from_database = counter(&body, database);
    app.users()
        .add_user(authed(new_user(&unique_email("m2")), &ws.admin_token))
        .await
        .expect("add");
    search("exam").await;
    let body = scrape(port).await;
    // The search that sees the change brings the copy up to date and
    // answers from it: the new user is held in its patch.
    assert_eq!(counter(&body, memory), 3, "{body}");
    assert_eq!(counter(&body, database), from_database, "{body}");
    assert!(body.contains("roster_search_index_users 3"), "{body}");
    let patched = r#"roster_search_copy_updates_total{update="patched"}"#;
    let read_again = r#"roster_search_copy_updates_total{update="read_again"}"#;
    assert_eq!(counter(&body, patched), 1, "{body}");
    assert_eq!(counter(&body, read_again), 0, "{body}");
    // A version bumped by hand, no change logged: the copy cannot be
    // patched to it and is dropped at once, not kept beside its successor
    // while that is read (which may already be there: 3 users).
    app.sql(&format!(
        "UPDATE accounts SET users_version = users_version + 1 WHERE id = '{}'",
        ws.account.id
    ))
    .await;
    search("exam").await;
    let body = scrape(port).await;
    assert_eq!(counter(&body, database), from_database + 1);
    assert_eq!(counter(&body, read_again), 1, "{body}");
    let kept = gauge(&body, "roster_search_index_users");
    assert!(kept == 0.0 || kept == 3.0, "{body}");
    answered_from_memory(4).await;
    assert!(scrape(port).await.contains("roster_search_index_users 3"));

    // On PostgreSQL a burst of GetUsers shares queries (store::coalesced):
    // every call is counted, and there are fewer queries than calls.
    let app = TestApp::spawn(Db::Postgres).await;
    let ws = app
        .account(pb::Plan::Base, pb::SeatPolicy::AutoExpand, 5)
        .await;
    let gets = (0..64).map(|_| {
        let mut users = app.users();
        let request = authed(
            pb::GetUserRequest {
                account_id: String::new(),
                user_id: ws.admin.id.clone(),
            },
            &ws.admin_token,
        );
        async move { users.get_user(request).await.map(|_| ()) }
    });
    for got in futures::future::join_all(gets).await {
        got.expect("get");
    }
    let body = scrape(port).await;
    let reads = counter(&body, "roster_coalesced_reads_total");
    let lookups = counter(&body, "roster_coalesced_lookups_total");
    // 64 GetUsers plus the calls that made the account and its admin.
    assert!(lookups >= 64, "{lookups} lookups");
    assert!(reads < lookups, "{reads} reads for {lookups} lookups");
}

/// A counter's value in a scrape (0 when absent).
fn counter(body: &str, name: &str) -> u64 {
    body.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(0)
}

/// A gauge's value in a scrape (NaN when absent).
fn gauge(body: &str, name: &str) -> f64 {
    body.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(f64::NAN)
}
