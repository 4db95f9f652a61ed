//! The SQLite build of the queries.

use super::*;
pub type Conn = SqliteConn;

/// `BEGIN IMMEDIATE` already holds SQLite's single write lock.
pub(super) async fn lock_account_row(conn: &mut Conn, id: &str) -> Result<Option<AccountRow>> {
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

// The same file is compiled once per backend, on purpose.
#[allow(clippy::duplicate_mod)]
#[path = "queries.rs"]
mod queries;
