//! Bulk-remove throughput: one user's N work records (default 100,000)
//! moved to a colleague by a BulkRemoveUsers job, on SQLite and on
//! PostgreSQL, next to a single SQL UPDATE moving the same rows on the same
//! database. Prints a table; asserts nothing about speed.
//!
//!     cargo bench --bench bulk_remove
//!     ROSTER_BENCH_RECORDS=1000000 cargo bench --bench bulk_remove
//!
//! PostgreSQL: ROSTER_BENCH_PG_URL (default postgres://postgres@127.0.0.1:5432/test);
//! a fresh schema is made and dropped.

use std::sync::Arc;
use std::time::{Duration, Instant};

use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use tokio_stream::StreamExt;
use tonic::Request;
use tonic::transport::Channel;

use roster::app::{App, Settings};
use roster::auth::{Scope, TokenIssuer, TokenVerifier};
use roster::clock::SystemClock;
use roster::proto::v1 as pb;
use roster::proto::v1::user_management_service_client::UserManagementServiceClient;
use roster::service::jobs::JobSettings;

const SECRET: &[u8] = b"bench-secret-bench-secret-bench-secret";

fn authed<T>(message: T, token: &str) -> Request<T> {
    let mut request = Request::new(message);
    if let Ok(value) = format!("Bearer {token}").parse() {
        request.metadata_mut().insert("authorization", value);
    }
    request
}

struct Row {
    backend: &'static str,
    records: i64,
    register_secs: f64,
    job_secs: f64,
    update_secs: f64,
    updates: usize,
    max_gap: Duration,
}

async fn run(backend: &'static str, database_url: String, records: usize) -> anyhow::Result<Row> {
    let settings = Settings {
        database_url: database_url.clone(),
        listen: "127.0.0.1:0".parse()?,
        migrate: true,
        db_max_connections: 8,
        db_acquire_timeout: Duration::from_secs(30),
        verifier: TokenVerifier::new("roster", "roster").with_hs256_secret(SECRET),
        hash_params: Default::default(),
        hash_concurrency: 2,
        prices: Default::default(),
        clock: Arc::new(SystemClock),
        health_interval: Duration::from_secs(5),
        rollover_interval: None,
        jobs: JobSettings::default(),
        job_workers: 1,
    };
    let app = App::build(settings).await?;
    let addr = app.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.serve(async move {
        let _ = stopped.await;
    }));
    let channel = Channel::from_shared(format!("http://{addr}"))?
        .connect()
        .await?;
    let mut users = UserManagementServiceClient::new(channel);
    let issuer = TokenIssuer::hs256(SECRET, "roster", "roster");
    let scopes: Vec<&str> = Scope::ALL.iter().map(|s| s.as_str()).collect();
    let token = issuer.sign(&issuer.claims_for_service(
        "bench",
        &scopes,
        chrono::Utc::now().timestamp(),
        3600,
    ))?;

    let created = users
        .create_account(authed(
            pb::CreateAccountRequest {
                name: "Bench".into(),
                plan: pb::Plan::Base as i32,
                seats_purchased: 10,
                admin: Some(pb::NewAdmin {
                    name: "Admin".into(),
                    email: format!("admin-{}@bench.example", uuid::Uuid::new_v4().simple()),
                    password: "correct horse 42".into(),
                }),
                ..Default::default()
            },
            &token,
        ))
        .await?
        .into_inner();
    let account_id = created.account.map(|a| a.id).unwrap_or_default();
    let mut add = async |name: &str| -> anyhow::Result<String> {
        let user = users
            .add_user(authed(
                pb::AddUserRequest {
                    account_id: account_id.clone(),
                    name: name.into(),
                    email: format!("{name}-{}@bench.example", uuid::Uuid::new_v4().simple()),
                    password: "correct horse 42".into(),
                    ..Default::default()
                },
                &token,
            ))
            .await?
            .into_inner()
            .user
            .map(|u| u.id)
            .unwrap_or_default();
        Ok(user)
    };
    let heir = add("heir").await?;
    let leaver = add("leaver").await?;
    let reference = add("reference").await?;

    let started = Instant::now();
    let mut next = 0;
    while next < records {
        let end = (next + 10_000).min(records);
        let batch = (next..end)
            .map(|i| pb::WorkRecordInput {
                kind: if i % 4 == 3 {
                    pb::RecordKind::Task
                } else {
                    pb::RecordKind::Lead
                } as i32,
                external_id: format!("r{i}"),
                owner_user_id: leaver.clone(),
                ..Default::default()
            })
            .collect();
        users
            .register_work_records(authed(
                pb::RegisterWorkRecordsRequest {
                    account_id: account_id.clone(),
                    records: batch,
                },
                &token,
            ))
            .await?;
        next = end;
    }
    let register_secs = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let mut stream = users
        .bulk_remove_users(authed(
            pb::BulkRemoveUsersRequest {
                account_id: account_id.clone(),
                user_ids: vec![leaver.clone()],
                reassignment: Some(pb::Reassignment {
                    target_user_id: heir.clone(),
                    by_kind: vec![],
                }),
                ..Default::default()
            },
            &token,
        ))
        .await?
        .into_inner();
    let (mut updates, mut last, mut max_gap, mut moved) = (0, Instant::now(), Duration::ZERO, 0);
    while let Some(item) = stream.next().await {
        let update = item?.update.unwrap_or_default();
        updates += 1;
        max_gap = max_gap.max(last.elapsed());
        last = Instant::now();
        moved = update.records_moved;
        if update.r#final {
            break;
        }
    }
    let job_secs = started.elapsed().as_secs_f64();
    anyhow::ensure!(
        moved == records as i64,
        "the job moved {moved} of {records}"
    );

    // The reference: one UPDATE moving the same rows on the same database.
    let statement = format!(
        "UPDATE work_records SET owner_user_id = '{reference}' WHERE owner_user_id = '{heir}'"
    );
    let started = Instant::now();
    if backend == "PostgreSQL" {
        let mut conn = AsyncPgConnection::establish(&database_url).await?;
        conn.batch_execute(&statement).await?;
    } else {
        let url = database_url.clone();
        tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
            use diesel::Connection;
            use diesel::connection::SimpleConnection;
            let mut conn = diesel::SqliteConnection::establish(&url)?;
            conn.batch_execute("PRAGMA busy_timeout = 10000")?;
            conn.batch_execute(&statement)?;
            Ok(())
        })
        .await??;
    }
    let update_secs = started.elapsed().as_secs_f64();
    let _ = stop.send(());
    let _ = server.await;
    Ok(Row {
        backend,
        records: records as i64,
        register_secs,
        job_secs,
        update_secs,
        updates,
        max_gap,
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let records: usize = std::env::var("ROSTER_BENCH_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let mut rows = Vec::new();

    let dir = tempfile::tempdir()?;
    let sqlite = dir.path().join("bench.db").to_string_lossy().into_owned();
    rows.push(run("SQLite", sqlite, records).await?);

    let base = std::env::var("ROSTER_BENCH_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    match AsyncPgConnection::establish(&base).await {
        Ok(mut admin) => {
            let schema = format!("bench_{}", uuid::Uuid::new_v4().simple());
            admin
                .batch_execute(&format!("CREATE SCHEMA {schema}"))
                .await?;
            let sep = if base.contains('?') { '&' } else { '?' };
            let url = format!("{base}{sep}options=-c%20search_path%3D{schema}");
            let row = run("PostgreSQL", url, records).await;
            admin
                .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
                .await?;
            rows.push(row?);
        }
        Err(e) => eprintln!("PostgreSQL skipped: cannot connect to {base}: {e}"),
    }

    println!();
    println!(
        "| backend | records | register (records/s) | bulk remove job | job records/s | single UPDATE | job / UPDATE | progress msgs | max gap |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for r in rows {
        let job_rate = r.records as f64 / r.job_secs;
        let update_rate = r.records as f64 / r.update_secs;
        println!(
            "| {} | {} | {:.0} | {:.2} s | {:.0} | {:.2} s | {:.2}x | {} | {:.2} s |",
            r.backend,
            r.records,
            r.records as f64 / r.register_secs,
            r.job_secs,
            job_rate,
            r.update_secs,
            job_rate / update_rate,
            r.updates,
            r.max_gap.as_secs_f64()
        );
    }
    Ok(())
}
