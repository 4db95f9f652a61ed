//! BulkAddUsers over real gRPC, on SQLite and PostgreSQL: one seat decision
//! for the batch (one ledger entry), per-user outcomes in both modes,
//! validate_only, request_id, imported argon2id hashes, input errors that
//! name `users[i]`, and two calls racing for the last free seats.

mod common;

use argon2::password_hash::{PasswordHasher, SaltString};
use tonic::Code;

use common::*;
use roster::proto::v1 as pb;

both_backends!(
    a_batch_is_one_seat_decision_and_one_ledger_entry,
    strict_best_effort_admits_the_free_seats_in_request_order,
    all_or_nothing_adds_nobody_when_one_user_is_refused,
    validate_only_answers_what_the_call_then_does,
    request_id_replays_the_first_answer,
    invalid_input_names_the_field_and_writes_nothing,
    an_imported_hash_signs_in_and_is_upgraded,
    two_batches_racing_for_the_last_free_seats,
);

fn input(email: &str) -> pb::BulkAddUserInput {
    pb::BulkAddUserInput {
        name: "Bulk Newcomer".into(),
        email: email.into(),
        password: PASSWORD.into(),
        ..Default::default()
    }
}

fn batch(users: Vec<pb::BulkAddUserInput>, mode: pb::BulkMode) -> pb::BulkAddUsersRequest {
    pb::BulkAddUsersRequest {
        users,
        mode: mode as i32,
        ..Default::default()
    }
}

async fn bulk_add(
    app: &TestApp,
    ws: &Workspace,
    request: pb::BulkAddUsersRequest,
) -> Result<pb::BulkAddUsersResponse, tonic::Status> {
    app.users()
        .bulk_add_users(authed(request, &ws.admin_token))
        .await
        .map(tonic::Response::into_inner)
}

async fn usage(app: &TestApp, ws: &Workspace) -> pb::SeatUsage {
    app.seats()
        .get_seat_usage(authed(pb::GetSeatUsageRequest::default(), &ws.admin_token))
        .await
        .expect("seat usage")
        .into_inner()
        .usage
        .expect("usage")
}

async fn count(app: &TestApp, ws: &Workspace, table_and_filter: &str) -> i64 {
    app.sql_count(&format!(
        "SELECT count(*) AS n FROM {table_and_filter} AND account_id = '{}'",
        ws.account.id
    ))
    .await
}

fn outcomes(response: &pb::BulkAddUsersResponse) -> Vec<(pb::UserOutcome, String)> {
    response
        .results
        .iter()
        .map(|r| {
            (
                r.outcome(),
                r.refusal
                    .as_ref()
                    .map(|f| {
                        f.reason()
                            .as_str_name()
                            .trim_start_matches("ERROR_REASON_")
                            .to_owned()
                    })
                    .unwrap_or_default(),
            )
        })
        .collect()
}

/// What AddUser would do to seats now (validate_only).
async fn one_more_user(app: &TestApp, ws: &Workspace) -> pb::SeatEffect {
    app.users()
        .add_user(authed(
            pb::AddUserRequest {
                validate_only: true,
                ..new_user(&unique_email("probe"))
            },
            &ws.admin_token,
        ))
        .await
        .expect("preview")
        .into_inner()
        .seat_effect
        .expect("effect")
}

fn phc(password: &str, memory_kib: u32) -> String {
    let params = argon2::Params::new(memory_kib, 1, 1, None).expect("params");
    let hasher = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    hasher
        .hash_password(
            password.as_bytes(),
            &SaltString::generate(&mut argon2::password_hash::rand_core::OsRng),
        )
        .expect("hash")
        .to_string()
}

async fn a_batch_is_one_seat_decision_and_one_ledger_entry(db: Db) {
    let app = TestApp::spawn(db).await;
    let ws = app
        .account(pb::Plan::Base, pb::SeatPolicy::AutoExpand, 2)
        .await;
    let ledger_before = count(&app, &ws, "ledger_entries WHERE 1 = 1").await;
    // One free seat, then three bought: the charge of one more seat now,
    // as AddUser's preview prices it, times three.
    let one_seat = one_more_user(&app, &ws).await;
    assert_eq!(one_seat.charge_minor, 0, "a free seat is left");
    let emails: Vec<String> = (0..4).map(|i| unique_email(&format!("bulk{i}"))).collect();
    let done = bulk_add(
        &app,
        &ws,
        batch(
            emails.iter().map(|e| input(e)).collect(),
            pb::BulkMode::BestEffort,
        ),
    )
    .await
    .expect("bulk add");
    assert_eq!(done.added_count, 4);
    assert!(
        outcomes(&done)
            .iter()
            .all(|(o, _)| *o == pb::UserOutcome::Done)
    );
    let effect = done.seat_effect.expect("effect");
    assert_eq!((effect.active_before, effect.active_after), (1, 5));
    assert_eq!(
        (effect.seats_purchased_before, effect.seats_purchased_after),
        (2, 5)
    );
    let single = one_more_user(&app, &ws).await;
    assert!(single.charge_minor > 0);
    assert_eq!(effect.charge_minor, 3 * single.charge_minor);

    let seats = usage(&app, &ws).await;
    assert_eq!((seats.active_users, seats.seats_purchased), (5, 5));
    assert_eq!(
        count(&app, &ws, "ledger_entries WHERE 1 = 1").await,
        ledger_before + 1,
        "one ledger entry for the batch"
    );
    assert_eq!(
        count(
            &app,
            &ws,
            "ledger_entries WHERE seats_before = 2 AND seats_after = 5"
        )
        .await,
        1
    );
    assert_eq!(
        count(&app, &ws, "events WHERE event_type = 'SEATS_CHANGED'").await,
        1
    );
    assert_eq!(
        count(&app, &ws, "events WHERE event_type = 'USER_ADDED'").await,
        4 + 1,
        "one per user (and the admin's)"
    );
    // The batch's events take the next sequences, with no gap or repeat.
    let events = count(&app, &ws, "events WHERE 1 = 1").await;
    let last = app
        .sql_count(&format!(
            "SELECT max(sequence) AS n FROM events WHERE account_id = '{}'",
            ws.account.id
        ))
        .await;
    assert_eq!(
        count(&app, &ws, &format!("(SELECT DISTINCT sequence, account_id FROM events WHERE sequence BETWEEN 1 AND {last}) AS s WHERE 1 = 1")).await,
        events
    );
    assert_eq!(last, events, "sequences 1..=n");
    for (result, email) in done.results.iter().zip(&emails) {
        let user = result.user.as_ref().expect("user");
        assert_eq!(&user.email, email);
        let read = app
            .users()
            .get_user(authed(
                pb::GetUserRequest {
                    user_id: user.id.clone(),
                    ..Default::default()
                },
                &ws.admin_token,
            ))
            .await
            .expect("the added user reads back")
            .into_inner()
            .user
            .expect("user");
        assert_eq!(read.status(), pb::UserStatus::Active);
    }
}

async fn strict_best_effort_admits_the_free_seats_in_request_order(db: Db) {
    let app = TestApp::spawn(db).await;
    let ws = app.account(pb::Plan::Base, pb::SeatPolicy::Strict, 3).await;
    let existing = member(&app, &ws, "existing").await;
    // 3 seats, 2 active: one free seat for four new users, one of them
    // with an address in use.
    let done = bulk_add(
        &app,
        &ws,
        batch(
            vec![
                input(&existing.email.to_uppercase()),
                input(&unique_email("first")),
                input(&unique_email("second")),
                input(&unique_email("third")),
            ],
            pb::BulkMode::BestEffort,
        ),
    )
    .await
    .expect("bulk add");
    assert_eq!(
        outcomes(&done),
        vec![
            (pb::UserOutcome::Failed, "EMAIL_TAKEN".to_owned()),
            (pb::UserOutcome::Done, String::new()),
            (pb::UserOutcome::Failed, "SEAT_LIMIT_REACHED".to_owned()),
            (pb::UserOutcome::Failed, "SEAT_LIMIT_REACHED".to_owned()),
        ]
    );
    assert_eq!(done.added_count, 1);
    let effect = done.seat_effect.expect("effect");
    assert_eq!((effect.active_before, effect.active_after), (2, 3));
    assert_eq!(effect.charge_minor, 0);
    let seats = usage(&app, &ws).await;
    assert_eq!((seats.active_users, seats.seats_purchased), (3, 3));
    assert_eq!(
        count(&app, &ws, "users WHERE status = 'ACTIVE'").await,
        3,
        "the refused users were not written"
    );
}

async fn all_or_nothing_adds_nobody_when_one_user_is_refused(db: Db) {
    let app = TestApp::spawn(db).await;
    let ws = app.account(pb::Plan::Base, pb::SeatPolicy::Strict, 5).await;
    let existing = member(&app, &ws, "existing").await;
    let events_before = count(&app, &ws, "events WHERE 1 = 1").await;
    let done = bulk_add(
        &app,
        &ws,
        batch(
            vec![
                input(&unique_email("first")),
                input(&existing.email),
                input(&unique_email("third")),
            ],
            pb::BulkMode::AllOrNothing,
        ),
    )
    .await
    .expect("an ALL_OR_NOTHING refusal still answers OK");
    assert_eq!(
        outcomes(&done),
        vec![
            (pb::UserOutcome::Skipped, String::new()),
            (pb::UserOutcome::Failed, "EMAIL_TAKEN".to_owned()),
            (pb::UserOutcome::Skipped, String::new()),
        ]
    );
    assert_eq!(done.added_count, 0);
    let effect = done.seat_effect.expect("effect");
    assert_eq!(effect.active_before, effect.active_after);
    assert_eq!(count(&app, &ws, "users WHERE 1 = 1").await, 2);
    assert_eq!(count(&app, &ws, "events WHERE 1 = 1").await, events_before);

    // Too many for the free seats: the same, for SEAT_LIMIT_REACHED.
    let done = bulk_add(
        &app,
        &ws,
        batch(
            (0..4)
                .map(|i| input(&unique_email(&format!("s{i}"))))
                .collect(),
            pb::BulkMode::AllOrNothing,
        ),
    )
    .await
    .expect("bulk add");
    assert_eq!(
        outcomes(&done),
        vec![
            (pb::UserOutcome::Skipped, String::new()),
            (pb::UserOutcome::Skipped, String::new()),
            (pb::UserOutcome::Skipped, String::new()),
            (pb::UserOutcome::Failed, "SEAT_LIMIT_REACHED".to_owned()),
        ]
    );
    assert_eq!(count(&app, &ws, "users WHERE 1 = 1").await, 2);

    // Three fit: all are added.
    let done = bulk_add(
        &app,
        &ws,
        batch(
            (0..3)
                .map(|i| input(&unique_email(&format!("f{i}"))))
                .collect(),
            pb::BulkMode::AllOrNothing,
        ),
    )
    .await
    .expect("bulk add");
    assert_eq!(done.added_count, 3);
    assert_eq!(usage(&app, &ws).await.active_users, 5);
}

async fn validate_only_answers_what_the_call_then_does(db: Db) {
    let app = TestApp::spawn(db).await;
    let ws = app
        .account(pb::Plan::Base, pb::SeatPolicy::AutoExpand, 1)
        .await;
    let existing = member(&app, &ws, "existing").await;
    let users = vec![
        input(&unique_email("a")),
        input(&existing.email),
        pb::BulkAddUserInput {
            password: String::new(),
            password_hash: phc(PASSWORD, 1024),
            ..input(&unique_email("b"))
        },
    ];
    let ledger_before = count(&app, &ws, "ledger_entries WHERE 1 = 1").await;
    let preview = bulk_add(
        &app,
        &ws,
        pb::BulkAddUsersRequest {
            validate_only: true,
            ..batch(users.clone(), pb::BulkMode::BestEffort)
        },
    )
    .await
    .expect("preview");
    assert_eq!(
        count(&app, &ws, "users WHERE 1 = 1").await,
        2,
        "nothing added"
    );
    assert_eq!(
        count(&app, &ws, "ledger_entries WHERE 1 = 1").await,
        ledger_before
    );
    for result in &preview.results {
        if let Some(user) = &result.user {
            assert!(user.id.is_empty() && user.etag.is_empty());
        }
    }
    let done = bulk_add(&app, &ws, batch(users, pb::BulkMode::BestEffort))
        .await
        .expect("bulk add");
    assert_eq!(outcomes(&preview), outcomes(&done));
    assert_eq!(preview.added_count, 2);
    assert_eq!(preview.seat_effect, done.seat_effect, "the same charge");
    assert!(done.seat_effect.expect("effect").charge_minor > 0);
}

async fn request_id_replays_the_first_answer(db: Db) {
    let app = TestApp::spawn(db).await;
    let ws = app
        .account(pb::Plan::Base, pb::SeatPolicy::AutoExpand, 1)
        .await;
    let request = pb::BulkAddUsersRequest {
        request_id: "import-2026-12-04".into(),
        ..batch(
            (0..3)
                .map(|i| input(&unique_email(&format!("r{i}"))))
                .collect(),
            pb::BulkMode::BestEffort,
        )
    };
    let first = bulk_add(&app, &ws, request.clone()).await.expect("first");
    let again = bulk_add(&app, &ws, request.clone()).await.expect("retry");
    assert_eq!(first, again, "the retry answers as the first call did");
    assert_eq!(count(&app, &ws, "users WHERE 1 = 1").await, 4);
    assert_eq!(
        count(&app, &ws, "ledger_entries WHERE seats_after = 4").await,
        1,
        "the seats were bought once"
    );
    let other = pb::BulkAddUsersRequest {
        users: vec![input(&unique_email("other"))],
        ..request
    };
    let reused = bulk_add(&app, &ws, other)
        .await
        .expect_err("different users");
    assert_error(&reused, Code::FailedPrecondition, "REQUEST_ID_REUSED");
}

async fn invalid_input_names_the_field_and_writes_nothing(db: Db) {
    let app = TestApp::spawn(db).await;
    let ws = app
        .account(pb::Plan::Base, pb::SeatPolicy::AutoExpand, 5)
        .await;
    let good = || input(&unique_email("ok"));
    let same = unique_email("twice");
    let argon2i = phc(PASSWORD, 1024).replace("$argon2id$", "$argon2i$");
    let costly = phc(PASSWORD, 1024).replace("m=1024", "m=1048576");
    let cases: Vec<(Vec<pb::BulkAddUserInput>, &str)> = vec![
        (vec![], "users"),
        ((0..1001).map(|_| good()).collect(), "users"),
        (vec![good(), input("not an email")], "users[1].email"),
        (
            vec![input(&same), good(), input(&same.to_uppercase())],
            "users[2].email",
        ),
        (
            vec![pb::BulkAddUserInput {
                password: "short".into(),
                ..good()
            }],
            "users[0].password",
        ),
        (
            vec![pb::BulkAddUserInput {
                password: String::new(),
                ..good()
            }],
            "users[0].password",
        ),
        (
            vec![pb::BulkAddUserInput {
                password_hash: phc(PASSWORD, 1024),
                ..good()
            }],
            "users[0].password_hash",
        ),
        (
            vec![
                good(),
                pb::BulkAddUserInput {
                    password: String::new(),
                    password_hash: argon2i,
                    ..good()
                },
            ],
            "users[1].password_hash",
        ),
        (
            vec![pb::BulkAddUserInput {
                password: String::new(),
                password_hash: costly,
                ..good()
            }],
            "users[0].password_hash",
        ),
        (
            vec![pb::BulkAddUserInput {
                password: String::new(),
                password_hash: "plain text".into(),
                ..good()
            }],
            "users[0].password_hash",
        ),
        (
            vec![
                good(),
                pb::BulkAddUserInput {
                    group_id: uuid::Uuid::new_v4().to_string(),
                    ..good()
                },
            ],
            "users[1].group_id",
        ),
        (
            vec![pb::BulkAddUserInput {
                access_role_id: uuid::Uuid::new_v4().to_string(),
                ..good()
            }],
            "users[0].access_role_id",
        ),
        (
            vec![pb::BulkAddUserInput {
                name: "Bad\u{202e}Name".into(),
                ..good()
            }],
            "users[0].name",
        ),
    ];
    for (users, field) in cases {
        let status = bulk_add(&app, &ws, batch(users, pb::BulkMode::BestEffort))
            .await
            .expect_err(field);
        assert_error(&status, Code::InvalidArgument, "INVALID_ARGUMENT");
        assert!(
            bad_fields(&status).iter().any(|f| f == field),
            "{field} not named: {status:?}"
        );
    }
    let unknown_mode = bulk_add(
        &app,
        &ws,
        pb::BulkAddUsersRequest {
            mode: 9,
            ..batch(vec![good()], pb::BulkMode::BestEffort)
        },
    )
    .await
    .expect_err("unknown mode");
    assert_eq!(bad_fields(&unknown_mode), vec!["mode".to_owned()]);
    assert_eq!(
        count(&app, &ws, "users WHERE 1 = 1").await,
        1,
        "nothing added"
    );
}

async fn an_imported_hash_signs_in_and_is_upgraded(db: Db) {
    let app = TestApp::spawn(db).await;
    let ws = app
        .account(pb::Plan::Base, pb::SeatPolicy::AutoExpand, 5)
        .await;
    let email = unique_email("migrated");
    let imported = phc("an old secret 7", 1024);
    let done = bulk_add(
        &app,
        &ws,
        batch(
            vec![pb::BulkAddUserInput {
                password: String::new(),
                password_hash: imported.clone(),
                ..input(&email)
            }],
            pb::BulkMode::BestEffort,
        ),
    )
    .await
    .expect("bulk add");
    let id = done.results[0].user.as_ref().expect("user").id.clone();
    let stored_is = |hash: &str| {
        format!(
            "SELECT count(*) AS n FROM users WHERE id = '{id}' AND password_hash = '{hash}' AND 1 = 1"
        )
    };
    assert_eq!(
        app.sql_count(&stored_is(&imported)).await,
        1,
        "stored as it is"
    );
    let login = app.service_token_with(&["passwords:verify"]);
    let wrong = app
        .users()
        .verify_password(authed(
            pb::VerifyPasswordRequest {
                email: email.clone(),
                password: PASSWORD.into(),
            },
            &login,
        ))
        .await
        .expect_err("another password");
    assert_error(&wrong, Code::Unauthenticated, "WRONG_CREDENTIALS");
    let ok = app
        .users()
        .verify_password(authed(
            pb::VerifyPasswordRequest {
                email: email.clone(),
                password: "an old secret 7".into(),
            },
            &login,
        ))
        .await
        .expect("the imported password signs in")
        .into_inner();
    assert_eq!(ok.user.expect("user").id, id);
    assert_eq!(
        app.sql_count(&stored_is(&imported)).await,
        0,
        "the weak imported hash was replaced"
    );
}

async fn two_batches_racing_for_the_last_free_seats(db: Db) {
    let app = TestApp::spawn(db).await;
    let ws = app.account(pb::Plan::Base, pb::SeatPolicy::Strict, 4).await;
    // 3 free seats, two batches of 3 at once: exactly 3 users are added.
    let call = |tag: &'static str| {
        let request = batch(
            (0..3)
                .map(|i| input(&unique_email(&format!("{tag}{i}"))))
                .collect(),
            pb::BulkMode::BestEffort,
        );
        let mut client = app.users();
        let token = ws.admin_token.clone();
        async move {
            client
                .bulk_add_users(authed(request, &token))
                .await
                .expect("bulk add")
                .into_inner()
        }
    };
    let (a, b) = tokio::join!(call("a"), call("b"));
    assert_eq!(a.added_count + b.added_count, 3);
    let seats = usage(&app, &ws).await;
    assert_eq!((seats.active_users, seats.seats_purchased), (4, 4));
    assert_eq!(count(&app, &ws, "users WHERE 1 = 1").await, 4);
}

/// SQLite: the write-ahead log is copied into the database file soon after
/// commits, off the writer, long before the writer's own checkpoint (past
/// 10,000 log pages) would do it: the file grows with a bulk import within
/// moments of the calls.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_checkpoints_soon_after_commits() {
    let app = TestApp::spawn(Db::Sqlite).await;
    let ws = app
        .account(pb::Plan::Base, pb::SeatPolicy::AutoExpand, 1)
        .await;
    let file_size = || {
        std::fs::metadata(&app.database_url)
            .expect("database file")
            .len()
    };
    // Settle what account creation wrote, then measure from there.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let before = file_size();
    let hash = phc(PASSWORD, 1024);
    for call in 0..2 {
        let users = (0..1000)
            .map(|i| pb::BulkAddUserInput {
                name: format!("Imported {call}-{i}"),
                email: format!("imported-{call}-{i}@checkpoint.example"),
                password_hash: hash.clone(),
                ..Default::default()
            })
            .collect();
        let added = bulk_add(&app, &ws, batch(users, pb::BulkMode::BestEffort))
            .await
            .expect("bulk add")
            .added_count;
        assert_eq!(added, 1000);
    }
    // 2,000 users with their indexes, search entries and events are well
    // over a megabyte of pages, all in the log when the calls return.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while file_size() < before + 1_000_000 {
        assert!(
            std::time::Instant::now() < deadline,
            "the database file is still {} bytes ({before} before the calls): no checkpoint",
            file_size()
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// SQLite: a large load by SQL beside the running server grows the
/// write-ahead log to 64 MiB. Once the server's checkpoints have copied it
/// into the database file, the server's next commits cut the log file back
/// to 40 MiB (`journal_size_limit`) rather than keeping it at its largest.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_log_file_is_cut_back_after_a_large_load() {
    const KEPT: u64 = 40 << 20;
    let app = TestApp::spawn(Db::Sqlite).await;
    let ws = app
        .account(pb::Plan::Base, pb::SeatPolicy::AutoExpand, 1)
        .await;
    let wal = format!("{}-wal", app.database_url);
    let log_size = || std::fs::metadata(&wal).map_or(0, |m| m.len());
    app.sql(
        "CREATE TABLE load_by_hand (b BLOB); \
         WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < 64) \
         INSERT INTO load_by_hand SELECT randomblob(1048576) FROM n; \
         DROP TABLE load_by_hand;",
    )
    .await;
    assert!(
        log_size() > 64 << 20,
        "the load left a log of {} bytes",
        log_size()
    );
    let hash = phc(PASSWORD, 1024);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut call = 0;
    while log_size() > KEPT {
        assert!(
            std::time::Instant::now() < deadline,
            "the log file is still {} bytes after {call} commits",
            log_size()
        );
        let user = pb::BulkAddUserInput {
            name: format!("After load {call}"),
            email: format!("after-load-{call}@wal.example"),
            password_hash: hash.clone(),
            ..Default::default()
        };
        let added = bulk_add(&app, &ws, batch(vec![user], pb::BulkMode::BestEffort))
            .await
            .expect("bulk add")
            .added_count;
        assert_eq!(added, 1);
        call += 1;
        // Past the background checkpoint's interval (100 ms).
        tokio::time::sleep(std::time::Duration::from_millis(150)).await;
    }
}
