//! Durable jobs, their per-user rows and leases.

use super::*;
use crate::domain::{Job, JobState, JobUser};

/// Jobs queued or running whose lease is free or expired at `now` (a
/// macro: the query's type is long, and differs per backend).
macro_rules! runnable_jobs {
    ($now:expr) => {
        jobs::table
            .filter(jobs::state.eq_any([JobState::Queued.as_str(), JobState::Running.as_str()]))
            .filter(
                jobs::lease_expires_at
                    .is_null()
                    .or(jobs::lease_expires_at.lt($now)),
            )
    };
}

impl JobQueries for Conn {
    async fn insert_job(&mut self, job: &Job, users: &[JobUser]) -> Result<()> {
        diesel::insert_into(jobs::table)
            .values(JobRow::from(job))
            .execute(self)
            .await?;
        // One row at a time: diesel has no multi-row insert for SQLite, and
        // a job has at most 1,000 users.
        for user in users {
            diesel::insert_into(job_users::table)
                .values(JobUserRow::from(user))
                .execute(self)
                .await?;
        }
        Ok(())
    }

    async fn find_job(&mut self, account_id: &str, job_id: &str) -> Result<Option<Job>> {
        let row = jobs::table
            .filter(jobs::id.eq(job_id))
            .filter(jobs::account_id.eq(account_id))
            .select(JobRow::as_select())
            .first(self)
            .await
            .optional()?;
        convert::job(row)
    }

    async fn find_job_by_request(
        &mut self,
        account_id: &str,
        request_id: &str,
    ) -> Result<Option<Job>> {
        let row = jobs::table
            .filter(jobs::account_id.eq(account_id))
            .filter(jobs::request_id.eq(request_id))
            .select(JobRow::as_select())
            .first(self)
            .await
            .optional()?;
        convert::job(row)
    }

    async fn job_users(&mut self, job_id: &str) -> Result<Vec<JobUser>> {
        let rows = job_users::table
            .filter(job_users::job_id.eq(job_id))
            .order(job_users::position.asc())
            .select(JobUserRow::as_select())
            .load(self)
            .await?;
        convert::job_users(rows)
    }

    async fn list_jobs(
        &mut self,
        account_id: &str,
        before_id: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Job>> {
        let mut query = jobs::table
            .filter(jobs::account_id.eq(account_id))
            .order(jobs::id.desc())
            .limit(limit)
            .select(JobRow::as_select())
            .into_boxed();
        if let Some(before) = before_id {
            query = query.filter(jobs::id.lt(before));
        }
        convert::jobs(query.load(self).await?)
    }

    async fn has_runnable_job(&mut self, now: NaiveDateTime) -> Result<bool> {
        Ok(diesel::select(diesel::dsl::exists(runnable_jobs!(now)))
            .get_result(self)
            .await?)
    }

    async fn claim_job(
        &mut self,
        owner: &str,
        lease_until: NaiveDateTime,
        now: NaiveDateTime,
    ) -> Result<Option<Job>> {
        let runnable = || runnable_jobs!(now);
        let candidate: Option<String> = runnable()
            .order(jobs::created_at.asc())
            .select(jobs::id)
            .first(self)
            .await
            .optional()?;
        let Some(id) = candidate else { return Ok(None) };
        // The same condition again: of two racing processes only one
        // updates the row.
        let won = diesel::update(runnable().filter(jobs::id.eq(&id)))
            .set((
                jobs::state.eq(JobState::Running.as_str()),
                jobs::lease_owner.eq(owner),
                jobs::lease_expires_at.eq(lease_until),
                jobs::updated_at.eq(now),
            ))
            .execute(self)
            .await?;
        if won == 0 {
            return Ok(None);
        }
        let row = jobs::table
            .find(&id)
            .select(JobRow::as_select())
            .first(self)
            .await
            .optional()?;
        convert::job(row)
    }

    async fn record_job_progress(&mut self, p: &JobProgress<'_>) -> Result<bool> {
        let updated = diesel::update(
            jobs::table
                .filter(jobs::id.eq(p.job_id))
                .filter(jobs::lease_owner.eq(p.lease_owner)),
        )
        .set((
            jobs::records_moved.eq(p.records_moved),
            jobs::moved.eq(convert::counts_text(&p.moved)),
            jobs::lease_expires_at.eq(p.lease_expires_at),
            jobs::updated_at.eq(p.now),
        ))
        .execute(self)
        .await?;
        Ok(updated == 1)
    }

    async fn set_job_user(&mut self, user: &JobUser) -> Result<()> {
        let row = JobUserRow::from(user);
        diesel::update(job_users::table.find((&row.job_id, row.position)))
            .set((
                job_users::outcome.eq(&row.outcome),
                job_users::reason.eq(&row.reason),
                job_users::message.eq(&row.message),
                job_users::moved.eq(&row.moved),
            ))
            .execute(self)
            .await?;
        Ok(())
    }

    async fn finish_job(
        &mut self,
        job_id: &str,
        owner: &str,
        state: JobState,
        error_message: &str,
        now: NaiveDateTime,
    ) -> Result<bool> {
        let updated = diesel::update(
            jobs::table
                .filter(jobs::id.eq(job_id))
                .filter(jobs::lease_owner.eq(owner)),
        )
        .set((
            jobs::state.eq(state.as_str()),
            jobs::error_message.eq(error_message),
            jobs::lease_owner.eq(None::<String>),
            jobs::lease_expires_at.eq(None::<NaiveDateTime>),
            jobs::finished_at.eq(now),
            jobs::updated_at.eq(now),
        ))
        .execute(self)
        .await?;
        Ok(updated == 1)
    }

    async fn release_job(&mut self, job_id: &str, owner: &str, now: NaiveDateTime) -> Result<()> {
        diesel::update(
            jobs::table
                .filter(jobs::id.eq(job_id))
                .filter(jobs::lease_owner.eq(owner)),
        )
        .set((
            jobs::lease_owner.eq(None::<String>),
            jobs::lease_expires_at.eq(None::<NaiveDateTime>),
            jobs::updated_at.eq(now),
        ))
        .execute(self)
        .await?;
        Ok(())
    }

    async fn request_job_cancel(&mut self, job_id: &str, now: NaiveDateTime) -> Result<()> {
        diesel::update(jobs::table.find(job_id))
            .set((jobs::cancel_requested.eq(true), jobs::updated_at.eq(now)))
            .execute(self)
            .await?;
        Ok(())
    }

    async fn count_stalled_jobs(&mut self, now: NaiveDateTime) -> Result<i64> {
        Ok(jobs::table
            .filter(jobs::state.eq(JobState::Running.as_str()))
            .filter(jobs::lease_expires_at.lt(now))
            .count()
            .get_result(self)
            .await?)
    }
}
