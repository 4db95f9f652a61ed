//! The contract for work records, jobs, events and stored replies.

use std::future::Future;

use chrono::NaiveDateTime;

use crate::domain::records::{JournalEntry, RecordCounts, RecordKind};
use crate::domain::{Event, Job, JobState, JobUser, NewEvent, WorkRecord};
use crate::error::Result;
use crate::store::params::*;

/// Work records: registration, counts, and moves with their journal.
pub trait RecordQueries: Send {
    /// Journal entries of the account matching `filter`, in journal order
    /// after `after_id`, at most `limit`.
    fn list_journal(
        &mut self,
        account_id: &str,
        filter: &MoveFilter,
        after_id: Option<i64>,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<JournalEntry>>> + Send;
    /// External ids of the account's records among `ids`, by id.
    fn external_ids(
        &mut self,
        account_id: &str,
        ids: &[i64],
    ) -> impl Future<Output = Result<Vec<(i64, String)>>> + Send;
    /// (external_id, id) of the account's records of `kind` among `external_ids`.
    fn find_record_ids(
        &mut self,
        account_id: &str,
        kind: RecordKind,
        external_ids: &[String],
    ) -> impl Future<Output = Result<Vec<(String, i64)>>> + Send;
    /// Registers records: each is created, or, when its account, kind and
    /// external id are taken, that record gets its owner. Returns
    /// (created, re-pointed).
    fn register_records(
        &mut self,
        records: &[NewRecord],
    ) -> impl Future<Output = Result<(i64, i64)>> + Send;
    /// A user's records of one kind in id order after `after_id`.
    fn list_records(
        &mut self,
        owner_user_id: &str,
        kind: RecordKind,
        after_id: Option<i64>,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<WorkRecord>>> + Send;
    /// The records a user holds, per kind.
    fn count_records(
        &mut self,
        owner_user_id: &str,
    ) -> impl Future<Output = Result<RecordCounts>> + Send;
    /// (parent kind, count) of the conversations a user holds.
    fn count_conversations_by_parent(
        &mut self,
        owner_user_id: &str,
    ) -> impl Future<Output = Result<Vec<(RecordKind, i64)>>> + Send;
    /// Journals and moves every record of `mv.kind` from one user to another.
    fn move_records(&mut self, mv: &Move<'_>) -> impl Future<Output = Result<i64>> + Send;
    /// Journals and moves the conversations whose parent kind is `mv.kind`.
    fn move_conversations(&mut self, mv: &Move<'_>) -> impl Future<Output = Result<i64>> + Send;
    /// Users who received records from `from_user_id` (per the journal).
    fn journal_receivers(
        &mut self,
        from_user_id: &str,
    ) -> impl Future<Output = Result<Vec<String>>> + Send;
    /// Moves back to `mv.to_user_id` the records of `mv.kind` that the
    /// journal says went from it to `mv.from_user_id`, where that user still
    /// holds them; journals the move.
    fn restore_records(&mut self, mv: &Move<'_>) -> impl Future<Output = Result<i64>> + Send;
    /// Marks the user's notes as written by a former user.
    fn orphan_notes(
        &mut self,
        user_id: &str,
        now: NaiveDateTime,
    ) -> impl Future<Output = Result<i64>> + Send;
    /// Moves the next `limit` records of the pass (by id, after `after`),
    /// journalled per kind.
    fn move_batch(
        &mut self,
        mv: &PassMove<'_>,
        after: i64,
        limit: i64,
    ) -> impl Future<Output = Result<MovedBatch>> + Send;
}

/// Durable jobs, their per-user rows and leases.
pub trait JobQueries: Send {
    fn insert_job(
        &mut self,
        job: &Job,
        users: &[JobUser],
    ) -> impl Future<Output = Result<()>> + Send;
    fn find_job(
        &mut self,
        account_id: &str,
        job_id: &str,
    ) -> impl Future<Output = Result<Option<Job>>> + Send;
    fn find_job_by_request(
        &mut self,
        account_id: &str,
        request_id: &str,
    ) -> impl Future<Output = Result<Option<Job>>> + Send;
    fn job_users(&mut self, job_id: &str) -> impl Future<Output = Result<Vec<JobUser>>> + Send;
    /// Jobs of an account, newest first, with id below `before_id`.
    fn list_jobs(
        &mut self,
        account_id: &str,
        before_id: Option<&str>,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<Job>>> + Send;
    /// Whether some job is runnable and its lease free or expired (a read:
    /// most polls find none, and need not take the write lock).
    fn has_runnable_job(&mut self, now: NaiveDateTime)
    -> impl Future<Output = Result<bool>> + Send;
    /// Takes the lease of the oldest runnable job whose lease is free or
    /// expired; None when there is none (or another process won it).
    fn claim_job(
        &mut self,
        owner: &str,
        lease_until: NaiveDateTime,
        now: NaiveDateTime,
    ) -> impl Future<Output = Result<Option<Job>>> + Send;
    /// Writes a batch's progress and extends the lease; false when the
    /// lease is no longer ours (then the caller rolls the batch back).
    fn record_job_progress(
        &mut self,
        progress: &JobProgress<'_>,
    ) -> impl Future<Output = Result<bool>> + Send;
    fn set_job_user(&mut self, user: &JobUser) -> impl Future<Output = Result<()>> + Send;
    /// Ends the job (if the lease is ours): state, error, no lease.
    fn finish_job(
        &mut self,
        job_id: &str,
        owner: &str,
        state: JobState,
        error_message: &str,
        now: NaiveDateTime,
    ) -> impl Future<Output = Result<bool>> + Send;
    /// Hands the lease back at once (graceful shutdown).
    fn release_job(
        &mut self,
        job_id: &str,
        owner: &str,
        now: NaiveDateTime,
    ) -> impl Future<Output = Result<()>> + Send;
    fn request_job_cancel(
        &mut self,
        job_id: &str,
        now: NaiveDateTime,
    ) -> impl Future<Output = Result<()>> + Send;
    /// RUNNING jobs whose lease has expired: their worker died or hangs,
    /// and no other worker has taken them over yet.
    fn count_stalled_jobs(
        &mut self,
        now: NaiveDateTime,
    ) -> impl Future<Output = Result<i64>> + Send;
}

/// The account's event log.
pub trait EventQueries: Send {
    /// Appends an event with the account's next sequence number. Call with
    /// the account locked.
    fn append_event(
        &mut self,
        account_id: &str,
        event: NewEvent,
        now: NaiveDateTime,
    ) -> impl Future<Output = Result<i64>> + Send;
    /// Appends events with the account's next sequence numbers, in order,
    /// in as few statements as the backend allows. Call with the account
    /// locked.
    fn append_events(
        &mut self,
        account_id: &str,
        events: Vec<NewEvent>,
        now: NaiveDateTime,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Events with sequence greater than `after`, in order.
    fn list_events(
        &mut self,
        account_id: &str,
        after: i64,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<Event>>> + Send;
    /// As [`EventQueries::list_events`], only the events `filter` matches.
    fn list_events_matching(
        &mut self,
        account_id: &str,
        after: i64,
        limit: i64,
        filter: &EventFilter,
    ) -> impl Future<Output = Result<Vec<Event>>> + Send;
    /// The lowest sequence of the account's events still kept (None: none).
    fn oldest_event_sequence(
        &mut self,
        account_id: &str,
    ) -> impl Future<Output = Result<Option<i64>>> + Send;
}

/// Stored idempotent replies.
pub trait ReplyQueries: Send {
    fn find_idempotency_key(
        &mut self,
        namespace: &str,
        operation: &str,
        request_id: &str,
    ) -> impl Future<Output = Result<Option<StoredReply>>> + Send;
    fn insert_idempotency_key(
        &mut self,
        reply: &StoredReply,
    ) -> impl Future<Output = Result<Insert>> + Send;
    /// Deletes stored idempotent replies holding the user's personal data.
    fn forget_replies_about(&mut self, user_id: &str) -> impl Future<Output = Result<()>> + Send;
}
