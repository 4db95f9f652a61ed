//! Deleting what has outlived its retention.

use super::*;

impl RetentionQueries for Conn {
    async fn prune_idempotency_keys(
        &mut self,
        before: NaiveDateTime,
        limit: i64,
    ) -> Result<PrunedBatch> {
        let rows = prune_oldest!(self, idempotency_keys, before, limit);
        Ok(PrunedBatch::of_rows(rows, limit))
    }

    async fn prune_events(&mut self, before: NaiveDateTime, limit: i64) -> Result<PrunedBatch> {
        let rows = prune_oldest!(self, events, before, limit);
        Ok(PrunedBatch::of_rows(rows, limit))
    }

    async fn prune_finished_jobs(
        &mut self,
        before: NaiveDateTime,
        limit: i64,
    ) -> Result<PrunedBatch> {
        let ids: Vec<String> = jobs::table
            .filter(jobs::finished_at.lt(before))
            .order(jobs::finished_at.asc())
            .select(jobs::id)
            .limit(limit)
            .load(self)
            .await?;
        // Job by job: a job of 1,000 users is 1,001 rows, and a batch of
        // such jobs would otherwise delete a million rows in one transaction.
        let (mut jobs, mut rows) = (0, 0);
        for id in &ids {
            if rows >= limit {
                return Ok(PrunedBatch {
                    rows: jobs,
                    more: true,
                });
            }
            let users = diesel::delete(job_users::table.filter(job_users::job_id.eq(id)))
                .execute(self)
                .await?;
            diesel::delete(jobs::table.find(id)).execute(self).await?;
            jobs += 1;
            rows += 1 + users as i64;
        }
        Ok(PrunedBatch::of_rows(jobs, limit))
    }

    async fn prune_journal(&mut self, limit: i64) -> Result<PrunedBatch> {
        let removed: Vec<String> = removed_users::table
            .order(removed_users::removed_at.asc())
            .select(removed_users::user_id)
            .limit(limit)
            .load(self)
            .await?;
        let mut records_left = limit.max(1);
        let mut rows = 0;
        for user_id in &removed {
            if records_left <= 0 {
                return Ok(PrunedBatch { rows, more: true });
            }
            let of_user = record_moves::from_user_id
                .eq(user_id)
                .or(record_moves::to_user_id.eq(user_id));
            // Each row carries at least one record: no more rows than that fit.
            let found: Vec<(i64, i64)> = record_moves::table
                .filter(of_user)
                .select((record_moves::id, record_moves::record_count))
                .limit(records_left)
                .load(self)
                .await?;
            let taken = rows_within(found.iter().map(|(_, n)| *n), records_left, rows == 0);
            if taken > 0 {
                let ids: Vec<i64> = found[..taken].iter().map(|(id, _)| *id).collect();
                diesel::delete(record_moves::table.filter(record_moves::id.eq_any(&ids)))
                    .execute(self)
                    .await?;
            }
            let saw_all = (found.len() as i64) < records_left;
            records_left -= found[..taken].iter().map(|(_, n)| n).sum::<i64>();
            rows += taken;
            if !(saw_all && taken == found.len()) {
                return Ok(PrunedBatch { rows, more: true });
            }
            diesel::delete(removed_users::table.find(user_id))
                .execute(self)
                .await?;
        }
        Ok(PrunedBatch {
            rows,
            more: removed.len() as i64 >= limit,
        })
    }

    async fn prune_login_throttle(
        &mut self,
        window_before: NaiveDateTime,
        now: NaiveDateTime,
        limit: i64,
    ) -> Result<PrunedBatch> {
        use login_throttle::{email, locked_until, window_started_at};
        let emails: Vec<String> = login_throttle::table
            .filter(window_started_at.lt(window_before))
            .filter(locked_until.is_null().or(locked_until.lt(now)))
            .select(email)
            .limit(limit)
            .load(self)
            .await?;
        if emails.is_empty() {
            return Ok(PrunedBatch::of_rows(0, limit));
        }
        // The conditions again: a check may have renewed a row since it was
        // read (PostgreSQL re-evaluates them on the row it waited for).
        let rows = diesel::delete(
            login_throttle::table
                .filter(email.eq_any(&emails))
                .filter(window_started_at.lt(window_before))
                .filter(locked_until.is_null().or(locked_until.lt(now))),
        )
        .execute(self)
        .await?;
        Ok(PrunedBatch {
            rows,
            more: emails.len() as i64 >= limit,
        })
    }
}

/// How many of a batch's next rows, carrying `weights` each, fit in what
/// is `left` of its limit; the first row of a batch always does (a batch
/// deletes at least one row, however much it carries).
fn rows_within(
    weights: impl IntoIterator<Item = i64>,
    mut left: i64,
    first_of_batch: bool,
) -> usize {
    let mut taken = 0;
    for weight in weights {
        if weight > left && !(first_of_batch && taken == 0) {
            break;
        }
        left -= weight;
        taken += 1;
    }
    taken
}

#[cfg(test)]
mod tests {
    use super::rows_within;

    #[test]
    fn rows_fit_their_limit_and_a_batch_takes_at_least_one() {
        assert_eq!(rows_within([1, 1, 1], 2, true), 2);
        assert_eq!(rows_within([1000, 1], 1000, true), 1);
        assert_eq!(
            rows_within([3, 1], 2, true),
            1,
            "the first row goes however large"
        );
        assert_eq!(
            rows_within([3, 1], 2, false),
            0,
            "not after another row of the batch"
        );
        assert_eq!(rows_within([2, 5, 1], 4, true), 1, "rows stay in order");
        assert_eq!(rows_within([], 10, true), 0);
    }
}
