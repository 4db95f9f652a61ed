//! ListUsers' text search and orders, identical on both backends.
//!
//! Each answer is compared with a model: the search is a case-insensitive
//! substring of the lower-cased name and email (`%`, `_`, `\` and quotes are
//! plain characters), the orders compare lower-cased text byte by byte.
//! On SQLite every query of 3+ characters goes through the FTS5 trigram
//! table (kept by triggers through renames, email changes and removals); on
//! PostgreSQL a test forces the trigram index and compares it with the
//! model too.

mod common;

use std::time::{Duration, Instant};

use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use tonic::Code;

use common::*;
use roster::proto::v1 as pb;

both_backends!(
    search_is_a_case_insensitive_substring_of_name_or_email,
    search_follows_renames_email_changes_and_removals,
    orders_page_through_every_user_once,
    a_page_token_is_bound_to_its_order,
    the_memory_copy_answers_as_the_database,
    a_changed_account_is_searched_in_its_patched_copy,
    a_search_from_the_copy_never_outlives_the_callers_token,
);

/// Names that put the special characters of LIKE and FTS5 to work.
const NAMES: &[&str] = &[
    "Zoë Ångström",
    "Zoe Angstrom",
    "Ann 100%_off",
    "Ann 1000 off",
    "Ann 100x_off",
    "Back\\slash Bob",
    "Jean-Luc \"JL\" Picard",
    "MIXED case",
    "mixed CASE",
    "Łukasz Żółć",
    "İsmail",
    "bob",
    "Bob",
    "bob",
];

/// Queries: short and long, every special character, non-ASCII in both
/// cases, surrounding spaces (trimmed), and texts that match nothing.
const QUERIES: &[&str] = &[
    "zoë",
    "ZOË",
    "zoe",
    "ångström",
    "ÅNG",
    "ö",
    "%",
    "_",
    "\\",
    "0%_",
    "100%",
    "%_o",
    "x_o",
    "0_o",
    "k\\s",
    "\\slash",
    "\"jl\"",
    "\"",
    "mixed case",
    "ED CA",
    "łukasz",
    "ŻÓŁĆ",
    "i̇sm",
    "  ann 1  ",
    "bob",
    "b",
    "ob",
    "@search.example",
    "nothing-like-this",
    "%%%",
    "a\"b",
];

/// The model's text of a user: what the search looks in.
fn text_of(user: &pb::User) -> String {
    format!(
        "{}\n{}",
        user.name.to_lowercase(),
        user.email.to_lowercase()
    )
}

/// The ids the model finds for `query`, in creation (id) order.
fn model(users: &[pb::User], query: &str) -> Vec<String> {
    let needle = query.trim().to_lowercase();
    let mut ids: Vec<String> = users
        .iter()
        .filter(|u| text_of(u).contains(&needle))
        .map(|u| u.id.clone())
        .collect();
    ids.sort();
    ids
}

/// Every page of a listing, concatenated.
async fn list_all(
    app: &TestApp,
    ws: &Workspace,
    query: &str,
    order: pb::UserOrder,
    page_size: i32,
) -> Vec<pb::User> {
    let request = pb::ListUsersRequest {
        page_size,
        query: query.into(),
        order_by: order as i32,
        ..Default::default()
    };
    list_all_of(app, ws, request).await
}

/// Every page of the listing `request` asks for, concatenated.
async fn list_all_of(
    app: &TestApp,
    ws: &Workspace,
    request: pb::ListUsersRequest,
) -> Vec<pb::User> {
    let mut users = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = app
            .users()
            .list_users(authed(
                pb::ListUsersRequest {
                    page_token: page_token.clone(),
                    ..request.clone()
                },
                &ws.admin_token,
            ))
            .await
            .unwrap_or_else(|e| panic!("list {request:?}: {e:?}"))
            .into_inner();
        assert!(page.users.len() <= request.page_size as usize);
        users.extend(page.users);
        if page.next_page_token.is_empty() {
            return users;
        }
        page_token = page.next_page_token;
    }
}

fn ids(users: &[pb::User]) -> Vec<String> {
    users.iter().map(|u| u.id.clone()).collect()
}

/// An account holding its admin and one user per name of [`NAMES`].
async fn searchable_account(app: &TestApp) -> (Workspace, Vec<pb::User>) {
    searchable_account_with(app, "'0000-fill-' || i").await
}

/// [`searchable_account`] with fillers' ids made by the SQL `filler_id`
/// of `i` (1000 and up).
async fn searchable_account_with(app: &TestApp, filler_id: &str) -> (Workspace, Vec<pb::User>) {
    let ws = app
        .account(pb::Plan::Base, pb::SeatPolicy::AutoExpand, 4)
        .await;
    for (i, name) in NAMES.iter().enumerate() {
        let mut request = new_user(&format!(
            "u{i}-{}@search.example",
            uuid::Uuid::new_v4().simple()
        ));
        request.name = (*name).into();
        let user = app
            .users()
            .add_user(authed(request, &ws.admin_token))
            .await
            .unwrap_or_else(|e| panic!("add {name}: {e:?}"))
            .into_inner()
            .user
            .expect("user");
        assert_eq!(user.name, *name);
    }
    // Users created before all of them (smaller ids), by SQL: more than a
    // search reads in order before it asks the index, so that the users
    // above are found by the index (SQLite's FTS5 table, PostgreSQL's
    // trigram index when its planner picks it).
    app.sql(&format!(
        "WITH RECURSIVE n(i) AS (SELECT 1000 UNION ALL SELECT i + 1 FROM n WHERE i < {last}) \
         INSERT INTO users (id, account_id, name, email, password_hash, role, permissions, \
         status, search_text, created_at, updated_at) \
         SELECT {filler_id}, t.account_id, 'Filler ' || i, 'filler-' || i || '@fill.test', \
         t.password_hash, t.role, t.permissions, t.status, \
         'filler ' || i || '\n' || 'filler-' || i || '@fill.test', t.created_at, t.updated_at \
         FROM n, users t WHERE t.id = '{admin}'",
        last = 1000 + FILLERS - 1,
        admin = ws.admin.id,
    ))
    .await;
    let users = list_all(app, &ws, "", pb::UserOrder::Unspecified, 1000).await;
    assert_eq!(users.len(), 1 + NAMES.len() + FILLERS);
    assert!(users[0].name.starts_with("Filler "), "fillers come first");
    (ws, users)
}

/// Searches once (which has the account's copy read in the background)
/// and waits until the copy is kept.
async fn copy_kept(app: &TestApp, ws: &Workspace) {
    list_all(app, ws, "any", pb::UserOrder::Unspecified, 50).await;
    for _ in 0..500 {
        if app
            .roster
            .users
            .search
            .kept_version(&ws.account.id)
            .is_some()
        {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("no copy of the account after 5 s");
}

/// Renames a user by hand to "Renamed", with the users version trigger
/// dropped: the account's version stays as it was, so a copy read before
/// still counts as current.
async fn rename_leaving_the_version(app: &TestApp, db: Db, user_id: &str) {
    app.sql(db.drop_users_version_trigger()).await;
    app.sql(&format!(
        "UPDATE users SET name = 'Renamed', search_text = 'renamed' || '\n' || email \
         WHERE id = '{user_id}'"
    ))
    .await;
}

/// Renames `user` through UpdateUser (at its etag); returns it renamed.
async fn rename(app: &TestApp, ws: &Workspace, user: &pb::User, name: &str) -> pb::User {
    app.users()
        .update_user(authed(
            pb::UpdateUserRequest {
                user_id: user.id.clone(),
                etag: user.etag.clone(),
                name: Some(name.into()),
                ..Default::default()
            },
            &ws.admin_token,
        ))
        .await
        .expect("rename")
        .into_inner()
        .user
        .expect("user")
}

/// Users made by SQL ahead of the named ones (see [`searchable_account`]).
const FILLERS: usize = 150;

/// Checks every query of [`QUERIES`] (and `extra`) against the model, in
/// pages of 2 (a search reads 120 users in order before it asks the index)
/// so that paging after a search is checked too.
async fn check_queries(app: &TestApp, ws: &Workspace, users: &[pb::User], extra: &[&str]) {
    for query in QUERIES.iter().chain(extra) {
        let found = ids(&list_all(app, ws, query, pb::UserOrder::Unspecified, 2).await);
        let expected = model(users, query);
        // An all-space query is no query: every user.
        let expected = if query.trim().is_empty() {
            ids(users)
        } else {
            expected
        };
        assert_eq!(found, expected, "query {query:?}");
    }
}

async fn search_is_a_case_insensitive_substring_of_name_or_email(db: Db) {
    let app = TestApp::spawn(db).await;
    let (ws, users) = searchable_account(&app).await;
    // The model itself must tell the special characters apart.
    assert_eq!(model(&users, "0%_").len(), 1);
    assert_eq!(model(&users, "x_o").len(), 1);
    assert_eq!(model(&users, "zoë").len(), 1);
    assert_eq!(model(&users, "ö").len(), 1);
    check_queries(&app, &ws, &users, &[]).await;

    // Another account's users are never found.
    let other = app
        .account(pb::Plan::Base, pb::SeatPolicy::AutoExpand, 2)
        .await;
    let mut request = new_user(&unique_email("zoë-elsewhere"));
    request.name = "Zoë Elsewhere".into();
    app.users()
        .add_user(authed(request, &other.admin_token))
        .await
        .expect("add elsewhere");
    check_queries(&app, &ws, &users, &[]).await;

    if matches!(db, Db::Postgres) {
        trigram_index_agrees(&app, &ws, &users).await;
    }
}

/// PostgreSQL: the same LIKE with every plan but the trigram index's
/// bitmap scan turned off finds what the model finds (the account is
/// compared as an expression, so no other index can serve it).
async fn trigram_index_agrees(app: &TestApp, ws: &Workspace, users: &[pb::User]) {
    let mut conn = AsyncPgConnection::establish(&app.database_url)
        .await
        .expect("pg");
    conn.batch_execute("SET enable_seqscan = off; SET enable_indexscan = off")
        .await
        .expect("settings");
    for query in QUERIES {
        let needle = query.trim().to_lowercase();
        if needle.chars().count() < 3 {
            continue;
        }
        let pattern = needle
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_")
            .replace('\'', "''");
        let plan = explain(
            &mut conn,
            &format!(
                "SELECT id FROM users WHERE account_id || '' = '{}' AND search_text LIKE '%{pattern}%'",
                ws.account.id
            ),
        )
        .await;
        assert!(
            plan.contains("users_search_trgm_idx"),
            "query {query:?} did not use the trigram index: {plan}"
        );
        let found: Vec<String> = ids_where(
            &mut conn,
            &format!(
                "SELECT id FROM users WHERE account_id || '' = '{}' AND search_text LIKE '%{pattern}%' ORDER BY id",
                ws.account.id
            ),
        )
        .await;
        assert_eq!(found, model(users, query), "trigram index, query {query:?}");
    }
}

#[derive(diesel::QueryableByName)]
struct Line {
    #[diesel(sql_type = diesel::sql_types::Text, column_name = "QUERY PLAN")]
    line: String,
}

#[derive(diesel::QueryableByName)]
struct Id {
    #[diesel(sql_type = diesel::sql_types::Text)]
    id: String,
}

async fn explain(conn: &mut AsyncPgConnection, query: &str) -> String {
    use diesel_async::RunQueryDsl;
    let lines: Vec<Line> = diesel::sql_query(format!("EXPLAIN {query}"))
        .load(conn)
        .await
        .expect("explain");
    lines
        .into_iter()
        .map(|l| l.line)
        .collect::<Vec<_>>()
        .join("\n")
}

async fn ids_where(conn: &mut AsyncPgConnection, query: &str) -> Vec<String> {
    use diesel_async::RunQueryDsl;
    let rows: Vec<Id> = diesel::sql_query(query).load(conn).await.expect("ids");
    rows.into_iter().map(|r| r.id).collect()
}

async fn search_follows_renames_email_changes_and_removals(db: Db) {
    let app = TestApp::spawn(db).await;
    let (ws, mut users) = searchable_account(&app).await;

    // Rename Zoë and move Ann's email; both through the API.
    let zoe = users
        .iter()
        .position(|u| u.name == "Zoë Ångström")
        .expect("zoë");
    users[zoe] = rename(&app, &ws, &users[zoe], "Quentin Quux").await;
    let ann = users
        .iter()
        .position(|u| u.name == "Ann 1000 off")
        .expect("ann");
    let moved = app
        .users()
        .change_user_email(authed(
            pb::ChangeUserEmailRequest {
                user_id: users[ann].id.clone(),
                etag: users[ann].etag.clone(),
                email: unique_email("Ünïcode-Mail"),
                ..Default::default()
            },
            &ws.admin_token,
        ))
        .await
        .expect("change email")
        .into_inner()
        .user
        .expect("user");
    users[ann] = moved;

    // Remove the backslash user for good, its records handed to the admin.
    let slash = users
        .iter()
        .position(|u| u.name == "Back\\slash Bob")
        .expect("slash");
    app.users()
        .remove_user(authed(
            pb::RemoveUserRequest {
                user_id: users[slash].id.clone(),
                reassignment: to(&ws.admin.id),
                ..Default::default()
            },
            &ws.admin_token,
        ))
        .await
        .expect("remove");
    users.remove(slash);

    check_queries(
        &app,
        &ws,
        &users,
        &["quentin", "quux", "ünïcode-mail", "ÜNÏ", "slash"],
    )
    .await;
    assert!(model(&users, "quux").len() == 1 && model(&users, "slash").is_empty());

    // A change by SQL, as an operator's repair would make, is found too.
    let bob = users.iter().position(|u| u.name == "Bob").expect("Bob");
    app.sql(&format!(
        "UPDATE users SET name = 'Robert', search_text = 'robert\n' || email WHERE id = '{}'",
        users[bob].id
    ))
    .await;
    users[bob].name = "Robert".into();
    check_queries(&app, &ws, &users, &["robert", "ober"]).await;

    if matches!(db, Db::Sqlite) {
        // The FTS5 table holds one entry per user, with the user's text,
        // found through its rowid: nothing left behind by the changes.
        let everyone = app.sql_count("SELECT COUNT(*) AS n FROM users").await;
        let entries = app
            .sql_count("SELECT COUNT(*) AS n FROM users_search")
            .await;
        let current = app
            .sql_count(
                "SELECT COUNT(*) AS n FROM users u \
                 JOIN users_search_rows r ON r.user_id = u.id \
                 JOIN users_search s ON s.rowid = r.search_rowid \
                 WHERE s.user_id = u.id AND s.search_text = u.search_text",
            )
            .await;
        assert_eq!((entries, current), (everyone, everyone));
    }
}

async fn orders_page_through_every_user_once(db: Db) {
    let app = TestApp::spawn(db).await;
    let (ws, users) = searchable_account(&app).await;

    let mut by_name = users.clone();
    by_name.sort_by_key(text_of);
    let mut by_email = users.clone();
    by_email.sort_by(|a, b| a.email.cmp(&b.email));
    for page_size in [1, 3, 50] {
        let listed = list_all(&app, &ws, "", pb::UserOrder::Name, page_size).await;
        assert_eq!(ids(&listed), ids(&by_name), "by name, pages of {page_size}");
        let listed = list_all(&app, &ws, "", pb::UserOrder::Email, page_size).await;
        assert_eq!(
            ids(&listed),
            ids(&by_email),
            "by email, pages of {page_size}"
        );
    }
    // The three users named bob/Bob/bob are ordered by email among themselves.
    let bobs: Vec<&pb::User> = by_name
        .iter()
        .filter(|u| u.name.eq_ignore_ascii_case("bob"))
        .collect();
    assert_eq!(bobs.len(), 3);

    // An order with a search and a filter.
    let listed = list_all(&app, &ws, "bob", pb::UserOrder::Name, 2).await;
    let expected: Vec<String> = by_name
        .iter()
        .filter(|u| text_of(u).contains("bob"))
        .map(|u| u.id.clone())
        .collect();
    assert_eq!(ids(&listed), expected);

    let unknown = app
        .users()
        .list_users(authed(
            pb::ListUsersRequest {
                order_by: 7,
                ..Default::default()
            },
            &ws.admin_token,
        ))
        .await
        .expect_err("unknown order");
    assert_eq!(unknown.code(), Code::InvalidArgument);
    assert_eq!(bad_fields(&unknown), vec!["order_by".to_owned()]);
}

async fn a_page_token_is_bound_to_its_order(db: Db) {
    let app = TestApp::spawn(db).await;
    let (ws, _) = searchable_account(&app).await;
    let list = |order: pb::UserOrder, page_token: String| {
        let mut client = app.users();
        let token = ws.admin_token.clone();
        async move {
            client
                .list_users(authed(
                    pb::ListUsersRequest {
                        page_size: 2,
                        page_token,
                        order_by: order as i32,
                        ..Default::default()
                    },
                    &token,
                ))
                .await
                .map(|r| r.into_inner())
        }
    };
    let first = list(pb::UserOrder::Name, String::new())
        .await
        .expect("page");
    for other in [pb::UserOrder::Unspecified, pb::UserOrder::Email] {
        let refused = list(other, first.next_page_token.clone())
            .await
            .expect_err("a name-order token in another order");
        assert_eq!(refused.code(), Code::InvalidArgument);
        assert_eq!(bad_fields(&refused), vec!["page_token".to_owned()]);
    }
    list(pb::UserOrder::Name, first.next_page_token)
        .await
        .expect("the same order takes it");
}

/// Checks that `app` (with copies) gives every page of `query`, in each
/// order and tab, in pages of `page_size`, as `uncopied` (the database's
/// search) does, whole rows and all; returns the first listing (creation
/// order, both tabs).
async fn same_pages(
    app: &TestApp,
    uncopied: &TestApp,
    ws: &Workspace,
    query: &str,
    page_size: i32,
) -> Vec<pb::User> {
    let mut first = None;
    for order in [
        pb::UserOrder::Unspecified,
        pb::UserOrder::Name,
        pb::UserOrder::Email,
    ] {
        for status in [
            pb::UserStatus::Unspecified,
            pb::UserStatus::Active,
            pb::UserStatus::Inactive,
        ] {
            let request = pb::ListUsersRequest {
                page_size,
                query: query.into(),
                order_by: order as i32,
                status: status as i32,
                ..Default::default()
            };
            let copied = list_all_of(app, ws, request.clone()).await;
            let searched = list_all_of(uncopied, ws, request).await;
            assert_eq!(copied, searched, "{query:?} {order:?} {status:?}");
            first.get_or_insert(copied);
        }
    }
    first.unwrap_or_default()
}

/// Another server on `app`'s database, keeping copies of at most
/// `search_index_users` users (0: none, every search asks the database).
async fn on_the_same_database(app: &TestApp, db: Db, search_index_users: usize) -> TestApp {
    TestApp::spawn_with(db, |s| {
        s.database_url = app.database_url.parse().expect("database url");
        s.search_index_users = search_index_users;
    })
    .await
}

/// A server that keeps in-memory copies of accounts for searches answers
/// every query, order, filter and page exactly as one that searches the
/// database; a change made by hand without bumping the users version
/// shows that the copy is what answers, and a bump of the version sends
/// searches back to the database.
async fn the_memory_copy_answers_as_the_database(db: Db) {
    let app = TestApp::spawn_with(db, |s| s.search_index_users = 10_000).await;
    // Fillers with UUID ids: a copy holds only those.
    let (ws, users) =
        searchable_account_with(&app, "'00000000-0000-4000-8000-00000000' || i").await;
    let uncopied = on_the_same_database(&app, db, 0).await;
    // A budget smaller than the account: no copy of it is ever made.
    let small = on_the_same_database(&app, db, 100).await;
    app.sql(&format!(
        "UPDATE users SET status = 'INACTIVE', disabled_at = updated_at WHERE account_id = '{}' \
         AND (name LIKE 'Ann%' OR name LIKE 'Filler 10_0')",
        ws.admin.account_id
    ))
    .await;
    copy_kept(&app, &ws).await;
    let extra = ["filler 10", "fill", "@fill.test"];
    for query in QUERIES.iter().chain(&extra) {
        let copied = same_pages(&app, &uncopied, &ws, query, 7).await;
        if !query.trim().is_empty() {
            assert_eq!(ids(&copied), model(&users, query), "{query:?}");
        }
    }

    // By hand, the version left as it was: the copy still finds Zoë by
    // her old name, and shows it.
    let zoe = model(&users, "zoë");
    assert_eq!(zoe.len(), 1);
    let found = list_all(&small, &ws, "zoë", pb::UserOrder::Unspecified, 3).await;
    assert_eq!(ids(&found), zoe);
    rename_leaving_the_version(&app, db, &zoe[0]).await;
    // (Pages of 3: none kept from above, so no kept page answers.)
    let found = list_all(&app, &ws, "zoë", pb::UserOrder::Unspecified, 3).await;
    assert_eq!(ids(&found), zoe, "from the copy");
    let before = users.iter().find(|u| u.id == zoe[0]).expect("Zoë");
    assert_eq!(&found[0], before, "her row as it was, name and all");
    assert!(
        list_all(&uncopied, &ws, "zoë", pb::UserOrder::Unspecified, 3)
            .await
            .is_empty()
    );
    // (Pages of 2 on `small`: none kept there either.)
    assert!(
        list_all(&small, &ws, "zoë", pb::UserOrder::Unspecified, 2)
            .await
            .is_empty()
    );

    // A bumped version: the database answers.
    app.sql(&format!(
        "UPDATE accounts SET users_version = users_version + 1 WHERE id = '{}'",
        ws.admin.account_id
    ))
    .await;
    assert!(
        list_all(&app, &ws, "zoë", pb::UserOrder::Unspecified, 4)
            .await
            .is_empty()
    );
    assert_eq!(
        ids(&list_all(&app, &ws, "renamed", pb::UserOrder::Unspecified, 4).await),
        zoe
    );
}

/// Changes to an account's users, made through the API or by hand, bring
/// its copy up to date in the search that first sees them (from the users
/// they touched, logged by the triggers): the copy is kept at the new
/// version without being read again, and answers every query, order and
/// page as the database does. A version bumped by hand, with no change
/// logged, cannot be patched: the copy is dropped and read again.
async fn a_changed_account_is_searched_in_its_patched_copy(db: Db) {
    let app = TestApp::spawn_with(db, |s| s.search_index_users = 10_000).await;
    let (ws, users) =
        searchable_account_with(&app, "'00000000-0000-4000-8000-00000000' || i").await;
    let uncopied = on_the_same_database(&app, db, 0).await;
    copy_kept(&app, &ws).await;
    let account = &ws.admin.account_id;
    let read_at = users_version(&app, account).await;
    assert_eq!(app.roster.users.search.kept_version(account), Some(read_at));

    // Through the API: a rename and a new user.
    let zoe = users
        .iter()
        .find(|u| u.name.starts_with("Zoë"))
        .expect("Zoë");
    rename(&app, &ws, zoe, "Patched Zoë").await;
    member(&app, &ws, "patched-newcomer").await;
    // By hand: a user disabled, one removed, one added between the
    // fillers (an id in the copy's middle).
    app.sql(
        "UPDATE users SET status = 'INACTIVE', disabled_at = updated_at \
         WHERE id = '00000000-0000-4000-8000-000000001010'; \
         DELETE FROM users WHERE id = '00000000-0000-4000-8000-000000001020'; \
         INSERT INTO users (id, account_id, name, email, password_hash, role, permissions, \
         status, search_text, created_at, updated_at) \
         SELECT '00000000-0000-4000-8000-00000000103a', account_id, 'Patched Filler', \
         'patched@fill.test', password_hash, role, permissions, status, \
         'patched filler' || '\n' || 'patched@fill.test', created_at, updated_at \
         FROM users WHERE id = '00000000-0000-4000-8000-000000001031'",
    )
    .await;
    let changed_at = users_version(&app, account).await;
    assert!(changed_at > read_at);

    // The first search sees the change and patches the copy in its call.
    let patched = list_all(&app, &ws, "patched", pb::UserOrder::Unspecified, 50).await;
    assert_eq!(patched.len(), 3, "{patched:?}");
    assert_eq!(
        app.roster.users.search.kept_version(account),
        Some(changed_at),
        "kept at the new version, not read again"
    );
    let extra = ["patched", "filler 10", "@fill.test", "zoë"];
    for query in QUERIES.iter().chain(&extra) {
        same_pages(&app, &uncopied, &ws, query, 5).await;
    }
    assert_eq!(
        app.roster.users.search.kept_version(account),
        Some(changed_at)
    );

    // A bump with no change logged: the copy cannot be patched to it.
    app.sql(&format!(
        "UPDATE accounts SET users_version = users_version + 1 WHERE id = '{account}'"
    ))
    .await;
    list_all(&app, &ws, "patched", pb::UserOrder::Unspecified, 4).await;
    assert_ne!(
        app.roster.users.search.kept_version(account),
        Some(changed_at),
        "dropped (or already read again)"
    );
    copy_kept(&app, &ws).await;
    assert_eq!(
        app.roster.users.search.kept_version(account),
        Some(changed_at + 1)
    );

    // An import of more users than a patch holds (logged user by user on
    // SQLite, as one entry with no user on PostgreSQL): the copy is read
    // again, and every imported user is found.
    app.sql(&format!(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1100) \
         INSERT INTO users (id, account_id, name, email, password_hash, role, permissions, \
         status, search_text, created_at, updated_at) \
         SELECT '00000000-0000-4000-9000-' || (100000000000 + i), account_id, \
         'Imported ' || i, 'imported-' || i || '@imp.test', password_hash, role, \
         permissions, status, 'imported ' || i || '\n' || 'imported-' || i || '@imp.test', \
         created_at, updated_at FROM n, users WHERE users.id = '{}'",
        ws.admin.id
    ))
    .await;
    let imported = list_all(&app, &ws, "imported", pb::UserOrder::Unspecified, 500).await;
    assert_eq!(imported.len(), 1100);
}

async fn users_version(app: &TestApp, account_id: &str) -> i64 {
    app.sql_count(&format!(
        "SELECT users_version AS n FROM accounts WHERE id = '{account_id}'"
    ))
    .await
}

/// A search answered from the copy still checks the caller's own row on
/// every call (read with the account's users version): a user disabled by
/// hand, the version left as it was so that the copy stays current, is
/// refused at once, while others go on being answered from the copy.
async fn a_search_from_the_copy_never_outlives_the_callers_token(db: Db) {
    let app = TestApp::spawn_with(db, |s| s.search_index_users = 10_000).await;
    let (ws, users) =
        searchable_account_with(&app, "'00000000-0000-4000-8000-00000000' || i").await;
    let account = ws.account.id.as_str();
    let member = users
        .iter()
        .find(|u| u.name == "MIXED case")
        .expect("member");
    let member_token = app.user_token(&member.id, account);
    let search = |token: String, query: &'static str| {
        let mut users = app.users();
        async move {
            users
                .list_users(authed(
                    pb::ListUsersRequest {
                        page_size: 5,
                        query: query.into(),
                        ..Default::default()
                    },
                    &token,
                ))
                .await
                .map(|r| ids(&r.into_inner().users))
        }
    };
    let zoe = model(&users, "zoë");
    assert_eq!(
        search(member_token.clone(), "zoë").await.expect("search"),
        zoe
    );
    copy_kept(&app, &ws).await;

    // From here on the version stays as it is: the copy answers.
    rename_leaving_the_version(&app, db, &zoe[0]).await;
    assert_eq!(
        search(member_token.clone(), "zoë").await.expect("search"),
        zoe,
        "from the copy"
    );
    app.sql(&format!(
        "UPDATE users SET status = 'INACTIVE', disabled_at = updated_at WHERE id = '{}'",
        member.id
    ))
    .await;
    let status = search(member_token, "zoë")
        .await
        .expect_err("a user disabled by hand");
    assert_error(&status, Code::Unauthenticated, "TOKEN_INVALID");
    assert_eq!(
        search(ws.admin_token.clone(), "zoë").await.expect("search"),
        zoe,
        "others are still answered from the copy"
    );
}

/// SQLite: a write adds its segment to the search table and merges none
/// (a rename never waits for a merge, migration 000017); once the writer
/// has been idle, the server merges them, and searches still find what
/// they found before.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_merges_the_search_table_once_the_writer_is_idle() {
    let idle = Duration::from_secs(4);
    let app = TestApp::spawn_with(Db::Sqlite, |s| {
        s.search_merge_idle = idle;
        // Searches go to the database, through the trigram table.
        s.search_index_users = 0;
        s.list_cache_users = 0;
    })
    .await;
    let ws = app
        .account(pb::Plan::Base, pb::SeatPolicy::AutoExpand, 5)
        .await;
    let user = member(&app, &ws, "merge-target").await;
    let segments = "SELECT count(DISTINCT segid) AS n FROM users_search_idx";
    let before = app.sql_count(segments).await;
    // FTS5 would merge small segments only every 64 pages written or so,
    // which ten renames do not reach: the setting itself is read.
    assert_eq!(
        app.sql_count("SELECT v AS n FROM users_search_config WHERE k = 'automerge'")
            .await,
        0,
        "writes merge the search table (automerge is on)"
    );

    // Fewer renames than FTS5's crisis merge (16 segments on one level).
    let renames = 10;
    let started = Instant::now();
    let mut renamed = user.clone();
    for round in 0..renames {
        renamed = rename(&app, &ws, &renamed, &format!("Quokka Number {round}")).await;
    }
    let after_writes = app.sql_count(segments).await;
    assert!(
        started.elapsed() < idle,
        "the renames took {:?}, longer than the idle time: the test cannot tell merging apart",
        started.elapsed()
    );
    assert!(
        after_writes >= before + renames,
        "{renames} renames left {after_writes} segments ({before} before): a write merged"
    );

    // Merged once idle: from 12 or more segments to at most two.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut merged = after_writes;
    while merged > 2 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
        merged = app.sql_count(segments).await;
    }
    assert!(
        merged <= 2,
        "{merged} segments 30 s after the last write ({after_writes} before)"
    );
    let found = list_all(&app, &ws, "number 9", pb::UserOrder::Unspecified, 10).await;
    assert_eq!(ids(&found), vec![user.id.clone()]);
    for old_name in ["number 3", "nina newcomer"] {
        let stale = list_all(&app, &ws, old_name, pb::UserOrder::Unspecified, 10).await;
        assert!(
            !ids(&stale).contains(&user.id),
            "the old name {old_name:?} still matches: {stale:?}"
        );
    }
    let everyone = list_all(&app, &ws, "@", pb::UserOrder::Unspecified, 10).await;
    assert_eq!(everyone.len(), 2, "the admin and the member: {everyone:?}");
}
