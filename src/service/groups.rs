//! Groups of users.

use super::{GroupService, ensure_writable, new_id, paging};
use crate::auth::Principal;
use crate::auth::principal::{Access, Scope};
use crate::domain::{EventType, Group, GroupName, NewEvent};
use crate::error::{Error, Result};
use crate::store::Insert;
use crate::store::prelude::*;

impl GroupService {
    pub async fn create_group(
        &self,
        caller: &Principal,
        account_id: &str,
        name: GroupName,
    ) -> Result<Group> {
        let account_id = caller.authorize(account_id, Access::Write(Scope::UsersWrite))?;
        let actor = caller.actor();
        let now = self.now();
        let group = Group {
            id: new_id(),
            account_id: account_id.clone(),
            name: name.as_str().to_owned(),
            created_at: now,
        };
        self.store
            .write(async |conn| {
                let account = conn
                    .lock_account(&account_id)
                    .await?
                    .ok_or_else(Error::account_not_found)?;
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
        caller: &Principal,
        account_id: &str,
        page_size: i32,
        page_token: &str,
    ) -> Result<(Vec<Group>, String)> {
        let account_id = caller.authorize(account_id, Access::Read)?;
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
