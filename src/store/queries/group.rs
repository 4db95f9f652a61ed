//! Groups of users.

use super::*;
use crate::domain::Group;

impl GroupQueries for Conn {
    async fn insert_group(&mut self, group: &Group) -> Result<Insert> {
        let row = GroupRow {
            id: group.id.clone(),
            account_id: group.account_id.clone(),
            name: group.name.clone(),
            name_key: group.name_key(),
            created_at: group.created_at,
        };
        inserted(
            diesel::insert_into(groups::table)
                .values(row)
                .execute(self)
                .await,
        )
    }

    async fn group_exists(&mut self, account_id: &str, group_id: &str) -> Result<bool> {
        let found: Option<String> = groups::table
            .filter(groups::account_id.eq(account_id))
            .filter(groups::id.eq(group_id))
            .select(groups::id)
            .first(self)
            .await
            .optional()?;
        Ok(found.is_some())
    }

    async fn group_name_taken(&mut self, account_id: &str, name_key: &str) -> Result<bool> {
        let found: Option<String> = groups::table
            .filter(groups::account_id.eq(account_id))
            .filter(groups::name_key.eq(name_key))
            .select(groups::id)
            .first(self)
            .await
            .optional()?;
        Ok(found.is_some())
    }

    async fn list_groups(
        &mut self,
        account_id: &str,
        after_key: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Group>> {
        let mut query = groups::table
            .filter(groups::account_id.eq(account_id))
            .select(GroupRow::as_select())
            .order(groups::name_key.asc())
            .limit(limit)
            .into_boxed();
        if let Some(after) = after_key {
            query = query.filter(groups::name_key.gt(after));
        }
        let rows: Vec<GroupRow> = query.load(self).await?;
        Ok(rows.into_iter().map(Group::from).collect())
    }
}
