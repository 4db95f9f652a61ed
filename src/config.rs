//! Typed settings from flags and environment variables (clap). The
//! database URL's scheme picks the backend: `postgres://…` for PostgreSQL,
//! anything else is a SQLite file path (optionally `sqlite://path`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::auth::password::HashParams;
use crate::domain::PriceList;

mod jwt;
pub use jwt::JwtArgs;

#[derive(Debug, Parser)]
#[command(
    name = "roster",
    version = VERSION,
    about = "User and seat management for CRM workspaces, over gRPC"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// `roster --version`: the crate version and the commit it was built from.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("ROSTER_GIT_COMMIT"),
    ")"
);

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gRPC server (applies migrations first unless --no-migrate).
    Serve(Box<ServeArgs>),
    /// Apply pending database migrations and exit.
    Migrate,
    /// Create an account with its first admin and print a token for it.
    Bootstrap(BootstrapArgs),
    /// Mint a bearer token (HS256 with the configured secret).
    Token(TokenArgs),
}

/// Settings every subcommand uses; accepted before or after the subcommand.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// Database: `postgres://user@host/db` or a SQLite file path.
    #[arg(
        long,
        env = "ROSTER_DATABASE_URL",
        default_value = "roster-data/roster.db",
        global = true
    )]
    pub database_url: String,
    /// Log format.
    #[arg(long, env = "ROSTER_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
}

/// Database connections of a server.
#[derive(Debug, Clone, Args)]
pub struct DbArgs {
    /// Maximum database connections.
    #[arg(long, env = "ROSTER_DB_MAX_CONNECTIONS", default_value_t = 16)]
    pub db_max_connections: usize,
    /// PostgreSQL connections shared, pipelined, by the hot point reads
    /// (token checks, GetUser, ListUsers); 0: one per two CPU cores, at least one.
    #[arg(long, env = "ROSTER_DB_SHARED_READ_CONNECTIONS", default_value_t = 0)]
    pub db_shared_read_connections: usize,
    /// Seconds a call waits for a database connection before UNAVAILABLE.
    #[arg(long, env = "ROSTER_DB_ACQUIRE_TIMEOUT_SECS", default_value_t = 5)]
    pub db_acquire_timeout_secs: u64,
    /// Milliseconds a following stream (StreamEvents, WatchJob) waits for a
    /// commit notification before it reads anyway: the longest a lost
    /// notification can delay an event.
    #[arg(long, env = "ROSTER_FOLLOW_FALLBACK_MS", default_value_t = 2000)]
    pub follow_fallback_ms: u64,
}

/// Password hashing.
#[derive(Debug, Clone, Args)]
pub struct HashArgs {
    /// argon2id memory in KiB (OWASP minimum 19456).
    #[arg(long, env = "ROSTER_ARGON2_MEMORY_KIB", default_value_t = 19_456)]
    pub argon2_memory_kib: u32,
    /// argon2id iterations (OWASP minimum 2).
    #[arg(long, env = "ROSTER_ARGON2_ITERATIONS", default_value_t = 2)]
    pub argon2_iterations: u32,
    /// Concurrent password hashes (0: one per CPU core).
    #[arg(long, env = "ROSTER_HASH_CONCURRENCY", default_value_t = 0)]
    pub hash_concurrency: usize,
}

/// Seat prices.
#[derive(Debug, Clone, Args)]
pub struct PriceArgs {
    /// Seat price per month in minor units, Base plan.
    #[arg(long, env = "ROSTER_PRICE_BASE_MINOR", default_value_t = 1500)]
    pub price_base_minor: i64,
    /// Seat price per month in minor units, Advanced plan.
    #[arg(long, env = "ROSTER_PRICE_ADVANCED_MINOR", default_value_t = 2500)]
    pub price_advanced_minor: i64,
    /// Seat price per month in minor units, Pro plan.
    #[arg(long, env = "ROSTER_PRICE_PRO_MINOR", default_value_t = 4500)]
    pub price_pro_minor: i64,
}

#[derive(Debug, Clone, Args)]
pub struct JobArgs {
    /// Records moved per job transaction.
    #[arg(long, env = "ROSTER_JOB_BATCH_SIZE", default_value_t = 1000)]
    pub job_batch_size: i64,
    /// Seconds a job lease lasts without progress (then another process may take the job).
    #[arg(long, env = "ROSTER_JOB_LEASE_SECS", default_value_t = 15)]
    pub job_lease_secs: u64,
    /// Pause between job batches, in milliseconds (eases database load).
    #[arg(long, env = "ROSTER_JOB_BATCH_PAUSE_MS", default_value_t = 0)]
    pub job_batch_pause_ms: u64,
    /// DisableUser/RemoveUser move up to this many records in the call; more start a job.
    #[arg(long, env = "ROSTER_SINGLE_USER_JOB_THRESHOLD", default_value_t = 5000)]
    pub single_user_job_threshold: i64,
    /// Job workers in this process (0: work no jobs here).
    #[arg(long, env = "ROSTER_JOB_WORKERS", default_value_t = 1)]
    pub job_workers: usize,
}

impl JobArgs {
    pub fn settings(&self) -> crate::service::jobs::JobSettings {
        crate::service::jobs::JobSettings {
            batch_size: self.job_batch_size.clamp(1, 10_000),
            lease: Duration::from_secs(self.job_lease_secs.max(1)),
            batch_pause: Duration::from_millis(self.job_batch_pause_ms),
            single_user_threshold: self.single_user_job_threshold.max(0),
            poll: Duration::from_millis(250),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "ROSTER_LISTEN", default_value = "127.0.0.1:50051")]
    pub listen: SocketAddr,
    /// Do not apply migrations at start.
    #[arg(long, env = "ROSTER_NO_MIGRATE")]
    pub no_migrate: bool,
    /// Address of the Prometheus `/metrics` listener (unset: no metrics endpoint).
    #[arg(long, env = "ROSTER_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
    /// PEM certificate chain: serve gRPC over TLS (needs --tls-key-file).
    #[arg(long, env = "ROSTER_TLS_CERT_FILE", requires = "tls_key_file")]
    pub tls_cert_file: Option<std::path::PathBuf>,
    /// PEM private key of the certificate.
    #[arg(long, env = "ROSTER_TLS_KEY_FILE", requires = "tls_cert_file")]
    pub tls_key_file: Option<std::path::PathBuf>,
    /// PEM CA bundle: require client certificates signed by it (mutual TLS).
    #[arg(long, env = "ROSTER_TLS_CLIENT_CA_FILE", requires = "tls_cert_file")]
    pub tls_client_ca_file: Option<std::path::PathBuf>,
    /// Users kept in recent ListUsers pages, in all (about 400 bytes each;
    /// 0: keep none). A kept page is served only while the account's users
    /// are unchanged.
    #[arg(long, env = "ROSTER_LIST_CACHE_USERS", default_value_t = 10_000)]
    pub list_cache_users: usize,
    /// Users kept in memory for CheckAccess and BatchCheckAccess, in all
    /// (about 400 bytes each; 0: keep none). They are used only while the
    /// account's users are unchanged.
    #[arg(long, env = "ROSTER_ACCESS_CACHE_USERS", default_value_t = 10_000)]
    pub access_cache_users: usize,
    /// Users copied in memory for ListUsers' text search, in all (about 90
    /// bytes each; 0: search the database only). A copy answers only while
    /// its account's users are unchanged; an account with more users than
    /// this is always searched in the database.
    #[arg(long, env = "ROSTER_SEARCH_INDEX_USERS", default_value_t = 200_000)]
    pub search_index_users: usize,
    /// OTLP/gRPC endpoint for trace export (e.g. http://otel-collector:4317); unset: no export.
    #[arg(long, env = "ROSTER_OTLP_ENDPOINT")]
    pub otlp_endpoint: Option<String>,
    /// PEM public keys (RSA, EC P-256, Ed25519) accepted for tokens; comma-separated.
    #[arg(long, env = "ROSTER_JWT_PUBLIC_KEY_FILES", value_delimiter = ',')]
    pub jwt_public_key_files: Vec<PathBuf>,
    #[command(flatten)]
    pub jwt: JwtArgs,
    #[command(flatten)]
    pub db: DbArgs,
    #[command(flatten)]
    pub hash: HashArgs,
    #[command(flatten)]
    pub prices: PriceArgs,
    #[command(flatten)]
    pub jobs: JobArgs,
    #[command(flatten)]
    pub retention: RetentionArgs,
}

#[derive(Debug, Clone, Args)]
pub struct RetentionArgs {
    /// Seconds a stored reply of an idempotent call (request_id) is kept; a
    /// retry after that is a new request.
    #[arg(
        long,
        env = "ROSTER_IDEMPOTENCY_RETENTION_SECS",
        default_value_t = 86_400
    )]
    pub idempotency_retention_secs: u64,
    /// Seconds events are kept (0: forever). A StreamEvents cursor older
    /// than the oldest kept event gets OUT_OF_RANGE.
    #[arg(long, env = "ROSTER_EVENT_RETENTION_SECS", default_value_t = 0)]
    pub event_retention_secs: u64,
    /// Seconds finished jobs (and their per-user results) are kept.
    #[arg(long, env = "ROSTER_JOB_RETENTION_SECS", default_value_t = 2_592_000)]
    pub job_retention_secs: u64,
    /// Seconds between pruning passes of this process (0: this process never prunes).
    #[arg(long, env = "ROSTER_PRUNE_INTERVAL_SECS", default_value_t = 60)]
    pub prune_interval_secs: u64,
    /// Rows deleted per pruning statement.
    #[arg(long, env = "ROSTER_PRUNE_BATCH_SIZE", default_value_t = 1000)]
    pub prune_batch_size: i64,
}

impl RetentionArgs {
    pub fn settings(&self) -> crate::service::retention::RetentionSettings {
        crate::service::retention::RetentionSettings {
            idempotency: Duration::from_secs(self.idempotency_retention_secs),
            events: (self.event_retention_secs > 0)
                .then(|| Duration::from_secs(self.event_retention_secs)),
            jobs: Duration::from_secs(self.job_retention_secs),
            batch_size: self.prune_batch_size.clamp(1, 100_000),
            ..Default::default()
        }
    }

    pub fn interval(&self) -> Option<Duration> {
        (self.prune_interval_secs > 0).then(|| Duration::from_secs(self.prune_interval_secs))
    }
}

impl ServeArgs {
    /// Reads the TLS files, if TLS is configured.
    pub fn tls(&self) -> anyhow::Result<Option<crate::app::TlsSettings>> {
        use anyhow::Context;
        let read = |path: &std::path::Path, what: &str, flag: &str| {
            std::fs::read(path).with_context(|| {
                format!(
                    "cannot read the TLS {what} file {} ({flag})",
                    path.display()
                )
            })
        };
        let (Some(cert), Some(key)) = (&self.tls_cert_file, &self.tls_key_file) else {
            return Ok(None);
        };
        Ok(Some(crate::app::TlsSettings {
            cert_pem: read(
                cert,
                "certificate",
                "--tls-cert-file / ROSTER_TLS_CERT_FILE",
            )?,
            key_pem: read(key, "key", "--tls-key-file / ROSTER_TLS_KEY_FILE")?,
            client_ca_pem: self
                .tls_client_ca_file
                .as_deref()
                .map(|ca| {
                    read(
                        ca,
                        "client CA",
                        "--tls-client-ca-file / ROSTER_TLS_CLIENT_CA_FILE",
                    )
                })
                .transpose()?,
        }))
    }
}

#[derive(Debug, Clone, Args)]
pub struct BootstrapArgs {
    /// Workspace name.
    #[arg(long, default_value = "My workspace")]
    pub account_name: String,
    /// First admin's name.
    #[arg(long, default_value = "Admin")]
    pub admin_name: String,
    /// First admin's email.
    #[arg(long)]
    pub admin_email: String,
    /// First admin's password (12+ characters).
    #[arg(long, env = "ROSTER_ADMIN_PASSWORD", hide_env_values = true)]
    pub admin_password: String,
    /// Plan: trial, base, advanced, pro.
    #[arg(long, default_value = "trial")]
    pub plan: String,
    /// Seats purchased.
    #[arg(long, default_value_t = 5)]
    pub seats: i32,
    /// Seat policy: auto-expand or strict.
    #[arg(long, default_value = "auto-expand")]
    pub seat_policy: String,
    /// Lifetime of the printed admin token, in seconds.
    #[arg(long, default_value_t = 86_400)]
    pub ttl_secs: i64,
    #[command(flatten)]
    pub jwt: JwtArgs,
    #[command(flatten)]
    pub hash: HashArgs,
}

#[derive(Debug, Clone, Args)]
pub struct TokenArgs {
    /// Mint a user token for this user id (needs --account).
    #[arg(long, conflicts_with = "service")]
    pub user: Option<String>,
    /// The user's account id.
    #[arg(long, requires = "user")]
    pub account: Option<String>,
    /// Mint a service token with this name.
    #[arg(long)]
    pub service: Option<String>,
    /// Scopes of the service token (repeat or comma-separate); default all.
    #[arg(long, value_delimiter = ',')]
    pub scope: Vec<String>,
    /// Lifetime in seconds.
    #[arg(long, default_value_t = 3_600)]
    pub ttl_secs: i64,
    #[command(flatten)]
    pub jwt: JwtArgs,
}

impl HashArgs {
    pub fn hash_params(&self) -> HashParams {
        HashParams {
            memory_kib: self.argon2_memory_kib,
            iterations: self.argon2_iterations,
            parallelism: 1,
        }
    }

    pub fn hash_concurrency(&self) -> usize {
        match self.hash_concurrency {
            0 => std::thread::available_parallelism()
                .map(usize::from)
                .unwrap_or(2),
            n => n,
        }
    }
}

impl PriceArgs {
    pub fn prices(&self) -> PriceList {
        PriceList {
            base: self.price_base_minor,
            advanced: self.price_advanced_minor,
            pro: self.price_pro_minor,
        }
    }
}

impl DbArgs {
    pub fn follow_fallback(&self) -> Duration {
        Duration::from_millis(self.follow_fallback_ms.max(10))
    }

    pub fn acquire_timeout(&self) -> Duration {
        Duration::from_secs(self.db_acquire_timeout_secs.max(1))
    }
}
