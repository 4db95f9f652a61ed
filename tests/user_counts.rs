//! The user counts kept in the account row. A trigger keeps them with every
//! change to a users row, whoever makes it; seat decisions read them from
//! the locked account row instead of counting the account's users. These
//! tests change users by hand (SQL) and check the counts, the seat
//! decisions and GetSeatUsage against a real count after every step.

mod common;

use common::*;
use roster::proto::v1 as pb;
use tonic::Code;

/// (active, inactive) as kept in the account row, and as counted.
async fn kept_and_counted(app: &TestApp, account_id: &str) -> ((i64, i64), (i64, i64)) {
    let kept = (
        app.sql_count(&format!(
            "SELECT active_users AS n FROM accounts WHERE id = '{account_id}'"
        ))
        .await,
        app.sql_count(&format!(
            "SELECT inactive_users AS n FROM accounts WHERE id = '{account_id}'"
        ))
        .await,
    );
    let counted = (
        app.sql_count(&format!(
            "SELECT count(*) AS n FROM users WHERE account_id = '{account_id}' AND status = 'ACTIVE'"
        ))
        .await,
        app.sql_count(&format!(
            "SELECT count(*) AS n FROM users WHERE account_id = '{account_id}' AND status = 'INACTIVE'"
        ))
        .await,
    );
    (kept, counted)
}

/// Checks the kept counts against a real count and against GetSeatUsage;
/// returns (active, inactive).
async fn assert_counts(app: &TestApp, ws: &Workspace, step: &str) -> (i64, i64) {
    let (kept, counted) = kept_and_counted(app, &ws.account.id).await;
    assert_eq!(kept, counted, "{step}: kept counts against a real count");
    let usage = app
        .seats()
        .get_seat_usage(authed(
            pb::GetSeatUsageRequest {
                account_id: ws.account.id.clone(),
            },
            &ws.admin_token,
        ))
        .await
        .expect("seat usage")
        .into_inner()
        .usage
        .expect("usage");
    assert_eq!(
        (
            i64::from(usage.active_users),
            i64::from(usage.inactive_users)
        ),
        counted,
        "{step}: GetSeatUsage"
    );
    counted
}

/// A users row inserted by hand: a copy of the admin's with a new id and
/// email, as MEMBER, with the given status.
async fn insert_by_hand(app: &TestApp, ws: &Workspace, id: &str, status: &str) {
    let disabled_at = if status == "ACTIVE" {
        "NULL"
    } else {
        "created_at"
    };
    app.sql(&format!(
        "INSERT INTO users (id, account_id, name, email, password_hash, group_id, role, \
         permissions, status, search_text, version, tokens_valid_after, created_at, \
         updated_at, disabled_at) \
         SELECT '{id}', account_id, 'By Hand', '{id}@example.com', password_hash, NULL, \
         'MEMBER', permissions, '{status}', search_text, 1, NULL, created_at, updated_at, \
         {disabled_at} FROM users WHERE id = '{}'",
        ws.admin.id
    ))
    .await;
}

async fn add(app: &TestApp, ws: &Workspace) -> Result<pb::User, tonic::Status> {
    app.users()
        .add_user(authed(new_user(&unique_email("counted")), &ws.admin_token))
        .await
        .map(|r| r.into_inner().user.expect("user"))
}

async fn counts_follow_changes_made_by_hand(db: Db) {
    let app = TestApp::spawn(db).await;
    let ws = app.account(pb::Plan::Base, pb::SeatPolicy::Strict, 3).await;
    let other = app.account(pb::Plan::Base, pb::SeatPolicy::Strict, 3).await;
    assert_eq!(assert_counts(&app, &ws, "new account").await, (1, 0));
    add(&app, &ws).await.expect("second seat");
    assert_eq!(assert_counts(&app, &ws, "added").await, (2, 0));

    // An active user inserted by hand takes the last seat.
    let by_hand = format!("hand{}", uuid::Uuid::new_v4().simple());
    insert_by_hand(&app, &ws, &by_hand, "ACTIVE").await;
    assert_eq!(assert_counts(&app, &ws, "inserted by hand").await, (3, 0));
    let refused = add(&app, &ws).await.expect_err("no seat left");
    assert_error(&refused, Code::FailedPrecondition, "SEAT_LIMIT_REACHED");
    assert_eq!(assert_counts(&app, &ws, "refused").await, (3, 0));

    // Disabled by hand, it gives its seat back.
    app.sql(&format!(
        "UPDATE users SET status = 'INACTIVE', disabled_at = updated_at WHERE id = '{by_hand}'"
    ))
    .await;
    assert_eq!(assert_counts(&app, &ws, "disabled by hand").await, (2, 1));
    add(&app, &ws).await.expect("the freed seat");
    assert_eq!(assert_counts(&app, &ws, "seat reused").await, (3, 1));

    // A change that keeps the status changes no count.
    app.sql(&format!(
        "UPDATE users SET name = 'Renamed' WHERE id = '{by_hand}'"
    ))
    .await;
    assert_eq!(assert_counts(&app, &ws, "renamed by hand").await, (3, 1));

    // Moved to another account by hand: counted out of one, into the other.
    app.sql(&format!(
        "UPDATE users SET account_id = '{}' WHERE id = '{by_hand}'",
        other.account.id
    ))
    .await;
    assert_eq!(assert_counts(&app, &ws, "moved out").await, (3, 0));
    assert_eq!(assert_counts(&app, &other, "moved in").await, (1, 1));

    // Reactivated and deleted by hand.
    app.sql(&format!(
        "UPDATE users SET status = 'ACTIVE', disabled_at = NULL WHERE id = '{by_hand}'"
    ))
    .await;
    assert_eq!(assert_counts(&app, &other, "reactivated").await, (2, 0));
    app.sql(&format!("DELETE FROM users WHERE id = '{by_hand}'"))
        .await;
    assert_eq!(assert_counts(&app, &other, "deleted").await, (1, 0));
    let inactive = format!("gone{}", uuid::Uuid::new_v4().simple());
    insert_by_hand(&app, &other, &inactive, "INACTIVE").await;
    assert_eq!(
        assert_counts(&app, &other, "inactive inserted").await,
        (1, 1)
    );
    app.sql(&format!("DELETE FROM users WHERE id = '{inactive}'"))
        .await;
    assert_eq!(
        assert_counts(&app, &other, "inactive deleted").await,
        (1, 0)
    );
}

/// Many users changed by one statement (an import, a repair by SQL): the
/// counts take every row of it, in each account it touches, and the users
/// version moves. On PostgreSQL the triggers run once per statement.
async fn statements_changing_many_users_count_every_row(db: Db) {
    let app = TestApp::spawn(db).await;
    let ws = app
        .account(pb::Plan::Base, pb::SeatPolicy::AutoExpand, 3)
        .await;
    let other = app
        .account(pb::Plan::Base, pb::SeatPolicy::AutoExpand, 3)
        .await;
    let version = format!(
        "SELECT users_version AS n FROM accounts WHERE id = '{}'",
        ws.account.id
    );
    let before = app.sql_count(&version).await;
    let prefix = format!("bulk{}-", uuid::Uuid::new_v4().simple());
    // 50 users in one INSERT: 1–30 active, 31–50 inactive.
    app.sql(&format!(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50) \
         INSERT INTO users (id, account_id, name, email, password_hash, group_id, role, \
         permissions, status, search_text, version, tokens_valid_after, created_at, \
         updated_at, disabled_at) \
         SELECT '{prefix}' || i, account_id, 'Bulk', '{prefix}' || i || '@example.com', \
         password_hash, NULL, 'MEMBER', permissions, \
         CASE WHEN i <= 30 THEN 'ACTIVE' ELSE 'INACTIVE' END, search_text, 1, NULL, \
         created_at, updated_at, CASE WHEN i <= 30 THEN NULL ELSE created_at END \
         FROM users, n WHERE users.id = '{}'",
        ws.admin.id
    ))
    .await;
    assert_eq!(assert_counts(&app, &ws, "50 inserted").await, (31, 20));
    assert!(app.sql_count(&version).await > before, "the version moved");

    let ids = |range: std::ops::RangeInclusive<i32>| {
        range
            .map(|i| format!("'{prefix}{i}'"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    app.sql(&format!(
        "UPDATE users SET status = 'INACTIVE', disabled_at = updated_at WHERE id IN ({})",
        ids(1..=10)
    ))
    .await;
    assert_eq!(assert_counts(&app, &ws, "10 disabled").await, (21, 30));
    // One statement moving users out of one account and, by status, both
    // ways within it: 11–15 disabled, 31–35 reactivated, 36–40 moved away.
    app.sql(&format!(
        "UPDATE users SET \
           status = CASE WHEN status = 'ACTIVE' THEN 'INACTIVE' ELSE 'ACTIVE' END, \
           disabled_at = CASE WHEN status = 'ACTIVE' THEN updated_at ELSE NULL END \
         WHERE id IN ({}, {})",
        ids(11..=15),
        ids(31..=35)
    ))
    .await;
    assert_eq!(assert_counts(&app, &ws, "swapped").await, (21, 30));
    let moved_from = app.sql_count(&version).await;
    let other_version = format!(
        "SELECT users_version AS n FROM accounts WHERE id = '{}'",
        other.account.id
    );
    let moved_to = app.sql_count(&other_version).await;
    app.sql(&format!(
        "UPDATE users SET account_id = '{}' WHERE id IN ({}, {})",
        other.account.id,
        ids(16..=18),
        ids(36..=40)
    ))
    .await;
    assert_eq!(assert_counts(&app, &ws, "moved out").await, (18, 25));
    assert_eq!(assert_counts(&app, &other, "moved in").await, (4, 5));
    // The change log names every user a statement touched, in each
    // account: gone from one, arrived in the other.
    assert_eq!(logged_since(&app, &ws.account.id, moved_from).await, 8);
    assert_eq!(logged_since(&app, &other.account.id, moved_to).await, 8);
    let before = app.sql_count(&version).await;
    app.sql(&format!("DELETE FROM users WHERE id LIKE '{prefix}%'"))
        .await;
    assert_eq!(assert_counts(&app, &ws, "deleted").await, (1, 0));
    assert_eq!(assert_counts(&app, &other, "deleted").await, (1, 0));
    assert!(app.sql_count(&version).await > before, "the version moved");
    // The 42 left in the account were deleted (and the 8 moved away).
    assert_eq!(logged_since(&app, &ws.account.id, before).await, 42);
}

/// Users the change log holds for the account after `version`.
async fn logged_since(app: &TestApp, account_id: &str, version: i64) -> i64 {
    app.sql_count(&format!(
        "SELECT count(DISTINCT user_id) AS n FROM user_changes \
         WHERE account_id = '{account_id}' AND users_version > {version}"
    ))
    .await
}

/// The change log keeps an account's last 1,024 versions, each with an
/// entry, and drops older ones as the version moves. An INSERT of 1,100
/// users: on SQLite, whose triggers run per row, 1,100 versions of one
/// user each; on PostgreSQL, whose triggers run per statement, one version
/// logged as a single entry with no user (more users than a search copy's
/// patch holds). Then 1,100 statements of one user each on PostgreSQL.
async fn the_change_log_keeps_the_last_1024_versions(db: Db) {
    let app = TestApp::spawn(db).await;
    let ws = app
        .account(pb::Plan::Base, pb::SeatPolicy::AutoExpand, 3)
        .await;
    let account = &ws.account.id;
    let kept =
        |what: &str| format!("SELECT {what} AS n FROM user_changes WHERE account_id = '{account}'");
    let version = format!("SELECT users_version AS n FROM accounts WHERE id = '{account}'");
    app.sql(&format!(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1100) \
         INSERT INTO users (id, account_id, name, email, password_hash, role, \
         permissions, status, search_text, created_at, updated_at) \
         SELECT 'log-' || i, account_id, 'Log', 'log-' || i || '@example.com', \
         password_hash, 'MEMBER', permissions, 'ACTIVE', search_text, created_at, \
         updated_at FROM users, n WHERE users.id = '{}'",
        ws.admin.id
    ))
    .await;
    let now = app.sql_count(&version).await;
    if db == Db::Postgres {
        let imported = |what: &str| format!("{} AND users_version = {now}", kept(what));
        assert_eq!(app.sql_count(&imported("count(*)")).await, 1);
        assert_eq!(
            app.sql_count(&format!("{} AND user_id = ''", imported("count(*)")))
                .await,
            1
        );
        app.sql(&format!(
            "DO $$ BEGIN FOR i IN 1..1100 LOOP \
             UPDATE users SET version = version + 1 WHERE id = '{}'; \
             END LOOP; END $$",
            ws.admin.id
        ))
        .await;
    }
    let now = app.sql_count(&version).await;
    assert!(now > 1100);
    assert_eq!(
        app.sql_count(&kept("count(DISTINCT users_version)")).await,
        1024
    );
    assert_eq!(app.sql_count(&kept("count(*)")).await, 1024);
    assert_eq!(app.sql_count(&kept("min(users_version)")).await, now - 1023);
    assert_eq!(app.sql_count(&kept("max(users_version)")).await, now);
}

/// AddUser inserts the user before it takes a seat (the unique email index
/// answers EMAIL_TAKEN): a taken email must still win over a full STRICT
/// account, and must leave no seat bought, no ledger entry, no event.
async fn a_taken_email_leaves_no_trace(db: Db) {
    let app = TestApp::spawn(db).await;
    let strict = app.account(pb::Plan::Base, pb::SeatPolicy::Strict, 1).await;
    let taken = app
        .users()
        .add_user(authed(new_user(&strict.admin.email), &strict.admin_token))
        .await
        .expect_err("taken, and no seat either");
    assert_error(&taken, Code::AlreadyExists, "EMAIL_TAKEN");

    let expanding = app
        .account(pb::Plan::Base, pb::SeatPolicy::AutoExpand, 1)
        .await;
    let id = &expanding.account.id;
    let ledger = format!("SELECT count(*) AS n FROM ledger_entries WHERE account_id = '{id}'");
    let events = format!("SELECT count(*) AS n FROM events WHERE account_id = '{id}'");
    let (ledger_before, events_before) =
        (app.sql_count(&ledger).await, app.sql_count(&events).await);
    let taken = app
        .users()
        .add_user(authed(
            new_user(&strict.admin.email.to_uppercase()),
            &expanding.admin_token,
        ))
        .await
        .expect_err("taken in another account");
    assert_error(&taken, Code::AlreadyExists, "EMAIL_TAKEN");
    assert_eq!(
        app.sql_count(&ledger).await,
        ledger_before,
        "no ledger entry"
    );
    assert_eq!(app.sql_count(&events).await, events_before, "no event");
    assert_eq!(
        app.sql_count(&format!(
            "SELECT CAST(seats_purchased AS BIGINT) AS n FROM accounts WHERE id = '{id}'"
        ))
        .await,
        1,
        "no seat bought"
    );
    assert_eq!(
        assert_counts(&app, &expanding, "after the refusal").await,
        (1, 0)
    );

    // The same call with a free email buys the seat, with its ledger entry
    // and its two events (SEATS_CHANGED, USER_ADDED) in that order.
    let added = add(&app, &expanding).await.expect("bought a seat");
    assert_eq!(app.sql_count(&ledger).await, ledger_before + 1);
    assert_eq!(app.sql_count(&events).await, events_before + 2);
    assert_eq!(
        app.sql_count(&format!(
            "SELECT count(*) AS n FROM events WHERE account_id = '{id}' \
             AND event_type = 'USER_ADDED' AND user_id = '{}' \
             AND sequence = (SELECT max(sequence) FROM events WHERE account_id = '{id}')",
            added.id
        ))
        .await,
        1,
        "USER_ADDED is the last event"
    );
    assert_eq!(
        assert_counts(&app, &expanding, "after the purchase").await,
        (2, 0)
    );
}

/// The migration that brought the counts fills them for the users already
/// there, and its down migration puts the old trigger back. The later
/// migrations are reverted first, and applied again after it.
async fn the_migration_counts_existing_users(db: Db) {
    let app = TestApp::spawn(db).await;
    let ws = app
        .account(pb::Plan::Base, pb::SeatPolicy::AutoExpand, 5)
        .await;
    add(&app, &ws).await.expect("member");
    migrations(&app, Migration::RevertThrough(USER_COUNTS)).await;
    let version = format!(
        "SELECT users_version AS n FROM accounts WHERE id = '{}'",
        ws.account.id
    );
    let version_before = app.sql_count(&version).await;
    // Users added while the counts did not exist (the old trigger, put
    // back by the down migration, still bumps the users version).
    insert_by_hand(
        &app,
        &ws,
        &format!("old{}", uuid::Uuid::new_v4().simple()),
        "ACTIVE",
    )
    .await;
    insert_by_hand(
        &app,
        &ws,
        &format!("old{}", uuid::Uuid::new_v4().simple()),
        "INACTIVE",
    )
    .await;
    assert_eq!(app.sql_count(&version).await, version_before + 2);
    migrations(&app, Migration::RunPending).await;
    let (kept, counted) = kept_and_counted(&app, &ws.account.id).await;
    assert_eq!(counted, (3, 1));
    assert_eq!(kept, counted, "backfilled");
}

/// The migration that brought the user counts (same on both backends).
const USER_COUNTS: &str = "2026-11-29-000007";

enum Migration {
    /// Reverts the applied migrations from the last down to this version.
    RevertThrough(&'static str),
    RunPending,
}

/// Runs the crate's own migrations on the test database, out of band.
async fn migrations(app: &TestApp, step: Migration) {
    use diesel::Connection;
    use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
    const PG: EmbeddedMigrations = embed_migrations!("src/store/migrations/postgres");
    const SQLITE: EmbeddedMigrations = embed_migrations!("src/store/migrations/sqlite");
    fn run<B: diesel::backend::Backend, C: MigrationHarness<B>>(
        conn: &mut C,
        migrations: fn() -> EmbeddedMigrations,
        step: &Migration,
    ) {
        match step {
            Migration::RevertThrough(version) => loop {
                let applied = conn.applied_migrations().expect("applied");
                // diesel names a migration by its folder's date and number
                // without the dashes.
                let last = applied.iter().map(|v| v.to_string().replace('-', "")).max();
                if last.is_none_or(|last| last < version.replace('-', "")) {
                    break;
                }
                conn.revert_last_migration(migrations()).expect("revert");
            },
            Migration::RunPending => {
                conn.run_pending_migrations(migrations()).expect("migrate");
            }
        }
    }
    let (db, url) = (app.db, app.database_url.clone());
    tokio::task::spawn_blocking(move || match db {
        Db::Postgres => {
            let mut conn = diesel_async::async_connection_wrapper::AsyncConnectionWrapper::<
                diesel_async::AsyncPgConnection,
            >::establish(&url)
            .expect("pg");
            run(&mut conn, || PG, &step);
        }
        Db::Sqlite => {
            let mut conn = diesel::SqliteConnection::establish(&url).expect("sqlite");
            diesel::connection::SimpleConnection::batch_execute(
                &mut conn,
                "PRAGMA busy_timeout = 10000",
            )
            .expect("pragma");
            run(&mut conn, || SQLITE, &step);
        }
    })
    .await
    .expect("join");
}

both_backends!(
    counts_follow_changes_made_by_hand,
    statements_changing_many_users_count_every_row,
    the_change_log_keeps_the_last_1024_versions,
    a_taken_email_leaves_no_trace,
    the_migration_counts_existing_users,
);
