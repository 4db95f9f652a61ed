//! Access roles: named rights templates. A holder's permissions are a copy
//! of its role's, rewritten in the transaction that edits the role, so the
//! next read of any holder (and the next access check) sees the edit.

use std::collections::HashMap;

use super::idempotency::{self, Key};
use super::{AccessRoleService, ensure_writable, locked_account, new_id, paging};
use crate::auth::principal::Grant;
use crate::domain::permissions::RequestedPermissions;
use crate::domain::{AccessRole, EventType, NewEvent, RequestId, Role, RoleName};
use crate::error::{Error, Reason, Result};
use crate::store::prelude::*;
use crate::store::{Insert, Tx};

/// A role with how many users hold it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct HeldRole {
    pub role: AccessRole,
    pub user_count: i64,
}

/// Validated UpdateAccessRole: None leaves a field as it is.
#[derive(Debug, Clone)]
pub struct AccessRoleUpdate {
    pub etag: String,
    pub name: Option<RoleName>,
    pub permissions: Option<RequestedPermissions>,
}

impl AccessRoleService {
    pub async fn create_access_role(
        &self,
        grant: &Grant,
        name: RoleName,
        permissions: RequestedPermissions,
        request_id: Option<RequestId>,
    ) -> Result<HeldRole> {
        let account_id = grant.account_id().to_owned();
        let actor = grant.actor();
        let now = self.now();
        // A role is not tied to ADMIN/MEMBER: unset levels take a member's defaults.
        let permissions = permissions.resolve(Role::Member);
        let key = request_id.as_ref().map(|request_id| Key {
            namespace: &account_id,
            operation: "CreateAccessRole",
            request_id,
            fingerprint: idempotency::fingerprint(&[name.as_str(), &permissions.to_json()]),
        });
        let role = AccessRole {
            id: new_id(),
            account_id: account_id.clone(),
            name: name.as_str().to_owned(),
            permissions,
            version: 1,
            created_at: now,
            updated_at: now,
        };
        self.store
            .write(async |conn| {
                let account = locked_account(conn, &account_id).await?;
                if let Some(key) = &key
                    && let Some(done) = idempotency::replay(conn, key).await?
                {
                    return Ok(done);
                }
                ensure_writable(&account, now)?;
                if conn
                    .access_role_name_taken(&account_id, &name.key(), &role.id)
                    .await?
                    || conn.insert_access_role(&role).await? == Insert::Duplicate
                {
                    return Err(Error::access_role_name_taken());
                }
                conn.append_event(
                    &account_id,
                    NewEvent {
                        detail: role.id.clone(),
                        ..NewEvent::new(EventType::AccessRoleCreated, &actor)
                    },
                    now,
                )
                .await?;
                let created = HeldRole {
                    role: role.clone(),
                    user_count: 0,
                };
                if let Some(key) = &key {
                    idempotency::remember(conn, key, &created, None, now).await?;
                }
                Ok::<_, Error>(created)
            })
            .await
    }

    pub async fn get_access_role(&self, grant: &Grant, role_id: &str) -> Result<HeldRole> {
        let account_id = grant.account_id();
        self.store
            .read(async |conn| {
                let role = conn
                    .find_access_role(account_id, role_id)
                    .await?
                    .ok_or_else(Error::access_role_not_found)?;
                held(conn, role).await
            })
            .await
    }

    pub async fn list_access_roles(
        &self,
        grant: &Grant,
        page_size: i32,
        page_token: &str,
    ) -> Result<(Vec<HeldRole>, String)> {
        let account_id = grant.account_id().to_owned();
        let limit = paging::page_size(page_size, 100)?;
        let after = paging::decode_token(page_token, &account_id)?;
        let (mut roles, counts) = self
            .store
            .read(async |conn| {
                let roles = conn
                    .list_access_roles(&account_id, after.as_deref(), limit + 1)
                    .await?;
                let ids: Vec<String> = roles.iter().map(|r| r.id.clone()).collect();
                let counts: HashMap<String, i64> = conn
                    .count_role_holders(&account_id, &ids)
                    .await?
                    .into_iter()
                    .collect();
                Ok::<_, Error>((roles, counts))
            })
            .await?;
        let next = paging::finish_page(&mut roles, limit, &account_id, AccessRole::name_key);
        let held = roles
            .into_iter()
            .map(|role| HeldRole {
                user_count: counts.get(&role.id).copied().unwrap_or(0),
                role,
            })
            .collect();
        Ok((held, next))
    }

    pub async fn update_access_role(
        &self,
        grant: &Grant,
        role_id: &str,
        update: AccessRoleUpdate,
    ) -> Result<HeldRole> {
        let account_id = grant.account_id().to_owned();
        let actor = grant.actor();
        let now = self.now();
        self.store
            .write(async |conn| {
                let account = locked_account(conn, &account_id).await?;
                let role = conn
                    .find_access_role(&account_id, role_id)
                    .await?
                    .ok_or_else(Error::access_role_not_found)?;
                ensure_writable(&account, now)?;
                check_etag(&role, &update.etag)?;
                if let Some(name) = &update.name
                    && conn
                        .access_role_name_taken(&account_id, &name.key(), role_id)
                        .await?
                {
                    return Err(Error::access_role_name_taken());
                }
                let updated = AccessRole {
                    name: update
                        .name
                        .as_ref()
                        .map(|n| n.as_str().to_owned())
                        .unwrap_or_else(|| role.name.clone()),
                    permissions: update
                        .permissions
                        .as_ref()
                        .map(|p| p.resolve(Role::Member))
                        .unwrap_or_else(|| role.permissions.clone()),
                    version: role.version + 1,
                    updated_at: now,
                    ..role.clone()
                };
                conn.update_access_role(&updated).await?;
                if updated.permissions != role.permissions {
                    conn.move_role_holders(&account_id, role_id, &updated, now)
                        .await?;
                }
                conn.append_event(
                    &account_id,
                    NewEvent {
                        detail: role_id.to_owned(),
                        ..NewEvent::new(EventType::AccessRoleUpdated, &actor)
                    },
                    now,
                )
                .await?;
                held(conn, updated).await
            })
            .await
    }

    /// Deletes a role; its holders move to `replacement_id`, which is
    /// required while there are any. Returns how many moved.
    pub async fn delete_access_role(
        &self,
        grant: &Grant,
        role_id: &str,
        etag: &str,
        replacement_id: Option<&str>,
    ) -> Result<i64> {
        let account_id = grant.account_id().to_owned();
        let actor = grant.actor();
        let now = self.now();
        self.store
            .write(async |conn| {
                let account = locked_account(conn, &account_id).await?;
                let role = conn
                    .find_access_role(&account_id, role_id)
                    .await?
                    .ok_or_else(Error::access_role_not_found)?;
                ensure_writable(&account, now)?;
                if !etag.is_empty() {
                    check_etag(&role, etag)?;
                }
                let holders = holder_count(conn, &account_id, role_id).await?;
                let moved = match replacement_id {
                    Some(replacement_id) if replacement_id == role_id => {
                        return Err(Error::invalid(
                            "replacement_role_id",
                            "must be another role than the one deleted",
                        ));
                    }
                    Some(replacement_id) => {
                        let replacement = conn
                            .find_access_role(&account_id, replacement_id)
                            .await?
                            .ok_or_else(|| {
                                Error::invalid(
                                    "replacement_role_id",
                                    "no such access role in this account",
                                )
                            })?;
                        conn.move_role_holders(&account_id, role_id, &replacement, now)
                            .await?
                            .len() as i64
                    }
                    None if holders > 0 => {
                        return Err(Error::precondition(
                            Reason::AccessRoleInUse,
                            format!(
                                "{holders} user(s) hold this access role; name a replacement_role_id to move them to"
                            ),
                        ));
                    }
                    None => 0,
                };
                conn.delete_access_role(&account_id, role_id).await?;
                conn.append_event(
                    &account_id,
                    NewEvent {
                        detail: match replacement_id {
                            Some(to) => format!("{role_id} -> {to}"),
                            None => role_id.to_owned(),
                        },
                        ..NewEvent::new(EventType::AccessRoleDeleted, &actor)
                    },
                    now,
                )
                .await?;
                Ok::<_, Error>(moved)
            })
            .await
    }
}

fn check_etag(role: &AccessRole, etag: &str) -> Result<()> {
    if role.etag() == etag {
        return Ok(());
    }
    Err(Error::etag_mismatch("access role"))
}

async fn holder_count(conn: &mut Tx<'_>, account_id: &str, role_id: &str) -> Result<i64> {
    Ok(conn
        .count_role_holders(account_id, &[role_id.to_owned()])
        .await?
        .first()
        .map(|(_, n)| *n)
        .unwrap_or(0))
}

async fn held(conn: &mut Tx<'_>, role: AccessRole) -> Result<HeldRole> {
    let user_count = holder_count(conn, &role.account_id, &role.id).await?;
    Ok(HeldRole { role, user_count })
}
