//! The job worker: claims a runnable job by lease, moves its records in
//! batches (each batch, its journal rows and the job's progress commit in
//! one transaction), then disables or removes each user. A crash loses at
//! most the batch in flight, which rolls back; whoever takes the job next
//! (after the lease expires) continues from the records still owned by the
//! user, so nothing is moved twice and nothing is lost.

use std::time::Duration;

use chrono::NaiveDateTime;
use tokio::sync::watch;

use super::Context;
use super::handover::{
    ChangeCheck, Handover, check_change, finish_change, job_event, recheck_before_start,
};
use super::locked_account;
use crate::domain::records::{Pass, RecordCounts};
use crate::domain::{Change, Job, JobState, JobUser, UserOutcome};
use crate::error::{Error, Reason, Result};
use crate::store::prelude::*;
use crate::store::{JobProgress, PassMove};

/// Why a job run stopped before the end.
enum Stop {
    /// Shutdown: the lease was handed back at a batch boundary.
    Shutdown,
    /// Another process holds the lease now.
    LeaseLost,
}

/// Where a job run stands: what it moved so far, in all and for the user
/// being worked, and the last record id of the pass looked at.
#[derive(Debug, Clone, Copy, Default)]
struct Progress {
    moved: RecordCounts,
    records_moved: i64,
    user_moved: RecordCounts,
    after: i64,
}

pub struct Worker {
    pub context: Context,
    /// Identifies this process in leases.
    pub owner: String,
}

impl Worker {
    pub fn new(context: Context) -> Self {
        Worker {
            context,
            owner: format!("{}:{}", hostname(), uuid::Uuid::new_v4().simple()),
        }
    }

    /// Works jobs until `shutdown` becomes true.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let poll = self.context.jobs.poll;
        while !*shutdown.borrow() {
            match self.claim().await {
                Ok(Some(job)) => {
                    let id = job.id.clone();
                    metrics::gauge!("roster_jobs_active").increment(1.0);
                    tracing::info!(job_id = %id, kind = %job.kind, "job claimed");
                    match self.work(job, &shutdown).await {
                        Ok(None) => tracing::info!(job_id = %id, "job finished"),
                        Ok(Some(Stop::Shutdown)) => {
                            tracing::info!(job_id = %id, "job handed back for shutdown")
                        }
                        Ok(Some(Stop::LeaseLost)) => {
                            tracing::warn!(job_id = %id, "job lease lost to another worker")
                        }
                        Err(e) => {
                            tracing::warn!(job_id = %id, error = %e, "job run failed; it will be retried");
                            tokio::time::sleep(poll).await;
                        }
                    }
                    metrics::gauge!("roster_jobs_active").decrement(1.0);
                    continue;
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "claiming a job failed"),
            }
            tokio::select! {
                _ = tokio::time::sleep(poll) => {}
                _ = shutdown.changed() => {}
            }
        }
    }

    fn lease_until(&self, now: NaiveDateTime) -> NaiveDateTime {
        now + chrono::Duration::from_std(self.context.jobs.lease)
            .unwrap_or(chrono::Duration::seconds(15))
    }

    async fn claim(&self) -> Result<Option<Job>> {
        let now = self.context.now();
        let until = self.lease_until(now);
        // Most polls find nothing; a read says so without the write lock
        // (on SQLite an idle writer is when the search table is merged).
        let store = &self.context.store;
        if !store
            .read(async |conn| conn.has_runnable_job(now).await)
            .await?
        {
            return Ok(None);
        }
        store
            .write(async |conn| conn.claim_job(&self.owner, until, now).await)
            .await
    }

    /// Runs the job to its end, or until shutdown or a lost lease.
    async fn work(&self, job: Job, shutdown: &watch::Receiver<bool>) -> Result<Option<Stop>> {
        let change = job.kind.change();
        let mut progress = Progress {
            moved: job.moved,
            records_moved: job.records_moved,
            ..Progress::default()
        };
        let store = &self.context.store;
        let users = store
            .write(async |conn| conn.job_users(&job.id).await)
            .await?;
        for mut user in users {
            if !user.outcome.is_open() {
                continue;
            }
            if let Some(stop) = self.cancel_or_stop(&job, shutdown).await? {
                return Ok(Some(stop));
            }
            // Start: check the user again under the lock (things change
            // while a job waits).
            if !self.start_user(&job, change, &mut user).await? {
                continue;
            }
            progress.user_moved = user.moved;
            for pass in job.targets.passes() {
                progress.after = 0;
                loop {
                    if let Some(stop) = self.cancel_or_stop(&job, shutdown).await? {
                        return Ok(Some(stop));
                    }
                    match self.batch(&job, &user, &pass, &mut progress).await? {
                        None => return Ok(Some(Stop::LeaseLost)),
                        Some(false) => break,
                        Some(true) => {}
                    }
                    if !self.context.jobs.batch_pause.is_zero() {
                        tokio::time::sleep(self.context.jobs.batch_pause).await;
                    }
                }
            }
            user.moved = progress.user_moved;
            if !self
                .finish_user(&job, change, &mut user, &mut progress)
                .await?
            {
                return Ok(Some(Stop::LeaseLost));
            }
        }
        self.end(&job, JobState::Succeeded).await?;
        Ok(None)
    }

    /// Stops at a batch boundary for cancel (ending the job) or shutdown
    /// (handing the lease back).
    async fn cancel_or_stop(
        &self,
        job: &Job,
        shutdown: &watch::Receiver<bool>,
    ) -> Result<Option<Stop>> {
        let now = self.context.now();
        let store = &self.context.store;
        if *shutdown.borrow() {
            store
                .write(async |conn| conn.release_job(&job.id, &self.owner, now).await)
                .await?;
            return Ok(Some(Stop::Shutdown));
        }
        let current = store
            .write(async |conn| conn.find_job(&job.account_id, &job.id).await)
            .await?;
        match current {
            Some(j) if j.lease_owner.as_deref() != Some(&self.owner) => Ok(Some(Stop::LeaseLost)),
            Some(j) if j.cancel_requested => {
                self.end(job, JobState::Cancelled).await?;
                Ok(Some(Stop::Shutdown))
            }
            Some(_) => Ok(None),
            None => Err(Error::internal()),
        }
    }

    async fn end(&self, job: &Job, state: JobState) -> Result<()> {
        let now = self.context.now();
        let ended = self
            .context
            .store
            .write(async |conn| {
                if !conn
                    .finish_job(&job.id, &self.owner, state, "", now)
                    .await?
                {
                    return Ok::<_, Error>(false);
                }
                conn.lock_account(&job.account_id).await?;
                job_event(conn, job, state, &job.created_by, now).await?;
                Ok(true)
            })
            .await?;
        if ended {
            metrics::counter!("roster_jobs_finished_total", "state" => state.as_str()).increment(1);
        }
        Ok(())
    }

    /// Re-checks the user; marks it RUNNING, or FAILED/SKIPPED with the
    /// reason. Returns whether to go on with it.
    async fn start_user(&self, job: &Job, change: Change, user: &mut JobUser) -> Result<bool> {
        let now = self.context.now();
        let verdict = self
            .context
            .store
            .write(async |conn| {
                let account = locked_account(conn, &job.account_id).await?;
                let check = ChangeCheck {
                    account: &account,
                    targets: &job.targets,
                    change,
                    subjects: &[],
                    admins_leaving: 0,
                    now,
                };
                let refusal = recheck_before_start(conn, &check, user).await?;
                let mut updated = user.clone();
                match refusal {
                    Some((outcome, r)) => {
                        updated.outcome = outcome;
                        updated.reason = Some(r.reason);
                        updated.message = r.message;
                    }
                    None => updated.outcome = UserOutcome::Running,
                }
                conn.set_job_user(&updated).await?;
                Ok::<_, Error>(updated)
            })
            .await?;
        let go = verdict.outcome == UserOutcome::Running;
        *user = verdict;
        Ok(go)
    }

    /// Moves one batch of `pass` after `progress.after` (advanced to the
    /// batch's last id); returns whether there may be more (None: lease
    /// lost, the batch rolled back).
    async fn batch(
        &self,
        job: &Job,
        user: &JobUser,
        pass: &Pass<'_>,
        progress: &mut Progress,
    ) -> Result<Option<bool>> {
        let now = self.context.now();
        let until = self.lease_until(now);
        let limit = self.context.jobs.batch_size;
        let started = std::time::Instant::now();
        let before = *progress;
        let result = self
            .context
            .store
            .write(async |conn| {
                let mv = PassMove {
                    account_id: &job.account_id,
                    from_user_id: &user.user_id,
                    to_user_id: pass.target,
                    kinds: &pass.kinds,
                    conversation_parents: &pass.conversation_parents,
                    job_id: &job.id,
                    now,
                };
                let batch = conn.move_batch(&mv, before.after, limit).await?;
                let Some(last) = batch.last else {
                    return Ok((0, None));
                };
                let mut after = before;
                after.moved.merge(&batch.moved);
                after.user_moved.merge(&batch.moved);
                after.records_moved += batch.moved.total();
                after.after = last;
                // Read again after the move: the progress time is what
                // followers measure their delay from (WatchJob's update_time).
                let written = JobProgress {
                    job_id: &job.id,
                    lease_owner: &self.owner,
                    lease_expires_at: until,
                    records_moved: after.records_moved,
                    moved: after.moved,
                    now: self.context.now(),
                };
                if !conn.record_job_progress(&written).await? {
                    // Not ours any more: undo this batch.
                    return Err(LEASE_LOST.clone());
                }
                conn.set_job_user(&JobUser {
                    moved: after.user_moved,
                    ..user.clone()
                })
                .await?;
                Ok::<_, Error>((batch.moved.total(), Some(after)))
            })
            .await;
        match result {
            Ok((n, after)) => {
                tracing::debug!(job_id = %job.id, records = n, elapsed_ms = started.elapsed().as_millis() as u64, "job batch committed");
                if n > 0 {
                    metrics::counter!("roster_job_records_moved_total").increment(n as u64);
                    metrics::counter!("roster_job_batches_total").increment(1);
                }
                if let Some(after) = after {
                    *progress = after;
                }
                Ok(Some(after.is_some()))
            }
            Err(e) if e == *LEASE_LOST => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Last step for one user: checks the rules again, moves any records
    /// that arrived meanwhile, then disables or removes it. Returns false
    /// when the lease was lost.
    async fn finish_user(
        &self,
        job: &Job,
        change: Change,
        user: &mut JobUser,
        progress: &mut Progress,
    ) -> Result<bool> {
        let now = self.context.now();
        let until = self.lease_until(now);
        let before = *progress;
        let result = self
            .context
            .store
            .write(async |conn| {
                let account = locked_account(conn, &job.account_id).await?;
                let mut updated = user.clone();
                let mut after = before;
                match conn.find_user(&job.account_id, &user.user_id).await? {
                    None => {
                        updated.outcome = UserOutcome::Failed;
                        updated.reason = Some(Reason::UserNotFound);
                        updated.message = "the user was removed while the job ran".into();
                    }
                    Some(found) => {
                        let check = ChangeCheck {
                            account: &account,
                            targets: &job.targets,
                            change,
                            subjects: &[found.id.as_str()],
                            admins_leaving: 0,
                            now,
                        };
                        let (refusals, _) = check_change(conn, &check, &found).await?;
                        if let Some(r) = refusals.into_iter().next() {
                            // Records moved so far stay moved (each has one owner).
                            updated.outcome = UserOutcome::Failed;
                            updated.reason = Some(r.reason);
                            updated.message = r.message;
                        } else {
                            let handover = Handover {
                                account_id: &job.account_id,
                                targets: &job.targets,
                                change,
                                actor: &job.created_by,
                                job_id: Some(&job.id),
                                now,
                            };
                            let (_, last) = finish_change(conn, &handover, found).await?;
                            updated.moved.merge(&last);
                            after.moved.merge(&last);
                            after.records_moved += last.total();
                            updated.outcome = UserOutcome::Done;
                        }
                    }
                }
                let written = JobProgress {
                    job_id: &job.id,
                    lease_owner: &self.owner,
                    lease_expires_at: until,
                    records_moved: after.records_moved,
                    moved: after.moved,
                    now,
                };
                if !conn.record_job_progress(&written).await? {
                    return Err(LEASE_LOST.clone());
                }
                conn.set_job_user(&updated).await?;
                Ok::<_, Error>((updated, after))
            })
            .await;
        match result {
            Ok((updated, after)) => {
                *user = updated;
                *progress = after;
                Ok(true)
            }
            Err(e) if e == *LEASE_LOST => Ok(false),
            Err(e) => Err(e),
        }
    }
}

/// Rolls a batch back when the lease turned out to be someone else's.
static LEASE_LOST: std::sync::LazyLock<Error> = std::sync::LazyLock::new(|| {
    Error::new(
        crate::error::Code::Aborted,
        Reason::Internal,
        "job lease lost",
    )
});

fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "roster".into())
}

/// How long a graceful shutdown waits for the worker to hand its job back.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
