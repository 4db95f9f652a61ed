//! On PostgreSQL, reads of users by id from concurrent calls go out
//! together as one query (`store::coalesced`). These tests fire bursts of
//! calls from two accounts, user and service tokens mixed, so many calls
//! share a query, and check that every call still gets exactly its own
//! answer: its own account's user, NOT_FOUND for another account's user even
//! when that row came back in the same query, and TOKEN_INVALID for a token
//! whose user was disabled (by the API or by SQL) just before the burst.
//! The same rules are checked on SQLite, where each call reads alone.

mod common;

use futures::future::join_all;
use tonic::Code;

use common::*;
use roster::proto::v1 as pb;

both_backends!(
    a_burst_of_gets_answers_each_call_from_its_own_account,
    a_user_disabled_just_before_a_burst_is_refused_in_it,
    kept_pages_checked_in_bursts_of_gets_show_every_change,
);

/// Calls per burst: well above the concurrency a single read serves.
const BURST: usize = 96;

/// What one call of a burst asks and what it must get.
struct Ask {
    token: String,
    account_id: String,
    user_id: String,
    /// The user's name, or the error's code and reason.
    want: Result<String, (Code, &'static str)>,
}

async fn get(app: &TestApp, ask: &Ask) -> Result<String, (Code, String)> {
    app.users()
        .get_user(authed(
            pb::GetUserRequest {
                account_id: ask.account_id.clone(),
                user_id: ask.user_id.clone(),
            },
            &ask.token,
        ))
        .await
        .map(|r| r.into_inner().user.map(|u| u.name).unwrap_or_default())
        .map_err(|status| (status.code(), reason(&status)))
}

/// Runs every ask at once and lists the calls that got something else.
async fn burst(app: &TestApp, asks: &[Ask]) -> Vec<String> {
    let answers = join_all(asks.iter().map(|ask| get(app, ask))).await;
    asks.iter()
        .zip(answers)
        .enumerate()
        .filter_map(|(call, (ask, got))| {
            let want = ask.want.clone().map_err(|(c, r)| (c, r.to_owned()));
            (got != want).then(|| {
                format!(
                    "call {call} for {}: got {got:?}, want {want:?}",
                    ask.user_id
                )
            })
        })
        .collect()
}

async fn two_accounts(app: &TestApp) -> [(Workspace, Vec<pb::User>); 2] {
    let mut accounts = Vec::new();
    for _ in 0..2 {
        let ws = app
            .account(pb::Plan::Base, pb::SeatPolicy::AutoExpand, 5)
            .await;
        let mut members = Vec::new();
        for name in ["ada", "bo", "cy"] {
            members.push(member(app, &ws, name).await);
        }
        accounts.push((ws, members));
    }
    match accounts.try_into() {
        Ok(both) => both,
        Err(_) => unreachable!("two accounts were made"),
    }
}

async fn a_burst_of_gets_answers_each_call_from_its_own_account(db: Db) {
    let app = TestApp::spawn(db).await;
    let accounts = two_accounts(&app).await;
    let service = app.service_token();
    let mut asks = Vec::new();
    for i in 0..BURST {
        let (ws, members) = &accounts[i % 2];
        let (_, strangers) = &accounts[(i + 1) % 2];
        let target = &members[i % members.len()];
        let stranger = &strangers[i % strangers.len()];
        let asker = &members[(i + 1) % members.len()];
        let account_id = ws.account.id.clone();
        let own = Ok(target.name.clone());
        let hidden = Err((Code::NotFound, "USER_NOT_FOUND"));
        let ask = match i % 6 {
            // An admin, a member and a service token, each for its own
            // account's user and for the other account's.
            0 => (ws.admin_token.clone(), "", target, own),
            1 => (ws.admin_token.clone(), "", stranger, hidden),
            2 => (app.user_token(&asker.id, &account_id), "", target, own),
            3 => (app.user_token(&asker.id, &account_id), "", stranger, hidden),
            4 => (service.clone(), account_id.as_str(), target, own),
            _ => (service.clone(), account_id.as_str(), stranger, hidden),
        };
        let (token, account, user, want) = ask;
        asks.push(Ask {
            token,
            account_id: account.to_owned(),
            user_id: user.id.clone(),
            want,
        });
    }
    // Several bursts: the first ones also race the connections' start.
    for round in 0..3 {
        let wrong = burst(&app, &asks).await;
        assert!(wrong.is_empty(), "round {round}:\n{}", wrong.join("\n"));
    }
}

async fn a_user_disabled_just_before_a_burst_is_refused_in_it(db: Db) {
    let app = TestApp::spawn(db).await;
    let [(ws, members), (other, other_members)] = two_accounts(&app).await;
    let account_id = ws.account.id.clone();
    let tokens: Vec<String> = members
        .iter()
        .map(|m| app.user_token(&m.id, &account_id))
        .collect();
    let asks = |refused: &[usize]| -> Vec<Ask> {
        (0..BURST)
            .map(|i| {
                let asker = i % members.len();
                let target = &other_members[i % other_members.len()];
                let (token, want) = if i % 4 == 0 {
                    // Calls of the other account ride in the same queries.
                    (other.admin_token.clone(), Ok(target.name.clone()))
                } else if refused.contains(&asker) {
                    (
                        tokens[asker].clone(),
                        Err((Code::Unauthenticated, "TOKEN_INVALID")),
                    )
                } else {
                    (tokens[asker].clone(), Ok(ws.admin.name.clone()))
                };
                let user_id = if i % 4 == 0 {
                    target.id.clone()
                } else {
                    ws.admin.id.clone()
                };
                Ask {
                    token,
                    account_id: String::new(),
                    user_id,
                    want,
                }
            })
            .collect()
    };
    let wrong = burst(&app, &asks(&[])).await;
    assert!(wrong.is_empty(), "before:\n{}", wrong.join("\n"));

    app.users()
        .disable_user(authed(
            pb::DisableUserRequest {
                user_id: members[0].id.clone(),
                ..Default::default()
            },
            &ws.admin_token,
        ))
        .await
        .expect("disable");
    let wrong = burst(&app, &asks(&[0])).await;
    assert!(wrong.is_empty(), "after DisableUser:\n{}", wrong.join("\n"));

    app.sql(&format!(
        "UPDATE users SET status = 'INACTIVE', disabled_at = updated_at WHERE id = '{}'",
        members[1].id
    ))
    .await;
    let wrong = burst(&app, &asks(&[0, 1])).await;
    assert!(wrong.is_empty(), "after SQL:\n{}", wrong.join("\n"));
}

/// The names on one account's first ListUsers page, or the error.
async fn listed(app: &TestApp, token: &str) -> Result<Vec<String>, (Code, String)> {
    app.users()
        .list_users(authed(pb::ListUsersRequest::default(), token))
        .await
        .map(|r| {
            let mut names: Vec<String> = r.into_inner().users.into_iter().map(|u| u.name).collect();
            names.sort();
            names
        })
        .map_err(|status| (status.code(), reason(&status)))
}

/// ListUsers checks a kept page with its caller's row and the account's
/// users version, read in the same coalesced queries as GetUser's rows (on
/// PostgreSQL a batch reads the versions when any of its calls asks). In
/// bursts mixing both, every kept page must still show a change made just
/// before (by SQL, so only the version tells), and a member disabled by SQL
/// must be refused.
async fn kept_pages_checked_in_bursts_of_gets_show_every_change(db: Db) {
    let app = TestApp::spawn(db).await;
    let [(ws, members), (other, other_members)] = two_accounts(&app).await;
    let token = app.user_token(&members[0].id, &ws.account.id);
    let names = |ws: &Workspace, members: &[pb::User]| -> Vec<String> {
        let mut names: Vec<String> = members.iter().map(|m| m.name.clone()).collect();
        names.push(ws.admin.name.clone());
        names.sort();
        names
    };
    // Keep both pages.
    assert_eq!(listed(&app, &token).await, Ok(names(&ws, &members)));
    assert_eq!(
        listed(&app, &other.admin_token).await,
        Ok(names(&other, &other_members))
    );
    let gets: Vec<Ask> = (0..BURST / 2)
        .map(|i| Ask {
            token: other.admin_token.clone(),
            account_id: String::new(),
            user_id: other_members[i % other_members.len()].id.clone(),
            want: Ok(other_members[i % other_members.len()].name.clone()),
        })
        .collect();
    let mixed_burst = |want: Result<Vec<String>, (Code, String)>, token: String| {
        let app = &app;
        let gets = &gets;
        async move {
            let lists = join_all((0..BURST / 2).map(|_| listed(app, &token)));
            let (listed, wrong) = futures::join!(lists, burst(app, gets));
            assert!(wrong.is_empty(), "gets:\n{}", wrong.join("\n"));
            for (call, got) in listed.into_iter().enumerate() {
                assert_eq!(got, want, "ListUsers call {call}");
            }
        }
    };
    mixed_burst(Ok(names(&ws, &members)), token.clone()).await;

    app.sql(&format!(
        "UPDATE users SET name = 'Renamed By Hand' WHERE id = '{}'",
        members[1].id
    ))
    .await;
    let mut renamed = members.clone();
    renamed[1].name = "Renamed By Hand".into();
    mixed_burst(Ok(names(&ws, &renamed)), token.clone()).await;

    app.sql(&format!(
        "UPDATE users SET status = 'INACTIVE', disabled_at = updated_at WHERE id = '{}'",
        members[0].id
    ))
    .await;
    mixed_burst(
        Err((Code::Unauthenticated, "TOKEN_INVALID".into())),
        token.clone(),
    )
    .await;
}
