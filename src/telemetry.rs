//! Prometheus metrics: the exporter on its own port, and a tower layer that
//! counts every RPC by method and gRPC code and times it.
//!
//! Series:
//! - `roster_rpc_requests_total{method, code}` and
//!   `roster_rpc_duration_seconds{method}` (to the response headers: the
//!   whole call for unary RPCs, the start for streams);
//! - `roster_db_pool_connections{state="in_use"|"idle"|"max"}`,
//!   `roster_db_pool_waiting`;
//! - `roster_password_hashes_in_use`, `roster_password_hash_slots`;
//! - `roster_job_records_moved_total`, `roster_job_batches_total`,
//!   `roster_jobs_finished_total{state}`, `roster_jobs_active`;
//! - `roster_jobs_stalled`: RUNNING jobs whose lease expired (checked with
//!   the health probe of the database);
//! - `roster_events_appended_total`, `roster_pruned_rows_total{table}`;
//! - `roster_health_serving`: 1 while the database answers, else 0.

use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};

/// Starts the `/metrics` HTTP listener (needs a tokio runtime).
pub fn install_metrics(listen: SocketAddr) -> anyhow::Result<()> {
    PrometheusBuilder::new()
        .with_http_listener(listen)
        .set_buckets_for_metric(
            Matcher::Full("roster_rpc_duration_seconds".into()),
            &[
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                10.0,
            ],
        )?
        .install()?;
    describe();
    Ok(())
}

/// HELP lines of every series (promtool's lint asks for them).
fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        "roster_rpc_requests_total",
        "RPCs answered, by method and gRPC code"
    );
    describe_histogram!(
        "roster_rpc_duration_seconds",
        metrics::Unit::Seconds,
        "Time to the response headers, by method"
    );
    describe_gauge!(
        "roster_db_pool_connections",
        "Database pool connections by state"
    );
    describe_gauge!(
        "roster_db_pool_waiting",
        "Calls waiting for a database connection"
    );
    describe_gauge!(
        "roster_password_hashes_in_use",
        "Password hashing slots in use"
    );
    describe_gauge!(
        "roster_password_hash_slots",
        "Password hashing slots in all"
    );
    describe_counter!(
        "roster_job_records_moved_total",
        "Records moved by job batches"
    );
    describe_counter!("roster_job_batches_total", "Job batches committed");
    describe_counter!(
        "roster_sqlite_checkpoints_total",
        "SQLite write-ahead log checkpoints made beside the writer"
    );
    describe_counter!(
        "roster_sqlite_search_merge_steps_total",
        "SQLite search table merge steps made while the writer was idle"
    );
    describe_counter!(
        "roster_jobs_finished_total",
        "Jobs that reached a final state, by state"
    );
    describe_gauge!("roster_jobs_active", "Jobs this process is working on");
    describe_gauge!("roster_jobs_stalled", "RUNNING jobs whose lease expired");
    describe_counter!(
        "roster_events_appended_total",
        "Events written to the event log"
    );
    describe_counter!(
        "roster_pruned_rows_total",
        "Rows deleted by retention, by table"
    );
    describe_gauge!(
        "roster_health_serving",
        "1 while the database answers, else 0"
    );
    describe_counter!("roster_list_pages_total", "ListUsers pages, by source");
    describe_gauge!(
        "roster_list_cache_users",
        "Users held in kept ListUsers pages"
    );
    describe_counter!(
        "roster_search_pages_total",
        "ListUsers text searches, by source (memory copy or database)"
    );
    describe_gauge!(
        "roster_search_index_users",
        "Users copied in memory for text searches"
    );
    describe_counter!(
        "roster_access_user_reads_total",
        "Access checks' user reads, by source (kept in memory or database)"
    );
    describe_gauge!(
        "roster_access_cache_users",
        "Users kept in memory for access checks"
    );
    describe_counter!(
        "roster_coalesced_reads_total",
        "Coalesced user reads sent (PostgreSQL)"
    );
    describe_counter!(
        "roster_coalesced_lookups_total",
        "User lookups carried by coalesced reads"
    );
}

/// Adds [`RpcMetrics`] to a tonic server.
#[derive(Debug, Clone, Copy, Default)]
pub struct RpcMetricsLayer;

impl<S> tower::Layer<S> for RpcMetricsLayer {
    type Service = RpcMetrics<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RpcMetrics { inner }
    }
}

#[derive(Debug, Clone)]
pub struct RpcMetrics<S> {
    inner: S,
}

impl<S, ReqBody, ResBody> tower::Service<http::Request<ReqBody>> for RpcMetrics<S>
where
    S: tower::Service<http::Request<ReqBody>, Response = http::Response<ResBody>> + Send,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future =
        Pin<Box<dyn std::future::Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<ReqBody>) -> Self::Future {
        let method = request.uri().path().to_owned();
        let started = Instant::now();
        let future = self.inner.call(request);
        Box::pin(async move {
            // The call's "rpc" span (tonic's trace_fn), entered while this
            // future is polled (not while `call` runs): it gets the code too.
            let span = tracing::Span::current();
            let result = future.await;
            // Errors of unary calls come as trailers-only responses, with
            // grpc-status in the headers; otherwise the call started OK.
            let code = match &result {
                Ok(response) => response
                    .headers()
                    .get("grpc-status")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<i32>().ok())
                    .map(|c| format!("{:?}", tonic::Code::from_i32(c)))
                    .unwrap_or_else(|| "Ok".to_owned()),
                Err(_) => "Transport".to_owned(),
            };
            span.record("code", code.as_str());
            metrics::counter!("roster_rpc_requests_total", "method" => method.clone(), "code" => code).increment(1);
            metrics::histogram!("roster_rpc_duration_seconds", "method" => method)
                .record(started.elapsed().as_secs_f64());
            result
        })
    }
}
