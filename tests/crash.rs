//! Crash safety and takeover of durable jobs, with the real `roster` binary
//! as child processes: SIGKILL mid-job then restart; two processes on one
//! PostgreSQL database.

mod common;

use std::time::{Duration, Instant};

use tokio_stream::StreamExt;
use tonic::transport::Channel;

use common::*;
use roster::auth::Scope;
use roster::proto::v1 as pb;
use roster::proto::v1::user_management_service_client::UserManagementServiceClient;

/// `roster serve` with small, slow job batches and short leases, so that a
/// job is still running when the test kills or stops its server.
struct Server;

impl Server {
    async fn start(database_url: &str, host: &str) -> process::Server {
        let server = process::Server::spawn(
            database_url,
            host,
            &[
                "--job-batch-size",
                "50",
                "--job-batch-pause-ms",
                "20",
                "--job-lease-secs",
                "2",
                // The test reads the jobs' journal after they end.
                "--prune-interval-secs",
                "0",
            ],
        );
        server.wait_serving().await;
        server
    }
}

fn issuer() -> roster::auth::TokenIssuer {
    roster::auth::TokenIssuer::hs256(SECRET, "roster", "roster")
}

fn service_token() -> String {
    let scopes: Vec<&str> = Scope::ALL.iter().map(|s| s.as_str()).collect();
    let i = issuer();
    i.sign(&i.claims_for_service("crash-test", &scopes, chrono::Utc::now().timestamp(), 600))
        .expect("sign")
}

/// An account with a heir and `leavers` users holding `per_user` leads
/// each; returns (account id, heir id, leaver ids).
async fn seed(
    users: &mut UserManagementServiceClient<Channel>,
    leavers: usize,
    per_user: usize,
) -> (String, String, Vec<String>) {
    let token = service_token();
    let created = users
        .create_account(authed(
            pb::CreateAccountRequest {
                name: "Crashy".into(),
                plan: pb::Plan::Base as i32,
                seats_purchased: 20,
                admin: Some(pb::NewAdmin {
                    name: "Admin".into(),
                    email: unique_email("crash-admin"),
                    password: PASSWORD.into(),
                }),
                ..Default::default()
            },
            &token,
        ))
        .await
        .expect("account")
        .into_inner();
    let account_id = created.account.expect("account").id;
    let add = |name: &str| {
        let request = pb::AddUserRequest {
            account_id: account_id.clone(),
            ..new_user(&unique_email(name))
        };
        let mut users = users.clone();
        let token = token.clone();
        async move {
            users
                .add_user(authed(request, &token))
                .await
                .expect("add")
                .into_inner()
                .user
                .expect("user")
                .id
        }
    };
    let heir = add("heir").await;
    let mut ids = Vec::new();
    for i in 0..leavers {
        ids.push(add(&format!("leaver{i}")).await);
    }
    for id in &ids {
        let records = (0..per_user)
            .map(|i| pb::WorkRecordInput {
                kind: pb::RecordKind::Lead as i32,
                external_id: format!("{id}-{i}"),
                owner_user_id: id.clone(),
                ..Default::default()
            })
            .collect();
        users
            .register_work_records(authed(
                pb::RegisterWorkRecordsRequest {
                    account_id: account_id.clone(),
                    records,
                },
                &token,
            ))
            .await
            .expect("register");
    }
    (account_id, heir, ids)
}

/// Starts a bulk remove and returns its job id once `at_least` records moved.
async fn start_job_and_wait(
    users: &mut UserManagementServiceClient<Channel>,
    account_id: &str,
    heir: &str,
    ids: &[String],
    at_least: i64,
) -> String {
    let mut stream = users
        .bulk_remove_users(authed(
            pb::BulkRemoveUsersRequest {
                account_id: account_id.to_owned(),
                user_ids: ids.to_vec(),
                reassignment: Some(pb::Reassignment {
                    target_user_id: heir.to_owned(),
                    by_kind: vec![],
                }),
                request_id: "crash-job".into(),
                ..Default::default()
            },
            &service_token(),
        ))
        .await
        .expect("bulk")
        .into_inner();
    let mut job_id = String::new();
    while let Some(item) = tokio::time::timeout(Duration::from_secs(30), stream.next())
        .await
        .expect("progress")
    {
        let update = item.expect("ok").update.expect("update");
        job_id = update.job_id.clone();
        if update.records_moved >= at_least {
            break;
        }
    }
    job_id
}

async fn wait_for_end(
    users: &mut UserManagementServiceClient<Channel>,
    account_id: &str,
    job_id: &str,
) -> pb::Job {
    let mut watch = users
        .watch_job(authed(
            pb::WatchJobRequest {
                account_id: account_id.to_owned(),
                job_id: job_id.to_owned(),
            },
            &service_token(),
        ))
        .await
        .expect("watch")
        .into_inner();
    while let Some(item) = tokio::time::timeout(Duration::from_secs(90), watch.next())
        .await
        .expect("job ends")
    {
        let update = item.expect("ok").update.expect("update");
        if update.r#final {
            return update.job.expect("job");
        }
    }
    panic!("the watch ended without a final update");
}

/// Holds the database the child processes share, and reads it.
struct Db2 {
    app: TestApp,
}

async fn sigkill_mid_job_then_restart_finishes(db: Db) {
    // A TestApp only to hold the database (and read it); the servers under
    // test are child processes on the same database.
    let holder = Db2 {
        app: TestApp::spawn_with(db, |s| s.job_workers = 0).await,
    };
    let url = holder.app.database_url.clone();
    let mut server = Server::start(&url, "proc-a").await;
    let mut users = server.users().await;
    let (account_id, heir, ids) = seed(&mut users, 2, 1500).await;
    let job_id = start_job_and_wait(&mut users, &account_id, &heir, &ids, 300).await;
    server.kill();

    let moved = holder
        .app
        .sql_count(&format!(
            "SELECT COUNT(*) AS n FROM work_records WHERE owner_user_id = '{heir}'"
        ))
        .await;
    assert!(
        (300..3000).contains(&moved),
        "killed mid-job ({moved} moved)"
    );
    assert_eq!(
        holder
            .app
            .sql_count(&format!(
                "SELECT COUNT(*) AS n FROM jobs WHERE id = '{job_id}' AND state = 'RUNNING'"
            ))
            .await,
        1
    );
    assert_eq!(
        holder
            .app
            .sql_count("SELECT COUNT(*) AS n FROM work_records")
            .await,
        3000,
        "nothing lost"
    );

    let server = Server::start(&url, "proc-a2").await;
    let mut users = server.users().await;
    let job = wait_for_end(&mut users, &account_id, &job_id).await;
    assert_eq!(job.state, pb::JobState::Succeeded as i32);
    assert_eq!(job.records_moved, 3000);
    assert_eq!(
        holder
            .app
            .sql_count(&format!(
                "SELECT COUNT(*) AS n FROM work_records WHERE owner_user_id = '{heir}'"
            ))
            .await,
        3000
    );
    assert_eq!(
        holder
            .app
            .sql_count(&format!(
                "SELECT CAST(COALESCE(SUM(record_count), 0) AS BIGINT) AS n FROM record_moves WHERE job_id = '{job_id}'"
            ))
            .await,
        3000,
        "every record moved exactly once"
    );
    for id in &ids {
        assert_eq!(
            holder
                .app
                .sql_count(&format!(
                    "SELECT COUNT(*) AS n FROM users WHERE id = '{id}'"
                ))
                .await,
            0
        );
    }
}

async fn lease_owner(app: &TestApp, job_id: &str, host: &str) -> i64 {
    app.sql_count(&format!(
        "SELECT COUNT(*) AS n FROM jobs WHERE id = '{job_id}' AND lease_owner LIKE '{host}:%'"
    ))
    .await
}

mod sigkill {
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn sqlite() {
        super::sigkill_mid_job_then_restart_finishes(super::Db::Sqlite).await
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn postgres() {
        super::sigkill_mid_job_then_restart_finishes(super::Db::Postgres).await
    }
}

/// Two processes on one PostgreSQL database: one works the job at a time;
/// when it dies, the other takes over and finishes.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_processes_one_worker_at_a_time_and_takeover() {
    let holder = TestApp::spawn_with(Db::Postgres, |s| s.job_workers = 0).await;
    let url = holder.database_url.clone();
    let a = Server::start(&url, "proc-a").await;
    let b = Server::start(&url, "proc-b").await;
    let mut users = a.users().await;
    let (account_id, heir, ids) = seed(&mut users, 2, 1500).await;
    let job_id = start_job_and_wait(&mut users, &account_id, &heir, &ids, 100).await;
    let owner_a = lease_owner(&holder, &job_id, "proc-a").await;
    let owner_b = lease_owner(&holder, &job_id, "proc-b").await;
    assert_eq!(owner_a + owner_b, 1, "exactly one process holds the job");
    let (worker, mut doomed, survivor) = if owner_a == 1 {
        ("proc-a", a, b)
    } else {
        ("proc-b", b, a)
    };
    // While both live, the lease stays with the same process.
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(
            lease_owner(&holder, &job_id, worker).await,
            1,
            "no second worker"
        );
    }
    doomed.kill();
    let survivor_host = if worker == "proc-a" {
        "proc-b"
    } else {
        "proc-a"
    };
    let mut users = survivor.users().await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if lease_owner(&holder, &job_id, survivor_host).await == 1 {
            break;
        }
        let done = holder
            .sql_count(&format!(
                "SELECT COUNT(*) AS n FROM jobs WHERE id = '{job_id}' AND state = 'SUCCEEDED'"
            ))
            .await;
        if done == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "the survivor did not take over");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let job = wait_for_end(&mut users, &account_id, &job_id).await;
    assert_eq!(
        (job.state, job.records_moved),
        (pb::JobState::Succeeded as i32, 3000)
    );
    assert_eq!(
        holder
            .sql_count(&format!(
                "SELECT CAST(COALESCE(SUM(record_count), 0) AS BIGINT) AS n FROM record_moves WHERE job_id = '{job_id}'"
            ))
            .await,
        3000,
        "every record moved exactly once"
    );
    assert_eq!(
        holder
            .sql_count(&format!(
                "SELECT COUNT(*) AS n FROM work_records WHERE owner_user_id = '{heir}'"
            ))
            .await,
        3000
    );
}

/// SIGTERM mid-job: the server stops at a batch boundary, hands the lease
/// back at once (no waiting for expiry), and the next start finishes.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn graceful_shutdown_hands_the_job_back() {
    let holder = TestApp::spawn_with(Db::Sqlite, |s| s.job_workers = 0).await;
    let url = holder.database_url.clone();
    let mut server = Server::start(&url, "proc-a").await;
    let mut users = server.users().await;
    let (account_id, heir, ids) = seed(&mut users, 1, 2000).await;
    let job_id = start_job_and_wait(&mut users, &account_id, &heir, &ids, 200).await;
    let exit = server.terminate();
    assert!(exit.success(), "clean exit: {exit:?}");
    assert_eq!(
        holder
            .sql_count(&format!(
                "SELECT COUNT(*) AS n FROM jobs WHERE id = '{job_id}' AND state = 'RUNNING' AND lease_owner IS NULL"
            ))
            .await,
        1,
        "the lease was handed back"
    );
    let moved = holder
        .sql_count(&format!(
            "SELECT COUNT(*) AS n FROM work_records WHERE owner_user_id = '{heir}'"
        ))
        .await;
    assert_eq!(moved % 50, 0, "stopped at a batch boundary ({moved})");
    let server = Server::start(&url, "proc-b").await;
    let mut users = server.users().await;
    let job = wait_for_end(&mut users, &account_id, &job_id).await;
    assert_eq!(
        (job.state, job.records_moved),
        (pb::JobState::Succeeded as i32, 2000)
    );
}
