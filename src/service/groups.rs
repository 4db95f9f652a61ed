//! Groups of users.

use super::{GroupService, ensure_writable, locked_account, new_id, paging};
use crate::auth::principal::Grant;
use crate::domain::{EventType, Group, GroupName, NewEvent};
use crate::error::{Error, Result};
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
