//! Retention: tables that would otherwise only grow are pruned in small
//! batches, each its own short transaction, by a background task that any
//! replica may run (two replicas pruning at once only delete the same rows
//! sooner). Journal rows are kept while the users at both ends exist:
//! removing a user queues its rows ([`crate::store::Repo::delete_user`]).

use std::time::Duration;

use chrono::NaiveDateTime;

use super::RetentionService;
use crate::domain::login::ThrottlePolicy;
use crate::error::Result;
use crate::store::PrunedBatch;
use crate::store::prelude::*;

/// How long each kind of row is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionSettings {
    /// Stored replies of idempotent calls; a retry after this is a new request.
    pub idempotency: Duration,
    /// Events; None keeps them forever.
    pub events: Option<Duration>,
    /// Finished jobs and their per-user rows.
    pub jobs: Duration,
    /// Rows deleted per transaction (a journal row counts its records, a
    /// job its users too: see [`crate::store::RetentionQueries`]).
    pub batch_size: i64,
    /// Transactions one pass makes per table at most, so that a large
    /// backlog is worked off over several passes instead of one long one.
    pub batches_per_pass: usize,
}

impl Default for RetentionSettings {
    fn default() -> Self {
        RetentionSettings {
            idempotency: Duration::from_secs(24 * 3600),
            events: None,
            jobs: Duration::from_secs(30 * 24 * 3600),
            batch_size: 1000,
            batches_per_pass: 100,
        }
    }
}

/// Rows deleted by one pruning pass, per table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    pub idempotency_keys: usize,
    pub events: usize,
    pub jobs: usize,
    pub login_throttle: usize,
    pub journal: usize,
}

fn before(now: NaiveDateTime, age: Duration) -> NaiveDateTime {
    chrono::Duration::from_std(age)
        .ok()
        .and_then(|age| now.checked_sub_signed(age))
        .unwrap_or(NaiveDateTime::MIN)
}

/// One table's expired rows.
#[derive(Debug, Clone, Copy)]
enum Expired {
    Replies {
        before: NaiveDateTime,
    },
    Jobs {
        before: NaiveDateTime,
    },
    Throttle {
        window_before: NaiveDateTime,
        now: NaiveDateTime,
    },
    Events {
        before: NaiveDateTime,
    },
    /// Journal rows of removed users.
    Journal,
}

impl Expired {
    fn table(self) -> &'static str {
        match self {
            Expired::Replies { .. } => "idempotency_keys",
            Expired::Jobs { .. } => "jobs",
            Expired::Throttle { .. } => "login_throttle",
            Expired::Events { .. } => "events",
            Expired::Journal => "record_moves",
        }
    }
}

impl RetentionService {
    /// Deletes what has outlived its retention at the clock's current time.
    pub async fn prune_expired(&self, settings: &RetentionSettings) -> Result<Pruned> {
        let now = self.now();
        let mut pruned = Pruned {
            idempotency_keys: self
                .prune_in_batches(
                    Expired::Replies {
                        before: before(now, settings.idempotency),
                    },
                    settings,
                )
                .await?,
            jobs: self
                .prune_in_batches(
                    Expired::Jobs {
                        before: before(now, settings.jobs),
                    },
                    settings,
                )
                .await?,
            login_throttle: self
                .prune_in_batches(
                    Expired::Throttle {
                        window_before: now - ThrottlePolicy::default().window,
                        now,
                    },
                    settings,
                )
                .await?,
            journal: self.prune_in_batches(Expired::Journal, settings).await?,
            ..Pruned::default()
        };
        if let Some(age) = settings.events {
            pruned.events = self
                .prune_in_batches(
                    Expired::Events {
                        before: before(now, age),
                    },
                    settings,
                )
                .await?;
        }
        Ok(pruned)
    }

    async fn prune_in_batches(
        &self,
        expired: Expired,
        settings: &RetentionSettings,
    ) -> Result<usize> {
        let limit = settings.batch_size.max(1);
        let mut total = 0;
        for _ in 0..settings.batches_per_pass {
            if *self.stopping.borrow() {
                break;
            }
            let batch = self.prune_batch(expired, limit).await?;
            metrics::counter!("roster_pruned_rows_total", "table" => expired.table())
                .increment(batch.rows as u64);
            total += batch.rows;
            if !batch.more {
                break;
            }
        }
        Ok(total)
    }

    async fn prune_batch(&self, expired: Expired, limit: i64) -> Result<PrunedBatch> {
        match expired {
            Expired::Replies { before } => {
                self.store
                    .write(async |conn| conn.prune_idempotency_keys(before, limit).await)
                    .await
            }
            Expired::Jobs { before } => {
                self.store
                    .write(async |conn| conn.prune_finished_jobs(before, limit).await)
                    .await
            }
            Expired::Throttle { window_before, now } => {
                self.store
                    .write(async |conn| conn.prune_login_throttle(window_before, now, limit).await)
                    .await
            }
            Expired::Events { before } => {
                self.store
                    .write(async |conn| conn.prune_events(before, limit).await)
                    .await
            }
            Expired::Journal => {
                self.store
                    .write(async |conn| conn.prune_journal(limit).await)
                    .await
            }
        }
    }
}
