//! Jobs and their per-user rows.

use super::{corrupt, counts, counts_text, parse};
use crate::domain::records::Targets;
use crate::domain::{Job, JobUser};
use crate::error::{Error, Reason, Result};
use crate::store::models::*;

impl TryFrom<JobRow> for Job {
    type Error = Error;

    fn try_from(row: JobRow) -> Result<Job> {
        let targets: Targets =
            serde_json::from_str(&row.targets).map_err(|_| corrupt("jobs", &row.id, "targets"))?;
        Ok(Job {
            kind: parse("jobs", &row.id, "kind", &row.kind)?,
            state: parse("jobs", &row.id, "state", &row.state)?,
            mode: parse("jobs", &row.id, "mode", &row.mode)?,
            moved: counts("jobs", &row.id, &row.moved)?,
            targets,
            id: row.id,
            account_id: row.account_id,
            created_by: row.created_by,
            request_id: row.request_id,
            records_total: row.records_total,
            records_moved: row.records_moved,
            cancel_requested: row.cancel_requested,
            lease_owner: row.lease_owner,
            lease_expires_at: row.lease_expires_at,
            error_message: row.error_message,
            created_at: row.created_at,
            updated_at: row.updated_at,
            finished_at: row.finished_at,
        })
    }
}

pub fn job(row: Option<JobRow>) -> Result<Option<Job>> {
    row.map(Job::try_from).transpose()
}

pub fn jobs(rows: Vec<JobRow>) -> Result<Vec<Job>> {
    rows.into_iter().map(Job::try_from).collect()
}

/// The stored text of a job's targets (also what a retried bulk call is
/// compared by).
pub fn targets_text(targets: &Targets) -> String {
    serde_json::to_string(targets).unwrap_or_default()
}

impl From<&Job> for JobRow {
    fn from(j: &Job) -> JobRow {
        JobRow {
            id: j.id.clone(),
            account_id: j.account_id.clone(),
            kind: j.kind.as_str().to_owned(),
            state: j.state.as_str().to_owned(),
            mode: j.mode.as_str().to_owned(),
            targets: targets_text(&j.targets),
            created_by: j.created_by.clone(),
            request_id: j.request_id.clone(),
            records_total: j.records_total,
            records_moved: j.records_moved,
            moved: counts_text(&j.moved),
            cancel_requested: j.cancel_requested,
            lease_owner: j.lease_owner.clone(),
            lease_expires_at: j.lease_expires_at,
            error_message: j.error_message.clone(),
            created_at: j.created_at,
            updated_at: j.updated_at,
            finished_at: j.finished_at,
        }
    }
}

impl TryFrom<JobUserRow> for JobUser {
    type Error = Error;

    fn try_from(row: JobUserRow) -> Result<JobUser> {
        let id = format!("{}/{}", row.job_id, row.position);
        let reason = if row.reason.is_empty() {
            None
        } else {
            Some(
                Reason::from_name(&row.reason)
                    .ok_or_else(|| corrupt("job_users", &id, "reason"))?,
            )
        };
        Ok(JobUser {
            outcome: parse("job_users", &id, "outcome", &row.outcome)?,
            moved: counts("job_users", &id, &row.moved)?,
            reason,
            job_id: row.job_id,
            position: row.position,
            user_id: row.user_id,
            message: row.message,
        })
    }
}

pub fn job_users(rows: Vec<JobUserRow>) -> Result<Vec<JobUser>> {
    rows.into_iter().map(JobUser::try_from).collect()
}

impl From<&JobUser> for JobUserRow {
    fn from(u: &JobUser) -> JobUserRow {
        JobUserRow {
            job_id: u.job_id.clone(),
            position: u.position,
            user_id: u.user_id.clone(),
            outcome: u.outcome.as_str().to_owned(),
            reason: u.reason.map(|r| r.as_str().to_owned()).unwrap_or_default(),
            message: u.message.clone(),
            moved: counts_text(&u.moved),
        }
    }
}
