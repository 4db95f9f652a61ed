//! The rules and steps a disable or remove shares, whether it runs in the
//! call or as a job: checking the subject and the targets, handing the
//! records over (journalled), and the final disable or delete (SPEC rules
//! 3-6, 8, 10, 11). Each step runs on a connection with the account locked.

use chrono::NaiveDateTime;

pub use super::rules::{ChangeCheck, Holdings, Refusal};
use super::rules::{ChangeFacts, change_refusals};
use crate::domain::records::{RecordCounts, RecordKind, Targets};
use crate::domain::{
    Change, EventType, Job, JobState, JobUser, NewEvent, Permissions, User, UserOutcome, UserStatus,
};
use crate::error::{Reason, Result};
use crate::store::{Move, Repo};

async fn holdings<R: Repo>(conn: &mut R, user_id: &str) -> Result<Holdings> {
    Ok(Holdings {
        held: conn.count_records(user_id).await?,
        conversations_by_parent: conn.count_conversations_by_parent(user_id).await?,
    })
}

/// SPEC rule 6: every target is an active user of the account and not one
/// of the users being changed. A user of another account is reported
/// exactly like a missing one.
pub async fn check_targets<R: Repo>(
    conn: &mut R,
    account_id: &str,
    subjects: &[&str],
    targets: &Targets,
) -> Result<Vec<Refusal>> {
    let mut refusals = Vec::new();
    for target in targets.users() {
        if subjects.contains(&target) {
            refusals.push(Refusal::new(
                target,
                Reason::TargetIsSubject,
                "a reassignment target cannot be one of the users being disabled or removed",
            ));
            continue;
        }
        let active = conn
            .find_user(account_id, target)
            .await?
            .is_some_and(|u| u.is_active());
        if !active {
            refusals.push(Refusal::new(
                target,
                Reason::TargetNotActive,
                "a reassignment target must be an active user of this account",
            ));
        }
    }
    Ok(refusals)
}

/// SPEC rules 3, 5, 6 and 8 for one user of the call, as refusals, plus
/// what the user holds: reads what the rules need, under the account lock,
/// and leaves the decision to [`change_refusals`].
pub async fn check_change<R: Repo>(
    conn: &mut R,
    check: &ChangeCheck<'_>,
    user: &User,
) -> Result<(Vec<Refusal>, Holdings)> {
    // Counted only when it matters: one query fewer for most users.
    let active_admins = if user.is_active_admin() {
        conn.count_active_admins(&check.account.id).await?
    } else {
        0
    };
    let target_refusals =
        check_targets(conn, &check.account.id, check.subjects, check.targets).await?;
    let holdings = holdings(conn, &user.id).await?;
    let facts = ChangeFacts {
        user,
        active_admins,
        target_refusals,
        holdings: &holdings,
    };
    Ok((change_refusals(check, facts), holdings))
}

/// A job's user checked again as the worker starts on it (things change
/// while a job waits): None to go on, or the outcome it ends with and why.
/// `check.subjects` is ignored: the user is the only subject.
pub async fn recheck_before_start<R: Repo>(
    conn: &mut R,
    check: &ChangeCheck<'_>,
    user: &JobUser,
) -> Result<Option<(UserOutcome, Refusal)>> {
    let Some(found) = conn.find_user(&check.account.id, &user.user_id).await? else {
        let refusal = Refusal::new(
            &user.user_id,
            Reason::UserNotFound,
            "no such user in this account",
        );
        return Ok(Some((UserOutcome::Failed, refusal)));
    };
    if check.change == Change::Disable && !found.is_active() && user.outcome == UserOutcome::Pending
    {
        let refusal = Refusal::new(
            &found.id,
            Reason::InvalidStatus,
            "the user is already inactive",
        );
        return Ok(Some((UserOutcome::Skipped, refusal)));
    }
    let check = ChangeCheck {
        subjects: &[found.id.as_str()],
        ..*check
    };
    let (mut refusals, _) = check_change(conn, &check, &found).await?;
    // Kinds can be uncovered only until their records moved; the final step
    // checks removal again.
    refusals
        .retain(|r| r.reason != Reason::ReassignmentRequired && r.reason != Reason::InvalidStatus);
    Ok(refusals
        .into_iter()
        .next()
        .map(|r| (UserOutcome::Failed, r)))
}

/// Who hands over what: the account, the targets, the change, who asked,
/// and the job it runs in (if any).
#[derive(Debug, Clone, Copy)]
pub struct Handover<'a> {
    pub account_id: &'a str,
    pub targets: &'a Targets,
    pub change: Change,
    pub actor: &'a str,
    pub job_id: Option<&'a str>,
    pub now: NaiveDateTime,
}

/// Who moves records where, whatever the reason (a hand-over, or
/// TransferRecords between two active users).
#[derive(Debug, Clone, Copy)]
pub struct Moving<'a> {
    pub account_id: &'a str,
    pub targets: &'a Targets,
    pub actor: &'a str,
    pub job_id: Option<&'a str>,
    pub now: NaiveDateTime,
}

impl<'a> Handover<'a> {
    pub fn moving(&self) -> Moving<'a> {
        Moving {
            account_id: self.account_id,
            targets: self.targets,
            actor: self.actor,
            job_id: self.job_id,
            now: self.now,
        }
    }
}

/// Moves the subject's records to the targets (journalled, conversations
/// with their lead/contact/company) and appends one RECORDS_REASSIGNED
/// event per receiving user.
pub async fn reassign<R: Repo>(
    conn: &mut R,
    handover: &Moving<'_>,
    subject_id: &str,
) -> Result<RecordCounts> {
    let targets = handover.targets;
    let mut total = RecordCounts::default();
    for receiver in targets.users() {
        let mut moved = RecordCounts::default();
        for kind in RecordKind::MOVABLE
            .into_iter()
            .filter(|k| targets.target(*k) == Some(receiver))
        {
            let mv = Move {
                account_id: handover.account_id,
                from_user_id: subject_id,
                to_user_id: receiver,
                kind,
                job_id: handover.job_id,
                now: handover.now,
            };
            moved.add(kind, conn.move_records(&mv).await?);
            if RecordKind::PARENTS.contains(&kind) {
                moved.add(
                    RecordKind::Conversation,
                    conn.move_conversations(&mv).await?,
                );
            }
        }
        if moved.total() > 0 {
            let event = NewEvent {
                user_id: Some(subject_id.to_owned()),
                target_user_id: Some(receiver.to_owned()),
                job_id: handover.job_id.map(str::to_owned),
                moved: Some(moved),
                ..NewEvent::new(EventType::RecordsReassigned, handover.actor)
            };
            conn.append_event(handover.account_id, event, handover.now)
                .await?;
        }
        total.merge(&moved);
    }
    Ok(total)
}

/// The last step of a disable or remove, with the rules checked: moves
/// whatever the user still holds, then disables (status, token revocation)
/// or deletes it, and writes the events. Returns the user as it now is and
/// the records moved in this step.
pub async fn finish_change<R: Repo>(
    conn: &mut R,
    handover: &Handover<'_>,
    user: User,
) -> Result<(User, RecordCounts)> {
    let now = handover.now;
    let moved = reassign(conn, &handover.moving(), &user.id).await?;
    let user = match handover.change {
        Change::Disable => {
            let disabled = User {
                status: UserStatus::Inactive,
                disabled_at: Some(now),
                tokens_valid_after: Some(now),
                version: user.version + 1,
                updated_at: now,
                ..user
            };
            conn.set_user_status(&disabled).await?;
            disabled
        }
        Change::Remove => {
            conn.orphan_notes(&user.id, now).await?;
            conn.forget_replies_about(&user.id).await?;
            // The foreign key from work_records refuses this if any record
            // were still owned by the user: nothing is left with a removed owner.
            conn.delete_user(&user.id, now).await?;
            // Only the id is kept in answers: the personal data is gone.
            User {
                name: String::new(),
                email: String::new(),
                permissions: Permissions::default_for(user.role),
                ..user
            }
        }
    };
    let event_type = match handover.change {
        Change::Disable => EventType::UserDisabled,
        Change::Remove => EventType::UserRemoved,
    };
    let event = NewEvent {
        user_id: Some(user.id.clone()),
        job_id: handover.job_id.map(str::to_owned),
        moved: Some(moved),
        ..NewEvent::new(event_type, handover.actor)
    };
    conn.append_event(handover.account_id, event, now).await?;
    Ok((user, moved))
}

/// Writes a queued job with its users and the JOB_STATE_CHANGED event.
pub async fn enqueue<R: Repo>(
    conn: &mut R,
    job: &Job,
    users: &[JobUser],
    now: NaiveDateTime,
) -> Result<()> {
    conn.insert_job(job, users).await?;
    job_event(conn, job, job.state, &job.created_by, now).await
}

/// The JOB_STATE_CHANGED event of `job` entering `state`.
pub async fn job_event<R: Repo>(
    conn: &mut R,
    job: &Job,
    state: JobState,
    actor: &str,
    now: NaiveDateTime,
) -> Result<()> {
    let event = NewEvent {
        job_id: Some(job.id.clone()),
        detail: state.as_str().to_owned(),
        ..NewEvent::new(EventType::JobStateChanged, actor)
    };
    conn.append_event(&job.account_id, event, now)
        .await
        .map(|_| ())
}
