//! On PostgreSQL a listing page is one index range of its own account,
//! whatever the other accounts hold. The database plans each statement from
//! its statistics, and a plan made once for every account (a generic plan)
//! cannot tell a large account from a small one: with one account holding
//! nearly every user, such a plan walks the primary key in id order and
//! filters by account, so a small account's page reads the large one's
//! users first (docs/operations.md, `plan_cache_mode`). This test proves
//! that the server's listing does not, after enough calls for PostgreSQL to
//! settle on a plan, by the table's own index counters.

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
