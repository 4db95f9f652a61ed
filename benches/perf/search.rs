//! ListUsers with a text query that differs on every call (no kept page can
//! answer it), at growing numbers of users in one account, next to
//! Health/Check driven the same way in the same round.
//!
//! h2load sends one body over and over, so both sides are driven here by
//! tonic clients: `concurrency` tasks, one connection each, one call in
//! flight per task, as h2load's `-c N -m 1`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use tonic::transport::Channel;

use roster::proto::v1 as pb;
use roster::proto::v1::user_management_service_client::UserManagementServiceClient;

use super::{Db, Load, authed};

/// First and last names the seeded users are made of (non-ASCII among
/// them: case folding is part of what is measured).
const FIRST: &[&str] = &[
    "Anna",
    "Boris",
    "Chloé",
    "Dmitri",
    "Emma",
    "Fatima",
    "Giulia",
    "Hiro",
    "Ingrid",
    "Jonas",
    "Kateřina",
    "Liam",
    "Mateo",
    "Noor",
    "Olga",
    "Pedro",
    "Quinn",
    "Rania",
    "Søren",
    "Tomás",
    "Uma",
    "Viktor",
    "Wen",
    "Ximena",
    "Yusuf",
    "Zoë",
    "Ælfric",
    "Łucja",
    "Ömer",
    "Ивan",
];
const LAST: &[&str] = &[
    "Abbott",
    "Berg",
    "Castillo",
    "Dubois",
    "Eriksen",
    "Fischer",
    "García",
    "Hansen",
    "Ivanova",
    "Jansen",
    "Kowalski",
    "López",
    "Müller",
    "Nakamura",
    "O'Brien",
    "Petrov",
    "Quispe",
    "Rossi",
    "Schmidt",
    "Tanaka",
    "Underwood",
    "Vargas",
    "Weber",
    "Xu",
    "Yamamoto",
    "Zielińska",
    "Ångström",
    "Øster",
    "Šimek",
    "Đorđević",
    "Brontë",
];

/// The email form of a name part: ASCII letters, lower-cased.
fn email_part(name: &str) -> String {
    let part: String = name
        .chars()
        .filter(char::is_ascii_alphabetic)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    if part.is_empty() { "x".into() } else { part }
}

/// Seeded user `i`'s name and email (what [`seed_sql`] writes).
fn seeded(i: usize) -> (String, String) {
    let first = FIRST[i % FIRST.len()];
    let last = LAST[(i / FIRST.len()) % LAST.len()];
    (
        format!("{first} {last} {i}"),
        format!(
            "{}.{}.{i}@corp{}.example",
            email_part(first),
            email_part(last),
            i % 97
        ),
    )
}

/// A VALUES list of (n, name, lower-cased name, email part).
fn values(names: &[&str]) -> String {
    names
        .iter()
        .enumerate()
        .map(|(n, name)| {
            let q = |s: &str| s.replace('\'', "''");
            format!(
                "({n}, '{}', '{}', '{}')",
                q(name),
                q(&name.to_lowercase()),
                q(&email_part(name))
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Seeded users `from..to` of `template`'s account, in one statement, as
/// copies of `template` (its password hash, role, rights and status) with
/// their own ids, names and emails. The lower-cased forms come from Rust,
/// as the service writes them (SQLite's `lower` folds ASCII only).
pub fn seed_sql(db: &Db, template: &str, from: usize, to: usize) -> String {
    seed_members_sql(db, &format!("t.id = '{template}'"), None, false, from, to)
}

/// Seeded users `from..to` in the account of every user `t` that
/// `template_where` picks, with the password hash, role, rights and status
/// of the user `rights_of` (default: of `t`). User `i` of template `t` has the id
/// [`member_id`]`(t.id, i)`; with `tag_emails` its email starts with the
/// last 12 characters of `t.id`, so that many accounts can hold the same
/// names (emails are unique across accounts).
pub fn seed_members_sql(
    db: &Db,
    template_where: &str,
    rights_of: Option<&str>,
    tag_emails: bool,
    from: usize,
    to: usize,
) -> String {
    let (f, l) = (FIRST.len(), LAST.len());
    let tag = if tag_emails {
        "substr(t.id, 25, 12) || '.' || "
    } else {
        ""
    };
    let email =
        format!("{tag}fs.e || '.' || ls.e || '.' || i || '@corp' || (i % 97) || '.example'");
    let rights = rights_of.map_or("t.id".to_owned(), |id| format!("'{id}'"));
    let (number, analyze) = match db {
        Db::Postgres(_) => ("lpad(i::text, 12, '0')", "ANALYZE users;"),
        Db::Sqlite(_) => ("printf('%012d', i)", ""),
    };
    format!(
        "WITH RECURSIVE n(i) AS (SELECT {from} UNION ALL SELECT i + 1 FROM n WHERE i + 1 < {to}), \
         fs(n, v, lv, e) AS (VALUES {firsts}), ls(n, v, lv, e) AS (VALUES {lasts}) \
         INSERT INTO users (id, account_id, name, email, password_hash, role, permissions, \
         status, search_text, created_at, updated_at) \
         SELECT substr(t.id, 25, 8) || '-' || substr(t.id, 33, 4) || '-4000-8000-' || {number}, \
         t.account_id, fs.v || ' ' || ls.v || ' ' || i, {email}, \
         r.password_hash, r.role, r.permissions, r.status, \
         fs.lv || ' ' || ls.lv || ' ' || i || '\n' || {email}, t.created_at, t.updated_at \
         FROM n JOIN fs ON fs.n = i % {f} JOIN ls ON ls.n = (i / {f}) % {l}, users t, users r \
         WHERE {template_where} AND r.id = {rights}; {analyze}",
        firsts = values(FIRST),
        lasts = values(LAST),
    )
}

/// The id [`seed_members_sql`] gives seeded user `i` of `template_id`'s
/// account: a UUID, as the API requires, made of the random last 12
/// characters of the template's id (UUIDv7 ids of accounts made in the same
/// second share their first ones) and `i`.
pub fn member_id(template_id: &str, i: usize) -> String {
    let random = template_id.get(24..36).unwrap_or("000000000000");
    format!("{}-{}-4000-8000-{i:012}", &random[..8], &random[8..])
}

/// SplitMix64: call `i`'s own random number, the same in every run.
fn mix(i: u64) -> u64 {
    let mut z = i.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Call `i`'s query among `users` seeded users: a piece of 3 to 8
/// characters of one user's name or email, in the case a person would
/// type it, or (one call in ten) a text no user has.
pub fn query(i: usize, users: usize) -> String {
    let r = mix(i as u64);
    if r.is_multiple_of(10) {
        return format!("zq{}x", r % 100_000);
    }
    let (name, email) = seeded((r >> 8) as usize % users);
    let text: Vec<char> = if r & 0x10 == 0 { name } else { email }.chars().collect();
    let len = 3 + (r >> 40) as usize % 6;
    let len = len.min(text.len());
    let start = (r >> 48) as usize % (text.len() - len + 1);
    text[start..start + len].iter().collect()
}

/// Drives `call` from `concurrency` tasks for `seconds` after a one-second
/// warm-up and returns the rate and latencies of the calls that ended in
/// the measured window.
pub async fn drive<F, Fut>(
    url: &str,
    concurrency: usize,
    seconds: u64,
    call: F,
) -> anyhow::Result<Load>
where
    F: Fn(Channel, usize) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Result<(), tonic::Status>> + Send,
{
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now() + Duration::from_secs(1);
    let end = start + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let channel = Channel::from_shared(url.to_owned())?.connect().await?;
        let (call, next) = (call.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let (mut latencies, mut failed) = (Vec::new(), 0u64);
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let began = Instant::now();
                let result = call(channel.clone(), i).await;
                let ended = Instant::now();
                if ended >= end {
                    return (latencies, failed);
                }
                if began >= start {
                    match result {
                        Ok(()) => latencies.push(ended - began),
                        Err(_) => failed += 1,
                    }
                }
            }
        }));
    }
    let mut latencies = Vec::new();
    let mut failed = 0;
    for task in tasks {
        let (l, f) = task.await?;
        latencies.extend(l);
        failed += f;
    }
    latencies.sort_unstable();
    let percentile = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .map(|d| d.as_secs_f64() * 1000.0)
            .unwrap_or(f64::NAN)
    };
    anyhow::ensure!(!latencies.is_empty(), "no call succeeded");
    Ok(Load {
        rps: latencies.len() as f64 / seconds as f64,
        p50_ms: percentile(0.50),
        p99_ms: percentile(0.99),
        failed,
        ratio: 1.0,
    })
}

/// Pages answered and the users on them, summed over calls (warm-up
/// included): what a search returns grows with the account.
#[derive(Default)]
pub struct PageTally {
    pages: AtomicUsize,
    users: AtomicUsize,
}

impl PageTally {
    /// Mean users per page.
    pub fn mean(&self) -> f64 {
        let pages = self.pages.load(Ordering::Relaxed);
        self.users.load(Ordering::Relaxed) as f64 / pages.max(1) as f64
    }
}

/// How far the bench's client reads each page it is answered.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Decode {
    /// Into a [`PageOfEncodedUsers`]: users counted, not decoded, as
    /// h2load (which drives the other rows) decodes nothing. On two shared
    /// cores a client that decodes 40 users per call takes a third of the
    /// machine from the server it measures.
    Count,
    /// Into the generated `ListUsersResponse`, every user and field
    /// decoded, as an application would.
    Full,
}

/// ListUsersResponse read only as far as the bench needs ([`Decode::Count`]):
/// each user stays the encoded bytes of its message.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PageOfEncodedUsers {
    #[prost(bytes = "bytes", repeated, tag = "1")]
    pub users: Vec<bytes::Bytes>,
}

/// One ListUsers call, its users counted.
async fn list_users(
    channel: Channel,
    request: tonic::Request<pb::ListUsersRequest>,
    decode: Decode,
) -> Result<usize, tonic::Status> {
    if decode == Decode::Full {
        let page = UserManagementServiceClient::new(channel)
            .list_users(request)
            .await?;
        return Ok(page.into_inner().users.len());
    }
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready()
        .await
        .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
    let codec = tonic_prost::ProstCodec::<pb::ListUsersRequest, PageOfEncodedUsers>::default();
    let path = http::uri::PathAndQuery::from_static("/roster.v1.UserManagementService/ListUsers");
    let page = grpc.unary(request, path, codec).await?;
    Ok(page.into_inner().users.len())
}

/// ListUsers (50 per page) at c=8 for `seconds`, call `i` searching for
/// [`query`]`(base + i, users)`: no two calls of a run ask the same.
pub async fn varying_queries(
    url: &str,
    token: &str,
    (base, users): (usize, usize),
    seconds: u64,
    decode: Decode,
    tally: &Arc<PageTally>,
) -> anyhow::Result<Load> {
    let token = token.to_owned();
    let tally = tally.clone();
    drive(url, 8, seconds, move |channel, i| {
        let request = authed(
            pb::ListUsersRequest {
                page_size: 50,
                query: query(base + i, users),
                ..Default::default()
            },
            &token,
        );
        let tally = tally.clone();
        async move {
            let found = list_users(channel, request, decode).await?;
            tally.pages.fetch_add(1, Ordering::Relaxed);
            tally.users.fetch_add(found, Ordering::Relaxed);
            Ok(())
        }
    })
    .await
}

/// One size's measure: Health/Check and the varying search (its users
/// counted, then decoded), `rounds` times back to back; each ratio is the
/// median of the rounds' ratios.
#[derive(Clone, Copy, Default)]
pub struct SearchRow {
    pub users: usize,
    pub seed_secs: f64,
    pub health: Load,
    pub search: Load,
    pub search_decoded: Load,
    /// Users per page, mean.
    pub users_per_page: f64,
}

/// Seeds the account up to `users` seeded users (from `seeded_so_far`)
/// and measures the search at c=8.
#[allow(clippy::too_many_arguments)]
pub async fn measure(
    db: &Db,
    url: &str,
    token: &str,
    template_user: &str,
    seeded_so_far: usize,
    users: usize,
    rounds: usize,
    seconds: u64,
) -> anyhow::Result<SearchRow> {
    let started = Instant::now();
    db.execute(seed_sql(db, template_user, seeded_so_far, users))
        .await
        .context("seed users")?;
    db.settle().await?;
    let seed_secs = started.elapsed().as_secs_f64();
    // Every round's queries are new: a call's index picks its query.
    let offset = Arc::new(AtomicUsize::new(0));
    let (mut health, mut search, mut decoded) = (Vec::new(), Vec::new(), Vec::new());
    let tally = Arc::new(PageTally::default());
    for _ in 0..rounds {
        health.push(
            drive(url, 8, seconds, |channel, _| async move {
                tonic_health::pb::health_client::HealthClient::new(channel)
                    .check(tonic_health::pb::HealthCheckRequest::default())
                    .await
                    .map(|_| ())
            })
            .await?,
        );
        for (decode, runs) in [(Decode::Count, &mut search), (Decode::Full, &mut decoded)] {
            let base = offset.fetch_add(10_000_000, Ordering::Relaxed);
            let load = varying_queries(url, token, (base, users), seconds, decode, &tally);
            runs.push(load.await?);
        }
    }
    Ok(SearchRow {
        users,
        seed_secs,
        health: Load::combine(&health, &health),
        search: Load::combine(&search, &health),
        search_decoded: Load::combine(&decoded, &health),
        users_per_page: tally.mean(),
    })
}
