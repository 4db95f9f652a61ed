//! The job worker: claims a runnable job by lease, moves its records in
//! batches (each batch, its journal rows and the job's progress commit in
//! one transaction), then disables or removes each user. A crash loses at
//! most the batch in flight, which rolls back; whoever takes the job next
//! (after the lease expires) continues from the records still owned by the
//! user, so nothing is moved twice and nothing is lost.

use std::time::Duration;

use chrono::NaiveDateTime;
use tokio::sync::watch;

use super::Roster;
use super::jobs::change_of;
use super::lifecycle::{Change, Refusal, check_change, finish_change};
use crate::domain::records::{Pass, RecordCounts, RecordKind, Targets};
use crate::error::{Error, Reason, Result};
use crate::store::models::{JobProgress, JobRow, JobUserRow, NewEvent, PassMove};
use crate::store::{Repo, UserReads};
use crate::write;

/// Why a job run stopped before the end.
enum Stop {
    /// Shutdown: the lease was handed back at a batch boundary.
    Shutdown,
    /// Another process holds the lease now.
    LeaseLost,
}

pub struct Worker {
    pub roster: Roster,
    /// Identifies this process in leases.
    pub owner: String,
}

impl Worker {
    pub fn new(roster: Roster) -> Self {
        Worker {
            roster,
            owner: format!("{}:{}", hostname(), uuid::Uuid::new_v4().simple()),
        }
    }

    /// Works jobs until `shutdown` becomes true.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let poll = self.roster.jobs.poll;
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
        now + chrono::Duration::from_std(self.roster.jobs.lease)
            .unwrap_or(chrono::Duration::seconds(15))
    }

    async fn claim(&self) -> Result<Option<JobRow>> {
        let now = self.roster.now();
        let until = self.lease_until(now);
        let store = &self.roster.store;
        write!(store, |conn| conn.claim_job(&self.owner, until, now).await)
    }

    /// Runs the job to its end, or until shutdown or a lost lease.
    async fn work(&self, job: JobRow, shutdown: &watch::Receiver<bool>) -> Result<Option<Stop>> {
        let targets: Targets = serde_json::from_str(&job.targets).map_err(|_| Error::internal())?;
        let change = change_of(&job.kind);
        let mut moved: RecordCounts = serde_json::from_str(&job.moved).unwrap_or_default();
        let mut records_moved = job.records_moved;
        let store = self.roster.store.clone();
        let users = write!(store, |conn| conn.job_users(&job.id).await)?;
        for mut user in users {
            if !matches!(user.outcome.as_str(), "PENDING" | "RUNNING") {
                continue;
            }
            if let Some(stop) = self.cancel_or_stop(&job, shutdown).await? {
                return Ok(Some(stop));
            }
            // Start: check the user again under the lock (things change
            // while a job waits).
            if !self.start_user(&job, &targets, change, &mut user).await? {
                continue;
            }
            let mut user_moved: RecordCounts =
                serde_json::from_str(&user.moved).unwrap_or_default();
            for pass in targets.passes() {
                let mut after = 0;
                loop {
                    if let Some(stop) = self.cancel_or_stop(&job, shutdown).await? {
                        return Ok(Some(stop));
                    }
                    let n = self
                        .batch(
                            &job,
                            &user,
                            &pass,
                            &mut after,
                            &mut moved,
                            &mut user_moved,
                            &mut records_moved,
                        )
                        .await?;
                    match n {
                        None => return Ok(Some(Stop::LeaseLost)),
                        Some(false) => break,
                        Some(true) => {}
                    }
                    if !self.roster.jobs.batch_pause.is_zero() {
                        tokio::time::sleep(self.roster.jobs.batch_pause).await;
                    }
                }
            }
            user.moved = user_moved.to_json();
            if !self
                .finish_user(
                    &job,
                    &targets,
                    change,
                    &mut user,
                    &mut moved,
                    &mut records_moved,
                )
                .await?
            {
                return Ok(Some(Stop::LeaseLost));
            }
        }
        self.end(&job, "SUCCEEDED").await?;
        Ok(None)
    }

    /// Stops at a batch boundary for cancel (ending the job) or shutdown
    /// (handing the lease back).
    async fn cancel_or_stop(
        &self,
        job: &JobRow,
        shutdown: &watch::Receiver<bool>,
    ) -> Result<Option<Stop>> {
        let now = self.roster.now();
        let store = &self.roster.store;
        if *shutdown.borrow() {
            write!(store, |conn| conn
                .release_job(&job.id, &self.owner, now)
                .await)?;
            return Ok(Some(Stop::Shutdown));
        }
        let current = write!(store, |conn| conn.find_job(&job.account_id, &job.id).await)?;
        match current {
            Some(j) if j.lease_owner.as_deref() != Some(&self.owner) => Ok(Some(Stop::LeaseLost)),
            Some(j) if j.cancel_requested => {
                self.end(job, "CANCELLED").await?;
                Ok(Some(Stop::Shutdown))
            }
            Some(_) => Ok(None),
            None => Err(Error::internal()),
        }
    }

    async fn end(&self, job: &JobRow, state: &str) -> Result<()> {
        let now = self.roster.now();
        let store = &self.roster.store;
        let ended = write!(store, |conn| {
            if conn
                .finish_job(&job.id, &self.owner, state, "", now)
                .await?
            {
                conn.lock_account(&job.account_id).await?;
                conn.append_event(
                    &job.account_id,
                    NewEvent {
                        event_type: "JOB_STATE_CHANGED",
                        actor: job.created_by.clone(),
                        job_id: Some(job.id.clone()),
                        detail: state.to_owned(),
                        ..NewEvent::default()
                    },
                    now,
                )
                .await?;
                return Ok::<_, Error>(true);
            }
            Ok::<_, Error>(false)
        })?;
        if ended {
            metrics::counter!("roster_jobs_finished_total", "state" => state.to_owned())
                .increment(1);
        }
        Ok(())
    }

    /// Re-checks the user; marks it RUNNING, or FAILED/SKIPPED with the
    /// reason. Returns whether to go on with it.
    async fn start_user(
        &self,
        job: &JobRow,
        targets: &Targets,
        change: Change,
        user: &mut JobUserRow,
    ) -> Result<bool> {
        let now = self.roster.now();
        let store = &self.roster.store;
        let verdict = write!(store, |conn| {
            let account = conn
                .lock_account(&job.account_id)
                .await?
                .ok_or_else(Error::account_not_found)?;
            let row = conn.find_user(&job.account_id, &user.user_id).await?;
            let refusal = match &row {
                None => Some((
                    "FAILED",
                    Refusal::new(
                        &user.user_id,
                        Reason::UserNotFound,
                        "no such user in this account",
                    ),
                )),
                Some(u)
                    if change == Change::Disable
                        && u.status != "ACTIVE"
                        && user.outcome == "PENDING" =>
                {
                    Some((
                        "SKIPPED",
                        Refusal::new(&u.id, Reason::InvalidStatus, "the user is already inactive"),
                    ))
                }
                Some(u) => {
                    let subjects = [u.id.as_str()];
                    let (mut refusals, _) =
                        check_change(conn, &account, u, targets, change, &subjects, 0, now).await?;
                    // Kinds can be uncovered only until their records moved; the
                    // final step checks removal again.
                    refusals.retain(|r| {
                        r.reason != Reason::ReassignmentRequired
                            && r.reason != Reason::InvalidStatus
                    });
                    refusals.into_iter().next().map(|r| ("FAILED", r))
                }
            };
            let mut updated = user.clone();
            match refusal {
                Some((outcome, r)) => {
                    updated.outcome = outcome.into();
                    updated.reason = r.reason.as_str().to_owned();
                    updated.message = r.message;
                }
                None => updated.outcome = "RUNNING".into(),
            }
            conn.set_job_user(&updated).await?;
            Ok::<_, Error>(updated)
        })?;
        let go = verdict.outcome == "RUNNING";
        *user = verdict;
        Ok(go)
    }

    /// Moves one batch of `pass` after `after` (advanced to the batch's
    /// last id); returns whether there may be more (None: lease lost, the
    /// batch rolled back).
    #[allow(clippy::too_many_arguments)]
    async fn batch(
        &self,
        job: &JobRow,
        user: &JobUserRow,
        pass: &Pass<'_>,
        after: &mut i64,
        moved: &mut RecordCounts,
        user_moved: &mut RecordCounts,
        records_moved: &mut i64,
    ) -> Result<Option<bool>> {
        let now = self.roster.now();
        let until = self.lease_until(now);
        let limit = self.roster.jobs.batch_size;
        let store = &self.roster.store;
        let started = std::time::Instant::now();
        let kinds: Vec<&str> = pass.kinds.iter().map(|k| k.as_str()).collect();
        let parents: Vec<&str> = pass
            .conversation_parents
            .iter()
            .map(|k| k.as_str())
            .collect();
        let result = write!(store, |conn| {
            let mv = PassMove {
                account_id: &job.account_id,
                from_user_id: &user.user_id,
                to_user_id: pass.target,
                kinds: &kinds,
                conversation_parents: &parents,
                job_id: &job.id,
                now,
            };
            let batch = conn.move_batch(&mv, *after, limit).await?;
            let Some(last) = batch.last else {
                return Ok(Some((0, None, *moved, *user_moved, *records_moved)));
            };
            let (mut job_moved, mut mine, mut n) = (*moved, *user_moved, 0);
            for (kind, count) in batch.by_kind {
                let kind = RecordKind::from_db(&kind).ok_or_else(Error::internal)?;
                job_moved.add(kind, count);
                mine.add(kind, count);
                n += count;
            }
            let progress = JobProgress {
                job_id: &job.id,
                lease_owner: &self.owner,
                lease_expires_at: until,
                records_moved: *records_moved + n,
                moved: job_moved.to_json(),
                now,
            };
            if !conn.record_job_progress(&progress).await? {
                // Not ours any more: undo this batch.
                return Err(LEASE_LOST.clone());
            }
            conn.set_job_user(&JobUserRow {
                moved: mine.to_json(),
                ..user.clone()
            })
            .await?;
            Ok::<_, Error>(Some((n, Some(last), job_moved, mine, *records_moved + n)))
        });
        match result {
            Ok(Some((n, last, job_moved, mine, total))) => {
                tracing::debug!(job_id = %job.id, records = n, elapsed_ms = started.elapsed().as_millis() as u64, "job batch committed");
                if n > 0 {
                    metrics::counter!("roster_job_records_moved_total").increment(n as u64);
                    metrics::counter!("roster_job_batches_total").increment(1);
                }
                *moved = job_moved;
                *user_moved = mine;
                *records_moved = total;
                if let Some(last) = last {
                    *after = last;
                }
                Ok(Some(last.is_some()))
            }
            Ok(None) => Ok(None),
            Err(e) if e == *LEASE_LOST => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Last step for one user: checks the rules again, moves any records
    /// that arrived meanwhile, then disables or removes it. Returns false
    /// when the lease was lost.
    async fn finish_user(
        &self,
        job: &JobRow,
        targets: &Targets,
        change: Change,
        user: &mut JobUserRow,
        moved: &mut RecordCounts,
        records_moved: &mut i64,
    ) -> Result<bool> {
        let now = self.roster.now();
        let until = self.lease_until(now);
        let store = &self.roster.store;
        let result = write!(store, |conn| {
            let account = conn
                .lock_account(&job.account_id)
                .await?
                .ok_or_else(Error::account_not_found)?;
            let mut updated = user.clone();
            let (mut job_moved, mut total) = (*moved, *records_moved);
            match conn.find_user(&job.account_id, &user.user_id).await? {
                None => {
                    updated.outcome = "FAILED".into();
                    updated.reason = "USER_NOT_FOUND".into();
                    updated.message = "the user was removed while the job ran".into();
                }
                Some(row) => {
                    let subjects = [row.id.as_str()];
                    let (refusals, _) =
                        check_change(conn, &account, &row, targets, change, &subjects, 0, now)
                            .await?;
                    if let Some(r) = refusals.into_iter().next() {
                        // Records moved so far stay moved (each has one owner).
                        updated.outcome = "FAILED".into();
                        updated.reason = r.reason.as_str().to_owned();
                        updated.message = r.message;
                    } else {
                        let (_, last) = finish_change(
                            conn,
                            &job.account_id,
                            row,
                            targets,
                            change,
                            &job.created_by,
                            Some(&job.id),
                            now,
                        )
                        .await?;
                        let mut mine: RecordCounts =
                            serde_json::from_str(&user.moved).unwrap_or_default();
                        mine.merge(&last);
                        job_moved.merge(&last);
                        total += last.total();
                        updated.moved = mine.to_json();
                        updated.outcome = "DONE".into();
                    }
                }
            }
            let progress = JobProgress {
                job_id: &job.id,
                lease_owner: &self.owner,
                lease_expires_at: until,
                records_moved: total,
                moved: job_moved.to_json(),
                now,
            };
            if !conn.record_job_progress(&progress).await? {
                return Err(LEASE_LOST.clone());
            }
            conn.set_job_user(&updated).await?;
            Ok::<_, Error>((updated, job_moved, total))
        });
        match result {
            Ok((updated, job_moved, total)) => {
                *user = updated;
                *moved = job_moved;
                *records_moved = total;
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
