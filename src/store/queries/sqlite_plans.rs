//! SQLite's plans for statements whose cost must not follow the size of
//! the database. Without statistics SQLite plans by fixed guesses; with
//! statistics (an `ANALYZE` by an operator, or by a tool) it plans by them,
//! and a connection keeps the ones it loaded. Statistics taken while the
//! database was small must not turn a key lookup into a scan once it has
//! grown.

use diesel::prelude::*;
use diesel::sqlite::{Sqlite, SqliteConnection};
use diesel_migrations::MigrationHarness as _;

use crate::store::migrations::SQLITE_MIGRATIONS;
use crate::store::models::UserRow;
use crate::store::schema::{accounts, users};

#[derive(QueryableByName)]
struct PlanLine {
    #[diesel(sql_type = diesel::sql_types::Text)]
    detail: String,
}

/// A migrated database whose planner holds statistics from when it had one
/// account and 1,000 users.
fn analyzed_when_small() -> SqliteConnection {
    let mut conn = SqliteConnection::establish(":memory:").unwrap();
    conn.run_pending_migrations(SQLITE_MIGRATIONS).unwrap();
    for sql in [
        "ANALYZE",
        "DELETE FROM sqlite_stat1",
        "INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES \
         ('accounts', 'sqlite_autoindex_accounts_1', '1 1'), \
         ('users', 'sqlite_autoindex_users_1', '1000 1'), \
         ('users', 'users_account_status_idx', '1000 1000 1000 1')",
        // Loads them into this connection's planner.
        "ANALYZE sqlite_schema",
    ] {
        diesel::sql_query(sql).execute(&mut conn).unwrap();
    }
    conn
}

/// The plan of `sql` with one text parameter.
fn plan(conn: &mut SqliteConnection, sql: &str) -> Vec<String> {
    diesel::sql_query(format!("EXPLAIN QUERY PLAN {sql}"))
        .bind::<diesel::sql_types::Text, _>("u")
        .load::<PlanLine>(conn)
        .unwrap()
        .into_iter()
        .map(|line| line.detail)
        .collect()
}

#[test]
fn a_user_and_its_users_version_are_read_by_key_whatever_the_statistics_say() {
    let mut conn = analyzed_when_small();
    // These statistics do mislead a join: it scans every account.
    let join = plan(
        &mut conn,
        "SELECT users.id, accounts.users_version FROM users \
         JOIN accounts ON users.account_id = accounts.id WHERE users.id = ?",
    );
    assert!(join.iter().any(|l| l.starts_with("SCAN accounts")), "{join:?}");

    let query = user_with_users_version!("u");
    let debug = diesel::debug_query::<Sqlite, _>(&query).to_string();
    let sql = debug.split(" -- binds:").next().unwrap();
    let lines = plan(&mut conn, sql);
    assert!(!lines.iter().any(|l| l.starts_with("SCAN")), "{lines:?}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("SEARCH accounts USING INDEX sqlite_autoindex_accounts_1")),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("SEARCH users USING INDEX sqlite_autoindex_users_1")),
        "{lines:?}"
    );
}
