//! Disable, reactivate and remove users, with reassignment of their work
//! records (SPEC rules 3-6, 10, 11). A change too large for one call is
//! queued as a job for the worker (see `jobs`).

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};

use super::handover::{ChangeCheck, Handover, Refusal, check_change, enqueue, finish_change};
use super::idempotency::{self, Key};
use super::seats::{SeatEffect, seat_preview, take_seat};
use super::{LifecycleService, ensure_writable, locked_account, new_id};
use crate::auth::principal::Grant;
use crate::domain::records::{RecordCounts, RecordKind, Targets};
use crate::domain::{
    Account, BulkMode, Change, EventType, Job, JobKind, JobSpec, JobState, JobUser, NewEvent,
    RequestId, User, UserOutcome, UserStatus,
};
use crate::error::{Error, Reason, Result};
use crate::store::prelude::*;
use crate::store::{Move, Repo};

/// The answer of DisableUser and RemoveUser (done, or with validate_only,
/// what would happen).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LifecycleOutcome {
    pub user: User,
    pub moved: RecordCounts,
    pub seat_effect: SeatEffect,
    pub refusals: Vec<Refusal>,
    /// Set when the change runs as a durable job.
    #[serde(default)]
    pub job_id: Option<String>,
}

/// The answer of ActivateUser.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ActivateOutcome {
    pub user: User,
    pub seat_effect: SeatEffect,
    pub restored: RecordCounts,
    pub refusals: Vec<Refusal>,
}

fn release_effect(account: &Account, active_before: i64, subject_active: bool) -> SeatEffect {
    SeatEffect {
        active_before,
        active_after: active_before - i64::from(subject_active),
        seats_before: account.seats_purchased,
        seats_after: account.seats_purchased,
        charge_minor: 0,
        currency: account.currency.clone(),
    }
}

fn fingerprint(user_id: &str, targets: &Targets, extra: &str) -> String {
    idempotency::fingerprint(&[
        user_id,
        &serde_json::to_string(targets).unwrap_or_default(),
        extra,
    ])
}

/// Validated input of DisableUser / RemoveUser.
pub struct LifecycleChange {
    pub user_id: String,
    pub targets: Targets,
    pub validate_only: bool,
    pub request_id: Option<RequestId>,
}

impl LifecycleService {
    pub async fn disable_user(
        &self,
        grant: &Grant,
        change: LifecycleChange,
    ) -> Result<LifecycleOutcome> {
        self.change_user(grant, change, Change::Disable).await
    }

    pub async fn remove_user(
        &self,
        grant: &Grant,
        change: LifecycleChange,
    ) -> Result<LifecycleOutcome> {
        if change.targets.is_empty() {
            return Err(Error {
                reason: Reason::ReassignmentRequired,
                ..Error::invalid(
                    "reassignment",
                    "removing a user needs a target for its records (target_user_id or by_kind)",
                )
            });
        }
        self.change_user(grant, change, Change::Remove).await
    }

    /// DisableUser and RemoveUser. Users holding more records than the
    /// in-call threshold are handed to a durable job (see `jobs`); the
    /// answer then carries its id and the user is unchanged until it ends.
    async fn change_user(
        &self,
        grant: &Grant,
        change: LifecycleChange,
        kind: Change,
    ) -> Result<LifecycleOutcome> {
        let account_id = grant.account_id().to_owned();
        let actor = grant.actor();
        let now = self.now();
        let operation = match kind {
            Change::Disable => "DisableUser",
            Change::Remove => "RemoveUser",
        };
        let key = change
            .request_id
            .as_ref()
            .filter(|_| !change.validate_only)
            .map(|request_id| Key {
                namespace: &account_id,
                operation,
                request_id,
                fingerprint: fingerprint(&change.user_id, &change.targets, ""),
            });
        let threshold = self.jobs.single_user_threshold;
        self.store
            .write(async |conn| {
                let account = locked_account(conn, &account_id).await?;
                if let Some(key) = &key
                    && let Some(done) = idempotency::replay(conn, key).await?
                {
                    return Ok(done);
                }
                let user = conn
                    .find_user(&account_id, &change.user_id)
                    .await?
                    .ok_or_else(Error::user_not_found)?;
                let check = ChangeCheck {
                    account: &account,
                    targets: &change.targets,
                    change: kind,
                    subjects: &[&user.id],
                    admins_leaving: 0,
                    now,
                };
                let (mut refusals, holdings) = check_change(conn, &check, &user).await?;
                let counts = conn.count_users(&account_id).await?;
                let seat_effect = release_effect(&account, counts.active, user.is_active());
                let would_move = holdings.moved_by(&change.targets);
                if change.validate_only {
                    return Ok(LifecycleOutcome {
                        moved: would_move,
                        user,
                        seat_effect,
                        refusals,
                        job_id: None,
                    });
                }
                if !refusals.is_empty() {
                    return Err(refusals.remove(0).into_error());
                }
                let outcome = if would_move.total() > threshold {
                    let (job, users) = single_user_job(&check, &user, &actor, would_move.total());
                    enqueue(conn, &job, &users, now).await?;
                    let job_id = job.id;
                    LifecycleOutcome {
                        moved: RecordCounts::default(),
                        user,
                        seat_effect,
                        refusals: Vec::new(),
                        job_id: Some(job_id),
                    }
                } else {
                    let handover = Handover {
                        account_id: &account_id,
                        targets: &change.targets,
                        change: kind,
                        actor: &actor,
                        job_id: None,
                        now,
                    };
                    let (user, moved) = finish_change(conn, &handover, user).await?;
                    LifecycleOutcome {
                        user,
                        moved,
                        seat_effect,
                        refusals: Vec::new(),
                        job_id: None,
                    }
                };
                if let Some(key) = &key {
                    let subject = (kind == Change::Disable).then_some(outcome.user.id.as_str());
                    idempotency::remember(conn, key, &outcome, subject, now).await?;
                }
                Ok::<_, Error>(outcome)
            })
            .await
    }

    pub async fn activate_user(
        &self,
        grant: &Grant,
        user_id: &str,
        restore_records: bool,
        validate_only: bool,
        request_id: Option<RequestId>,
    ) -> Result<ActivateOutcome> {
        let account_id = grant.account_id().to_owned();
        let actor = grant.actor();
        let now = self.now();
        let key = request_id
            .as_ref()
            .filter(|_| !validate_only)
            .map(|request_id| Key {
                namespace: &account_id,
                operation: "ActivateUser",
                request_id,
                fingerprint: idempotency::fingerprint(&[user_id, &restore_records.to_string()]),
            });
        self.store
            .write(async |conn| {
                let account = locked_account(conn, &account_id).await?;
                if let Some(key) = &key
                    && let Some(done) = idempotency::replay(conn, key).await?
                {
                    return Ok(done);
                }
                let user = conn
                    .find_user(&account_id, user_id)
                    .await?
                    .ok_or_else(Error::user_not_found)?;
                let mut refusals = Vec::new();
                if let Err(e) = ensure_writable(&account, now) {
                    refusals.push(Refusal::new(&user.id, Reason::TrialExpired, e.message));
                }
                if user.is_active() {
                    refusals.push(Refusal::new(
                        &user.id,
                        Reason::InvalidStatus,
                        "the user is already active",
                    ));
                }
                if validate_only {
                    let seat_effect = match seat_preview(&account, &self.prices, now) {
                        Ok((_, effect)) => effect,
                        Err(e) => {
                            refusals.push(Refusal::new(
                                &user.id,
                                Reason::SeatLimitReached,
                                e.message,
                            ));
                            SeatEffect::default()
                        }
                    };
                    return Ok(ActivateOutcome {
                        user,
                        seat_effect,
                        restored: RecordCounts::default(),
                        refusals,
                    });
                }
                if !refusals.is_empty() {
                    return Err(refusals.remove(0).into_error());
                }
                let seat_effect =
                    take_seat(conn, &account, &self.prices, &actor, &user.id, now).await?;
                // Tokens issued while inactive stay revoked: the revocation
                // time is kept.
                let user = User {
                    status: UserStatus::Active,
                    disabled_at: None,
                    version: user.version + 1,
                    updated_at: now,
                    ..user
                };
                conn.set_user_status(&user).await?;
                let restored = if restore_records {
                    restore(conn, &account_id, &user.id, &actor, now).await?
                } else {
                    RecordCounts::default()
                };
                conn.append_event(
                    &account_id,
                    NewEvent {
                        user_id: Some(user.id.clone()),
                        moved: Some(restored),
                        ..NewEvent::new(EventType::UserActivated, &actor)
                    },
                    now,
                )
                .await?;
                let outcome = ActivateOutcome {
                    user,
                    seat_effect,
                    restored,
                    refusals: Vec::new(),
                };
                if let Some(key) = &key {
                    idempotency::remember(conn, key, &outcome, Some(&outcome.user.id), now).await?;
                }
                Ok::<_, Error>(outcome)
            })
            .await
    }
}

/// A one-user job for a disable or remove too large for the call, with
/// the rules already checked.
fn single_user_job(
    check: &ChangeCheck<'_>,
    user: &User,
    actor: &str,
    records: i64,
) -> (Job, Vec<JobUser>) {
    let job = Job::new(
        new_id(),
        JobSpec {
            account_id: &check.account.id,
            kind: JobKind::of(check.change, false),
            state: JobState::Queued,
            mode: BulkMode::AllOrNothing,
            targets: check.targets,
            created_by: actor,
            request_id: None,
            records_total: records,
            now: check.now,
        },
    );
    let users = vec![JobUser::new(
        &job.id,
        0,
        &user.id,
        UserOutcome::Pending,
        None,
    )];
    (job, users)
}

/// Gives a reactivated user back the records the journal says went from it
/// to each colleague, where that colleague still holds them (SPEC rule 10).
async fn restore<R: Repo>(
    conn: &mut R,
    account_id: &str,
    user_id: &str,
    actor: &str,
    now: NaiveDateTime,
) -> Result<RecordCounts> {
    let mut restored = RecordCounts::default();
    for holder in conn.journal_receivers(user_id).await? {
        let mut back = RecordCounts::default();
        for kind in [
            RecordKind::Lead,
            RecordKind::Contact,
            RecordKind::Company,
            RecordKind::Customer,
            RecordKind::Task,
            RecordKind::Conversation,
        ] {
            let mv = Move {
                account_id,
                from_user_id: &holder,
                to_user_id: user_id,
                kind,
                job_id: None,
                now,
            };
            back.add(kind, conn.restore_records(&mv).await?);
        }
        if back.total() > 0 {
            let event = NewEvent {
                user_id: Some(holder.clone()),
                target_user_id: Some(user_id.to_owned()),
                moved: Some(back),
                detail: "RESTORED".into(),
                ..NewEvent::new(EventType::RecordsReassigned, actor)
            };
            conn.append_event(account_id, event, now).await?;
        }
        restored.merge(&back);
    }
    Ok(restored)
}
