//! PostgreSQL connections shared by concurrent point reads.
//!
//! A pooled connection serves one call at a time: each query costs a round
//! trip, a wake-up of a PostgreSQL backend and a handful of syscalls on
//! both sides. A connection shared by many calls carries their queries back
//! to back (tokio-postgres pipelines whatever is queued), so PostgreSQL
//! reads several queries per wake-up. On a 2-core machine
//! `pgbench -M extended` ran 20–24k `SELECT`s/s over 16–32 connections and
//! ~100k/s over 2–4 connections in pipelines of 8.
//!
//! Only short point reads go here (a user by id, GetUser, a page of users
//! without text search): a slow query would hold up every call queued
//! behind it on the same connection. Each query still runs on its own
//! (extended protocol, one `Sync` per query) outside any transaction, so it
//! sees everything committed before it started, as on a pooled connection:
//! a disabled user's token stops working at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use diesel_async::{AsyncPgConnection, SimpleAsyncConnection as _};

use crate::error::{Error, Result};

/// How many connections the point reads share: `configured`, or by default
/// one per two CPU cores (at least one). Each busy shared connection keeps a
/// PostgreSQL backend busy and, pipelined, carries many calls at once; on a
/// two-core machine one connection gave about 10% more GetUser throughput
/// than two at 32 concurrent calls (docs/performance.md), and four were no
/// better than two.
pub fn shared_read_connections(configured: usize) -> usize {
    if configured > 0 {
        return configured;
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    (cores / 2).max(1)
}

/// A few connections, each shared by every call that picks it.
pub struct PipelinedReads {
    url: String,
    connect_timeout: Duration,
    generic_plans: bool,
    slots: Vec<Slot>,
    next: AtomicUsize,
}

#[derive(Default)]
struct Slot {
    live: std::sync::Mutex<Option<Live>>,
    /// Held while (re)connecting, so one call connects and the rest wait.
    connecting: tokio::sync::Mutex<()>,
}

#[derive(Clone)]
struct Live {
    conn: Arc<AsyncPgConnection>,
    /// Set when the connection's driver task ends (closed or failed).
    closed: Arc<AtomicBool>,
}

impl Slot {
    fn current(&self) -> Option<Live> {
        let live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        live.as_ref()
            .filter(|live| !live.closed.load(Ordering::Acquire))
            .cloned()
    }
}

impl PipelinedReads {
    /// No connection is made until the first read.
    pub fn new(url: String, connections: usize, connect_timeout: Duration) -> Self {
        PipelinedReads {
            url,
            connect_timeout,
            generic_plans: false,
            slots: (0..connections.max(1)).map(|_| Slot::default()).collect(),
            next: AtomicUsize::new(0),
        }
    }

    /// Connections that plan each prepared statement once, without looking
    /// at its parameters, and keep that plan: for queries whose best plan
    /// does not depend on the values (lookups by primary key). PostgreSQL's default
    /// plans again on every execution while a plan for the actual values
    /// looks cheaper than the generic one; for `users_by_ids` (an array of
    /// ids, which it guesses holds 100) it always does, and planning cost
    /// more than the lookup. Not for the page reads:
    /// one plan for every account could scan a big account's rows to
    /// find a small one's.
    pub fn with_generic_plans(mut self) -> Self {
        self.generic_plans = true;
        self
    }

    /// One of the shared connections (round robin), connected if needed.
    pub async fn get(&self) -> Result<SharedConn> {
        let turn = self.next.fetch_add(1, Ordering::Relaxed);
        self.get_slot(turn % self.slots.len()).await
    }

    /// A new connection in the place of `lost`, which a query found lost.
    /// Not simply the next slot: when the server ended all of them (a
    /// restart), the others may not have noticed yet either.
    pub async fn replace(&self, lost: SharedConn) -> Result<SharedConn> {
        lost.discard();
        self.get_slot(lost.slot).await
    }

    async fn get_slot(&self, index: usize) -> Result<SharedConn> {
        let slot = &self.slots[index];
        if let Some(live) = slot.current() {
            return Ok(SharedConn { live, slot: index });
        }
        let _connecting = slot.connecting.lock().await;
        if let Some(live) = slot.current() {
            return Ok(SharedConn { live, slot: index });
        }
        let live =
            tokio::time::timeout(self.connect_timeout, connect(&self.url, self.generic_plans))
                .await
                .map_err(|_| {
                    tracing::warn!("shared read connection timed out");
                    Error::unavailable()
                })??;
        *slot.live.lock().unwrap_or_else(|e| e.into_inner()) = Some(live.clone());
        Ok(SharedConn { live, slot: index })
    }
}

/// Runs `$read` (a short read-only query future using `$conn`, one of the
/// shared connections of `$reads`), and once more on a new connection when
/// the first was lost (PostgreSQL restarted): a read is safe to repeat.
/// Every read on shared connections goes through here. A macro: as a
/// function taking an async closure, the closure's future could not be
/// proven `Send` for every lifetime.
macro_rules! on_shared {
    ($reads:expr, |$conn:ident| $read:expr) => {{
        let mut shared = $reads.get().await?;
        let mut retried = false;
        loop {
            #[allow(unused_mut)]
            let mut $conn: &diesel_async::AsyncPgConnection = shared.conn();
            match $read.await {
                Err(e) if e.code == $crate::error::Code::Unavailable && !retried => {
                    shared = $reads.replace(shared).await?;
                    retried = true;
                }
                result => break result,
            }
        }
    }};
}
pub(super) use on_shared;

/// A shared connection handed to one call.
pub struct SharedConn {
    live: Live,
    slot: usize,
}

impl SharedConn {
    pub fn conn(&self) -> &AsyncPgConnection {
        &self.live.conn
    }

    /// Takes the connection out of service after a query through it found
    /// it lost (its driver task may not have noticed yet).
    fn discard(&self) {
        self.live.closed.store(true, Ordering::Release);
    }
}

async fn connect(url: &str, generic_plans: bool) -> Result<Live> {
    let unavailable = |e: &dyn std::fmt::Display| {
        tracing::warn!(error = %e, "shared read connection failed");
        Error::unavailable()
    };
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .map_err(|e| unavailable(&e))?;
    let closed = Arc::new(AtomicBool::new(false));
    let driver_closed = closed.clone();
    // We drive the connection ourselves to learn when it ends; the next
    // read through this slot then connects again.
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::warn!(error = %e, "shared read connection closed");
        }
        driver_closed.store(true, Ordering::Release);
    });
    let mut conn = AsyncPgConnection::try_from(client)
        .await
        .map_err(|e| unavailable(&e))?;
    if generic_plans {
        conn.batch_execute("SET plan_cache_mode = force_generic_plan")
            .await
            .map_err(|e| unavailable(&e))?;
    }
    Ok(Live {
        conn: Arc::new(conn),
        closed,
    })
}

#[cfg(test)]
mod tests {
    use super::shared_read_connections;

    #[test]
    fn a_configured_count_wins_and_the_default_is_at_least_one() {
        assert_eq!(shared_read_connections(3), 3);
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        assert_eq!(shared_read_connections(0), (cores / 2).max(1));
        assert!(shared_read_connections(0) >= 1);
    }
}
