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

    async fn find_group(&mut self, account_id: &str, group_id: &str) -> Result<Option<Group>> {
        let row: Option<GroupRow> = groups::table
            .filter(groups::account_id.eq(account_id))
            .filter(groups::id.eq(group_id))
            .select(GroupRow::as_select())
            .first(self)
            .await
            .optional()?;
        Ok(row.map(Group::from))
    }

    async fn rename_group(&mut self, group: &Group) -> Result<Insert> {
        inserted(
            diesel::update(
                groups::table
                    .filter(groups::account_id.eq(&group.account_id))
                    .filter(groups::id.eq(&group.id)),
            )
            .set((
                groups::name.eq(&group.name),
                groups::name_key.eq(group.name_key()),
            ))
            .execute(self)
            .await,
        )
    }

    async fn delete_group(&mut self, account_id: &str, group_id: &str) -> Result<()> {
        diesel::delete(
            groups::table
                .filter(groups::account_id.eq(account_id))
                .filter(groups::id.eq(group_id)),
        )
        .execute(self)
        .await?;
        Ok(())
    }

    async fn move_group_users(
        &mut self,
        account_id: &str,
        group_id: &str,
        to: Option<&str>,
        now: NaiveDateTime,
    ) -> Result<Vec<String>> {
        Ok(diesel::update(
            users::table
                .filter(users::account_id.eq(account_id))
                .filter(users::group_id.eq(group_id)),
        )
        .set((
            users::group_id.eq(to),
            users::version.eq(users::version + 1),
            users::updated_at.eq(now),
        ))
        .returning(users::id)
        .get_results(self)
        .await?)
    }
}
