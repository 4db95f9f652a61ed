//! Composition root: builds the store, the use cases and the gRPC server
//! (both services, health, reflection v1 and v1alpha), and serves until the
//! shutdown future resolves.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tonic_health::ServingStatus;

use crate::auth::password::HashParams;
use crate::auth::{ServiceGrant, TokenVerifier};
use crate::clock::Clock;
use crate::domain::PriceList;
use crate::grpc::access::AccessApi;
use crate::grpc::seats::SeatsApi;
use crate::grpc::user_management::UserManagementApi;
use crate::proto::v1::access_service_server::AccessServiceServer;
use crate::proto::v1::seats_service_server::SeatsServiceServer;
use crate::proto::v1::user_management_service_server::UserManagementServiceServer;
use crate::service::auth::Authenticator;
use crate::service::jobs::JobSettings;
use crate::service::retention::{Pruned, RetentionSettings};
use crate::service::worker::{SHUTDOWN_GRACE, Worker};
use crate::service::{Context, ContextSettings, Roster};
use crate::store::{DatabaseUrl, Store, StoreConfig};
use crate::telemetry::RpcMetricsLayer;

/// Everything needed to start a server.
#[derive(Clone)]
pub struct Settings {
    pub database_url: DatabaseUrl,
    pub listen: SocketAddr,
    pub migrate: bool,
    pub db_max_connections: usize,
    /// PostgreSQL connections the point reads share (0: by CPU cores).
    pub db_shared_read_connections: usize,
    pub db_acquire_timeout: Duration,
    /// How long followers wait for a commit notification before reading.
    pub follow_fallback: Duration,
    /// SQLite: writer idle time before the search table is merged.
    pub search_merge_idle: Duration,
    pub verifier: TokenVerifier,
    pub hash_params: HashParams,
    pub hash_concurrency: usize,
    pub prices: PriceList,
    pub clock: Arc<dyn Clock>,
    /// How often health re-checks the database.
    pub health_interval: Duration,
    /// How often the server rolls over ended billing periods by itself
    /// (None: only through RollOverBillingPeriods).
    pub rollover_interval: Option<Duration>,
    /// How long rows that only grow are kept.
    pub retention: RetentionSettings,
    /// How often this process prunes expired rows (None: never here).
    pub prune_interval: Option<Duration>,
    /// How jobs run.
    pub jobs: JobSettings,
    /// Job workers in this process (0: this process works no jobs).
    pub job_workers: usize,
    /// Users kept in recent ListUsers pages (0: none).
    pub list_cache_users: usize,
    /// Users kept for access checks (0: none).
    pub access_cache_users: usize,
    /// Users copied in memory for text searches (0: none).
    pub search_index_users: usize,
    /// TLS for the gRPC listener (None: plaintext, e.g. behind a mesh).
    pub tls: Option<TlsSettings>,
}

/// PEM material for TLS. With `client_ca` set, clients must present a
/// certificate signed by it (mutual TLS); others are refused in the
/// handshake.
#[derive(Clone)]
pub struct TlsSettings {
    pub cert_pem: Vec<u8>,
    pub key_pem: Vec<u8>,
    pub client_ca_pem: Option<Vec<u8>>,
}

impl TlsSettings {
    fn server_config(&self) -> tonic::transport::ServerTlsConfig {
        use tonic::transport::{Certificate, Identity, ServerTlsConfig};
        let config =
            ServerTlsConfig::new().identity(Identity::from_pem(&self.cert_pem, &self.key_pem));
        match &self.client_ca_pem {
            Some(ca) => config.client_ca_root(Certificate::from_pem(ca)),
            None => config,
        }
    }
}

/// Every call ends after this long at the latest, whatever deadline the
/// client sent (a shorter `grpc-timeout` wins).
pub const CALL_DEADLINE: Duration = Duration::from_secs(30);
/// Largest request message accepted (bigger ones get RESOURCE_EXHAUSTED
/// before any work); the biggest legitimate request, 10,000 work records,
/// is about 1.5 MiB.
pub const MAX_REQUEST_BYTES: usize = 4 * 1024 * 1024;

const SERVICE_NAMES: [&str; 4] = [
    "",
    "roster.v1.UserManagementService",
    "roster.v1.SeatsService",
    "roster.v1.AccessService",
];

pub struct App {
    listener: TcpListener,
    stop: tokio::sync::watch::Sender<bool>,
    roster: Roster,
    auth: Authenticator,
    health_interval: Duration,
    rollover_interval: Option<Duration>,
    retention: RetentionSettings,
    prune_interval: Option<Duration>,
    job_workers: usize,
    tls: Option<TlsSettings>,
}

impl App {
    /// Opens the database (migrating it if asked) and binds the listener.
    pub async fn build(settings: Settings) -> anyhow::Result<App> {
        anyhow::ensure!(
            settings.verifier.has_keys(),
            "no token key configured: set ROSTER_JWT_SECRET, ROSTER_JWT_SECRET_FILE or ROSTER_JWT_PUBLIC_KEY_FILES (a development secret is generated only for SQLite)"
        );
        // The port first: a taken port should fail before the database is touched.
        let listener = TcpListener::bind(settings.listen).await.map_err(|e| {
            anyhow::anyhow!(
                "cannot listen on {}: {e} (another process holds it? --listen / ROSTER_LISTEN)",
                settings.listen
            )
        })?;
        let store = Store::open(&StoreConfig {
            url: settings.database_url.clone(),
            max_connections: settings.db_max_connections,
            shared_read_connections: settings.db_shared_read_connections,
            acquire_timeout: settings.db_acquire_timeout,
            follow_fallback: settings.follow_fallback,
            search_merge_idle: settings.search_merge_idle,
        })?;
        if settings.migrate {
            let applied = store.migrate().await?;
            tracing::info!(applied, "migrations applied");
        }
        let (stop, stopping) = tokio::sync::watch::channel(false);
        let context = Context::new(
            store.clone(),
            ContextSettings {
                hash_params: settings.hash_params,
                hash_concurrency: settings.hash_concurrency,
                clock: settings.clock.clone(),
                prices: settings.prices,
                jobs: settings.jobs,
                list_cache_users: settings.list_cache_users,
                access_cache_users: settings.access_cache_users,
                search_index_users: settings.search_index_users,
            },
            stopping,
        )?;
        let roster = Roster::new(context);
        let auth = Authenticator {
            verifier: settings.verifier.clone(),
            store,
        };
        Ok(App {
            listener,
            stop,
            roster,
            auth,
            health_interval: settings.health_interval,
            rollover_interval: settings.rollover_interval,
            retention: settings.retention,
            prune_interval: settings.prune_interval,
            job_workers: settings.job_workers,
            tls: settings.tls,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub fn roster(&self) -> &Roster {
        &self.roster
    }

    /// Serves until `shutdown` resolves, then lets in-flight calls finish.
    pub async fn serve(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let (reporter, health_service) = tonic_health::server::health_reporter();
        let reflection_v1 = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(crate::proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            // google.rpc error details, so grpcurl can print ErrorInfo/BadRequest.
            .register_encoded_file_descriptor_set(tonic_types::pb::FILE_DESCRIPTOR_SET)
            .build_v1()?;
        let reflection_v1alpha = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(crate::proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_types::pb::FILE_DESCRIPTOR_SET)
            .build_v1alpha()?;

        // "roster.liveness" only says the process answers (for liveness
        // probes that must not restart pods during a database outage).
        reporter
            .set_service_status("roster.liveness", ServingStatus::Serving)
            .await;
        // Health follows the database: NOT_SERVING while it is unreachable.
        let store = self.roster.context.store.clone();
        let roster = self.roster.clone();
        let interval = self.health_interval;
        let monitor = tokio::spawn(async move {
            let mut last = None;
            loop {
                store.record_pool_metrics();
                roster
                    .context
                    .search
                    .drop_idle(crate::service::search_index::KEPT_WHILE_SEARCHED);
                let status = match store.ping().await {
                    Ok(()) => ServingStatus::Serving,
                    Err(_) => ServingStatus::NotServing,
                };
                metrics::gauge!("roster_health_serving").set(if status == ServingStatus::Serving {
                    1.0
                } else {
                    0.0
                });
                if let Ok(stalled) = roster.jobs.count_stalled_jobs().await {
                    metrics::gauge!("roster_jobs_stalled").set(stalled as f64);
                }
                if last != Some(status) {
                    tracing::info!(?status, "health changed");
                    for name in SERVICE_NAMES {
                        reporter.set_service_status(name, status).await;
                    }
                    last = Some(status);
                }
                tokio::time::sleep(interval).await;
            }
        });

        // The clock-driven side of period rollover (idempotent across
        // replicas: each account is re-checked under its lock).
        let rollover = self.rollover_interval.map(|every| {
            let roster = self.roster.clone();
            tokio::spawn(async move {
                let clock = ServiceGrant::own_task("roster-clock");
                loop {
                    tokio::time::sleep(every).await;
                    match roster.billing.roll_over_periods(&clock, "").await {
                        Ok((0, _)) => {}
                        Ok((rolled, applied)) => {
                            tracing::info!(rolled, applied, "billing periods rolled over")
                        }
                        Err(e) => tracing::warn!(error = %e, "period rollover failed"),
                    }
                }
            })
        });

        // Retention: any replica may prune; batches are small and each is
        // its own transaction.
        let pruner = self.prune_interval.map(|every| {
            let roster = self.roster.clone();
            let retention = self.retention;
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(every).await;
                    match roster.retention.prune_expired(&retention).await {
                        Ok(pruned) if pruned == Pruned::default() => {}
                        Ok(pruned) => tracing::info!(?pruned, "expired rows pruned"),
                        Err(e) => tracing::warn!(error = %e, "pruning failed"),
                    }
                }
            })
        });

        // Job workers stop at a batch boundary and hand their lease back
        // when shutdown begins.
        let workers: Vec<_> = (0..self.job_workers)
            .map(|_| {
                tokio::spawn(
                    Worker::new(self.roster.context.clone())
                        .run(self.roster.context.stopping.clone()),
                )
            })
            .collect();
        let stop = self.stop;
        let shutdown = async move {
            shutdown.await;
            let _ = stop.send(true);
        };

        let users = UserManagementApi {
            roster: self.roster.clone(),
            auth: self.auth.clone(),
        };
        let seats = SeatsApi {
            roster: self.roster.clone(),
            auth: self.auth.clone(),
        };
        let access = AccessApi {
            roster: self.roster.clone(),
            auth: self.auth.clone(),
        };
        let mut server = tonic::transport::Server::builder();
        if let Some(tls) = &self.tls {
            server = server.tls_config(tls.server_config())?;
        }
        let result = server
            .timeout(CALL_DEADLINE)
            .trace_fn(|request| {
                let request_id = request
                    .headers()
                    .get("x-request-id")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
                    .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
                tracing::info_span!(
                    "rpc",
                    method = %request.uri().path(),
                    request_id = %request_id,
                    account_id = tracing::field::Empty,
                    code = tracing::field::Empty
                )
            })
            .layer(RpcMetricsLayer)
            .layer(crate::grpc::oversize::OversizeLayer)
            .add_service(health_service)
            .add_service(reflection_v1)
            .add_service(reflection_v1alpha)
            .add_service(
                UserManagementServiceServer::new(users)
                    .max_decoding_message_size(MAX_REQUEST_BYTES),
            )
            .add_service(
                SeatsServiceServer::new(seats).max_decoding_message_size(MAX_REQUEST_BYTES),
            )
            .add_service(
                AccessServiceServer::new(access).max_decoding_message_size(MAX_REQUEST_BYTES),
            )
            .serve_with_incoming_shutdown(
                // Without TCP_NODELAY small responses wait for the peer's
                // delayed ACK (~40 ms each).
                tonic::transport::server::TcpIncoming::from(self.listener).with_nodelay(Some(true)),
                shutdown,
            )
            .await;
        monitor.abort();
        for task in [rollover, pruner].into_iter().flatten() {
            task.abort();
        }
        for worker in workers {
            if tokio::time::timeout(SHUTDOWN_GRACE, worker).await.is_err() {
                tracing::warn!("a job worker did not stop in time; its lease will expire");
            }
        }
        result?;
        Ok(())
    }
}
