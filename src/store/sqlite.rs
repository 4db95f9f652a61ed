//! The SQLite build of the queries.

use super::models::*;
use crate::error::Result;

pub type Conn = super::SqliteConn;

impl super::BackendQueries for Conn {
    async fn lock_account_row(&mut self, id: &str) -> Result<Option<AccountRow>> {
        lock_account_row(self, id).await
    }

    async fn insert_next_event(&mut self, row: EventRow) -> Result<i64> {
        insert_next_event(self, row).await
    }

    async fn lock_login_throttle_row(
        &mut self,
        email: &str,
    ) -> Result<(i64, chrono::NaiveDateTime, Option<chrono::NaiveDateTime>)> {
        lock_login_throttle_row(self, email).await
    }

    async fn upsert_record_rows(&mut self, rows: Vec<NewWorkRecord>) -> Result<Vec<i64>> {
        upsert_record_rows(self, rows).await
    }

    async fn insert_user_rows(&mut self, rows: Vec<UserRow>) -> Result<Vec<String>> {
        insert_user_rows(self, rows).await
    }

    async fn insert_event_rows(&mut self, rows: Vec<EventRow>) -> Result<()> {
        insert_event_rows(self, rows).await
    }
}

/// `load_rows!(conn, query)`: the rows of `query`, built on the
/// connection's own thread. diesel-async's `load` first copies every row
/// out of SQLite (a `sqlite3_value_dup`, one malloc, per value) to carry it
/// across the blocking call; building the values in place skips that copy,
/// a sixth of the CPU time of a 50-user ListUsers page. (A macro: as a
/// generic async fn its `LoadQuery` bound cannot be proven for the
/// lifetime-erased futures of the `Repo` methods.)
macro_rules! load_rows {
    ($conn:expr, $query:expr) => {{
        let query = $query;
        $conn
            .spawn_blocking(move |inner| diesel::RunQueryDsl::load(query, inner))
            .await
            .map_err($crate::error::Error::from)
    }};
}

/// `narrow_search!(query, text)`: a users query restricted to the users
/// the FTS5 trigram table `users_search` finds for `text`: those whose text
/// holds it, case folded, and a few more, never fewer (the LIKE beside it
/// decides). A text of fewer than 3 characters has no trigram: the query
/// stays as it is.
macro_rules! narrow_search {
    ($query:expr, $text:expr) => {{
        let query = $query;
        match $crate::store::search::trigram_phrase($text) {
            Some(phrase) => query.filter(
                diesel::dsl::sql::<diesel::sql_types::Bool>(
                    "users.id IN (SELECT user_id FROM users_search WHERE users_search MATCH ",
                )
                .bind::<diesel::sql_types::Text, _>(phrase)
                .sql(")"),
            ),
            None => query,
        }
    }};
}

/// `BEGIN IMMEDIATE` already holds SQLite's single write lock.
async fn lock_account_row(conn: &mut Conn, id: &str) -> Result<Option<AccountRow>> {
    use super::schema::accounts::dsl as a;
    use diesel::prelude::*;
    use diesel_async::RunQueryDsl;
    Ok(a::accounts
        .filter(a::id.eq(id))
        .select(AccountRow::as_select())
        .first(conn)
        .await
        .optional()?)
}

/// Appends an event as the account's next one (`row.sequence` is ignored)
/// and returns its sequence. The writer holds SQLite's only write lock, so
/// the two statements cannot interleave with another writer's.
async fn insert_next_event(conn: &mut Conn, mut row: super::models::EventRow) -> Result<i64> {
    use super::schema::{accounts, events};
    use diesel::prelude::*;
    use diesel_async::RunQueryDsl;
    row.sequence = diesel::update(accounts::table.find(&row.account_id))
        .set(accounts::event_seq.eq(accounts::event_seq + 1))
        .returning(accounts::event_seq)
        .get_result(conn)
        .await?;
    diesel::insert_into(events::table)
        .values(&row)
        .execute(conn)
        .await?;
    Ok(row.sequence)
}

async fn lock_login_throttle_row(
    conn: &mut Conn,
    email: &str,
) -> Result<(i64, chrono::NaiveDateTime, Option<chrono::NaiveDateTime>)> {
    use super::schema::login_throttle::dsl as t;
    use diesel::prelude::*;
    use diesel_async::RunQueryDsl;
    Ok(t::login_throttle
        .filter(t::email.eq(email))
        .select((t::failures, t::window_started_at, t::locked_until))
        .first(conn)
        .await?)
}

/// Rows of a record batch per INSERT: 9 binds each, 9,000 in all, under
/// SQLite's limit of 32,766.
const RECORD_ROWS_PER_INSERT: usize = 1000;

/// Multi-row upserts (see `BackendQueries::upsert_record_rows`), built on
/// the connection's own thread in one hand-off (diesel-async would
/// otherwise cross to that thread for every statement). diesel has no
/// multi-row INSERT for SQLite over a runtime-sized slice, so the statement
/// is written here: one statement per chunk instead of one per row halves
/// the cost of a 1,000-record RegisterWorkRecords. Timestamps are bound as
/// [`StampText`]: a call's rows share one, and formatting it per row was
/// 6% of the call.
async fn upsert_record_rows(conn: &mut Conn, rows: Vec<NewWorkRecord>) -> Result<Vec<i64>> {
    let mut stamps = Stamps::default();
    let row_stamps: Vec<(StampText, StampText)> = rows
        .iter()
        .map(|r| (stamps.of(r.created_at), stamps.of(r.updated_at)))
        .collect();
    Ok(conn
        .spawn_blocking(move |inner| {
            let mut ids = Vec::with_capacity(rows.len());
            for (rows, row_stamps) in rows
                .chunks(RECORD_ROWS_PER_INSERT)
                .zip(row_stamps.chunks(RECORD_ROWS_PER_INSERT))
            {
                let insert = RecordRowsInsert { rows, row_stamps };
                ids.extend(diesel::RunQueryDsl::load::<i64>(insert, inner)?);
            }
            Ok::<_, diesel::result::Error>(ids)
        })
        .await?)
}

/// One upsert of up to [`RECORD_ROWS_PER_INSERT`] record rows, returning
/// the id of each row's record. Unlike
/// `sql_query`, it lets diesel keep the statement prepared: a full chunk is
/// always the same 9,000-placeholder text, and parsing it again was a tenth
/// of a 1,000-record RegisterWorkRecords (perf). Only the full chunk is
/// kept, so the cache holds one such statement whatever the batch sizes.
struct RecordRowsInsert<'a> {
    rows: &'a [NewWorkRecord],
    /// Each row's created and updated stamps.
    row_stamps: &'a [(StampText, StampText)],
}

impl diesel::query_builder::QueryId for RecordRowsInsert<'_> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl diesel::query_builder::Query for RecordRowsInsert<'_> {
    type SqlType = diesel::sql_types::BigInt;
}

impl diesel::query_builder::QueryFragment<diesel::sqlite::Sqlite> for RecordRowsInsert<'_> {
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, diesel::sqlite::Sqlite>,
    ) -> diesel::QueryResult<()> {
        use diesel::sql_types::{Bool, Nullable, Text, Timestamp};
        if self.rows.len() != RECORD_ROWS_PER_INSERT {
            out.unsafe_to_cache_prepared();
        }
        out.push_sql(
            "INSERT INTO work_records (account_id, kind, external_id, owner_user_id, \
             owner_is_former, parent_kind, parent_external_id, created_at, updated_at) VALUES ",
        );
        for (i, (row, (created, updated))) in self.rows.iter().zip(self.row_stamps).enumerate() {
            out.push_sql(if i == 0 { "(" } else { ",(" });
            out.push_bind_param::<Text, _>(&row.account_id)?;
            out.push_sql(",");
            out.push_bind_param::<Text, _>(&row.kind)?;
            out.push_sql(",");
            out.push_bind_param::<Text, _>(&row.external_id)?;
            out.push_sql(",");
            out.push_bind_param::<Nullable<Text>, _>(&row.owner_user_id)?;
            out.push_sql(",");
            out.push_bind_param::<Bool, _>(&row.owner_is_former)?;
            out.push_sql(",");
            out.push_bind_param::<Nullable<Text>, _>(&row.parent_kind)?;
            out.push_sql(",");
            out.push_bind_param::<Nullable<Text>, _>(&row.parent_external_id)?;
            out.push_sql(",");
            out.push_bind_param::<Timestamp, _>(created)?;
            out.push_sql(",");
            out.push_bind_param::<Timestamp, _>(updated)?;
            out.push_sql(")");
        }
        out.push_sql(RECORD_UPSERT_TAIL);
        Ok(())
    }
}

impl<Conn> diesel::RunQueryDsl<Conn> for RecordRowsInsert<'_> {}

/// Users in statements of up to [`ROWS_PER_INSERT`] rows with `ON CONFLICT
/// DO NOTHING`, on the connection's own thread in one hand-off. One
/// statement per row would cost far more than its own work: FTS5 writes
/// its pending index data to disk at every statement that touches
/// `users_search` (its savepoint hook), and then merges those small
/// segments, so 1,000 users added row by row took ten times as long as in
/// one statement.
async fn insert_user_rows(conn: &mut Conn, rows: Vec<UserRow>) -> Result<Vec<String>> {
    use super::schema::users;
    let mut stamps = Stamps::default();
    let rows: Vec<UserInsert> = rows
        .into_iter()
        .map(|row| UserInsert::new(row, &mut stamps))
        .collect();
    Ok(conn
        .spawn_blocking(move |inner| {
            let mut inserted = Vec::with_capacity(rows.len());
            for chunk in rows.chunks(ROWS_PER_INSERT) {
                let ids = match <&[UserInsert; ROWS_PER_INSERT]>::try_from(chunk) {
                    Ok(full) => diesel::RunQueryDsl::get_results::<String>(
                        diesel::insert_into(users::table)
                            .values(full)
                            .on_conflict_do_nothing()
                            .returning(users::id),
                        inner,
                    )?,
                    Err(_) => diesel::RunQueryDsl::get_results::<String>(
                        diesel::insert_into(users::table)
                            .values(chunk)
                            .on_conflict_do_nothing()
                            .returning(users::id),
                        inner,
                    )?,
                };
                inserted.extend(ids);
            }
            Ok(inserted)
        })
        .await?)
}

/// Events in statements of up to [`ROWS_PER_INSERT`] rows, on the
/// connection's own thread in one hand-off.
async fn insert_event_rows(conn: &mut Conn, rows: Vec<EventRow>) -> Result<()> {
    let mut stamps = Stamps::default();
    let rows: Vec<EventInsert> = rows
        .into_iter()
        .map(|row| EventInsert::new(row, &mut stamps))
        .collect();
    Ok(conn
        .spawn_blocking(move |inner| {
            for chunk in rows.chunks(ROWS_PER_INSERT) {
                let events = super::schema::events::table;
                match <&[EventInsert; ROWS_PER_INSERT]>::try_from(chunk) {
                    Ok(full) => diesel::RunQueryDsl::execute(
                        diesel::insert_into(events).values(full),
                        inner,
                    )?,
                    Err(_) => diesel::RunQueryDsl::execute(
                        diesel::insert_into(events).values(chunk),
                        inner,
                    )?,
                };
            }
            Ok(())
        })
        .await?)
}

/// A timestamp as the text diesel writes for one on SQLite (`%F %T%.f`),
/// formatted once for all the rows of a batch that share it: formatting
/// it per row and column was 7% of the writer's time in a 1,000-user
/// BulkAddUsers (perf).
#[derive(Debug, Clone, diesel::expression::AsExpression)]
#[diesel(sql_type = diesel::sql_types::Timestamp)]
struct StampText(std::sync::Arc<str>);

impl diesel::serialize::ToSql<diesel::sql_types::Timestamp, diesel::sqlite::Sqlite> for StampText {
    fn to_sql<'b>(
        &'b self,
        out: &mut diesel::serialize::Output<'b, '_, diesel::sqlite::Sqlite>,
    ) -> diesel::serialize::Result {
        out.set_value(&*self.0);
        Ok(diesel::serialize::IsNull::No)
    }
}

/// The [`StampText`] of each distinct timestamp of a batch.
#[derive(Default)]
struct Stamps(std::collections::HashMap<chrono::NaiveDateTime, StampText>);

impl Stamps {
    fn of(&mut self, at: chrono::NaiveDateTime) -> StampText {
        self.0
            .entry(at)
            .or_insert_with(|| StampText(at.format("%F %T%.f").to_string().into()))
            .clone()
    }
}

/// A [`UserRow`] to insert, its timestamps as [`StampText`].
#[derive(diesel::Insertable)]
#[diesel(table_name = super::schema::users, treat_none_as_default_value = false)]
struct UserInsert {
    id: String,
    account_id: String,
    name: String,
    email: String,
    password_hash: String,
    group_id: Option<String>,
    role: String,
    permissions: String,
    status: String,
    search_text: String,
    version: i64,
    tokens_valid_after: Option<StampText>,
    created_at: StampText,
    updated_at: StampText,
    disabled_at: Option<StampText>,
    access_role_id: Option<String>,
}

impl UserInsert {
    fn new(row: UserRow, stamps: &mut Stamps) -> Self {
        UserInsert {
            tokens_valid_after: row.tokens_valid_after.map(|at| stamps.of(at)),
            created_at: stamps.of(row.created_at),
            updated_at: stamps.of(row.updated_at),
            disabled_at: row.disabled_at.map(|at| stamps.of(at)),
            id: row.id,
            account_id: row.account_id,
            name: row.name,
            email: row.email,
            password_hash: row.password_hash,
            group_id: row.group_id,
            role: row.role,
            permissions: row.permissions,
            status: row.status,
            search_text: row.search_text,
            version: row.version,
            access_role_id: row.access_role_id,
        }
    }
}

/// An [`EventRow`] to insert, its timestamp as [`StampText`].
#[derive(diesel::Insertable)]
#[diesel(table_name = super::schema::events, treat_none_as_default_value = false)]
struct EventInsert {
    account_id: String,
    sequence: i64,
    event_type: String,
    created_at: StampText,
    actor: String,
    user_id: Option<String>,
    target_user_id: Option<String>,
    job_id: Option<String>,
    seats_before: Option<i32>,
    seats_after: Option<i32>,
    amount_minor: Option<i64>,
    moved: Option<String>,
    detail: String,
}

impl EventInsert {
    fn new(row: EventRow, stamps: &mut Stamps) -> Self {
        EventInsert {
            created_at: stamps.of(row.created_at),
            account_id: row.account_id,
            sequence: row.sequence,
            event_type: row.event_type,
            actor: row.actor,
            user_id: row.user_id,
            target_user_id: row.target_user_id,
            job_id: row.job_id,
            seats_before: row.seats_before,
            seats_after: row.seats_after,
            amount_minor: row.amount_minor,
            moved: row.moved,
            detail: row.detail,
        }
    }
}

/// Rows per multi-row INSERT of users or events: 1,000 rows of 16 values
/// stay within SQLite's 32,766 bound parameters. A full chunk goes in as an
/// array, whose statement text diesel keeps prepared (a slice's it parses
/// again on every call: 6.6% of a BulkAddUsers run's samples); shorter
/// chunks, of any length, are parsed each time, so the cache holds one
/// statement of each kind.
const ROWS_PER_INSERT: usize = 1000;

/// SQLite has no shared connections (reads are in-process calls).
macro_rules! also_for_shared_connections {
    ($impl_for:ident) => {};
}

/// Items of `queries` compiled for SQLite alone.
macro_rules! sqlite_only {
    ($($item:item)*) => { $($item)* };
}

// The same file is compiled once per backend, on purpose.
#[allow(clippy::duplicate_mod)]
#[path = "queries/mod.rs"]
mod queries;
