//! Groups of users.

use super::{Roster, ensure_writable, new_id, paging};
use crate::auth::Principal;
use crate::auth::principal::{Access, Scope};
use crate::domain::GroupName;
use crate::error::{Error, Result};
use crate::store::Repo;
use crate::store::models::{GroupRow, NewEvent};
use crate::{read, write};

impl Roster {
    pub async fn create_group(
        &self,
        caller: &Principal,
        account_id: &str,
        name: GroupName,
    ) -> Result<GroupRow> {
        let account_id = caller.authorize(account_id, Access::Write(Scope::UsersWrite))?;
        let actor = caller.actor();
        let now = self.now();
        let row = GroupRow {
            id: new_id(),
            account_id: account_id.clone(),
            name: name.as_str().to_owned(),
            name_key: name.key(),
            created_at: now,
        };
        write!(self.store, |conn| {
            let account = conn
                .lock_account(&account_id)
                .await?
                .ok_or_else(Error::account_not_found)?;
            ensure_writable(&account, now)?;
            if conn.group_name_taken(&account_id, &row.name_key).await? {
                return Err(Error::group_name_taken());
            }
            conn.insert_group(&row).await?;
            conn.append_event(
                &account_id,
                NewEvent {
                    event_type: "GROUP_CREATED",
                    actor: actor.clone(),
                    detail: row.id.clone(),
                    ..NewEvent::default()
                },
                now,
            )
            .await?;
            Ok::<_, Error>(row.clone())
        })
    }

    pub async fn list_groups(
        &self,
        caller: &Principal,
        account_id: &str,
        page_size: i32,
        page_token: &str,
    ) -> Result<(Vec<GroupRow>, String)> {
        let account_id = caller.authorize(account_id, Access::Read)?;
        let limit = paging::page_size(page_size, 100)?;
        let after = paging::decode_token(page_token, &account_id)?;
        let mut rows = read!(self.store, |conn| {
            conn.list_groups(&account_id, after.as_deref(), limit + 1)
                .await
        })?;
        let next = paging::finish_page(&mut rows, limit, &account_id, |g| g.name_key.clone());
        Ok((rows, next))
    }
}
