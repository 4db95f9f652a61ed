//! Access roles and their holders.

use super::*;
use crate::domain::AccessRole;

impl AccessRoleQueries for Conn {
    async fn insert_access_role(&mut self, role: &AccessRole) -> Result<Insert> {
        inserted(
            diesel::insert_into(access_roles::table)
                .values(AccessRoleRow::from(role))
                .execute(self)
                .await,
        )
    }

    async fn find_access_role(
        &mut self,
        account_id: &str,
        role_id: &str,
    ) -> Result<Option<AccessRole>> {
        let row: Option<AccessRoleRow> = access_roles::table
            .filter(access_roles::account_id.eq(account_id))
            .filter(access_roles::id.eq(role_id))
            .select(AccessRoleRow::as_select())
            .first(self)
            .await
            .optional()?;
        Ok(row.map(AccessRole::from))
    }

    async fn access_role_name_taken(
        &mut self,
        account_id: &str,
        name_key: &str,
        except_id: &str,
    ) -> Result<bool> {
        let found: Option<String> = access_roles::table
            .filter(access_roles::account_id.eq(account_id))
            .filter(access_roles::name_key.eq(name_key))
            .filter(access_roles::id.ne(except_id))
            .select(access_roles::id)
            .first(self)
            .await
            .optional()?;
        Ok(found.is_some())
    }

    async fn list_access_roles(
        &mut self,
        account_id: &str,
        after_key: Option<&str>,
        limit: i64,
    ) -> Result<Vec<AccessRole>> {
        let mut query = access_roles::table
            .filter(access_roles::account_id.eq(account_id))
            .select(AccessRoleRow::as_select())
            .order(access_roles::name_key.asc())
            .limit(limit)
            .into_boxed();
        if let Some(after) = after_key {
            query = query.filter(access_roles::name_key.gt(after));
        }
        let rows: Vec<AccessRoleRow> = query.load(self).await?;
        Ok(rows.into_iter().map(AccessRole::from).collect())
    }

    async fn update_access_role(&mut self, role: &AccessRole) -> Result<()> {
        diesel::update(
            access_roles::table
                .filter(access_roles::account_id.eq(&role.account_id))
                .filter(access_roles::id.eq(&role.id)),
        )
        .set((
            access_roles::name.eq(&role.name),
            access_roles::name_key.eq(role.name_key()),
            access_roles::permissions.eq(role.permissions.to_json()),
            access_roles::version.eq(role.version),
            access_roles::updated_at.eq(role.updated_at),
        ))
        .execute(self)
        .await?;
        Ok(())
    }

    async fn delete_access_role(&mut self, account_id: &str, role_id: &str) -> Result<()> {
        diesel::delete(
            access_roles::table
                .filter(access_roles::account_id.eq(account_id))
                .filter(access_roles::id.eq(role_id)),
        )
        .execute(self)
        .await?;
        Ok(())
    }

    async fn count_role_holders(
        &mut self,
        account_id: &str,
        role_ids: &[String],
    ) -> Result<Vec<(String, i64)>> {
        let rows: Vec<(Option<String>, i64)> = users::table
            .filter(users::account_id.eq(account_id))
            .filter(users::access_role_id.eq_any(role_ids))
            .group_by(users::access_role_id)
            .select((users::access_role_id, diesel::dsl::count_star()))
            .load(self)
            .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(id, n)| id.map(|id| (id, n)))
            .collect())
    }

    async fn move_role_holders(
        &mut self,
        account_id: &str,
        role_id: &str,
        to: &AccessRole,
        now: NaiveDateTime,
    ) -> Result<Vec<String>> {
        Ok(diesel::update(
            users::table
                .filter(users::account_id.eq(account_id))
                .filter(users::access_role_id.eq(role_id)),
        )
        .set((
            users::access_role_id.eq(&to.id),
            users::permissions.eq(to.permissions.to_json()),
            users::version.eq(users::version + 1),
            users::updated_at.eq(now),
        ))
        .returning(users::id)
        .get_results(self)
        .await?)
    }
}
