//! Test harness: a real Roster server on 127.0.0.1:0 over a real gRPC
//! channel, backed by a fresh SQLite file or a fresh PostgreSQL schema.
#![allow(dead_code)]

pub mod process;
pub mod raw;
pub mod relay;

use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDate;
use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use tonic::transport::Channel;
use tonic::{Code, Request, Status};
use tonic_types::StatusExt;

use roster::app::{App, Settings};
use roster::auth::password::HashParams;
use roster::auth::{Scope, TokenIssuer, TokenVerifier};
use roster::clock::ManualClock;
use roster::domain::PriceList;
use roster::proto::v1 as pb;
use roster::proto::v1::access_service_client::AccessServiceClient;
use roster::proto::v1::seats_service_client::SeatsServiceClient;
use roster::proto::v1::user_management_service_client::UserManagementServiceClient;

pub const SECRET: &[u8] = b"test-secret-test-secret-test-secret!";
pub const PASSWORD: &str = "correct horse 42";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

impl Db {
    /// SQL that drops the triggers bumping `users_version`: a change by hand
    /// then leaves the version as it was, so a test can tell what is served
    /// from memory.
    pub fn drop_users_version_trigger(self) -> &'static str {
        match self {
            Db::Postgres => {
                "DROP TRIGGER users_inserted_counts ON users; \
                 DROP TRIGGER users_updated_counts ON users; \
                 DROP TRIGGER users_deleted_counts ON users"
            }
            Db::Sqlite => {
                "DROP TRIGGER users_insert_bumps_users_version; \
                 DROP TRIGGER users_update_bumps_users_version; \
                 DROP TRIGGER users_delete_bumps_users_version"
            }
        }
    }
}

/// Runs a test body against both backends, as two `#[tokio::test]`s.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn sqlite() {
                    super::$name($crate::common::Db::Sqlite).await
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn postgres() {
                    super::$name($crate::common::Db::Postgres).await
                }
            }
        )*
    };
}

pub struct TestApp {
    pub addr: std::net::SocketAddr,
    pub channel: Channel,
    pub issuer: TokenIssuer,
    pub clock: ManualClock,
    pub database_url: String,
    pub db: Db,
    /// The server's use cases, for what no RPC triggers (pruning passes).
    pub roster: roster::service::Roster,
    _dir: tempfile::TempDir,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

/// The PostgreSQL server tests use; they fail (never skip) when it is down.
pub fn pg_base_url() -> String {
    std::env::var("ROSTER_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

pub async fn fresh_pg_schema() -> String {
    let base = pg_base_url();
    let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
    let mut conn = AsyncPgConnection::establish(&base).await.unwrap_or_else(|e| {
        panic!(
            "PostgreSQL tests need a server at {base} ({e}). Start one (see .ci/run) or set ROSTER_TEST_PG_URL."
        )
    });
    // pg_trgm (the users' trigram index) is made once per database, in
    // `public`: made by a migration inside one test's schema, it would go
    // with that schema's DROP ... CASCADE, and every other schema's index
    // with it. Tests running at once may race to make it: one wins.
    if let Err(e) = conn
        .batch_execute("CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public")
        .await
    {
        let exists: i64 = diesel_async::RunQueryDsl::get_result(
            diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
                "(SELECT count(*) FROM pg_extension WHERE extname = 'pg_trgm')",
            )),
            &mut conn,
        )
        .await
        .expect("read pg_extension");
        assert_eq!(exists, 1, "create pg_trgm: {e}");
    }
    conn.batch_execute(&format!("CREATE SCHEMA {schema}"))
        .await
        .expect("create schema");
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}options=-c%20search_path%3D{schema}")
}

impl TestApp {
    pub async fn spawn(db: Db) -> TestApp {
        Self::spawn_with(db, |_| {}).await
    }

    pub async fn spawn_with(db: Db, tweak: impl FnOnce(&mut Settings)) -> TestApp {
        let dir = tempfile::tempdir().expect("tempdir");
        let database_url = match db {
            Db::Sqlite => dir.path().join("roster.db").to_string_lossy().into_owned(),
            Db::Postgres => fresh_pg_schema().await,
        };
        let clock = ManualClock::new(
            NaiveDate::from_ymd_opt(2026, 11, 1)
                .and_then(|d| d.and_hms_opt(9, 0, 0))
                .expect("date"),
        );
        let mut settings = Settings {
            database_url: database_url.parse().expect("database url"),
            listen: "127.0.0.1:0".parse().expect("addr"),
            migrate: true,
            db_max_connections: 8,
            db_shared_read_connections: 0,
            db_acquire_timeout: Duration::from_secs(10),
            follow_fallback: Duration::from_secs(2),
            search_merge_idle: roster::store::DEFAULT_SEARCH_MERGE_IDLE,
            verifier: TokenVerifier::new("roster", "roster").with_hs256_secret(SECRET),
            hash_params: HashParams::default(),
            hash_concurrency: 2,
            prices: PriceList::default(),
            clock: Arc::new(clock.clone()),
            health_interval: Duration::from_millis(200),
            rollover_interval: None,
            retention: roster::service::retention::RetentionSettings::default(),
            prune_interval: None,
            jobs: roster::service::jobs::JobSettings {
                batch_size: 100,
                lease: Duration::from_secs(2),
                batch_pause: Duration::ZERO,
                single_user_threshold: 5000,
                poll: Duration::from_millis(50),
            },
            job_workers: 1,
            list_cache_users: 10_000,
            access_cache_users: 10_000,
            search_index_users: 200_000,
            tls: None,
        };
        tweak(&mut settings);
        let tls = settings.tls.is_some();
        // What the server really uses (a tweak may point it elsewhere).
        let database_url = settings.database_url.as_str().to_owned();
        let app = App::build(settings).await.expect("build app");
        let addr = app.local_addr().expect("addr");
        let roster = app.roster().clone();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(app.serve(async move {
            let _ = rx.await;
        }));
        let endpoint = Channel::from_shared(format!("http://{addr}")).expect("uri");
        // A TLS server: the test makes its own channels.
        let channel = if tls {
            endpoint.connect_lazy()
        } else {
            endpoint.connect().await.expect("connect")
        };
        TestApp {
            addr,
            channel,
            issuer: TokenIssuer::hs256(SECRET, "roster", "roster"),
            clock,
            database_url,
            db,
            roster,
            _dir: dir,
            shutdown: Some(tx),
        }
    }

    pub fn users(&self) -> UserManagementServiceClient<Channel> {
        UserManagementServiceClient::new(self.channel.clone())
    }

    pub fn seats(&self) -> SeatsServiceClient<Channel> {
        SeatsServiceClient::new(self.channel.clone())
    }

    pub fn access(&self) -> AccessServiceClient<Channel> {
        AccessServiceClient::new(self.channel.clone())
    }

    pub fn now_secs(&self) -> i64 {
        chrono::Utc::now().timestamp()
    }

    /// A service token with every scope.
    pub fn service_token(&self) -> String {
        let scopes: Vec<&str> = Scope::ALL.iter().map(|s| s.as_str()).collect();
        self.issuer
            .sign(
                &self
                    .issuer
                    .claims_for_service("tests", &scopes, self.now_secs(), 600),
            )
            .expect("sign")
    }

    pub fn service_token_with(&self, scopes: &[&str]) -> String {
        self.issuer
            .sign(
                &self
                    .issuer
                    .claims_for_service("tests", scopes, self.now_secs(), 600),
            )
            .expect("sign")
    }

    pub fn user_token(&self, user_id: &str, account_id: &str) -> String {
        self.issuer
            .sign(
                &self
                    .issuer
                    .claims_for_user(user_id, account_id, self.now_secs(), 600),
            )
            .expect("sign")
    }

    /// A user token issued at the server's (manual) clock time, for tests
    /// of revocation by time; valid for 90 days of real time from then.
    pub fn user_token_at_server_time(&self, user_id: &str, account_id: &str) -> String {
        use roster::clock::Clock;
        let iat = self.clock.now().and_utc().timestamp();
        self.issuer
            .sign(
                &self
                    .issuer
                    .claims_for_user(user_id, account_id, iat, 90 * 86_400),
            )
            .expect("sign")
    }

    /// Creates an account; returns it, its admin and the admin's token.
    pub async fn account(&self, plan: pb::Plan, policy: pb::SeatPolicy, seats: i32) -> Workspace {
        let email = format!("admin-{}@example.com", uuid::Uuid::new_v4().simple());
        let response = self
            .users()
            .create_account(authed(
                pb::CreateAccountRequest {
                    name: "Acme".into(),
                    plan: plan as i32,
                    billing_cycle: pb::BillingCycle::Monthly as i32,
                    seat_policy: policy as i32,
                    seats_purchased: seats,
                    currency: "USD".into(),
                    enterprise_seat_price_minor: 0,
                    admin: Some(pb::NewAdmin {
                        name: "Ada Admin".into(),
                        email,
                        password: PASSWORD.into(),
                    }),
                    request_id: String::new(),
                },
                &self.service_token(),
            ))
            .await
            .expect("create account")
            .into_inner();
        let account = response.account.expect("account");
        let admin = response.admin.expect("admin");
        let admin_token = self.user_token(&admin.id, &account.id);
        Workspace {
            account,
            admin,
            admin_token,
        }
    }

    /// Runs one SQL statement directly (test setup only).
    pub async fn sql(&self, statement: &str) {
        match self.db {
            Db::Postgres => {
                let mut conn = AsyncPgConnection::establish(&self.database_url)
                    .await
                    .expect("pg");
                conn.batch_execute(statement).await.expect("sql");
            }
            Db::Sqlite => {
                use diesel::Connection;
                use diesel::connection::SimpleConnection;
                let url = self.database_url.clone();
                let statement = statement.to_owned();
                tokio::task::spawn_blocking(move || {
                    let mut conn = diesel::SqliteConnection::establish(&url).expect("sqlite");
                    conn.batch_execute("PRAGMA busy_timeout = 10000")
                        .expect("pragma");
                    conn.batch_execute(&statement).expect("sql");
                })
                .await
                .expect("join");
            }
        }
    }
}

impl TestApp {
    /// One number from the database (test assertions on storage invariants).
    pub async fn sql_count(&self, query: &str) -> i64 {
        use diesel::sql_types::BigInt;
        #[derive(diesel::QueryableByName)]
        struct Count {
            #[diesel(sql_type = BigInt)]
            n: i64,
        }
        match self.db {
            Db::Postgres => {
                use diesel_async::RunQueryDsl;
                let mut conn = AsyncPgConnection::establish(&self.database_url)
                    .await
                    .expect("pg");
                diesel::sql_query(query)
                    .get_result::<Count>(&mut conn)
                    .await
                    .expect("count")
                    .n
            }
            Db::Sqlite => {
                use diesel::{Connection, RunQueryDsl};
                let url = self.database_url.clone();
                let query = query.to_owned();
                tokio::task::spawn_blocking(move || {
                    use diesel::connection::SimpleConnection;
                    let mut conn = diesel::SqliteConnection::establish(&url).expect("sqlite");
                    conn.batch_execute("PRAGMA busy_timeout = 10000")
                        .expect("busy timeout");
                    diesel::sql_query(query)
                        .get_result::<Count>(&mut conn)
                        .expect("count")
                        .n
                })
                .await
                .expect("join")
            }
        }
    }
}

impl TestApp {
    /// Starts a graceful shutdown (as SIGTERM does for the binary).
    pub fn begin_shutdown(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

pub struct Workspace {
    pub account: pb::Account,
    pub admin: pb::User,
    pub admin_token: String,
}

pub fn authed<T>(message: T, token: &str) -> Request<T> {
    let mut request = Request::new(message);
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("header"),
    );
    request
}

pub fn new_user(email: &str) -> pb::AddUserRequest {
    pb::AddUserRequest {
        name: "Nina Newcomer".into(),
        email: email.into(),
        password: PASSWORD.into(),
        ..Default::default()
    }
}

pub fn unique_email(prefix: &str) -> String {
    format!("{prefix}-{}@example.com", uuid::Uuid::new_v4().simple())
}

/// The `ErrorInfo.reason` of a failed call.
pub fn reason(status: &Status) -> String {
    status
        .get_details_error_info()
        .map(|info| info.reason)
        .unwrap_or_default()
}

/// The fields named by the `BadRequest` of a failed call.
pub fn bad_fields(status: &Status) -> Vec<String> {
    status
        .get_details_bad_request()
        .map(|b| b.field_violations.into_iter().map(|v| v.field).collect())
        .unwrap_or_default()
}

#[track_caller]
pub fn assert_error(status: &Status, code: Code, expected_reason: &str) {
    assert_eq!(status.code(), code, "unexpected status: {status:?}");
    assert_eq!(
        reason(status),
        expected_reason,
        "unexpected reason: {status:?}"
    );
}

/// Adds an active member to the workspace and returns it.
pub async fn member(app: &TestApp, ws: &Workspace, name: &str) -> pb::User {
    app.users()
        .add_user(authed(new_user(&unique_email(name)), &ws.admin_token))
        .await
        .expect("add member")
        .into_inner()
        .user
        .expect("user")
}

/// Registers work records as the workspace's admin; returns the answer.
pub async fn register(
    app: &TestApp,
    ws: &Workspace,
    records: Vec<pb::WorkRecordInput>,
) -> pb::RegisterWorkRecordsResponse {
    app.users()
        .register_work_records(authed(
            pb::RegisterWorkRecordsRequest {
                records,
                ..Default::default()
            },
            &ws.admin_token,
        ))
        .await
        .expect("register")
        .into_inner()
}

/// A reassignment of every kind to one user.
pub fn to(target: &str) -> Option<pb::Reassignment> {
    Some(pb::Reassignment {
        target_user_id: target.to_owned(),
        by_kind: vec![],
    })
}
