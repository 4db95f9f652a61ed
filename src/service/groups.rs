//! Groups of users.

use super::{GroupService, ensure_writable, locked_account, new_id, paging};
use crate::auth::principal::Grant;
use crate::domain::{EventType, Group, GroupName, NewEvent};
use crate::error::{Error, Reason, Result};
use crate::store::Insert;
use crate::store::prelude::*;

impl GroupService {
    pub async fn create_group(&self, grant: &Grant, name: GroupName) -> Result<Group> {
        let account_id = grant.account_id().to_owned();
        let actor = grant.actor();
        let now = self.now();
        let group = Group {
            id: new_id(),
            account_id: account_id.clone(),
            name: name.as_str().to_owned(),
            created_at: now,
        };
        self.store
            .write(async |conn| {
                let account = locked_account(conn, &account_id).await?;
                ensure_writable(&account, now)?;
                if conn.group_name_taken(&account_id, &name.key()).await?
                    || conn.insert_group(&group).await? == Insert::Duplicate
                {
                    return Err(Error::group_name_taken());
                }
                conn.append_event(
                    &account_id,
                    NewEvent {
                        detail: group.id.clone(),
                        ..NewEvent::new(EventType::GroupCreated, &actor)
                    },
                    now,
                )
                .await?;
                Ok::<_, Error>(group.clone())
            })
            .await
    }

    pub async fn list_groups(
        &self,
        grant: &Grant,
        page_size: i32,
        page_token: &str,
    ) -> Result<(Vec<Group>, String)> {
        let account_id = grant.account_id().to_owned();
        let limit = paging::page_size(page_size, 100)?;
        let after = paging::decode_token(page_token, &account_id)?;
        let mut rows = self
            .store
            .read(async |conn| {
                conn.list_groups(&account_id, after.as_deref(), limit + 1)
                    .await
            })
            .await?;
        let next = paging::finish_page(&mut rows, limit, &account_id, Group::name_key);
        Ok((rows, next))
    }
}

impl GroupService {
    pub async fn rename_group(
        &self,
        grant: &Grant,
        group_id: &str,
        name: GroupName,
    ) -> Result<Group> {
        let account_id = grant.account_id().to_owned();
        let actor = grant.actor();
        let now = self.now();
        self.store
            .write(async |conn| {
                let account = locked_account(conn, &account_id).await?;
                let group = conn
                    .find_group(&account_id, group_id)
                    .await?
                    .ok_or_else(group_not_found)?;
                ensure_writable(&account, now)?;
                let renamed = Group {
                    name: name.as_str().to_owned(),
                    ..group
                };
                if conn.rename_group(&renamed).await? == Insert::Duplicate {
                    return Err(Error::group_name_taken());
                }
                conn.append_event(
                    &account_id,
                    NewEvent {
                        detail: group_id.to_owned(),
                        ..NewEvent::new(EventType::GroupUpdated, &actor)
                    },
                    now,
                )
                .await?;
                Ok::<_, Error>(renamed)
            })
            .await
    }

    /// Deletes a group; its users move to `to` (None: no group), each with
    /// a USER_UPDATED event. Returns how many moved.
    pub async fn delete_group(
        &self,
        grant: &Grant,
        group_id: &str,
        to: Option<&str>,
    ) -> Result<i64> {
        let account_id = grant.account_id().to_owned();
        let actor = grant.actor();
        let now = self.now();
        self.store
            .write(async |conn| {
                let account = locked_account(conn, &account_id).await?;
                conn.find_group(&account_id, group_id)
                    .await?
                    .ok_or_else(group_not_found)?;
                ensure_writable(&account, now)?;
                if let Some(to) = to {
                    if to == group_id {
                        return Err(Error::invalid(
                            "move_users_to_group_id",
                            "must be another group than the one deleted",
                        ));
                    }
                    if !conn.group_exists(&account_id, to).await? {
                        return Err(Error::invalid(
                            "move_users_to_group_id",
                            "no such group in this account",
                        ));
                    }
                }
                let moved = conn
                    .move_group_users(&account_id, group_id, to, now)
                    .await?;
                conn.delete_group(&account_id, group_id).await?;
                for user_id in &moved {
                    conn.append_event(
                        &account_id,
                        NewEvent {
                            user_id: Some(user_id.clone()),
                            detail: "group".into(),
                            ..NewEvent::new(EventType::UserUpdated, &actor)
                        },
                        now,
                    )
                    .await?;
                }
                conn.append_event(
                    &account_id,
                    NewEvent {
                        detail: match to {
                            Some(to) => format!("{group_id} -> {to}"),
                            None => group_id.to_owned(),
                        },
                        ..NewEvent::new(EventType::GroupDeleted, &actor)
                    },
                    now,
                )
                .await?;
                Ok::<_, Error>(moved.len() as i64)
            })
            .await
    }
}

fn group_not_found() -> Error {
    Error::not_found(Reason::GroupNotFound, "group")
}
