//! BulkAddUsers: up to 1,000 users in one transaction, with one seat
//! decision for the batch, per-user outcomes and the two bulk modes.

mod replay;

use std::collections::{BTreeMap, BTreeSet, HashSet};

use super::idempotency::{self, Key};
use super::rules::Refusal;
use super::seats::{SeatEffect, batch_seat_effect, take_seats};
use super::users::NewUser;
use super::{UserService, ensure_writable, locked_account};
use crate::auth::principal::Grant;
use crate::domain::password::ImportedHash;
use crate::domain::seats::admit_batch;
use crate::domain::{
    Account, BulkMode, EventType, NewEvent, Password, Permissions, RequestId, User,
};
use crate::error::{Error, Reason, Result, Violations};
use crate::store::Repo;
use crate::store::prelude::*;
use replay::{replay, stored};

/// Most users one BulkAddUsers call adds.
pub const MAX_BULK_ADD_USERS: usize = 1000;

/// How a new user of a bulk add signs in.
pub enum Credential {
    /// Hashed by the server before the transaction.
    Password(Password),
    /// Brought from another system, stored as it is.
    Hash(ImportedHash),
}

/// A validated BulkAddUsers call.
pub struct BulkAdd {
    pub users: Vec<NewUser<Credential>>,
    pub mode: BulkMode,
    pub validate_only: bool,
    pub request_id: Option<RequestId>,
}

/// The outcome for one user, in request order.
#[derive(Debug, Clone)]
pub enum BulkAddOutcome {
    /// Added (validate_only: would be, and `id` is empty). `user` is None
    /// only in a replay, for a user removed since.
    Added {
        id: String,
        user: Option<Box<User>>,
    },
    Refused(Refusal),
    /// ALL_OR_NOTHING, and another user was refused.
    Skipped,
}

#[derive(Debug, Clone)]
pub struct BulkAdded {
    pub outcomes: Vec<BulkAddOutcome>,
    pub seat_effect: SeatEffect,
}

impl BulkAdded {
    pub fn added_count(&self) -> usize {
        self.outcomes
            .iter()
            .filter(|o| matches!(o, BulkAddOutcome::Added { .. }))
            .count()
    }
}

/// The decision for one user before anything is written.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Planned {
    Admit,
    Refuse(Refusal),
    Skip,
}

/// What a replay must match: the mode and every user's fields.
fn bulk_fingerprint(mode: BulkMode, users: &[NewUser<Credential>]) -> String {
    let parts: Vec<String> = std::iter::once(mode.as_str().to_owned())
        .chain(users.iter().flat_map(|u| {
            [
                u.name.as_str().to_owned(),
                u.email.as_str().to_owned(),
                u.group_id.clone().unwrap_or_default(),
                u.role.as_str().to_owned(),
                u.permissions
                    .as_ref()
                    .map(Permissions::to_json)
                    .unwrap_or_default(),
                u.access_role_id.clone().unwrap_or_default(),
            ]
        }))
        .collect();
    let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
    idempotency::fingerprint(&parts)
}

impl UserService {
    pub async fn bulk_add_users(&self, grant: &Grant, request: BulkAdd) -> Result<BulkAdded> {
        let account_id = grant.account_id().to_owned();
        let actor = grant.actor();
        let now = self.now();
        let mode = request.mode;
        let users: Vec<NewUser<Credential>> = request
            .users
            .into_iter()
            .map(|u| NewUser {
                permissions: Some(
                    u.permissions
                        .unwrap_or_else(|| Permissions::default_for(u.role)),
                ),
                ..u
            })
            .collect();
        // The fingerprint (every user's fields, rights as JSON) is built
        // only for a call that can be replayed, one with a request_id.
        let key = request
            .request_id
            .as_ref()
            .filter(|_| !request.validate_only)
            .map(|request_id| Key {
                namespace: &account_id,
                operation: "BulkAddUsers",
                request_id,
                fingerprint: bulk_fingerprint(mode, &users),
            });
        if let Some(key) = &key
            && let Some(done) = self
                .store
                .read(async |conn| replay(conn, &account_id, key).await)
                .await?
        {
            return Ok(done);
        }
        if request.validate_only {
            return self.preview_bulk_add(&account_id, users, mode).await;
        }

        // Passwords are hashed before the transaction (it holds the account
        // lock), except for addresses already in use: a retried import
        // does not hash again the users it added the first time. An import
        // of hashes alone hashes nothing and skips that read.
        let hashing = users
            .iter()
            .any(|u| matches!(u.password, Credential::Password(_)));
        let taken_before: HashSet<String> = if hashing {
            let emails: Vec<String> = users.iter().map(|u| u.email.as_str().to_owned()).collect();
            self.store
                .read(async |conn| conn.taken_emails(&emails).await)
                .await?
                .into_iter()
                .collect()
        } else {
            HashSet::new()
        };
        let hashes = futures::future::try_join_all(users.iter().map(|u| async {
            match &u.password {
                Credential::Hash(hash) => Ok(Some(hash.as_str().to_owned())),
                Credential::Password(_) if taken_before.contains(u.email.as_str()) => Ok(None),
                Credential::Password(password) => self.hasher.hash(password).await.map(Some),
            }
        }))
        .await?;
        let unhashed: Vec<bool> = hashes.iter().map(Option::is_none).collect();
        let mut rows: Vec<User> = users
            .into_iter()
            .zip(hashes)
            .map(|(u, hash)| {
                let role = u.role;
                u.into_user(&account_id, role, hash.unwrap_or_default(), now)
            })
            .collect();

        self.store
            .write(async |conn| {
                let account = locked_account(conn, &account_id).await?;
                if let Some(key) = &key
                    && let Some(done) = replay(conn, &account_id, key).await?
                {
                    return Ok(done);
                }
                ensure_writable(&account, now)?;
                let mut planned = plan(conn, &account, &mut rows, &unhashed, mode).await?;
                let admitted: Vec<&User> = rows
                    .iter()
                    .zip(&planned)
                    .filter(|(_, p)| **p == Planned::Admit)
                    .map(|(row, _)| row)
                    .collect();
                let inserted: HashSet<String> = conn
                    .insert_new_users(&admitted)
                    .await?
                    .into_iter()
                    .collect();
                if inserted.len() < admitted.len() {
                    // An address was taken by another account's call after
                    // `plan` read it (only the email index serializes that).
                    if mode == BulkMode::AllOrNothing {
                        return Err(Error {
                            message: "an email address was taken by a concurrent call; \
                                      nothing was added, retry to see which"
                                .into(),
                            ..Error::email_taken()
                        });
                    }
                    for (row, p) in rows.iter().zip(planned.iter_mut()) {
                        if *p == Planned::Admit && !inserted.contains(&row.id) {
                            *p = Planned::Refuse(email_taken());
                        }
                    }
                }
                let seat_effect = take_seats(
                    conn,
                    &account,
                    &self.prices,
                    &actor,
                    inserted.len() as i64,
                    now,
                )
                .await?;
                let added_events = rows
                    .iter()
                    .filter(|row| inserted.contains(&row.id))
                    .map(|row| NewEvent {
                        user_id: Some(row.id.clone()),
                        ..NewEvent::new(EventType::UserAdded, &actor)
                    })
                    .collect();
                conn.append_events(&account_id, added_events, now).await?;
                let done = BulkAdded {
                    outcomes: outcomes(rows, planned),
                    seat_effect,
                };
                if let Some(key) = &key {
                    idempotency::remember(conn, key, &stored(&done), None, now).await?;
                }
                Ok::<_, Error>(done)
            })
            .await
    }

    /// validate_only: the same plan, read without the lock, nothing written
    /// or hashed.
    async fn preview_bulk_add(
        &self,
        account_id: &str,
        users: Vec<NewUser<Credential>>,
        mode: BulkMode,
    ) -> Result<BulkAdded> {
        let now = self.now();
        let mut rows: Vec<User> = users
            .into_iter()
            .map(|u| {
                let role = u.role;
                let mut row = u.into_user(account_id, role, String::new(), now);
                row.id = String::new();
                row
            })
            .collect();
        self.store
            .read(async |conn| {
                let account = conn
                    .find_account(account_id)
                    .await?
                    .ok_or_else(Error::account_not_found)?;
                ensure_writable(&account, now)?;
                let unhashed = vec![false; rows.len()];
                let planned = plan(conn, &account, &mut rows, &unhashed, mode).await?;
                let admitted = planned.iter().filter(|p| **p == Planned::Admit).count();
                let seat_effect = batch_seat_effect(&account, &self.prices, admitted as i64, now);

                Ok(BulkAdded {
                    outcomes: outcomes(rows, planned),
                    seat_effect,
                })
            })
            .await
    }
}

/// Each row's outcome from its plan (a preview's rows have no id).
fn outcomes(rows: Vec<User>, planned: Vec<Planned>) -> Vec<BulkAddOutcome> {
    rows.into_iter()
        .zip(planned)
        .map(|(row, p)| match p {
            Planned::Admit => BulkAddOutcome::Added {
                id: row.id.clone(),
                user: Some(Box::new(row)),
            },
            Planned::Refuse(refusal) => BulkAddOutcome::Refused(refusal),
            Planned::Skip => BulkAddOutcome::Skipped,
        })
        .collect()
}

fn email_taken() -> Refusal {
    Refusal::new("", Reason::EmailTaken, Error::email_taken().message)
}

/// Decides every user of the batch against the account as `conn` sees it:
/// groups and access roles must exist (INVALID_ARGUMENT otherwise, naming
/// `users[i]`), an address in use is EMAIL_TAKEN, and the seat policy
/// admits the rest at once, in request order. Rows taking an access role
/// get its rights. `unhashed[i]`: the row's address was in use when the
/// call began, so it has no hash and cannot be added.
async fn plan<R: Repo>(
    conn: &mut R,
    account: &Account,
    rows: &mut [User],
    unhashed: &[bool],
    mode: BulkMode,
) -> Result<Vec<Planned>> {
    let mut v = Violations::new();
    let groups: BTreeSet<String> = rows.iter().filter_map(|r| r.group_id.clone()).collect();
    for group_id in groups {
        if !conn.group_exists(&account.id, &group_id).await? {
            for (i, row) in rows.iter().enumerate() {
                if row.group_id.as_deref() == Some(group_id.as_str()) {
                    v.add(
                        format!("users[{i}].group_id"),
                        "no such group in this account",
                    );
                }
            }
        }
    }
    let role_ids: BTreeSet<String> = rows
        .iter()
        .filter_map(|r| r.access_role_id.clone())
        .collect();
    let mut role_rights = BTreeMap::new();
    for role_id in role_ids {
        match conn.find_access_role(&account.id, &role_id).await? {
            Some(role) => {
                role_rights.insert(role_id, role.permissions);
            }
            None => {
                for (i, row) in rows.iter().enumerate() {
                    if row.access_role_id.as_deref() == Some(role_id.as_str()) {
                        v.add(
                            format!("users[{i}].access_role_id"),
                            "no such access role in this account",
                        );
                    }
                }
            }
        }
    }
    v.into_result()?;
    for row in rows.iter_mut() {
        if let Some(rights) = row
            .access_role_id
            .as_ref()
            .and_then(|id| role_rights.get(id))
        {
            row.permissions = rights.clone();
        }
    }

    let emails: Vec<String> = rows.iter().map(|r| r.email.clone()).collect();
    let taken: HashSet<String> = conn.taken_emails(&emails).await?.into_iter().collect();
    let free: Vec<bool> = rows
        .iter()
        .zip(unhashed)
        .map(|(row, unhashed)| !unhashed && !taken.contains(&row.email))
        .collect();
    let counts = account.user_counts();
    let wanted = free.iter().filter(|f| **f).count() as i64;
    let admission = admit_batch(
        account.seat_policy,
        counts.active,
        i64::from(account.seats_purchased),
        wanted,
    );
    let mut seats_left = admission.admitted;
    let mut planned: Vec<Planned> = free
        .iter()
        .map(|free| {
            if !free {
                Planned::Refuse(email_taken())
            } else if seats_left > 0 {
                seats_left -= 1;
                Planned::Admit
            } else {
                Planned::Refuse(Refusal::new(
                    "",
                    Reason::SeatLimitReached,
                    format!(
                        "the seat policy is STRICT and the {} free seats went to users earlier in the call",
                        admission.admitted
                    ),
                ))
            }
        })
        .collect();
    if mode == BulkMode::AllOrNothing && planned.iter().any(|p| matches!(p, Planned::Refuse(_))) {
        for p in &mut planned {
            if *p == Planned::Admit {
                *p = Planned::Skip;
            }
        }
    }
    Ok(planned)
}
