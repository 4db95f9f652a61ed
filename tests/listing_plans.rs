//! On PostgreSQL a listing page is one index range of its own account,
//! whatever the other accounts hold. The database plans each statement from
//! its statistics, and a plan made once for every account (a generic plan)
//! cannot tell a large account from a small one: with one account holding
//! nearly every user, such a plan walks the primary key in id order and
//! filters by account, so a small account's page reads the large one's
//! users first (docs/operations.md, `plan_cache_mode`). This test proves
//! that the server's listing does not, after enough calls for PostgreSQL to
//! settle on a plan, by the table's own index counters.
//!
//! A count of one user's work records is the opposite case: one plan (the
//! owner's index range) is right for every owner, so the server keeps a
//! generic plan for it instead of planning again at each call; the second
//! test proves that plan is in use from the first call, and the third that
//! the plan kept is still the owner's index when the average owner is large.

mod common;

use std::time::{Duration, Instant};

use common::*;
use roster::proto::v1 as pb;

/// Users of the large account, seeded by SQL with ids below every other
/// id: a walk of the primary key reaches the small account's users only
/// after all of them.
const LARGE: usize = 20_000;

/// Calls of each kind before the index counters are read: well past the
/// five calls after which PostgreSQL decides whether to keep a generic plan.
const CALLS: usize = 30;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_small_accounts_page_never_reads_a_large_accounts_users() {
    let app = TestApp::spawn_with(Db::Postgres, |s| s.list_cache_users = 0).await;
    let large = app
        .account(pb::Plan::Base, pb::SeatPolicy::AutoExpand, 4)
        .await;
    let small = app
        .account(pb::Plan::Base, pb::SeatPolicy::AutoExpand, 4)
        .await;
    for name in ["first", "second", "third"] {
        member(&app, &small, name).await;
    }
    app.sql(&format!(
        "INSERT INTO users (id, account_id, name, email, password_hash, role, permissions, \
         status, search_text, created_at, updated_at) \
         SELECT '00000000-0000-4000-8000-' || lpad(i::text, 12, '0'), t.account_id, \
         'Filler ' || i, 'filler-' || i || '@large.test', t.password_hash, t.role, \
         t.permissions, t.status, 'filler ' || i || E'\\n' || 'filler-' || i || '@large.test', \
         t.created_at, t.updated_at \
         FROM generate_series(1, {LARGE}) i, users t WHERE t.id = '{admin}'; \
         ANALYZE users",
        admin = large.admin.id,
    ))
    .await;

    let service = app.service_token();
    let list = |token: String| {
        let users = app.users();
        let account_id = small.account.id.clone();
        async move {
            let mut users = users;
            users
                .list_users(authed(
                    pb::ListUsersRequest {
                        account_id,
                        page_size: 50,
                        ..Default::default()
                    },
                    &token,
                ))
                .await
                .expect("list the small account")
                .into_inner()
        }
    };
    let before = IndexCounters::read(&app).await;
    for _ in 0..CALLS {
        // A user token reads its own row and the page together; a service
        // token reads the page alone.
        let page = list(small.admin_token.clone()).await;
        assert_eq!(page.users.len(), 4, "the small account's four users");
        assert_eq!(list(service.clone()).await.users.len(), 4);
    }
    // The server's connections report their counters at most once a
    // second: keep calling until the account index shows the calls above
    // (so that a missing report cannot pass for a good plan).
    let deadline = Instant::now() + Duration::from_secs(30);
    let pkey_entries_read = loop {
        let now = IndexCounters::read(&app).await;
        let scans = now.account_index_scans - before.account_index_scans;
        let pkey_entries_read = now.pkey_entries_read - before.pkey_entries_read;
        if scans >= 2 * CALLS as i64 {
            break pkey_entries_read;
        }
        assert!(
            Instant::now() < deadline,
            "after 30 s the account index shows {scans} scans of the {} listings \
             (the primary key {pkey_entries_read} entries read): the listing did not use it",
            2 * CALLS,
        );
        list(service.clone()).await;
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    // The caller's own row, read by id, is one primary-key entry per call.
    assert!(
        pkey_entries_read < LARGE as i64 / 4,
        "the small account's listings read {pkey_entries_read} primary-key entries: \
         they walked the large account's {LARGE} users"
    );
}

/// Records of the one owner who holds nearly all of them.
const HELD: usize = 20_000;

/// Owners of one record each, seeded by SQL: the average owner holds about
/// ten records, so a generic plan of the count reads the owner's index.
const SMALL_OWNERS: usize = 2_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_count_of_one_users_records_keeps_one_plan_for_every_owner() {
    let app = TestApp::spawn(Db::Postgres).await;
    let ws = app
        .account(pb::Plan::Base, pb::SeatPolicy::AutoExpand, 4)
        .await;
    let holder = member(&app, &ws, "holder").await;
    // Planned with this call's owner, the count reads the whole table (the
    // holder has nine records in ten); planned once for every owner, it
    // reads the owner's index.
    let small_owner = "'00000000-0000-4000-8000-' || lpad(i::text, 12, '0')";
    let account = &ws.account.id;
    app.sql(&format!(
        "INSERT INTO users (id, account_id, name, email, password_hash, role, permissions, \
         status, search_text, created_at, updated_at) \
         SELECT {small_owner}, t.account_id, \
         'Owner ' || i, 'owner-' || i || '@plans.test', t.password_hash, t.role, \
         t.permissions, t.status, 'owner ' || i || E'\\n' || 'owner-' || i || '@plans.test', \
         t.created_at, t.updated_at \
         FROM generate_series(1, {SMALL_OWNERS}) i, users t WHERE t.id = '{holder}'; \
         {held} {small} ANALYZE users; ANALYZE work_records",
        holder = holder.id,
        held = records_sql(account, "LEAD", "held", &format!("'{}'", holder.id), HELD),
        small = records_sql(account, "LEAD", "small", small_owner, SMALL_OWNERS),
    ))
    .await;

    let (counts, table_scans) = counts_and_table_scans(&app, &ws, &holder.id).await;
    assert_eq!(counts.leads, HELD as i64, "the holder's leads");
    assert_eq!(
        table_scans, 0,
        "counts of the holder's records read the whole table {table_scans} times: \
         they were planned for the holder's own values, not once for every owner"
    );
}

/// Records of each of the few large owners in the test below.
const PER_LARGE_OWNER: usize = 20_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_count_of_one_users_records_reads_the_owner_index_when_few_users_hold_many() {
    let app = TestApp::spawn(Db::Postgres).await;
    let ws = app
        .account(pb::Plan::Base, pb::SeatPolicy::AutoExpand, 8)
        .await;
    let counted = member(&app, &ws, "counted").await;
    let mut large = Vec::new();
    for name in ["first", "second", "third"] {
        large.push(member(&app, &ws, name).await.id);
    }
    // Four owners in all: a plan made for the average owner expects a
    // quarter of the table, for which reading all of it is cheapest.
    let account = &ws.account.id;
    let mut seed = String::new();
    for (n, owner) in large.iter().enumerate() {
        let prefix = format!("large-{n}");
        let owner = format!("'{owner}'");
        seed.push_str(&records_sql(
            account,
            "LEAD",
            &prefix,
            &owner,
            PER_LARGE_OWNER,
        ));
    }
    let counted_owner = format!("'{}'", counted.id);
    seed.push_str(&records_sql(
        account,
        "TASK",
        "counted",
        &counted_owner,
        1000,
    ));
    seed.push_str("ANALYZE work_records");
    app.sql(&seed).await;

    let (counts, table_scans) = counts_and_table_scans(&app, &ws, &counted.id).await;
    assert_eq!(counts.tasks, 1000, "the counted user's tasks");
    assert_eq!(
        table_scans, 0,
        "counts of 1,000 records read the whole table {table_scans} times: the plan \
         kept for every owner was made for an owner of a quarter of the table"
    );
}

/// SQL giving `n` records of `kind` (external ids `prefix-i`) to `owner`, an
/// SQL expression that may use the row's number `i`.
fn records_sql(account_id: &str, kind: &str, prefix: &str, owner: &str, n: usize) -> String {
    format!(
        "INSERT INTO work_records (account_id, kind, external_id, owner_user_id, created_at, \
         updated_at) \
         SELECT '{account_id}', '{kind}', '{prefix}-' || i, {owner}, now(), now() \
         FROM generate_series(1, {n}) i; "
    )
}

/// Counts `user_id`'s records [`CALLS`] times (each answer the same); returns
/// the answer and how many of the calls read the whole of `work_records`.
async fn counts_and_table_scans(
    app: &TestApp,
    ws: &Workspace,
    user_id: &str,
) -> (pb::RecordCounts, i64) {
    let count = || {
        let mut users = app.users();
        let request = pb::CountWorkRecordsRequest {
            user_id: user_id.to_owned(),
            ..Default::default()
        };
        let token = ws.admin_token.clone();
        async move {
            users
                .count_work_records(authed(request, &token))
                .await
                .expect("count the user's records")
                .into_inner()
                .counts
                .expect("counts")
        }
    };
    let before = RecordScans::read(app).await;
    let first = count().await;
    for _ in 1..CALLS {
        assert_eq!(count().await, first, "the same counts at every call");
    }
    // As in the listing test: wait until the counters show the calls.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let now = RecordScans::read(app).await;
        let owner_index_scans = now.owner_index_scans - before.owner_index_scans;
        let table_scans = now.table_scans - before.table_scans;
        if owner_index_scans + table_scans >= CALLS as i64 {
            return (first, table_scans);
        }
        assert!(
            Instant::now() < deadline,
            "after 30 s work_records shows {owner_index_scans} scans of the owner index \
             and {table_scans} of the table for {CALLS} counts",
        );
        count().await;
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Scans of `work_records` in this test's schema: of the table itself and
/// of its owner index.
struct RecordScans {
    table_scans: i64,
    owner_index_scans: i64,
}

impl RecordScans {
    async fn read(app: &TestApp) -> RecordScans {
        RecordScans {
            table_scans: app
                .sql_count(
                    "SELECT COALESCE(SUM(seq_scan), 0)::bigint AS n FROM pg_stat_user_tables \
                     WHERE schemaname = current_schema() AND relname = 'work_records'",
                )
                .await,
            owner_index_scans: app
                .sql_count(
                    "SELECT COALESCE(SUM(idx_scan), 0)::bigint AS n FROM pg_stat_user_indexes \
                     WHERE schemaname = current_schema() \
                     AND indexrelname = 'work_records_owner_idx'",
                )
                .await,
        }
    }
}

/// The table's own counters of its two indexes that a listing could walk,
/// in this test's schema.
struct IndexCounters {
    /// Entries read from `users_pkey` (id order, every account).
    pkey_entries_read: i64,
    /// Scans of `users_account_idx` (`account_id, id`).
    account_index_scans: i64,
}

impl IndexCounters {
    async fn read(app: &TestApp) -> IndexCounters {
        let counter = |index: &str, column: &str| {
            format!(
                "SELECT COALESCE(SUM({column}), 0)::bigint AS n FROM pg_stat_user_indexes \
                 WHERE schemaname = current_schema() AND indexrelname = '{index}'"
            )
        };
        IndexCounters {
            pkey_entries_read: app.sql_count(&counter("users_pkey", "idx_tup_read")).await,
            account_index_scans: app
                .sql_count(&counter("users_account_idx", "idx_scan"))
                .await,
        }
    }
}
