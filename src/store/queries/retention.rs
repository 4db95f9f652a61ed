//! Deleting what has outlived its retention.

use super::*;

impl RetentionQueries for Conn {
    async fn prune_idempotency_keys(&mut self, before: NaiveDateTime, limit: i64) -> Result<usize> {
        prune_oldest!(self, idempotency_keys, before, limit)
    }

    async fn prune_events(&mut self, before: NaiveDateTime, limit: i64) -> Result<usize> {
        prune_oldest!(self, events, before, limit)
    }

    async fn prune_finished_jobs(&mut self, before: NaiveDateTime, limit: i64) -> Result<usize> {
        let ids: Vec<String> = jobs::table
            .filter(jobs::finished_at.lt(before))
            .order(jobs::finished_at.asc())
            .select(jobs::id)
            .limit(limit)
            .load(self)
            .await?;
        if ids.is_empty() {
            return Ok(0);
        }
        diesel::delete(job_users::table.filter(job_users::job_id.eq_any(&ids)))
            .execute(self)
            .await?;
        Ok(diesel::delete(jobs::table.filter(jobs::id.eq_any(&ids)))
            .execute(self)
            .await?)
    }

    async fn prune_journal(&mut self, limit: i64) -> Result<usize> {
        let removed: Vec<String> = removed_users::table
            .order(removed_users::removed_at.asc())
            .select(removed_users::user_id)
            .limit(limit)
            .load(self)
            .await?;
        let mut deleted = 0;
        for user_id in removed {
            let left = limit - deleted as i64;
            if left <= 0 {
                break;
            }
            let of_user = record_moves::from_user_id
                .eq(&user_id)
                .or(record_moves::to_user_id.eq(&user_id));
            let ids: Vec<i64> = record_moves::table
                .filter(of_user)
                .select(record_moves::id)
                .limit(left)
                .load(self)
                .await?;
            let count = ids.len();
            if !ids.is_empty() {
                diesel::delete(record_moves::table.filter(record_moves::id.eq_any(&ids)))
                    .execute(self)
                    .await?;
            }
            deleted += count;
            if (count as i64) < left {
                diesel::delete(removed_users::table.find(&user_id))
                    .execute(self)
                    .await?;
            }
        }
        Ok(deleted)
    }

    async fn prune_login_throttle(
        &mut self,
        window_before: NaiveDateTime,
        now: NaiveDateTime,
        limit: i64,
    ) -> Result<usize> {
        use login_throttle::{email, locked_until, window_started_at};
        let emails: Vec<String> = login_throttle::table
            .filter(window_started_at.lt(window_before))
            .filter(locked_until.is_null().or(locked_until.lt(now)))
            .select(email)
            .limit(limit)
            .load(self)
            .await?;
        if emails.is_empty() {
            return Ok(0);
        }
        // The conditions again: a check may have renewed a row since it was
        // read (PostgreSQL re-evaluates them on the row it waited for).
        Ok(diesel::delete(
            login_throttle::table
                .filter(email.eq_any(&emails))
                .filter(window_started_at.lt(window_before))
                .filter(locked_until.is_null().or(locked_until.lt(now))),
        )
        .execute(self)
        .await?)
    }
}
