//! Durable jobs (SPEC rule 9): bulk disable/remove, and single-user changes
//! too large for one call. A job is rows in `jobs` and `job_users`; any
//! server process may work it (see `worker`), one at a time by lease.

use std::time::Duration;

use tokio::sync::mpsc;

use super::handover::{ChangeCheck, Refusal, check_change, check_targets, job_event};
use super::{JobService, locked_account, new_id, paging};
use crate::auth::principal::Grant;
use crate::domain::records::{RecordCounts, Targets};
use crate::domain::{
    BulkMode, Change, Job, JobKind, JobSpec, JobState, JobUser, RequestId, UserOutcome,
};
use crate::error::{Error, Reason, Result};
use crate::store::prelude::*;

/// Most users in one bulk call.
pub const MAX_BULK_USERS: usize = 1000;

/// How jobs run.
#[derive(Debug, Clone, Copy)]
pub struct JobSettings {
    /// Records moved per transaction.
    pub batch_size: i64,
    /// How long a worker's claim lasts without progress.
    pub lease: Duration,
    /// Pause between batches (eases load on the database).
    pub batch_pause: Duration,
    /// DisableUser/RemoveUser move up to this many records in the call;
    /// above it they start a job.
    pub single_user_threshold: i64,
    /// How often idle job workers look for queued jobs.
    pub poll: Duration,
}

impl Default for JobSettings {
    fn default() -> Self {
        JobSettings {
            batch_size: 1000,
            lease: Duration::from_secs(15),
            batch_pause: Duration::ZERO,
            single_user_threshold: 5000,
            poll: Duration::from_millis(250),
        }
    }
}

/// A job and its per-user results.
#[derive(Debug, Clone)]
pub struct JobView {
    pub job: Job,
    pub users: Vec<JobUser>,
}

impl JobView {
    pub fn is_finished(&self) -> bool {
        self.job.state.is_finished()
    }
}

/// Validated input of a bulk call.
pub struct BulkRequest {
    pub change: Change,
    pub user_ids: Vec<String>,
    pub targets: Targets,
    pub all_or_nothing: bool,
    pub validate_only: bool,
    pub request_id: Option<RequestId>,
}

impl JobService {
    /// Validates a bulk call and queues its job (or, with validate_only,
    /// answers what would happen). A retry with the same request_id gets
    /// the first job back.
    pub async fn start_bulk(&self, grant: &Grant, request: BulkRequest) -> Result<JobView> {
        let account_id = grant.account_id().to_owned();
        if request.change == Change::Remove && request.targets.is_empty() {
            return Err(Error {
                reason: Reason::ReassignmentRequired,
                ..Error::invalid(
                    "reassignment",
                    "removing users needs a target for their records",
                )
            });
        }
        let actor = grant.actor();
        let now = self.now();
        let kind = JobKind::of(request.change, true);
        self.store
            .write(async |conn| {
                let account = locked_account(conn, &account_id).await?;
                if let Some(request_id) = &request.request_id
                    && !request.validate_only
                    && let Some(job) = conn
                        .find_job_by_request(&account_id, request_id.as_str())
                        .await?
                {
                    let users = conn.job_users(&job.id).await?;
                    let same = job.kind == kind
                        && job.targets == request.targets
                        && users.iter().map(|u| &u.user_id).eq(request.user_ids.iter());
                    if !same {
                        return Err(Error::precondition(
                            Reason::RequestIdReused,
                            "request_id was already used for a different request",
                        ));
                    }
                    return Ok(JobView { job, users });
                }
                super::ensure_writable(&account, now)?;
                let subjects: Vec<&str> = request.user_ids.iter().map(String::as_str).collect();
                // A bad target refuses every user: the call fails as a whole
                // (validate_only reports it per user instead).
                if !request.validate_only
                    && let Some(refusal) =
                        check_targets(conn, &account_id, &subjects, &request.targets)
                            .await?
                            .into_iter()
                            .next()
                {
                    return Err(refusal.into_error());
                }
                let check = ChangeCheck {
                    account: &account,
                    targets: &request.targets,
                    change: request.change,
                    subjects: &subjects,
                    admins_leaving: 0,
                    now,
                };
                let (results, total) = assess(conn, check, &request.user_ids).await?;
                let refused = results
                    .iter()
                    .any(|(_, outcome, _)| *outcome == UserOutcome::Failed);
                let state = if request.all_or_nothing && refused {
                    JobState::Failed
                } else {
                    JobState::Queued
                };
                let mut job = Job::new(
                    new_id(),
                    JobSpec {
                        account_id: &account_id,
                        kind,
                        state,
                        mode: if request.all_or_nothing {
                            BulkMode::AllOrNothing
                        } else {
                            BulkMode::BestEffort
                        },
                        targets: &request.targets,
                        created_by: &actor,
                        request_id: request.request_id.as_ref().map(RequestId::as_str),
                        records_total: total.total(),
                        now,
                    },
                );
                if state == JobState::Failed {
                    job.error_message =
                        "ALL_OR_NOTHING: a user was refused, nothing changed".into();
                }
                let users: Vec<JobUser> = results
                    .iter()
                    .enumerate()
                    .map(|(i, (user_id, outcome, refusal))| {
                        // In an all-or-nothing job that fails, nobody is processed.
                        let outcome = match outcome {
                            UserOutcome::Pending if state == JobState::Failed => {
                                UserOutcome::Skipped
                            }
                            outcome => *outcome,
                        };
                        let refusal = refusal.as_ref().map(|r| (r.reason, r.message.as_str()));
                        JobUser::new(&job.id, i, user_id, outcome, refusal)
                    })
                    .collect();
                if request.validate_only {
                    job.id = String::new();
                    job.state = if state == JobState::Failed {
                        JobState::Failed
                    } else {
                        JobState::Succeeded
                    };
                    job.moved = total;
                    return Ok(JobView { job, users });
                }
                conn.insert_job(&job, &users).await?;
                job_event(conn, &job, state, &actor, now).await?;
                if state == JobState::Failed {
                    metrics::counter!("roster_jobs_finished_total", "state" => state.as_str())
                        .increment(1);
                }
                Ok::<_, Error>(JobView { job, users })
            })
            .await
    }

    /// RUNNING jobs whose lease expired (a metric for alerting).
    pub async fn count_stalled_jobs(&self) -> Result<i64> {
        let now = self.now();
        self.store
            .read(async |conn| conn.count_stalled_jobs(now).await)
            .await
    }

    pub async fn get_job(&self, grant: &Grant, job_id: &str) -> Result<JobView> {
        let account_id = grant.account_id().to_owned();
        self.store
            .read(async |conn| {
                let job = conn
                    .find_job(&account_id, job_id)
                    .await?
                    .ok_or_else(|| Error::not_found(Reason::JobNotFound, "job"))?;
                let users = conn.job_users(job_id).await?;
                Ok::<_, Error>(JobView { job, users })
            })
            .await
    }

    pub async fn list_jobs(
        &self,
        grant: &Grant,
        page_size: i32,
        page_token: &str,
    ) -> Result<(Vec<Job>, String)> {
        let account_id = grant.account_id().to_owned();
        let limit = paging::page_size(page_size, 50)?;
        let before = paging::decode_token(page_token, &account_id)?;
        let mut rows = self
            .store
            .read(async |conn| {
                conn.list_jobs(&account_id, before.as_deref(), limit + 1)
                    .await
            })
            .await?;
        let next = paging::finish_page(&mut rows, limit, &account_id, |j| j.id.clone());
        Ok((rows, next))
    }

    /// Asks the job to stop at its next batch boundary. A queued job that
    /// no worker holds is cancelled at once.
    pub async fn cancel_job(&self, grant: &Grant, job_id: &str) -> Result<JobView> {
        let account_id = grant.account_id().to_owned();
        let actor = grant.actor();
        let now = self.now();
        self.store
            .write(async |conn| {
                locked_account(conn, &account_id).await?;
                let job = conn
                    .find_job(&account_id, job_id)
                    .await?
                    .ok_or_else(|| Error::not_found(Reason::JobNotFound, "job"))?;
                if job.state.is_finished() {
                    return Err(Error::precondition(
                        Reason::JobFinished,
                        format!("the job already ended ({})", job.state),
                    ));
                }
                conn.request_job_cancel(job_id, now).await?;
                if job.state == JobState::Queued && job.lease_owner.is_none() {
                    // Nobody works it: take it and end it here.
                    let owner = format!("cancel:{actor}");
                    if conn
                        .claim_job(&owner, now, now)
                        .await?
                        .is_some_and(|j| j.id == job.id)
                    {
                        conn.finish_job(job_id, &owner, JobState::Cancelled, "", now)
                            .await?;
                        job_event(conn, &job, JobState::Cancelled, &actor, now).await?;
                    }
                }
                let job = conn
                    .find_job(&account_id, job_id)
                    .await?
                    .ok_or_else(Error::internal)?;
                let users = conn.job_users(job_id).await?;
                Ok::<_, Error>(JobView { job, users })
            })
            .await
    }

    /// Current state first, then every change until the job ends, and the
    /// unchanged state again when nothing changed for about a second (a
    /// job's last step, a queue or a lock wait can take longer than a batch:
    /// the client still hears from it every second, and idle-stream
    /// timeouts of proxies never fire). Works from any replica (it reads
    /// the job rows); dropping the receiver does not affect the job.
    pub async fn watch_job(
        &self,
        grant: &Grant,
        job_id: &str,
    ) -> Result<mpsc::Receiver<Result<JobView>>> {
        // Taken before the first read, so no commit after it goes unheard.
        let mut changes = self.store.changes().waiter(grant.account_id());
        let first = self.get_job(grant, job_id).await?;
        let account_id = first.job.account_id.clone();
        let job_id = job_id.to_owned();
        let (tx, rx) = mpsc::channel(16);
        let store = self.store.clone();
        let stopping = self.stopping.clone();
        tokio::spawn(async move {
            let mut last = (
                first.job.state,
                first.job.records_moved,
                first.users.clone(),
            );
            let mut finished = first.is_finished();
            if tx.send(Ok(first)).await.is_err() {
                return;
            }
            let mut sent = tokio::time::Instant::now();
            while !finished && !*stopping.borrow() {
                // A commit of the account wakes the watcher; with none, it
                // reads for the heartbeat (and in case a notification was lost).
                let heartbeat = HEARTBEAT.saturating_sub(sent.elapsed());
                tokio::select! {
                    _ = changes.wait_at_most(heartbeat) => {}
                    _ = tx.closed() => return,
                }
                let view = async {
                    store
                        .read(async |conn| {
                            let job = conn
                                .find_job(&account_id, &job_id)
                                .await?
                                .ok_or_else(Error::internal)?;
                            let users = conn.job_users(&job_id).await?;
                            Ok::<_, Error>(JobView { job, users })
                        })
                        .await
                }
                .await;
                match view {
                    Ok(view) => {
                        let now = (view.job.state, view.job.records_moved, view.users.clone());
                        if now == last && sent.elapsed() < HEARTBEAT {
                            continue;
                        }
                        last = now;
                        sent = tokio::time::Instant::now();
                        finished = view.is_finished();
                        if tx.send(Ok(view)).await.is_err() {
                            return;
                        }
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e)).await;
                        return;
                    }
                }
            }
        });
        Ok(rx)
    }
}

/// Each user of a bulk call checked in order (admins accepted earlier in
/// the call count as leaving): its outcome so far and any refusal, and what
/// the accepted ones would move in all.
async fn assess<R: Repo>(
    conn: &mut R,
    mut check: ChangeCheck<'_>,
    user_ids: &[String],
) -> Result<(Vec<(String, UserOutcome, Option<Refusal>)>, RecordCounts)> {
    let mut results = Vec::with_capacity(user_ids.len());
    let mut total = RecordCounts::default();
    for user_id in user_ids {
        let Some(user) = conn.find_user(&check.account.id, user_id).await? else {
            let refusal = Refusal::new(
                user_id,
                Reason::UserNotFound,
                "no such user in this account",
            );
            results.push((user_id.clone(), UserOutcome::Failed, Some(refusal)));
            continue;
        };
        if check.change == Change::Disable && !user.is_active() {
            let refusal = Refusal::new(
                user_id,
                Reason::InvalidStatus,
                "the user is already inactive",
            );
            results.push((user_id.clone(), UserOutcome::Skipped, Some(refusal)));
            continue;
        }
        let (mut refusals, holdings) = check_change(conn, &check, &user).await?;
        if refusals.is_empty() {
            if user.is_active_admin() {
                check.admins_leaving += 1;
            }
            total.merge(&holdings.moved_by(check.targets));
            results.push((user_id.clone(), UserOutcome::Pending, None));
        } else {
            results.push((
                user_id.clone(),
                UserOutcome::Failed,
                Some(refusals.remove(0)),
            ));
        }
    }
    Ok((results, total))
}

/// How long a watcher stays silent when nothing changes: under a second
/// (its read included), so a message goes out at least every second.
const HEARTBEAT: Duration = Duration::from_millis(900);
