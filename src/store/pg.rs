//! The PostgreSQL build of the queries.

use super::models::*;
use crate::error::Result;

pub type Conn = super::PgConn;

mod records;
use records::upsert_record_rows;

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
        upsert_record_rows(self, &rows).await
    }

    async fn insert_user_rows(&mut self, rows: Vec<UserRow>) -> Result<Vec<String>> {
        insert_user_rows(self, &rows).await
    }

    async fn insert_event_rows(&mut self, rows: Vec<EventRow>) -> Result<()> {
        insert_event_rows(self, &rows).await
    }
}

/// `load_rows!(conn, query)`: the rows of `query` (see the SQLite build
/// for why this is a macro of its own).
macro_rules! load_rows {
    ($conn:expr, $query:expr) => {
        diesel_async::RunQueryDsl::load($query, $conn)
            .await
            .map_err($crate::error::Error::from)
    };
}

/// `narrow_search!(query, text)`: the query as it is. PostgreSQL's planner
/// answers the LIKE itself from the trigram index `users_search_trgm_idx`
/// when that pays (a rare enough text of 3+ characters).
macro_rules! narrow_search {
    ($query:expr, $text:expr) => {
        $query
    };
}

async fn lock_account_row(conn: &mut Conn, id: &str) -> Result<Option<AccountRow>> {
    use super::schema::accounts::dsl as a;
    use diesel::prelude::*;
    use diesel_async::RunQueryDsl;
    Ok(a::accounts
        .filter(a::id.eq(id))
        .select(AccountRow::as_select())
        .for_update()
        .first(conn)
        .await
        .optional()?)
}

/// Appends an event as the account's next one (`row.sequence` is ignored)
/// and returns its sequence: one statement, one round trip, where the
/// sequence bump and the insert were two. The bump is an UPDATE of the
/// account row, so concurrent appends to one account take turns.
async fn insert_next_event(conn: &mut Conn, row: super::models::EventRow) -> Result<i64> {
    use diesel_async::RunQueryDsl;
    Ok(NextEvent { row: &row }.get_result(conn).await?)
}

/// The statement of [`insert_next_event`], by hand: diesel's DSL has no
/// data-modifying CTE. A static query id keeps it prepared per connection.
struct NextEvent<'a> {
    row: &'a super::models::EventRow,
}

/// The static query id of [`NextEvent`].
struct NextEventId;

impl diesel::query_builder::QueryId for NextEvent<'_> {
    type QueryId = NextEventId;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl diesel::query_builder::Query for NextEvent<'_> {
    type SqlType = diesel::sql_types::BigInt;
}

impl diesel::query_builder::QueryFragment<diesel::pg::Pg> for NextEvent<'_> {
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, diesel::pg::Pg>,
    ) -> diesel::QueryResult<()> {
        use diesel::sql_types::{BigInt, Integer, Nullable, Text, Timestamp};
        let row = self.row;
        out.push_sql("WITH bumped AS (UPDATE accounts SET event_seq = event_seq + 1 WHERE id = ");
        out.push_bind_param::<Text, _>(&row.account_id)?;
        out.push_sql(
            " RETURNING id, event_seq) \
             INSERT INTO events (account_id, sequence, event_type, created_at, actor, \
             user_id, target_user_id, job_id, seats_before, seats_after, amount_minor, \
             moved, detail) SELECT bumped.id, bumped.event_seq, ",
        );
        out.push_bind_param::<Text, _>(&row.event_type)?;
        out.push_sql(", ");
        out.push_bind_param::<Timestamp, _>(&row.created_at)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(&row.actor)?;
        out.push_sql(", ");
        out.push_bind_param::<Nullable<Text>, _>(&row.user_id)?;
        out.push_sql(", ");
        out.push_bind_param::<Nullable<Text>, _>(&row.target_user_id)?;
        out.push_sql(", ");
        out.push_bind_param::<Nullable<Text>, _>(&row.job_id)?;
        out.push_sql(", ");
        out.push_bind_param::<Nullable<Integer>, _>(&row.seats_before)?;
        out.push_sql(", ");
        out.push_bind_param::<Nullable<Integer>, _>(&row.seats_after)?;
        out.push_sql(", ");
        out.push_bind_param::<Nullable<BigInt>, _>(&row.amount_minor)?;
        out.push_sql(", ");
        out.push_bind_param::<Nullable<Text>, _>(&row.moved)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(&row.detail)?;
        out.push_sql(" FROM bumped RETURNING sequence");
        Ok(())
    }
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
        .for_update()
        .first(conn)
        .await?)
}

/// Users by id in any account (missing ids are left out), for the
/// coalesced reads (`coalesced`), on a shared connection. One primary-key
/// lookup per id: `WHERE id = ANY($1)` is planned once for an array of
/// unknown length, and that generic plan scans the whole table (cheaper on
/// paper than ten index lookups up to a few thousand users; ten times
/// slower in fact, 0.19 ms against 0.02 ms at 1,000 users). The lateral
/// subquery, fenced by `OFFSET 0`, can only be an index lookup per id.
///
/// With `versioned`, each row comes with its account's `users_version`,
/// read in the same statement (one snapshot): a ListUsers call checking a
/// kept page needs its caller's row and that version, and so joins the
/// same batches. Without, the version is NULL and costs no lookup (GetUser
/// at 8 calls in flight was ~10% slower with the lookup in every batch).
pub(super) async fn users_by_ids(
    mut conn: &Conn,
    ids: &[&str],
    versioned: bool,
) -> Result<Vec<(UserRow, Option<i64>)>> {
    use diesel::SelectableHelper;
    use diesel_async::RunQueryDsl;
    let columns = UserRow::as_select();
    Ok(if versioned {
        UsersByIds::<true> { columns, ids }.load(&mut conn).await?
    } else {
        UsersByIds::<false> { columns, ids }.load(&mut conn).await?
    })
}

/// The query of [`users_by_ids`], written by hand because diesel's DSL has
/// no lateral join, and not with `sql_query`, which diesel never keeps as
/// a prepared statement (it was planned again for every batch, and the
/// coalesced reads were slower than a query per call). Each form has a
/// static query id, so each connection prepares it once.
struct UsersByIds<'a, const VERSIONED: bool> {
    columns: diesel::dsl::AsSelect<UserRow, diesel::pg::Pg>,
    ids: &'a [&'a str],
}

/// The static query id of each form of [`UsersByIds`].
struct UsersByIdsId<const VERSIONED: bool>;

impl<const VERSIONED: bool> diesel::query_builder::QueryId for UsersByIds<'_, VERSIONED> {
    type QueryId = UsersByIdsId<VERSIONED>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl<const VERSIONED: bool> diesel::query_builder::Query for UsersByIds<'_, VERSIONED> {
    type SqlType = (
        diesel::dsl::SqlTypeOf<diesel::dsl::AsSelect<UserRow, diesel::pg::Pg>>,
        diesel::sql_types::Nullable<diesel::sql_types::BigInt>,
    );
}

impl<const VERSIONED: bool> diesel::query_builder::QueryFragment<diesel::pg::Pg>
    for UsersByIds<'_, VERSIONED>
{
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, diesel::pg::Pg>,
    ) -> diesel::QueryResult<()> {
        use diesel::sql_types::{Array, Text};
        out.push_sql("SELECT ");
        // `"users"."id", …`: the lateral subquery below is named `users`.
        self.columns.walk_ast(out.reborrow())?;
        if VERSIONED {
            out.push_sql(
                ", (SELECT accounts.users_version FROM accounts \
                 WHERE accounts.id = users.account_id)",
            );
        } else {
            out.push_sql(", NULL::bigint");
        }
        out.push_sql(" FROM unnest(");
        out.push_bind_param::<Array<Text>, _>(&self.ids)?;
        out.push_sql(
            ") AS wanted (id) CROSS JOIN LATERAL \
             (SELECT * FROM users WHERE users.id = wanted.id OFFSET 0) AS users",
        );
        Ok(())
    }
}

/// One multi-row `INSERT … ON CONFLICT DO NOTHING` per 1,000 users (16
/// binds each, under PostgreSQL's limit of 65,535); the statement triggers
/// update each account row once per statement.
async fn insert_user_rows(conn: &mut Conn, rows: &[UserRow]) -> Result<Vec<String>> {
    use diesel_async::RunQueryDsl;
    let mut inserted = Vec::with_capacity(rows.len());
    for chunk in rows.chunks(1000) {
        inserted.extend(
            diesel::insert_into(super::schema::users::table)
                .values(chunk)
                .on_conflict_do_nothing()
                .returning(super::schema::users::id)
                .get_results::<String>(conn)
                .await?,
        );
    }
    Ok(inserted)
}

/// One multi-row INSERT per 1,000 events (under the bind limit).
async fn insert_event_rows(conn: &mut Conn, rows: &[EventRow]) -> Result<()> {
    use diesel_async::RunQueryDsl;
    for chunk in rows.chunks(1000) {
        diesel::insert_into(super::schema::events::table)
            .values(chunk)
            .execute(conn)
            .await?;
    }
    Ok(())
}

/// Also implements `$impl_for`'s trait for `&Conn`, a connection shared by
/// concurrent calls (see `pipelined`).
macro_rules! also_for_shared_connections {
    ($impl_for:ident) => {
        $impl_for!(&'a Conn, 'a);
    };
}

/// Items of `queries` compiled for SQLite alone: none here.
macro_rules! sqlite_only {
    ($($item:item)*) => {};
}

// The same file is compiled once per backend, on purpose.
#[allow(clippy::duplicate_mod)]
#[path = "queries/mod.rs"]
mod queries;
