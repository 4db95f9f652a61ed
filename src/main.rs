//! The `roster` binary: serve, migrate, bootstrap, token.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use tracing_subscriber::EnvFilter;

use roster::app::{App, Settings};
use roster::auth::{Scope, ServiceGrant, TokenIssuer, TokenVerifier};
use roster::clock::{Clock, SystemClock};
use roster::config::{BootstrapArgs, Cli, Command, JwtArgs, LogFormat, TokenArgs};
use roster::domain::{BillingCycle, DisplayName, Email, Password, Plan, Role, SeatPolicy};
use roster::service::accounts::NewAccount;
use roster::service::users::NewUser;
use roster::service::{self, AccountService, ContextSettings};
use roster::store::{DatabaseUrl, Store, StoreConfig};

/// mimalloc: glibc's malloc showed up as arena-lock contention and
/// consolidation under load. (argon2's 19 MiB per hash bypasses the
/// allocator: see auth/hash_pool.rs.)
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `purge_delay` option (`mi_option_purge_delay` in its
/// mimalloc.h, v2, which `libmimalloc-sys` builds; not among the crate's
/// named constants).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Makes mimalloc give freed memory back to the system when it is freed
/// rather than some milliseconds later (its default, `MIMALLOC_PURGE_DELAY`
/// = 10). Re-reading a search copy of 100,000 users frees the old 15 MB
/// on one thread while the new one is allocated on another: with the delay
/// both stayed resident, and the server peaked at 62.9–81.7 MiB in growth
/// runs on SQLite; without it at 53.9 MiB, at the same rates
/// (docs/performance.md, *Memory*). An explicit `MIMALLOC_PURGE_DELAY` in
/// the environment still wins.
fn return_freed_memory_at_once() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: mi_option_set only stores the value in mimalloc's option
        // table (an atomic store); any thread may call it at any time.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0) };
    }
}

/// Runs a subcommand. A failure is one line on stderr ("roster: error:
/// what happened: why") and exit status 1, never a backtrace; clap's own
/// usage errors exit with 2.
fn main() -> std::process::ExitCode {
    return_freed_memory_at_once();
    let cli = Cli::parse();
    let result = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
        .and_then(|runtime| runtime.block_on(async_main(cli)));
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // `{:#}` joins the causes with ": ", on one line.
            let line = format!("{e:#}").replace('\n', " ");
            eprintln!("roster: error: {line}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn async_main(cli: Cli) -> anyhow::Result<()> {
    // The one place the URL is parsed; everything after takes the result.
    let database = DatabaseUrl::parse(&cli.global.database_url)?;
    let otlp = match &cli.command {
        Command::Serve(args) => args.otlp_endpoint.clone(),
        _ => None,
    };
    let traces = init_tracing(cli.global.log_format, otlp.as_deref())?;
    let result = run(cli, database).await;
    if let Some(provider) = traces {
        // Flush the spans still buffered.
        let _ = provider.shutdown();
    }
    result
}

async fn run(cli: Cli, database: DatabaseUrl) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => {
            let tls = args.tls()?;
            let verifier = verifier(&database, &args.jwt, &args.jwt_public_key_files)?;
            if !args.no_migrate {
                database.ensure_reachable().await?;
            }
            if let Some(listen) = args.metrics_listen {
                roster::telemetry::install_metrics(listen).with_context(|| {
                    format!("cannot serve metrics on {listen} (--metrics-listen / ROSTER_METRICS_LISTEN)")
                })?;
                tracing::info!(%listen, "metrics listening on /metrics");
            }
            let settings = Settings {
                database_url: database,
                listen: args.listen,
                migrate: !args.no_migrate,
                db_max_connections: args.db.db_max_connections,
                db_shared_read_connections: args.db.db_shared_read_connections,
                db_acquire_timeout: args.db.acquire_timeout(),
                follow_fallback: args.db.follow_fallback(),
                search_merge_idle: roster::store::DEFAULT_SEARCH_MERGE_IDLE,
                verifier,
                hash_params: args.hash.hash_params(),
                hash_concurrency: args.hash.hash_concurrency(),
                prices: args.prices.prices(),
                clock: Arc::new(SystemClock),
                health_interval: Duration::from_secs(5),
                rollover_interval: Some(Duration::from_secs(60)),
                retention: args.retention.settings(),
                prune_interval: args.retention.interval(),
                jobs: args.jobs.settings(),
                job_workers: args.jobs.job_workers,
                list_cache_users: args.list_cache_users,
                access_cache_users: args.access_cache_users,
                search_index_users: args.search_index_users,
                tls,
            };
            let app = App::build(settings).await?;
            tracing::info!(addr = %app.local_addr()?, "roster listening");
            app.serve(shutdown_signal()).await?;
            tracing::info!("roster stopped");
        }
        Command::Migrate => {
            database.ensure_reachable().await?;
            let store = open_store(&database)?;
            let applied = store.migrate().await?;
            println!("applied {applied} migration(s)");
        }
        Command::Bootstrap(args) => bootstrap(&database, args).await?,
        Command::Token(args) => println!("{}", mint(&database, args)?),
    }
    Ok(())
}

/// Logs to stderr (text or JSON) and, with an OTLP endpoint, exports the
/// spans (one per RPC) over OTLP/gRPC.
fn init_tracing(
    format: LogFormat,
    otlp_endpoint: Option<&str>,
) -> anyhow::Result<Option<opentelemetry_sdk::trace::SdkTracerProvider>> {
    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_otlp::WithExportConfig as _;
    use tracing_subscriber::prelude::*;

    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let (text, json) = match format {
        LogFormat::Text => (
            // Colours only on a terminal: escape codes in collected logs are
            // noise (and formatting them was measurable on every RPC span).
            Some(
                tracing_subscriber::fmt::layer()
                    .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
                    .with_writer(std::io::stderr),
            ),
            None,
        ),
        LogFormat::Json => (
            None,
            Some(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_writer(std::io::stderr),
            ),
        ),
    };
    let provider = match otlp_endpoint {
        Some(endpoint) => {
            let exporter = opentelemetry_otlp::SpanExporter::builder()
                .with_tonic()
                .with_endpoint(endpoint)
                .build()?;
            Some(
                opentelemetry_sdk::trace::SdkTracerProvider::builder()
                    .with_batch_exporter(exporter)
                    .with_resource(
                        opentelemetry_sdk::Resource::builder()
                            .with_service_name("roster")
                            .build(),
                    )
                    .build(),
            )
        }
        None => None,
    };
    let otel = provider
        .as_ref()
        .map(|p| tracing_opentelemetry::layer().with_tracer(p.tracer("roster")));
    tracing_subscriber::registry()
        .with(filter)
        .with(text)
        .with(json)
        .with(otel)
        .init();
    Ok(provider)
}

fn verifier(
    database: &DatabaseUrl,
    jwt: &JwtArgs,
    public_keys: &[std::path::PathBuf],
) -> anyhow::Result<TokenVerifier> {
    let mut verifier = TokenVerifier::new(&jwt.jwt_issuer, &jwt.jwt_audience);
    if let Some(secret) = jwt.secret(database, !public_keys.is_empty())? {
        verifier = verifier.with_hs256_secret(&secret);
    }
    for path in public_keys {
        let pem = std::fs::read(path).with_context(|| {
            format!(
                "cannot read the JWT public key file {} (--jwt-public-key-files / ROSTER_JWT_PUBLIC_KEY_FILES)",
                path.display()
            )
        })?;
        verifier = verifier
            .with_public_key_pem(&pem)
            .with_context(|| format!("{} is not a PEM public key", path.display()))?;
    }
    Ok(verifier)
}

fn issuer(database: &DatabaseUrl, jwt: &JwtArgs) -> anyhow::Result<TokenIssuer> {
    let secret = jwt.secret(database, false)?.context(
        "minting tokens needs an HS256 secret (ROSTER_JWT_SECRET or ROSTER_JWT_SECRET_FILE)",
    )?;
    Ok(TokenIssuer::hs256(
        &secret,
        &jwt.jwt_issuer,
        &jwt.jwt_audience,
    ))
}

fn open_store(database: &DatabaseUrl) -> anyhow::Result<Store> {
    Store::open(&StoreConfig {
        url: database.clone(),
        max_connections: 2,
        shared_read_connections: 1,
        acquire_timeout: Duration::from_secs(5),
        follow_fallback: roster::store::changes::DEFAULT_FOLLOW_FALLBACK,
        search_merge_idle: roster::store::DEFAULT_SEARCH_MERGE_IDLE,
    })
}

fn mint(database: &DatabaseUrl, args: TokenArgs) -> anyhow::Result<String> {
    let issuer = issuer(database, &args.jwt)?;
    let now = chrono::Utc::now().timestamp();
    let claims = match (args.user, args.service) {
        (Some(user), None) => {
            let account = args.account.context("--user needs --account")?;
            issuer.claims_for_user(&user, &account, now, args.ttl_secs)
        }
        (None, Some(service)) => {
            let scopes: Vec<&str> = if args.scope.is_empty() {
                Scope::ALL.iter().map(|s| s.as_str()).collect()
            } else {
                args.scope.iter().map(String::as_str).collect()
            };
            issuer.claims_for_service(&service, &scopes, now, args.ttl_secs)
        }
        _ => anyhow::bail!("give either --user ID --account ID, or --service NAME"),
    };
    issuer.sign(&claims)
}

async fn bootstrap(database: &DatabaseUrl, args: BootstrapArgs) -> anyhow::Result<()> {
    let issuer = issuer(database, &args.jwt)?;
    database.ensure_reachable().await?;
    let store = open_store(database)?;
    store.migrate().await?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let context = service::Context::new(
        store,
        ContextSettings {
            hash_params: args.hash.hash_params(),
            hash_concurrency: 1,
            clock,
            prices: roster::domain::PriceList::default(),
            jobs: roster::service::jobs::JobSettings::default(),
            list_cache_users: 0,
            access_cache_users: 0,
            search_index_users: 0,
        },
        tokio::sync::watch::channel(false).1,
    )?;
    let accounts = AccountService::new(context);
    // The flag takes the proto's names in any case, `-` for `_`.
    let named = |text: &str| text.replace('-', "_").to_ascii_uppercase();
    let plan: Plan = named(&args.plan)
        .parse()
        .ok()
        .filter(|plan| *plan != Plan::Enterprise)
        .with_context(|| format!("unknown plan {:?} (trial, base, advanced, pro)", args.plan))?;
    let policy: SeatPolicy = named(&args.seat_policy).parse().with_context(|| {
        format!(
            "unknown seat policy {:?} (auto-expand, strict)",
            args.seat_policy
        )
    })?;
    let grant = ServiceGrant::own_task("cli");
    let created = accounts
        .create_account(
            &grant,
            NewAccount {
                name: DisplayName::parse(&args.account_name).context("--account-name")?,
                plan,
                cycle: BillingCycle::Monthly,
                policy,
                seats_purchased: args.seats.max(1),
                currency: "USD".into(),
                enterprise_seat_price_minor: None,
                admin: NewUser {
                    name: DisplayName::parse(&args.admin_name).context("--admin-name")?,
                    email: Email::parse(&args.admin_email).context("--admin-email")?,
                    password: Password::parse(&args.admin_password).context("--admin-password")?,
                    group_id: None,
                    role: Role::Admin,
                    permissions: None,
                    access_role_id: None,
                },
                request_id: None,
            },
        )
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let now = chrono::Utc::now().timestamp();
    let token = issuer.sign(&issuer.claims_for_user(
        &created.admin.id,
        &created.account.id,
        now,
        args.ttl_secs,
    ))?;
    println!(
        "{}",
        serde_json::json!({
            "account_id": created.account.id,
            "admin_user_id": created.admin.id,
            "admin_token": token,
        })
    );
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutdown requested; finishing in-flight calls");
}
