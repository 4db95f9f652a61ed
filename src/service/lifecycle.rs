//! Disable, reactivate and remove users, with reassignment of their work
//! records (SPEC rules 3-6, 10, 11).

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};

use super::idempotency::{self, Key};
use super::seats::{SeatEffect, seat_preview, take_seat};
use super::{Roster, ensure_writable};
use crate::auth::Principal;
use crate::auth::principal::{Access, Scope};
use crate::domain::RequestId;
use crate::domain::records::{RecordCounts, RecordKind, Targets};
use crate::error::{Code, Error, Reason, Result};
use crate::store::models::{AccountRow, Move, NewEvent, UserRow, UserStatusChange};
use crate::store::{Repo, UserReads};
use crate::write;

/// Why a change is (or would be) refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    pub user_id: String,
    pub reason: Reason,
    pub message: String,
}

impl Refusal {
    pub fn new(user_id: &str, reason: Reason, message: impl Into<String>) -> Self {
        Refusal {
            user_id: user_id.to_owned(),
            reason,
            message: message.into(),
        }
    }

    /// The error a real (not validate-only) call fails with.
    pub fn into_error(self) -> Error {
        match self.reason {
            Reason::ReassignmentRequired => Error {
                reason: Reason::ReassignmentRequired,
                ..Error::invalid("reassignment", self.message)
            },
            reason @ (Reason::TargetNotActive
            | Reason::TargetIsSubject
            | Reason::LastAdmin
            | Reason::TrialExpired
            | Reason::InvalidStatus
            | Reason::SeatLimitReached) => Error::precondition(reason, self.message),
            _ => Error::new(
                Code::FailedPrecondition,
                Reason::InvalidStatus,
                self.message,
            ),
        }
    }
}

/// The answer of DisableUser and RemoveUser (done, or with validate_only,
/// what would happen).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LifecycleOutcome {
    pub user: UserRow,
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
    pub user: UserRow,
    pub seat_effect: SeatEffect,
    pub restored: RecordCounts,
    pub refusals: Vec<Refusal>,
}

/// What a disable or remove needs to know about the subject's records.
pub struct Holdings {
    pub held: RecordCounts,
    pub conversations_by_parent: Vec<(RecordKind, i64)>,
}

async fn holdings<R: Repo>(conn: &mut R, user_id: &str) -> Result<Holdings> {
    let mut held = RecordCounts::default();
    for (kind, n) in conn.count_records(user_id).await? {
        if let Some(kind) = RecordKind::from_db(&kind) {
            held.add(kind, n);
        }
    }
    let conversations_by_parent = conn
        .count_conversations_by_parent(user_id)
        .await?
        .into_iter()
        .filter_map(|(k, n)| RecordKind::from_db(&k).map(|k| (k, n)))
        .collect();
    Ok(Holdings {
        held,
        conversations_by_parent,
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
            .is_some_and(|u| u.status == "ACTIVE");
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

/// Moves the subject's records to the targets (journalled, conversations
/// with their lead/contact) and appends one RECORDS_REASSIGNED event per
/// receiving user. Call with the account locked.
pub async fn reassign<R: Repo>(
    conn: &mut R,
    account_id: &str,
    subject_id: &str,
    targets: &Targets,
    actor: &str,
    job_id: Option<&str>,
    now: NaiveDateTime,
) -> Result<RecordCounts> {
    let mut total = RecordCounts::default();
    for receiver in targets.users() {
        let mut moved = RecordCounts::default();
        for kind in RecordKind::MOVABLE
            .into_iter()
            .filter(|k| targets.target(*k) == Some(receiver))
        {
            let mv = Move {
                account_id,
                from_user_id: subject_id,
                to_user_id: receiver,
                kind: kind.as_str(),
                job_id,
                now,
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
            conn.append_event(
                account_id,
                NewEvent {
                    event_type: "RECORDS_REASSIGNED",
                    actor: actor.to_owned(),
                    user_id: Some(subject_id.to_owned()),
                    target_user_id: Some(receiver.to_owned()),
                    job_id: job_id.map(str::to_owned),
                    moved: Some(moved.to_json()),
                    ..NewEvent::default()
                },
                now,
            )
            .await?;
        }
        total.merge(&moved);
    }
    Ok(total)
}

/// Disable or remove.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Disable,
    Remove,
}

/// Every rule a disable or remove of `user` must pass (SPEC rules 3, 5, 6,
/// 8), as refusals, plus what the user holds. `subjects` are all the users
/// changed by the same call. `admins_leaving` counts active admins of the
/// same call already accepted before this one.
#[allow(clippy::too_many_arguments)]
pub async fn check_change<R: Repo>(
    conn: &mut R,
    account: &AccountRow,
    user: &UserRow,
    targets: &Targets,
    change: Change,
    subjects: &[&str],
    admins_leaving: i64,
    now: NaiveDateTime,
) -> Result<(Vec<Refusal>, Holdings)> {
    let mut refusals = Vec::new();
    if let Err(e) = ensure_writable(account, now) {
        refusals.push(Refusal::new(&user.id, Reason::TrialExpired, e.message));
    }
    if change == Change::Disable && user.status != "ACTIVE" {
        refusals.push(Refusal::new(
            &user.id,
            Reason::InvalidStatus,
            "the user is already inactive",
        ));
    }
    if user.role == "ADMIN"
        && user.status == "ACTIVE"
        && conn.count_active_admins(&account.id).await? - admins_leaving <= 1
    {
        refusals.push(Refusal::new(
            &user.id,
            Reason::LastAdmin,
            "the account's last active admin cannot be disabled or removed",
        ));
    }
    refusals.extend(check_targets(conn, &account.id, subjects, targets).await?);
    let holdings = holdings(conn, &user.id).await?;
    if change == Change::Remove {
        let uncovered = targets.uncovered(&holdings.held, &holdings.conversations_by_parent);
        if !uncovered.is_empty() {
            let kinds: Vec<&str> = uncovered.iter().map(|k| k.as_str()).collect();
            refusals.push(Refusal::new(
                &user.id,
                Reason::ReassignmentRequired,
                format!("records of these kinds need a target: {}", kinds.join(", ")),
            ));
        }
    }
    Ok((refusals, holdings))
}

/// The last step of a disable or remove, with the account locked and the
/// rules checked: moves whatever the user still holds, then disables
/// (status, token revocation) or deletes it, and writes the events.
/// Returns the user as it now is and the records moved in this step.
#[allow(clippy::too_many_arguments)]
pub async fn finish_change<R: Repo>(
    conn: &mut R,
    account_id: &str,
    user: UserRow,
    targets: &Targets,
    change: Change,
    actor: &str,
    job_id: Option<&str>,
    now: NaiveDateTime,
) -> Result<(UserRow, RecordCounts)> {
    let moved = reassign(conn, account_id, &user.id, targets, actor, job_id, now).await?;
    let user = match change {
        Change::Disable => {
            let status = UserStatusChange {
                status: "INACTIVE".into(),
                disabled_at: Some(now),
                tokens_valid_after: Some(now),
                version: user.version + 1,
                updated_at: now,
            };
            conn.set_user_status(&user.id, &status).await?;
            UserRow {
                status: status.status,
                disabled_at: status.disabled_at,
                tokens_valid_after: status.tokens_valid_after,
                version: status.version,
                updated_at: now,
                ..user
            }
        }
        Change::Remove => {
            conn.orphan_notes(&user.id, now).await?;
            conn.forget_replies_about(&user.id).await?;
            // The foreign key from work_records refuses this if any record
            // were still owned by the user: nothing is left with a removed owner.
            conn.delete_user(&user.id, now).await?;
            // Only the id is kept in answers: the personal data is gone.
            UserRow {
                name: String::new(),
                email: String::new(),
                search_text: String::new(),
                permissions: String::new(),
                ..user
            }
        }
    };
    conn.append_event(
        account_id,
        NewEvent {
            event_type: match change {
                Change::Disable => "USER_DISABLED",
                Change::Remove => "USER_REMOVED",
            },
            actor: actor.to_owned(),
            user_id: Some(user.id.clone()),
            job_id: job_id.map(str::to_owned),
            moved: Some(moved.to_json()),
            ..NewEvent::default()
        },
        now,
    )
    .await?;
    Ok((user, moved))
}

fn release_effect(account: &AccountRow, active_before: i64, subject_active: bool) -> SeatEffect {
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

impl Roster {
    pub async fn disable_user(
        &self,
        caller: &Principal,
        account_id: &str,
        change: LifecycleChange,
    ) -> Result<LifecycleOutcome> {
        self.change_user(caller, account_id, change, Change::Disable)
            .await
    }

    pub async fn remove_user(
        &self,
        caller: &Principal,
        account_id: &str,
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
        self.change_user(caller, account_id, change, Change::Remove)
            .await
    }

    /// DisableUser and RemoveUser. Users holding more records than the
    /// in-call threshold are handed to a durable job (see `jobs`); the
    /// answer then carries its id and the user is unchanged until it ends.
    async fn change_user(
        &self,
        caller: &Principal,
        account_id: &str,
        change: LifecycleChange,
        kind: Change,
    ) -> Result<LifecycleOutcome> {
        let account_id = caller.authorize(account_id, Access::Write(Scope::UsersWrite))?;
        let actor = caller.actor();
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
        write!(self.store, |conn| {
            let account = conn
                .lock_account(&account_id)
                .await?
                .ok_or_else(Error::account_not_found)?;
            if let Some(key) = &key
                && let Some(done) = idempotency::replay(conn, key).await?
            {
                return Ok(done);
            }
            let user = conn
                .find_user(&account_id, &change.user_id)
                .await?
                .ok_or_else(Error::user_not_found)?;
            let (mut refusals, holdings) = check_change(
                conn,
                &account,
                &user,
                &change.targets,
                kind,
                &[&user.id],
                0,
                now,
            )
            .await?;
            let counts = conn.count_users(&account_id).await?;
            let seat_effect = release_effect(&account, counts.active, user.status == "ACTIVE");
            let would_move = change
                .targets
                .moved(&holdings.held, &holdings.conversations_by_parent);
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
                let job_id = super::jobs::enqueue_single(
                    conn,
                    &account_id,
                    &user,
                    &change.targets,
                    kind,
                    &actor,
                    would_move,
                    now,
                )
                .await?;
                LifecycleOutcome {
                    moved: RecordCounts::default(),
                    user,
                    seat_effect,
                    refusals: Vec::new(),
                    job_id: Some(job_id),
                }
            } else {
                let (user, moved) = finish_change(
                    conn,
                    &account_id,
                    user,
                    &change.targets,
                    kind,
                    &actor,
                    None,
                    now,
                )
                .await?;
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
    }

    pub async fn activate_user(
        &self,
        caller: &Principal,
        account_id: &str,
        user_id: &str,
        restore_records: bool,
        validate_only: bool,
        request_id: Option<RequestId>,
    ) -> Result<ActivateOutcome> {
        let account_id = caller.authorize(account_id, Access::Write(Scope::UsersWrite))?;
        let actor = caller.actor();
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
        write!(self.store, |conn| {
            let account = conn
                .lock_account(&account_id)
                .await?
                .ok_or_else(Error::account_not_found)?;
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
            if user.status != "INACTIVE" {
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
                        refusals.push(Refusal::new(&user.id, Reason::SeatLimitReached, e.message));
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
            let status = UserStatusChange {
                status: "ACTIVE".into(),
                disabled_at: None,
                tokens_valid_after: None,
                version: user.version + 1,
                updated_at: now,
            };
            conn.set_user_status(&user.id, &status).await?;
            let mut restored = RecordCounts::default();
            if restore_records {
                for holder in conn.journal_receivers(&user.id).await? {
                    let mut back = RecordCounts::default();
                    for kind in [
                        RecordKind::Lead,
                        RecordKind::Contact,
                        RecordKind::Customer,
                        RecordKind::Task,
                        RecordKind::Conversation,
                    ] {
                        let mv = Move {
                            account_id: &account_id,
                            from_user_id: &holder,
                            to_user_id: &user.id,
                            kind: kind.as_str(),
                            job_id: None,
                            now,
                        };
                        back.add(kind, conn.restore_records(&mv).await?);
                    }
                    if back.total() > 0 {
                        conn.append_event(
                            &account_id,
                            NewEvent {
                                event_type: "RECORDS_REASSIGNED",
                                actor: actor.clone(),
                                user_id: Some(holder.clone()),
                                target_user_id: Some(user.id.clone()),
                                moved: Some(back.to_json()),
                                detail: "RESTORED".into(),
                                ..NewEvent::default()
                            },
                            now,
                        )
                        .await?;
                    }
                    restored.merge(&back);
                }
            }
            conn.append_event(
                &account_id,
                NewEvent {
                    event_type: "USER_ACTIVATED",
                    actor: actor.clone(),
                    user_id: Some(user.id.clone()),
                    moved: Some(restored.to_json()),
                    ..NewEvent::default()
                },
                now,
            )
            .await?;
            let outcome = ActivateOutcome {
                user: UserRow {
                    status: status.status,
                    disabled_at: None,
                    version: status.version,
                    updated_at: now,
                    ..user
                },
                seat_effect,
                restored,
                refusals: Vec::new(),
            };
            if let Some(key) = &key {
                idempotency::remember(conn, key, &outcome, Some(&outcome.user.id), now).await?;
            }
            Ok::<_, Error>(outcome)
        })
    }
}
