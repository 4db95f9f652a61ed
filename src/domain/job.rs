//! Durable jobs: what they change, their states and per-user outcomes.

use chrono::NaiveDateTime;

use super::records::{RecordCounts, Targets};
use crate::error::Reason;

/// Disable or remove: the two changes that hand records over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Disable,
    Remove,
}

super::named_enum! {
    pub enum JobKind {
        BulkDisable,
        BulkRemove,
        Disable,
        Remove,
    }
}

impl JobKind {
    /// The kind of a job making `change`, for a bulk call or for one user.
    pub fn of(change: Change, bulk: bool) -> JobKind {
        match (change, bulk) {
            (Change::Disable, true) => JobKind::BulkDisable,
            (Change::Remove, true) => JobKind::BulkRemove,
            (Change::Disable, false) => JobKind::Disable,
            (Change::Remove, false) => JobKind::Remove,
        }
    }

    pub fn change(self) -> Change {
        match self {
            JobKind::BulkDisable | JobKind::Disable => Change::Disable,
            JobKind::BulkRemove | JobKind::Remove => Change::Remove,
        }
    }
}

super::named_enum! {
    pub enum JobState {
        Queued,
        Running,
        Succeeded,
        Failed,
        Cancelled,
    }
}

impl JobState {
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            JobState::Succeeded | JobState::Failed | JobState::Cancelled
        )
    }
}

super::named_enum! {
    pub enum BulkMode {
        BestEffort,
        AllOrNothing,
    }
}

super::named_enum! {
    /// Where one user of a job stands.
    pub enum UserOutcome {
        Pending,
        Running,
        Done,
        Skipped,
        Failed,
    }
}

impl UserOutcome {
    /// Still to be worked (a worker picks it up, or goes on with it).
    pub fn is_open(self) -> bool {
        matches!(self, UserOutcome::Pending | UserOutcome::Running)
    }
}

/// A job, without its per-user rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub id: String,
    pub account_id: String,
    pub kind: JobKind,
    pub state: JobState,
    pub mode: BulkMode,
    pub targets: Targets,
    pub created_by: String,
    pub request_id: Option<String>,
    pub records_total: i64,
    pub records_moved: i64,
    /// Records moved so far, per kind.
    pub moved: RecordCounts,
    pub cancel_requested: bool,
    pub lease_owner: Option<String>,
    pub lease_expires_at: Option<NaiveDateTime>,
    pub error_message: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub finished_at: Option<NaiveDateTime>,
}

/// One user of a job, in the order the call named them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobUser {
    pub job_id: String,
    pub position: i32,
    pub user_id: String,
    pub outcome: UserOutcome,
    /// Why it was skipped or failed.
    pub reason: Option<Reason>,
    pub message: String,
    /// Records moved away from this user so far, per kind.
    pub moved: RecordCounts,
}

/// What a new job is: everything but its id and progress.
#[derive(Debug, Clone, Copy)]
pub struct JobSpec<'a> {
    pub account_id: &'a str,
    pub kind: JobKind,
    pub state: JobState,
    pub mode: BulkMode,
    pub targets: &'a Targets,
    pub created_by: &'a str,
    pub request_id: Option<&'a str>,
    /// Records the job is expected to move (for its percentage).
    pub records_total: i64,
    pub now: NaiveDateTime,
}

impl Job {
    /// A new job: nothing moved, no lease; one that starts FAILED (an
    /// all-or-nothing call with a refusal) is finished at once.
    pub fn new(id: String, spec: JobSpec<'_>) -> Job {
        Job {
            id,
            account_id: spec.account_id.to_owned(),
            kind: spec.kind,
            state: spec.state,
            mode: spec.mode,
            targets: spec.targets.clone(),
            created_by: spec.created_by.to_owned(),
            request_id: spec.request_id.map(str::to_owned),
            records_total: spec.records_total,
            records_moved: 0,
            moved: RecordCounts::default(),
            cancel_requested: false,
            lease_owner: None,
            lease_expires_at: None,
            error_message: String::new(),
            created_at: spec.now,
            updated_at: spec.now,
            finished_at: (spec.state == JobState::Failed).then_some(spec.now),
        }
    }
}

impl JobUser {
    /// The `position`-th user of a job, with its outcome so far.
    pub fn new(
        job_id: &str,
        position: usize,
        user_id: &str,
        outcome: UserOutcome,
        refusal: Option<(Reason, &str)>,
    ) -> JobUser {
        JobUser {
            job_id: job_id.to_owned(),
            position: i32::try_from(position).unwrap_or(i32::MAX),
            user_id: user_id.to_owned(),
            outcome,
            reason: refusal.map(|(reason, _)| reason),
            message: refusal.map(|(_, m)| m.to_owned()).unwrap_or_default(),
            moved: RecordCounts::default(),
        }
    }
}
