//! Cost growth: the same calls at growing sizes of the database, each as a
//! ratio to Health/Check in the same round, with the server's peak RSS at
//! each size. The sizes, on one fresh database per backend:
//!
//! 1. 1,000 users in one account (account A);
//! 2. 100,000 users in account A;
//! 3. 1,000 more accounts of 1,000 users each (about 1,100,000 users);
//!    from here on the calls go to one of those accounts (account B);
//! 4. 1,000,000 work records in all, held by 100 of B's users;
//! 5. 10,000,000 work records in all.
//!
//! Users and records are seeded by SQL. The server keeps no listing pages
//! (`ROSTER_LIST_CACHE_USERS=0`), so every ListUsers reads its page.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use tonic::transport::Channel;

use roster::auth::{Scope, TokenIssuer};
use roster::proto::v1 as pb;
use roster::proto::v1::user_management_service_client::UserManagementServiceClient;

use super::search::{self, member_id, seed_members_sql};
use super::{Db, GET_USER, HEALTH, LIST_USERS, Load, PASSWORD, SECRET, Server, authed, h2load};

const GET_SEAT_USAGE: &str = "/roster.v1.SeatsService/GetSeatUsage";
const COUNT_WORK_RECORDS: &str = "/roster.v1.UserManagementService/CountWorkRecords";
/// Records held by the user CountWorkRecords counts and by each disabled user.
const HELD: usize = 1000;
/// Users holding the bulk of the records at the record sizes.
const RECORD_OWNERS: usize = 100;
/// The deepest page asked for (the last page when there are fewer).
const DEEP_PAGE: usize = 1000;

pub struct GrowthKnobs {
    /// Users in account A at the first sizes (1,000 and 100,000).
    pub users: Vec<usize>,
    /// Accounts of `users[0]` users each added at the third size.
    pub accounts: usize,
    /// Work records in all at the last sizes.
    pub records: Vec<usize>,
    /// Users disabled per round and size.
    pub disables: usize,
    pub rounds: usize,
    pub seconds: u64,
}

/// The calls of the table, in its order.
pub const CALLS: &[&str] = &[
    "GetUser",
    "ListUsers (50), first page",
    "ListUsers (50), page 1,000 (keyset)",
    "ListUsers (50), query varying per call",
    "AddUser",
    "DisableUser, 1,000 records handed over",
    "GetSeatUsage",
    "CountWorkRecords (1,000 records)",
];

/// The rows of [`CALLS`] driven by tonic clients (h2load repeats one
/// body: a varying query, new users, each user disabled once).
const TONIC_DRIVEN: [usize; 3] = [3, ADD_USER, 5];
/// AddUser's row: its memory is argon2's, by design (see the RSS rows).
const ADD_USER: usize = 4;

/// One size's measures.
pub struct Step {
    pub label: String,
    pub users_total: usize,
    pub users_in_account: usize,
    pub records_total: usize,
    pub seed_secs: f64,
    /// The page the deep ListUsers row read.
    pub deep_page: usize,
    pub health: Load,
    /// One Load per entry of [`CALLS`].
    pub calls: Vec<Load>,
    /// The server's peak RSS during each entry of [`CALLS`].
    pub peak_rss_kib: Vec<u64>,
    /// The varying query's pages (its warm-up second included) answered
    /// from the account's in-memory copy and by the database, and what
    /// became of the copy meanwhile: brought up to date from the changes
    /// logged, dropped to be read again.
    pub search_sources: [u64; 4],
    /// The varying query's mean users per page.
    pub users_per_page: f64,
}

/// The server's count of text searches answered from a copy and by the
/// database, and of the copies' updates (see [`Step::search_sources`]).
fn search_sources(server: &Server) -> anyhow::Result<[u64; 4]> {
    let counts = server.metrics([
        "roster_search_pages_total{source=\"memory\"}",
        "roster_search_pages_total{source=\"database\"}",
        "roster_search_copy_updates_total{update=\"patched\"}",
        "roster_search_copy_updates_total{update=\"read_again\"}",
    ])?;
    Ok(counts.map(|v| v as u64))
}

/// An account the calls go to, and what they need in it.
pub struct Fixture {
    account_id: String,
    pub admin_id: String,
    /// The admin's bearer token.
    pub token: String,
    /// Members seeded so far (ids `member_id(admin_id, 1..members)`).
    members: usize,
    /// Users in the account.
    users: usize,
    /// The next member to disable.
    next_victim: usize,
}

impl Fixture {
    fn member(&self, i: usize) -> String {
        member_id(&self.admin_id, i)
    }
    fn counted(&self) -> String {
        self.member(1)
    }
    fn read(&self) -> String {
        self.member(2)
    }
    fn heir(&self) -> String {
        self.member(3)
    }
}

/// Work records: `per_owner` for each of `owners`, external ids
/// `{prefix}{owner index}-{i}`, a quarter of each of four kinds; then ANALYZE.
fn records_sql(account_id: &str, owners: &[String], per_owner: usize, prefix: &str) -> String {
    let owners: Vec<String> = owners
        .iter()
        .enumerate()
        .map(|(k, id)| format!("({k}, '{id}')"))
        .collect();
    format!(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {per_owner}), \
         o(k, id) AS (VALUES {owners}) \
         INSERT INTO work_records (account_id, kind, external_id, owner_user_id, \
         owner_is_former, created_at, updated_at) \
         SELECT '{account_id}', CASE i % 4 WHEN 0 THEN 'LEAD' WHEN 1 THEN 'CONTACT' \
         WHEN 2 THEN 'CUSTOMER' ELSE 'TASK' END, '{prefix}' || o.k || '-' || i, o.id, FALSE, \
         '2026-11-28 00:00:00', '2026-11-28 00:00:00' FROM o, n; ANALYZE;",
        owners = owners.join(", ")
    )
}

/// A new AUTO_EXPAND account with one admin, and the admin's token.
pub async fn create_account(
    client: &UserManagementServiceClient<Channel>,
    service_token: &str,
    issuer: &TokenIssuer,
    email: &str,
) -> anyhow::Result<Fixture> {
    let created = client
        .clone()
        .create_account(authed(
            pb::CreateAccountRequest {
                name: "Growth".into(),
                plan: pb::Plan::Base as i32,
                seat_policy: pb::SeatPolicy::AutoExpand as i32,
                seats_purchased: 1,
                admin: Some(pb::NewAdmin {
                    name: "Admin".into(),
                    email: email.into(),
                    password: PASSWORD.into(),
                }),
                ..Default::default()
            },
            service_token,
        ))
        .await?
        .into_inner();
    let account_id = created.account.context("no account")?.id;
    let admin_id = created.admin.context("no admin")?.id;
    let now = chrono::Utc::now().timestamp();
    let token = issuer.sign(&issuer.claims_for_user(&admin_id, &account_id, now, 14_400))?;
    Ok(Fixture {
        account_id,
        admin_id,
        token,
        members: 1,
        users: 1,
        next_victim: 10,
    })
}

/// The token of the page `DEEP_PAGE` (or the last page), and its number.
async fn deep_page_token(
    client: &UserManagementServiceClient<Channel>,
    fixture: &Fixture,
) -> anyhow::Result<(String, usize)> {
    let (mut token, mut page) = (String::new(), 1);
    while page < DEEP_PAGE {
        let next = client
            .clone()
            .list_users(authed(
                pb::ListUsersRequest {
                    page_size: 50,
                    page_token: token.clone(),
                    ..Default::default()
                },
                &fixture.token,
            ))
            .await?
            .into_inner()
            .next_page_token;
        if next.is_empty() {
            break;
        }
        token = next;
        page += 1;
    }
    Ok((token, page))
}

/// `count` users disabled with their records handed to the heir, by 4
/// concurrent callers; the rate is users per second.
async fn disable_users(
    client: &UserManagementServiceClient<Channel>,
    fixture: &Fixture,
    first: usize,
    count: usize,
) -> anyhow::Result<Load> {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let (mut client, next) = (client.clone(), next.clone());
        let (token, heir) = (fixture.token.clone(), fixture.heir());
        let ids: Vec<String> = (first..first + count).map(|i| fixture.member(i)).collect();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(user_id) = ids.get(i) else {
                    return Ok::<_, anyhow::Error>(latencies);
                };
                let began = Instant::now();
                let moved = client
                    .disable_user(authed(
                        pb::DisableUserRequest {
                            user_id: user_id.clone(),
                            reassignment: Some(pb::Reassignment {
                                target_user_id: heir.clone(),
                                by_kind: vec![],
                            }),
                            ..Default::default()
                        },
                        &token,
                    ))
                    .await?
                    .into_inner()
                    .moved
                    .unwrap_or_default();
                let total = moved.leads + moved.contacts + moved.customers + moved.tasks;
                ensure!(total == HELD as i64, "DisableUser moved {total} records");
                latencies.push(began.elapsed());
            }
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await??);
    }
    let secs = started.elapsed().as_secs_f64();
    latencies.sort_unstable();
    let percentile = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .map(|d| d.as_secs_f64() * 1000.0)
            .unwrap_or(f64::NAN)
    };
    Ok(Load {
        rps: count as f64 / secs,
        p50_ms: percentile(0.5),
        p99_ms: percentile(0.99),
        failed: 0,
        ratio: 1.0,
    })
}

/// Every call of [`CALLS`] on `fixture`, `rounds` times, next to
/// Health/Check of the same round (run at the round's start and end; the
/// round's figure is their mean rate and the larger p50 and p99).
async fn measure(
    server: &Server,
    fixture: &mut Fixture,
    knobs: &GrowthKnobs,
    step: usize,
) -> anyhow::Result<Measured> {
    let client = server.client().await?;
    let url = server.url();
    let (deep_token, deep_page) = deep_page_token(&client, fixture).await?;
    let token = Some(fixture.token.as_str());
    let get_user = pb::GetUserRequest {
        user_id: fixture.read(),
        ..Default::default()
    };
    let first_page = pb::ListUsersRequest {
        page_size: 50,
        ..Default::default()
    };
    let deep = pb::ListUsersRequest {
        page_size: 50,
        page_token: deep_token,
        ..Default::default()
    };
    let seats = pb::GetSeatUsageRequest::default();
    let count = pb::CountWorkRecordsRequest {
        user_id: fixture.counted(),
        ..Default::default()
    };
    let (c, seconds) = (8, knobs.seconds);
    let mut health = Vec::new();
    let mut tonic_health = Vec::new();
    let mut runs: Vec<Vec<Load>> = vec![Vec::new(); CALLS.len()];
    let pid = server.pid();
    // Each call's own peak: the high-water mark is read and reset after it.
    let mut peaks = vec![0; CALLS.len()];
    let mut sources = [0; 4];
    let tally = Arc::new(search::PageTally::default());
    for round in 0..knobs.rounds {
        health.push(
            h2load(
                server,
                HEALTH,
                &tonic_health::pb::HealthCheckRequest::default(),
                None,
                c,
                seconds,
            )
            .await?,
        );
        reset_peak(pid);
        runs[0].push(h2load(server, GET_USER, &get_user, token, c, seconds).await?);
        peaks[0] = peaks[0].max(peak(pid));
        runs[1].push(h2load(server, LIST_USERS, &first_page, token, c, seconds).await?);
        peaks[1] = peaks[1].max(peak(pid));
        runs[2].push(h2load(server, LIST_USERS, &deep, token, c, seconds).await?);
        peaks[2] = peaks[2].max(peak(pid));
        // The varying query is driven by tonic clients (h2load repeats one
        // body), so it is compared with Health/Check driven the same way.
        let health_driven = search::drive(&url, c, seconds, |channel, _| async move {
            tonic_health::pb::health_client::HealthClient::new(channel)
                .check(tonic_health::pb::HealthCheckRequest::default())
                .await
                .map(|_| ())
        })
        .await?;
        let base = (step * 100 + round) * 10_000_000;
        let before = search_sources(server)?;
        let query = search::varying_queries(
            &url,
            &fixture.token,
            (base, fixture.members),
            seconds,
            search::Decode::Count,
            &tally,
        )
        .await?;
        let after = search_sources(server)?;
        for (total, (a, b)) in sources.iter_mut().zip(after.iter().zip(before)) {
            *total += a - b;
        }
        tonic_health.push(health_driven);
        runs[3].push(query);
        peaks[3] = peaks[3].max(peak(pid));
        let add_token = fixture.token.clone();
        runs[4].push(
            search::drive(&url, c, seconds, move |channel, i| {
                let request = authed(
                    pb::AddUserRequest {
                        name: format!("Added {step} {round} {i}"),
                        email: format!("added-{step}-{round}-{i}@growth.example"),
                        password: PASSWORD.into(),
                        ..Default::default()
                    },
                    &add_token,
                );
                async move {
                    UserManagementServiceClient::new(channel)
                        .add_user(request)
                        .await
                        .map(|_| ())
                }
            })
            .await?,
        );
        // A hashing thread unmaps its 19 MiB when it finds the queue empty,
        // just after handing back the last hash; on 2 busy cores that can
        // come after the last response. Waiting a moment keeps that memory
        // in AddUser's peak instead of the next call's.
        tokio::time::sleep(Duration::from_millis(200)).await;
        peaks[4] = peaks[4].max(peak(pid));
        runs[5].push(disable_users(&client, fixture, fixture.next_victim, knobs.disables).await?);
        peaks[5] = peaks[5].max(peak(pid));
        fixture.next_victim += knobs.disables;
        runs[6].push(h2load(server, GET_SEAT_USAGE, &seats, token, c, seconds).await?);
        peaks[6] = peaks[6].max(peak(pid));
        runs[7].push(h2load(server, COUNT_WORK_RECORDS, &count, token, c, seconds).await?);
        peaks[7] = peaks[7].max(peak(pid));
        // Health/Check again at the round's end: one run at its start was
        // as much as a fifth off the calls beside it on a noisy hour, and
        // every h2load row of the round is compared with the mean of both.
        let closing = h2load(
            server,
            HEALTH,
            &tonic_health::pb::HealthCheckRequest::default(),
            None,
            c,
            seconds,
        )
        .await?;
        eprintln!(
            "growth, size {step}, round {round}: Health/Check {:.0} and {:.0}/s (tonic {:.0}/s), calls {:?}/s",
            health[round].rps,
            closing.rps,
            tonic_health[round].rps,
            runs.iter()
                .map(|r| r[round].rps.round())
                .collect::<Vec<_>>()
        );
        let opening = &mut health[round];
        opening.rps = (opening.rps + closing.rps) / 2.0;
        opening.p50_ms = opening.p50_ms.max(closing.p50_ms);
        opening.p99_ms = opening.p99_ms.max(closing.p99_ms);
    }
    // Rows driven by tonic clients are compared with Health/Check driven
    // the same way, the others with h2load's.
    let calls = runs
        .iter()
        .enumerate()
        .map(|(i, r)| {
            Load::combine(
                r,
                if TONIC_DRIVEN.contains(&i) {
                    &tonic_health
                } else {
                    &health
                },
            )
        })
        .collect();
    Ok(Measured {
        health: Load::combine(&health, &health),
        calls,
        deep_page,
        peaks,
        sources,
        users_per_page: tally.mean(),
    })
}

/// What [`measure`] found at one size.
struct Measured {
    health: Load,
    calls: Vec<Load>,
    deep_page: usize,
    peaks: Vec<u64>,
    sources: [u64; 4],
    users_per_page: f64,
}

/// The server's peak RSS since the last [`reset_peak`], in KiB.
fn peak(pid: u32) -> u64 {
    let kib = super::proc_status_kib(pid, "VmHWM:").unwrap_or(0);
    reset_peak(pid);
    kib
}

/// Resets the kernel's high-water mark of the server's RSS.
fn reset_peak(pid: u32) {
    let _ = std::fs::write(format!("/proc/{pid}/clear_refs"), "5");
}

/// Seeds the records of the users a size's rounds will disable.
async fn seed_victims(
    db: &Db,
    fixture: &Fixture,
    knobs: &GrowthKnobs,
    step: usize,
) -> anyhow::Result<()> {
    let victims: Vec<String> = (0..knobs.disables * knobs.rounds)
        .map(|k| fixture.member(fixture.next_victim + k))
        .collect();
    ensure!(
        fixture.next_victim + victims.len() < fixture.members / 2,
        "{} members are too few to disable {} per size",
        fixture.members,
        victims.len()
    );
    db.execute(records_sql(
        &fixture.account_id,
        &victims,
        HELD,
        &format!("v{step}-"),
    ))
    .await
}

/// Runs the growth table on a fresh database.
pub async fn run(db: &Db, knobs: &GrowthKnobs) -> anyhow::Result<Vec<Step>> {
    let (server, _) = Server::start_with(db.url(), &[("ROSTER_LIST_CACHE_USERS", "0")]).await?;
    let client = server.client().await?;
    let issuer = TokenIssuer::hs256(SECRET.as_bytes(), "roster", "roster");
    let scopes: Vec<&str> = Scope::ALL.iter().map(|s| s.as_str()).collect();
    let now = chrono::Utc::now().timestamp();
    let service_token = issuer.sign(&issuer.claims_for_service("bench", &scopes, now, 14_400))?;
    let small = *knobs.users.first().context("no growth sizes")?;

    let mut steps = Vec::new();
    let mut a = create_account(&client, &service_token, &issuer, "admin@growth-a.example").await?;
    // The seeded users are members: their hash, role and rights are this one's.
    let member = client
        .clone()
        .add_user(authed(
            pb::AddUserRequest {
                name: "Member".into(),
                email: "member@growth-a.example".into(),
                password: PASSWORD.into(),
                ..Default::default()
            },
            &a.token,
        ))
        .await?
        .into_inner()
        .user
        .context("no member")?
        .id;
    let (mut users_total, mut records_total) = (2, 0);
    let mut step_no = 0;
    let mut plan: Vec<(String, usize, usize)> = Vec::new();
    for &users in &knobs.users {
        plan.push((format!("{users} users in one account"), users, 0));
    }
    // Sizes beyond one account: (label, 0, records).
    plan.push((
        format!("+{} accounts of {small} users", knobs.accounts),
        0,
        0,
    ));
    for &records in &knobs.records {
        plan.push((format!("{records} work records"), 0, records));
    }
    let mut b: Option<Fixture> = None;
    for (label, users, records) in plan {
        let started = Instant::now();
        if users > 0 {
            // Account A grows to `users` (its admin and first member among them).
            db.execute(seed_members_sql(
                db,
                &format!("t.id = '{}'", a.admin_id),
                Some(&member),
                false,
                a.members,
                users - 1,
            ))
            .await
            .context("seed users")?;
            users_total += users - 1 - a.members;
            a.members = users - 1;
            a.users = users;
            if step_no == 0 {
                db.execute(records_sql(&a.account_id, &[a.counted()], HELD, "held-"))
                    .await?;
                records_total += HELD;
            }
        } else if records == 0 {
            // Many accounts of `small` users; the calls go to the first.
            let next = Arc::new(AtomicUsize::new(0));
            let mut tasks = Vec::new();
            for _ in 0..8 {
                let (client, next, token, issuer) = (
                    client.clone(),
                    next.clone(),
                    service_token.clone(),
                    TokenIssuer::hs256(SECRET.as_bytes(), "roster", "roster"),
                );
                let total = knobs.accounts;
                tasks.push(tokio::spawn(async move {
                    let mut made = Vec::new();
                    loop {
                        let k = next.fetch_add(1, Ordering::Relaxed);
                        if k >= total {
                            return Ok::<_, anyhow::Error>(made);
                        }
                        let email = format!("admin@growth-{k}.example");
                        made.push((k, create_account(&client, &token, &issuer, &email).await?));
                    }
                }));
            }
            let mut made = Vec::new();
            for task in tasks {
                made.extend(task.await??);
            }
            made.sort_by_key(|(k, _)| *k);
            db.execute(seed_members_sql(
                db,
                "t.email LIKE 'admin@growth-%.example' AND t.email <> 'admin@growth-a.example'",
                Some(&member),
                true,
                1,
                small,
            ))
            .await
            .context("seed accounts")?;
            users_total += knobs.accounts * small;
            let mut first = made.into_iter().next().context("no accounts")?.1;
            first.members = small;
            first.users = small;
            db.execute(records_sql(
                &first.account_id,
                &[first.counted()],
                HELD,
                "held-",
            ))
            .await?;
            records_total += HELD;
            b = Some(first);
        } else if let Some(fixture) = &b {
            // Records up to `records` in all, held by members of B.
            let owners: Vec<String> = (0..RECORD_OWNERS.min(small / 2))
                .map(|k| fixture.member(small / 2 + k))
                .collect();
            let per_owner = records.saturating_sub(records_total) / owners.len();
            if per_owner > 0 {
                db.execute(records_sql(
                    &fixture.account_id,
                    &owners,
                    per_owner,
                    &format!("bulk{step_no}-"),
                ))
                .await
                .context("seed records")?;
                records_total += per_owner * owners.len();
            }
        }
        let fixture = b.as_mut().unwrap_or(&mut a);
        seed_victims(db, fixture, knobs, step_no).await?;
        records_total += knobs.disables * knobs.rounds * HELD;
        db.settle().await?;
        let seed_secs = started.elapsed().as_secs_f64();

        let measured = measure(&server, fixture, knobs, step_no).await?;
        eprintln!(
            "{}: growth, {label}: peak RSS per call {:?} KiB",
            db.name(),
            measured.peaks
        );
        steps.push(Step {
            label,
            users_total,
            users_in_account: fixture.users,
            records_total,
            seed_secs,
            deep_page: measured.deep_page,
            health: measured.health,
            calls: measured.calls,
            peak_rss_kib: measured.peaks,
            search_sources: measured.sources,
            users_per_page: measured.users_per_page,
        });
        step_no += 1;
    }
    Ok(steps)
}

/// The growth table: a column per size, a row per call (its ratio to
/// Health/Check and p99), and the worst slowdown from the first size.
pub fn print(reports: &[(&str, Vec<Step>)]) {
    for (backend, steps) in reports {
        let Some(first) = steps.first() else { continue };
        println!();
        println!("Cost growth, {backend} (each call × Health/Check in the same round, c=8; p99)");
        println!();
        let header: Vec<String> = steps.iter().map(|s| s.label.clone()).collect();
        println!("| | {} | slowest ÷ first |", header.join(" | "));
        println!("|---|{}---:|", "---:|".repeat(steps.len()));
        let row = |name: &str, cells: Vec<String>, last: String| {
            println!("| {name} | {} | {last} |", cells.join(" | "));
        };
        row(
            "users in the database (in the account)",
            steps
                .iter()
                .map(|s| format!("{} ({})", s.users_total, s.users_in_account))
                .collect(),
            String::new(),
        );
        row(
            "work records in the database",
            steps.iter().map(|s| s.records_total.to_string()).collect(),
            String::new(),
        );
        row(
            "seeding by SQL before the size",
            steps
                .iter()
                .map(|s| format!("{:.1} s", s.seed_secs))
                .collect(),
            String::new(),
        );
        row(
            "Health/Check req/s, p99",
            steps
                .iter()
                .map(|s| format!("{:.0}, {:.2} ms", s.health.rps, s.health.p99_ms))
                .collect(),
            String::new(),
        );
        for (i, call) in CALLS.iter().enumerate() {
            let worst = steps
                .iter()
                .map(|s| first.calls[i].ratio / s.calls[i].ratio)
                .fold(0.0, f64::max);
            let name = if i == 2 {
                format!(
                    "{call} (page read: {})",
                    steps
                        .iter()
                        .map(|s| s.deep_page.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            } else {
                call.to_string()
            };
            row(
                &name,
                steps
                    .iter()
                    .map(|s| {
                        let l = &s.calls[i];
                        let failed = if l.failed > 0 {
                            format!(", {} FAILED", l.failed)
                        } else {
                            String::new()
                        };
                        format!("{:.0}/s {:.4}×, {:.2} ms{failed}", l.rps, l.ratio, l.p99_ms)
                    })
                    .collect(),
                format!("{worst:.2}×"),
            );
        }
        row(
            "varying query: users per page (mean)",
            steps
                .iter()
                .map(|s| format!("{:.1}", s.users_per_page))
                .collect(),
            String::new(),
        );
        row(
            "varying query: pages from the account's copy / the database",
            steps
                .iter()
                .map(|s| {
                    let [memory, database, ..] = s.search_sources;
                    let share = 100.0 * memory as f64 / (memory + database).max(1) as f64;
                    format!("{memory} / {database} ({share:.0}% from the copy)")
                })
                .collect(),
            String::new(),
        );
        row(
            "varying query: the copy patched / read again",
            steps
                .iter()
                .map(|s| {
                    let [.., patched, read_again] = s.search_sources;
                    format!("{patched} / {read_again}")
                })
                .collect(),
            String::new(),
        );
        let mib = |kib: u64| format!("{:.1} MiB", kib as f64 / 1024.0);
        row(
            "server peak RSS, every call but AddUser",
            steps
                .iter()
                .map(|s| {
                    let others = s
                        .peak_rss_kib
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| *i != ADD_USER);
                    mib(others.map(|(_, kib)| *kib).max().unwrap_or(0))
                })
                .collect(),
            String::new(),
        );
        row(
            "server peak RSS during AddUser (19 MiB per hash in flight)",
            steps
                .iter()
                .map(|s| mib(s.peak_rss_kib[ADD_USER]))
                .collect(),
            String::new(),
        );
    }
}
