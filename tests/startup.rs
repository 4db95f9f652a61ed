//! Processes started together on a fresh database (the replicas of a
//! Deployment, `bootstrap` beside `serve`): every one comes up, and each
//! migration is applied exactly once.

mod common;

use std::process::{Command, Stdio};

use common::*;

/// Migrations shipped for each backend (directories under src/store/migrations).
fn shipped_migrations(backend: &str) -> i64 {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/store/migrations/");
    std::fs::read_dir(format!("{dir}{backend}"))
        .expect("migrations dir")
        .filter(|e| e.as_ref().is_ok_and(|e| e.path().is_dir()))
        .count() as i64
}

async fn four_servers_and_a_migrate_started_together(db: Db) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (url, backend) = match db {
        Db::Sqlite => (
            dir.path().join("roster.db").to_string_lossy().into_owned(),
            "sqlite",
        ),
        Db::Postgres => (fresh_pg_schema().await, "postgres"),
    };
    let mut servers: Vec<process::Server> = (0..4)
        .map(|i| process::Server::spawn(&url, &format!("replica-{i}"), &[]))
        .collect();
    let migrate = Command::new(env!("CARGO_BIN_EXE_roster"))
        .args(["--database-url", &url, "migrate"])
        .env(
            "ROSTER_JWT_SECRET",
            std::str::from_utf8(SECRET).expect("utf8"),
        )
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start migrate");
    for (i, server) in servers.iter_mut().enumerate() {
        // A process that died while migrating would never answer.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while !server.serving().await {
            assert!(
                server.exited().is_none(),
                "replica {i} exited: {:?}",
                server.exited()
            );
            assert!(
                std::time::Instant::now() < deadline,
                "replica {i} never served"
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
    let out = migrate.wait_with_output().expect("migrate");
    assert!(
        out.status.success(),
        "migrate failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Each version once, and all of them.
    let probe = TestApp::spawn_with(db, |s| {
        s.database_url = url.parse().expect("database url");
        s.migrate = false;
    })
    .await;
    let versions = probe
        .sql_count("SELECT COUNT(*) AS n FROM __diesel_schema_migrations")
        .await;
    let distinct = probe
        .sql_count("SELECT COUNT(DISTINCT version) AS n FROM __diesel_schema_migrations")
        .await;
    assert_eq!(versions, distinct);
    assert_eq!(versions, shipped_migrations(backend));
    // And the schema works: an account made through one replica.
    let ws = probe
        .account(
            roster::proto::v1::Plan::Base,
            roster::proto::v1::SeatPolicy::AutoExpand,
            3,
        )
        .await;
    assert!(!ws.account.id.is_empty());
}

both_backends!(four_servers_and_a_migrate_started_together);
