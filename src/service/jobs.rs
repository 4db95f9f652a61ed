//! Durable jobs (SPEC rule 9): bulk disable/remove, and single-user changes
//! too large for one call. A job is rows in `jobs` and `job_users`; any
//! server process may work it (see `worker`), one at a time by lease.

use std::time::Duration;

use chrono::NaiveDateTime;
use tokio::sync::mpsc;

use super::lifecycle::{Change, Refusal, check_change, check_targets};
use super::{Roster, new_id, paging};
use crate::auth::Principal;
use crate::auth::principal::{Access, Scope};
use crate::domain::RequestId;
use crate::domain::records::{RecordCounts, Targets};
use crate::error::{Error, Reason, Result};
use crate::store::models::{JobRow, JobUserRow, NewEvent, UserRow};
use crate::store::{Repo, UserReads};
use crate::{read, write};

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
    /// How often idle workers and watchers look at the database.
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
    pub job: JobRow,
    pub users: Vec<JobUserRow>,
}

impl JobView {
    pub fn moved(&self) -> RecordCounts {
        serde_json::from_str(&self.job.moved).unwrap_or_default()
    }

    pub fn is_finished(&self) -> bool {
        matches!(
            self.job.state.as_str(),
            "SUCCEEDED" | "FAILED" | "CANCELLED"
        )
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

fn job_kind(change: Change, bulk: bool) -> &'static str {
    match (change, bulk) {
        (Change::Disable, true) => "BULK_DISABLE",
        (Change::Remove, true) => "BULK_REMOVE",
        (Change::Disable, false) => "DISABLE",
        (Change::Remove, false) => "REMOVE",
    }
}

pub fn change_of(kind: &str) -> Change {
    if kind.ends_with("REMOVE") {
        Change::Remove
    } else {
        Change::Disable
    }
}

fn user_row(
    job_id: &str,
    position: usize,
    user_id: &str,
    outcome: &str,
    refusal: Option<&Refusal>,
) -> JobUserRow {
    JobUserRow {
        job_id: job_id.to_owned(),
        position: position as i32,
        user_id: user_id.to_owned(),
        outcome: outcome.to_owned(),
        reason: refusal
            .map(|r| r.reason.as_str().to_owned())
            .unwrap_or_default(),
        message: refusal.map(|r| r.message.clone()).unwrap_or_default(),
        moved: RecordCounts::default().to_json(),
    }
}

#[allow(clippy::too_many_arguments)]
fn new_job(
    account_id: &str,
    kind: &str,
    state: &str,
    all_or_nothing: bool,
    targets: &Targets,
    actor: &str,
    request_id: Option<&RequestId>,
    records_total: i64,
    now: NaiveDateTime,
) -> JobRow {
    JobRow {
        id: new_id(),
        account_id: account_id.to_owned(),
        kind: kind.to_owned(),
        state: state.to_owned(),
        mode: if all_or_nothing {
            "ALL_OR_NOTHING"
        } else {
            "BEST_EFFORT"
        }
        .to_owned(),
        targets: serde_json::to_string(targets).unwrap_or_default(),
        created_by: actor.to_owned(),
        request_id: request_id.map(|r| r.as_str().to_owned()),
        records_total,
        records_moved: 0,
        moved: RecordCounts::default().to_json(),
        cancel_requested: false,
        lease_owner: None,
        lease_expires_at: None,
        error_message: String::new(),
        created_at: now,
        updated_at: now,
        finished_at: (state == "FAILED").then_some(now),
    }
}

async fn job_event<R: Repo>(
    conn: &mut R,
    job: &JobRow,
    state: &str,
    actor: &str,
    now: NaiveDateTime,
) -> Result<()> {
    conn.append_event(
        &job.account_id,
        NewEvent {
            event_type: "JOB_STATE_CHANGED",
            actor: actor.to_owned(),
            job_id: Some(job.id.clone()),
            detail: state.to_owned(),
            ..NewEvent::default()
        },
        now,
    )
    .await
    .map(|_| ())
}

/// Queues a one-user job (a disable/remove too large for the call). Call
/// with the account locked and the rules checked.
#[allow(clippy::too_many_arguments)]
pub async fn enqueue_single<R: Repo>(
    conn: &mut R,
    account_id: &str,
    user: &UserRow,
    targets: &Targets,
    change: Change,
    actor: &str,
    would_move: RecordCounts,
    now: NaiveDateTime,
) -> Result<String> {
    let job = new_job(
        account_id,
        job_kind(change, false),
        "QUEUED",
        true,
        targets,
        actor,
        None,
        would_move.total(),
        now,
    );
    let users = vec![user_row(&job.id, 0, &user.id, "PENDING", None)];
    conn.insert_job(&job, &users).await?;
    job_event(conn, &job, "QUEUED", actor, now).await?;
    Ok(job.id)
}

impl Roster {
    /// Validates a bulk call and queues its job (or, with validate_only,
    /// answers what would happen). A retry with the same request_id gets
    /// the first job back.
    pub async fn start_bulk(
        &self,
        caller: &Principal,
        account_id: &str,
        request: BulkRequest,
    ) -> Result<JobView> {
        let account_id = caller.authorize(account_id, Access::Write(Scope::UsersWrite))?;
        if request.change == Change::Remove && request.targets.is_empty() {
            return Err(Error {
                reason: Reason::ReassignmentRequired,
                ..Error::invalid(
                    "reassignment",
                    "removing users needs a target for their records",
                )
            });
        }
        let actor = caller.actor();
        let now = self.now();
        let kind = job_kind(request.change, true);
        write!(self.store, |conn| {
            let account = conn
                .lock_account(&account_id)
                .await?
                .ok_or_else(Error::account_not_found)?;
            if let Some(request_id) = &request.request_id
                && !request.validate_only
                && let Some(job) = conn
                    .find_job_by_request(&account_id, request_id.as_str())
                    .await?
            {
                let same = job.kind == kind
                    && job.targets == serde_json::to_string(&request.targets).unwrap_or_default()
                    && conn
                        .job_users(&job.id)
                        .await?
                        .iter()
                        .map(|u| &u.user_id)
                        .eq(request.user_ids.iter());
                if !same {
                    return Err(Error::precondition(
                        Reason::RequestIdReused,
                        "request_id was already used for a different request",
                    ));
                }
                let users = conn.job_users(&job.id).await?;
                return Ok(JobView { job, users });
            }
            super::ensure_writable(&account, now)?;
            let subjects: Vec<&str> = request.user_ids.iter().map(String::as_str).collect();
            // A bad target refuses every user: the call fails as a whole
            // (validate_only reports it per user instead).
            if !request.validate_only
                && let Some(refusal) = check_targets(conn, &account_id, &subjects, &request.targets)
                    .await?
                    .into_iter()
                    .next()
            {
                return Err(refusal.into_error());
            }
            let mut results: Vec<(String, &'static str, Option<Refusal>)> = Vec::new();
            let mut total = RecordCounts::default();
            let mut admins_leaving = 0;
            for user_id in &request.user_ids {
                let Some(user) = conn.find_user(&account_id, user_id).await? else {
                    let refusal = Refusal::new(
                        user_id,
                        Reason::UserNotFound,
                        "no such user in this account",
                    );
                    results.push((user_id.clone(), "FAILED", Some(refusal)));
                    continue;
                };
                if request.change == Change::Disable && user.status != "ACTIVE" {
                    let refusal = Refusal::new(
                        user_id,
                        Reason::InvalidStatus,
                        "the user is already inactive",
                    );
                    results.push((user_id.clone(), "SKIPPED", Some(refusal)));
                    continue;
                }
                let (mut refusals, holdings) = check_change(
                    conn,
                    &account,
                    &user,
                    &request.targets,
                    request.change,
                    &subjects,
                    admins_leaving,
                    now,
                )
                .await?;
                if refusals.is_empty() {
                    if user.role == "ADMIN" && user.status == "ACTIVE" {
                        admins_leaving += 1;
                    }
                    total.merge(
                        &request
                            .targets
                            .moved(&holdings.held, &holdings.conversations_by_parent),
                    );
                    results.push((user_id.clone(), "PENDING", None));
                } else {
                    results.push((user_id.clone(), "FAILED", Some(refusals.remove(0))));
                }
            }
            let refused = results.iter().any(|(_, outcome, _)| *outcome == "FAILED");
            let state = if request.all_or_nothing && refused {
                "FAILED"
            } else {
                "QUEUED"
            };
            let mut job = new_job(
                &account_id,
                kind,
                state,
                request.all_or_nothing,
                &request.targets,
                &actor,
                request.request_id.as_ref(),
                total.total(),
                now,
            );
            if state == "FAILED" {
                job.error_message = "ALL_OR_NOTHING: a user was refused, nothing changed".into();
            }
            let users: Vec<JobUserRow> = results
                .iter()
                .enumerate()
                .map(|(i, (user_id, outcome, refusal))| {
                    // In an all-or-nothing job that fails, nobody is processed.
                    let outcome = if state == "FAILED" && *outcome == "PENDING" {
                        "SKIPPED"
                    } else {
                        outcome
                    };
                    user_row(&job.id, i, user_id, outcome, refusal.as_ref())
                })
                .collect();
            if request.validate_only {
                job.id = String::new();
                job.state = if state == "FAILED" {
                    "FAILED"
                } else {
                    "SUCCEEDED"
                }
                .into();
                job.moved = total.to_json();
                return Ok(JobView { job, users });
            }
            conn.insert_job(&job, &users).await?;
            job_event(conn, &job, state, &actor, now).await?;
            if state == "FAILED" {
                metrics::counter!("roster_jobs_finished_total", "state" => "FAILED").increment(1);
            }
            Ok::<_, Error>(JobView { job, users })
        })
    }

    /// RUNNING jobs whose lease expired (a metric for alerting).
    pub async fn count_stalled_jobs(&self) -> Result<i64> {
        let now = self.now();
        read!(self.store, |conn| conn.count_stalled_jobs(now).await)
    }

    pub async fn get_job(
        &self,
        caller: &Principal,
        account_id: &str,
        job_id: &str,
    ) -> Result<JobView> {
        let account_id = caller.authorize(account_id, Access::Read)?;
        read!(self.store, |conn| {
            let job = conn
                .find_job(&account_id, job_id)
                .await?
                .ok_or_else(|| Error::not_found(Reason::JobNotFound, "job"))?;
            let users = conn.job_users(job_id).await?;
            Ok::<_, Error>(JobView { job, users })
        })
    }

    pub async fn list_jobs(
        &self,
        caller: &Principal,
        account_id: &str,
        page_size: i32,
        page_token: &str,
    ) -> Result<(Vec<JobRow>, String)> {
        let account_id = caller.authorize(account_id, Access::Read)?;
        let limit = paging::page_size(page_size, 50)?;
        let before = paging::decode_token(page_token, &account_id)?;
        let mut rows = read!(self.store, |conn| conn
            .list_jobs(&account_id, before.as_deref(), limit + 1)
            .await)?;
        let next = paging::finish_page(&mut rows, limit, &account_id, |j| j.id.clone());
        Ok((rows, next))
    }

    /// Asks the job to stop at its next batch boundary. A queued job that
    /// no worker holds is cancelled at once.
    pub async fn cancel_job(
        &self,
        caller: &Principal,
        account_id: &str,
        job_id: &str,
    ) -> Result<JobView> {
        let account_id = caller.authorize(account_id, Access::Write(Scope::UsersWrite))?;
        let actor = caller.actor();
        let now = self.now();
        write!(self.store, |conn| {
            conn.lock_account(&account_id)
                .await?
                .ok_or_else(Error::account_not_found)?;
            let job = conn
                .find_job(&account_id, job_id)
                .await?
                .ok_or_else(|| Error::not_found(Reason::JobNotFound, "job"))?;
            if matches!(job.state.as_str(), "SUCCEEDED" | "FAILED" | "CANCELLED") {
                return Err(Error::precondition(
                    Reason::JobFinished,
                    format!("the job already ended ({})", job.state),
                ));
            }
            conn.request_job_cancel(job_id, now).await?;
            if job.state == "QUEUED" && job.lease_owner.is_none() {
                // Nobody works it: take it and end it here.
                let owner = format!("cancel:{actor}");
                if conn
                    .claim_job(&owner, now, now)
                    .await?
                    .is_some_and(|j| j.id == job.id)
                {
                    conn.finish_job(job_id, &owner, "CANCELLED", "", now)
                        .await?;
                    job_event(conn, &job, "CANCELLED", &actor, now).await?;
                }
            }
            let job = conn
                .find_job(&account_id, job_id)
                .await?
                .ok_or_else(Error::internal)?;
            let users = conn.job_users(job_id).await?;
            Ok::<_, Error>(JobView { job, users })
        })
    }

    /// Current state first, then every change until the job ends, and the
    /// unchanged state again when nothing changed for about a second (a
    /// job's last step, a queue or a lock wait can take longer than a batch:
    /// the client still hears from it every second, and idle-stream
    /// timeouts of proxies never fire). Works from any replica (it reads
    /// the job rows); dropping the receiver does not affect the job.
    pub async fn watch_job(
        &self,
        caller: &Principal,
        account_id: &str,
        job_id: &str,
    ) -> Result<mpsc::Receiver<Result<JobView>>> {
        let first = self.get_job(caller, account_id, job_id).await?;
        let account_id = first.job.account_id.clone();
        let job_id = job_id.to_owned();
        let (tx, rx) = mpsc::channel(16);
        let store = self.store.clone();
        let poll = self.jobs.poll;
        let stopping = self.stopping.clone();
        tokio::spawn(async move {
            let mut last = (
                first.job.state.clone(),
                first.job.records_moved,
                first.users.clone(),
            );
            let mut finished = first.is_finished();
            if tx.send(Ok(first)).await.is_err() {
                return;
            }
            let mut sent = tokio::time::Instant::now();
            while !finished && !*stopping.borrow() {
                tokio::select! {
                    _ = tokio::time::sleep(poll) => {}
                    _ = tx.closed() => return,
                }
                let view = async {
                    read!(store, |conn| {
                        let job = conn
                            .find_job(&account_id, &job_id)
                            .await?
                            .ok_or_else(Error::internal)?;
                        let users = conn.job_users(&job_id).await?;
                        Ok::<_, Error>(JobView { job, users })
                    })
                }
                .await;
                match view {
                    Ok(view) => {
                        let now = (
                            view.job.state.clone(),
                            view.job.records_moved,
                            view.users.clone(),
                        );
                        if now == last && sent.elapsed() < heartbeat_after(poll) {
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

/// How long a watcher stays silent when nothing changes: one poll less than
/// a second, so a message goes out at least every second.
fn heartbeat_after(poll: Duration) -> Duration {
    Duration::from_secs(1).saturating_sub(poll)
}
