//! Adding, reading, listing and updating users.

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};

use super::auth::UserClaims;
use super::idempotency::{self, Key};
use super::seats::{SeatEffect, take_seat};
use super::{UserService, ensure_writable, locked_account, new_id};
use crate::auth::principal::{Access, Grant};
use crate::domain::permissions::RequestedPermissions;
use crate::domain::{
    DisplayName, Email, EventType, NewEvent, Password, Permissions, RequestId, Role, User,
    UserStatus,
};
use crate::error::{Error, Reason, Result};
use crate::store::Insert;
use crate::store::prelude::*;

/// A validated new user (AddUser, or the first admin of an account; with
/// `C` a [`Credential`](super::bulk_add::Credential), one of BulkAddUsers).
pub struct NewUser<C = Password> {
    pub name: DisplayName,
    pub email: Email,
    pub password: C,
    pub group_id: Option<String>,
    pub role: Role,
    /// None: the role's defaults (or the access role's rights).
    pub permissions: Option<Permissions>,
    /// The access role whose rights the user takes (then `permissions`
    /// is None).
    pub access_role_id: Option<String>,
}

impl<C> NewUser<C> {
    pub fn into_user(
        self,
        account_id: &str,
        role: Role,
        password_hash: String,
        now: NaiveDateTime,
    ) -> User {
        let permissions = self
            .permissions
            .unwrap_or_else(|| Permissions::default_for(role));
        User {
            id: new_id(),
            account_id: account_id.to_owned(),
            name: self.name.as_str().to_owned(),
            email: self.email.as_str().to_owned(),
            password_hash,
            group_id: self.group_id,
            role,
            access_role_id: self.access_role_id,
            permissions,
            status: UserStatus::Active,
            version: 1,
            tokens_valid_after: None,
            created_at: now,
            updated_at: now,
            disabled_at: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AddedUser {
    pub user: User,
    pub seat_effect: SeatEffect,
}

/// Validated UpdateUser: None leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct UserUpdate {
    pub etag: String,
    pub name: Option<DisplayName>,
    /// Some(None) removes the user from its group.
    pub group_id: Option<Option<String>>,
    pub role: Option<Role>,
    /// Individual rights; unset levels take the defaults of the user's
    /// final role. The user leaves its access role.
    pub permissions: Option<RequestedPermissions>,
    /// Some(Some(id)): take that access role's rights; Some(None): leave
    /// the access role, keeping its rights as individual ones.
    pub access_role_id: Option<Option<String>>,
}

impl UserService {
    pub async fn add_user(
        &self,
        grant: &Grant,
        user: NewUser,
        request_id: Option<RequestId>,
    ) -> Result<AddedUser> {
        let account_id = grant.account_id().to_owned();
        let actor = grant.actor();
        let role = user.role;
        let permissions = user
            .permissions
            .unwrap_or_else(|| Permissions::default_for(role));
        let key = request_id.as_ref().map(|request_id| Key {
            namespace: &account_id,
            operation: "AddUser",
            request_id,
            fingerprint: idempotency::fingerprint(&[
                user.name.as_str(),
                user.email.as_str(),
                user.group_id.as_deref().unwrap_or(""),
                role.as_str(),
                &permissions.to_json(),
                user.access_role_id.as_deref().unwrap_or(""),
            ]),
        });
        // A retry of a finished call skips the costly hash.
        if let Some(key) = &key
            && let Some(done) = self
                .store
                .read(async |conn| idempotency::replay(conn, key).await)
                .await?
        {
            return Ok(done);
        }
        let password_hash = self.hasher.hash(&user.password).await?;
        let now = self.now();
        let mut row = NewUser {
            permissions: Some(permissions),
            ..user
        }
        .into_user(&account_id, role, password_hash, now);
        self.store
            .write(async |conn| {
                let account = locked_account(conn, &account_id).await?;
                if let Some(key) = &key
                    && let Some(done) = idempotency::replay(conn, key).await?
                {
                    return Ok(done);
                }
                ensure_writable(&account, now)?;
                if let Some(group_id) = &row.group_id
                    && !conn.group_exists(&account_id, group_id).await?
                {
                    return Err(Error::invalid("group_id", "no such group in this account"));
                }
                if let Some(role_id) = &row.access_role_id {
                    row.permissions = conn
                        .find_access_role(&account_id, role_id)
                        .await?
                        .ok_or_else(|| {
                            Error::invalid("access_role_id", "no such access role in this account")
                        })?
                        .permissions;
                }
                // The unique email index answers EMAIL_TAKEN (no query before);
                // `account` still holds the counts from before the insert, which
                // the seat decision is about, and a refusal rolls the insert back.
                if conn.insert_user(&row).await? == Insert::Duplicate {
                    return Err(Error::email_taken());
                }
                let seat_effect =
                    take_seat(conn, &account, &self.prices, &actor, &row.id, now).await?;
                conn.append_event(
                    &account_id,
                    NewEvent {
                        user_id: Some(row.id.clone()),
                        ..NewEvent::new(EventType::UserAdded, &actor)
                    },
                    now,
                )
                .await?;
                let added = AddedUser {
                    user: row.clone(),
                    seat_effect,
                };
                if let Some(key) = &key {
                    idempotency::remember(conn, key, &added, Some(&added.user.id), now).await?;
                }
                Ok::<_, Error>(added)
            })
            .await
    }

    pub async fn get_user(&self, grant: &Grant, user_id: &str) -> Result<User> {
        let account_id = grant.account_id().to_owned();
        self.store
            .users()
            .of_account(&account_id, user_id)
            .await?
            .ok_or_else(Error::user_not_found)
    }

    /// GetUser for a user token acting on its own account: the caller's row
    /// and the answer come from one query, so authentication costs no extra
    /// round trip and revocation still takes effect at once.
    pub async fn get_user_as(&self, claims: &UserClaims, user_id: &str) -> Result<User> {
        let mut rows = self
            .store
            .users()
            .caller_and_user(&claims.account_id, &claims.user_id, user_id)
            .await?;
        let caller = claims.confirm(rows.iter().find(|u| u.id == claims.user_id))?;
        caller.authorize(&claims.account_id, Access::Read)?;
        let at = rows
            .iter()
            .position(|u| u.id == user_id)
            .ok_or_else(Error::user_not_found)?;
        Ok(rows.swap_remove(at))
    }

    pub async fn update_user(
        &self,
        grant: &Grant,
        user_id: &str,
        update: UserUpdate,
    ) -> Result<User> {
        let account_id = grant.account_id().to_owned();
        let actor = grant.actor();
        let now = self.now();
        self.store
            .write(async |conn| {
                let account = locked_account(conn, &account_id).await?;
                let user = conn
                    .find_user(&account_id, user_id)
                    .await?
                    .ok_or_else(Error::user_not_found)?;
                ensure_writable(&account, now)?;
                if user.etag() != update.etag {
                    return Err(Error::etag_mismatch("user"));
                }
                let old_role = user.role;
                let role = update.role.unwrap_or(old_role);
                if user.is_active_admin()
                    && role != Role::Admin
                    && conn.count_active_admins(&account_id).await? <= 1
                {
                    return Err(Error::precondition(
                        Reason::LastAdmin,
                        "the account's last active admin cannot stop being an admin",
                    ));
                }
                let group_id = match update.group_id {
                    Some(Some(group_id)) => {
                        if !conn.group_exists(&account_id, &group_id).await? {
                            return Err(Error::invalid(
                                "group_id",
                                "no such group in this account",
                            ));
                        }
                        Some(group_id)
                    }
                    Some(None) => None,
                    None => user.group_id.clone(),
                };
                let name = update
                    .name
                    .map(|n| n.as_str().to_owned())
                    .unwrap_or_else(|| user.name.clone());
                let (access_role_id, permissions) =
                    match (update.access_role_id, update.permissions) {
                        (Some(Some(role_id)), _) => {
                            let access_role = conn
                                .find_access_role(&account_id, &role_id)
                                .await?
                                .ok_or_else(|| {
                                Error::invalid(
                                    "access_role_id",
                                    "no such access role in this account",
                                )
                            })?;
                            (Some(role_id), access_role.permissions)
                        }
                        (Some(None), None) => (None, user.permissions.clone()),
                        (_, Some(p)) => (None, p.resolve(role)),
                        // The access role's rights do not depend on ADMIN/MEMBER.
                        (None, None) if user.access_role_id.is_some() => {
                            (user.access_role_id.clone(), user.permissions.clone())
                        }
                        (None, None) if role != old_role => (None, Permissions::default_for(role)),
                        (None, None) => (None, user.permissions.clone()),
                    };
                let updated = User {
                    name,
                    group_id,
                    role,
                    access_role_id,
                    permissions,
                    version: user.version + 1,
                    updated_at: now,
                    ..user
                };
                conn.update_user_profile(&updated).await?;
                conn.append_event(
                    &account_id,
                    NewEvent {
                        user_id: Some(user_id.to_owned()),
                        ..NewEvent::new(EventType::UserUpdated, &actor)
                    },
                    now,
                )
                .await?;
                Ok::<_, Error>(updated)
            })
            .await
    }
}
