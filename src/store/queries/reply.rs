//! Stored idempotent replies.

use super::*;

impl ReplyQueries for Conn {
    async fn find_idempotency_key(
        &mut self,
        namespace: &str,
        operation: &str,
        request_id: &str,
    ) -> Result<Option<StoredReply>> {
        let row = idempotency_keys::table
            .find((namespace, operation, request_id))
            .select(IdempotencyRow::as_select())
            .first(self)
            .await
            .optional()?;
        Ok(row.map(StoredReply::from))
    }

    async fn insert_idempotency_key(&mut self, reply: &StoredReply) -> Result<Insert> {
        inserted(
            diesel::insert_into(idempotency_keys::table)
                .values(IdempotencyRow::from(reply))
                .execute(self)
                .await,
        )
    }

    async fn forget_replies_about(&mut self, user_id: &str) -> Result<()> {
        diesel::delete(
            idempotency_keys::table.filter(idempotency_keys::subject_user_id.eq(user_id)),
        )
        .execute(self)
        .await?;
        Ok(())
    }
}
