//! The copy against brute-force models: matching, paging, filters, refusals.

use super::*;
use crate::domain::user::search_text;
use crate::store::SearchEntry;
use chrono::NaiveDateTime;

pub(super) fn entry(i: u128, name: &str, email: &str) -> SearchEntry {
    let mut user = User::example("x", Role::Member);
    user.id = Uuid::from_u128(i).hyphenated().to_string();
    user.name = name.to_owned();
    user.email = email.to_owned();
    user.status = if i.is_multiple_of(2) {
        UserStatus::Active
    } else {
        UserStatus::Inactive
    };
    user.group_id = i.is_multiple_of(3).then(|| "g3".to_owned());
    SearchEntry {
        search_text: search_text(name, email),
        user,
    }
}

fn index(entries: &[SearchEntry]) -> AccountIndex {
    let mut builder = IndexBuilder::new(100, 5);
    for e in entries {
        builder.push(e).unwrap();
    }
    builder.finish(7)
}

fn users() -> Vec<SearchEntry> {
    vec![
        entry(1, "Ann Lee", "ann@x.example"),
        entry(2, "Bob 100%", "bob@x.example"),
        entry(3, "Zoë_Ä", "zoe@y.example"),
        entry(4, "ann marie", "am@y.example"),
        entry(5, "Carl", "c\\l@x.example"),
    ]
}

fn search(ix: &AccountIndex, query: &str, order: UserOrder, after: Option<&str>) -> Vec<u128> {
    let filter = UserFilter {
        query: Some(query.to_lowercase()),
        order,
        ..Default::default()
    };
    ix.find(&filter, after, 10)
        .unwrap()
        .iter()
        .map(|user| Uuid::parse_str(&user.id).unwrap().as_u128())
        .collect()
}

#[test]
fn finds_substrings_of_name_or_email_case_folded() {
    let ix = index(&users());
    assert_eq!(search(&ix, "ANN", UserOrder::Created, None), vec![1, 4]);
    assert_eq!(search(&ix, "0%", UserOrder::Created, None), vec![2]);
    assert_eq!(search(&ix, "ë_ä", UserOrder::Created, None), vec![3]);
    assert_eq!(search(&ix, "c\\l", UserOrder::Created, None), vec![5]);
    assert_eq!(search(&ix, "@y.", UserOrder::Created, None), vec![3, 4]);
    // Across the line between name and email, as LIKE on the text.
    assert_eq!(search(&ix, "carl\nc", UserOrder::Created, None), vec![5]);
    assert_eq!(
        search(&ix, "nobody", UserOrder::Created, None),
        Vec::<u128>::new()
    );
}

#[test]
fn pages_after_a_key_in_each_order() {
    let ix = index(&users());
    let first = Uuid::from_u128(1).hyphenated().to_string();
    // Every email holds "a" (".example").
    assert_eq!(
        search(&ix, "a", UserOrder::Created, Some(&first)),
        vec![2, 3, 4, 5]
    );
    // Name order: "ann lee" < "ann marie" < "bob" < "carl" < "zoë".
    assert_eq!(search(&ix, "a", UserOrder::Name, None), vec![1, 4, 2, 5, 3]);
    assert_eq!(
        search(&ix, "a", UserOrder::Name, Some("ann marie\nam@y.example")),
        vec![2, 5, 3]
    );
    assert_eq!(
        search(&ix, "@x", UserOrder::Name, Some("ann marie\nam@y.example")),
        vec![2, 5]
    );
    // Email order: am < ann < bob < c\l < zoe.
    assert_eq!(
        search(&ix, "a", UserOrder::Email, None),
        vec![4, 1, 2, 5, 3]
    );
    assert_eq!(
        search(&ix, "a", UserOrder::Email, Some("ann@x.example")),
        vec![2, 5, 3]
    );
}

#[test]
fn filters_and_limits() {
    let ix = index(&users());
    let filter = |status, group: Option<&str>| UserFilter {
        query: Some("e".into()),
        status,
        group_id: group.map(str::to_owned),
        ..Default::default()
    };
    let ids = |f: &UserFilter, limit| ix.find(f, None, limit).unwrap().len();
    assert_eq!(ids(&filter(Some(UserStatus::Inactive), None), 10), 3);
    assert_eq!(ids(&filter(Some(UserStatus::Active), Some("g3")), 10), 0);
    assert_eq!(ids(&filter(None, Some("g3")), 10), 1);
    assert_eq!(ids(&filter(None, Some("nope")), 10), 0);
    assert_eq!(ids(&filter(None, None), 2), 2);
    let admins = UserFilter {
        query: Some("e".into()),
        role: Some(Role::Admin),
        ..Default::default()
    };
    assert_eq!(ids(&admins, 10), 0);
    // A query holding END is left to the database.
    let odd = UserFilter {
        query: Some("a\0".into()),
        ..Default::default()
    };
    assert!(ix.find(&odd, None, 10).is_none());
}

/// Across many blocks, with the filters skipping most of them: every
/// page is what a plain scan of all texts gives.
#[test]
fn pages_across_blocks_are_those_of_a_plain_scan() {
    // 22 blocks (one filter per block), then 131 (filters regrouped by
    // 64 blocks, the last group partly empty).
    pages_match_a_plain_scan(700, 7);
    pages_match_a_plain_scan(4_190, 150);
}

#[test]
fn regrouped_filters_answer_as_one_filter_per_block() {
    use super::columns::{TrigramFilters, query_bits};
    // 100 blocks: a full group of 64 and one of 36.
    let texts: Vec<String> = (0..3_200u32)
        .map(|i| format!("u{}x{}", i.wrapping_mul(2_654_435_761) % 9_973, i % 97))
        .collect();
    let mut filters = TrigramFilters::with_capacity(texts.len());
    for (u, text) in texts.iter().enumerate() {
        filters.add(u, text.as_bytes());
    }
    let queries: Vec<Vec<usize>> = ["u12", "x5", "u9x1", "973", "zzz", "u77x", "x96", "12x"]
        .iter()
        .map(|q| query_bits(q.as_bytes()))
        .collect();
    let before: Vec<Vec<bool>> = queries
        .iter()
        .map(|bits| (0..100).map(|b| filters.may_hold(b, bits)).collect())
        .collect();
    filters.regroup();
    assert_eq!(filters.lanes(), 64);
    for (bits, before) in queries.iter().zip(&before) {
        let after: Vec<bool> = (0..100).map(|b| filters.may_hold(b, bits)).collect();
        assert_eq!(&after, before, "{bits:?}");
        // Group by group, the same blocks, and none past the last.
        let grouped: Vec<bool> = (0..128)
            .map(|b| filters.candidates(b / 64, bits) >> (b % 64) & 1 != 0)
            .collect();
        assert_eq!(&grouped[..100], &before[..]);
        assert!(grouped[100..].iter().all(|held| !held));
    }
    // Some blocks pass and some do not: the check can tell them apart.
    assert!(before.iter().flatten().any(|held| *held));
    assert!(before.iter().flatten().any(|held| !*held));
}

/// Every query's pages of `page_size` users, in each order, against a plain
/// scan of `count` users.
fn pages_match_a_plain_scan(count: u128, page_size: usize) {
    let parts = ["ann", "bob", "zoë", "carl", "éva", "lee", "ng", "o'brien"];
    let entries: Vec<SearchEntry> = (1..=count)
        .map(|i| {
            let p = |k: u128| parts[((i * k + k) % parts.len() as u128) as usize];
            let name = format!("{} {} {i}", p(3), p(5));
            entry(i, &name, &format!("{}{i}@d{}.example", p(7), i % 13))
        })
        .collect();
    let mut b = IndexBuilder::new(entries.len(), entries.len());
    for e in &entries {
        b.push(e).unwrap();
    }
    let ix = b.finish(1);
    let grouped = count >= 64 * 32;
    assert_eq!(ix.filters.lanes(), if grouped { 64 } else { 1 });
    let queries = [
        "ann", "zoë c", "lee 7", "@d1.", "n 69", "o'b", "ng", "70", "x", "zzz", "carl ann", "b 1",
        "é", "n 4189", "b 2222", "@d12.",
    ];
    for query in queries {
        for order in [UserOrder::Created, UserOrder::Name, UserOrder::Email] {
            for status in [None, Some(UserStatus::Active)] {
                let key = |e: &SearchEntry| -> String {
                    match order {
                        UserOrder::Created => e.user.id.clone(),
                        UserOrder::Email => e.user.email.clone(),
                        _ => e.search_text.clone(),
                    }
                };
                let mut model: Vec<&SearchEntry> = entries
                    .iter()
                    .filter(|e| e.search_text.contains(query))
                    .filter(|e| status.is_none_or(|s| e.user.status == s))
                    .collect();
                model.sort_by_key(|e| key(e));
                let filter = UserFilter {
                    query: Some(query.into()),
                    order,
                    status,
                    ..Default::default()
                };
                // Pages after each page's last key.
                let mut after: Option<String> = None;
                let mut paged = Vec::new();
                loop {
                    let page = ix.find(&filter, after.as_deref(), page_size).unwrap();
                    let Some(last) = page.last() else { break };
                    after = Some(match order {
                        UserOrder::Created => last.id.clone(),
                        UserOrder::Email => last.email.clone(),
                        _ => search_text(&last.name, &last.email),
                    });
                    paged.extend(page.into_iter().map(|u| u.id));
                }
                let expected: Vec<String> = model.iter().map(|e| e.user.id.clone()).collect();
                assert_eq!(paged, expected, "{query:?} {order:?} {status:?}");
            }
        }
    }
}

#[test]
fn gives_back_each_user_as_pushed() {
    let mut entries = users();
    let time = |s: &str| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f").unwrap();
    let rights = {
        let mut p = Permissions::default_for(Role::Admin);
        p.mail_access = !p.mail_access;
        p
    };
    for (n, e) in entries.iter_mut().enumerate() {
        let u = &mut e.user;
        u.password_hash = String::new();
        u.version = 10 + n as i64;
        u.created_at = time("2026-01-02 03:04:05.123456789");
        u.updated_at = time("2261-12-31 23:59:59.999999");
        u.disabled_at = (n % 2 == 1).then(|| time("1970-01-01 00:00:00"));
        u.tokens_valid_after = (n == 2).then(|| time("1677-09-22 00:00:00"));
        u.access_role_id = (n > 2).then(|| format!("role-{}", n % 2));
        if n == 4 {
            u.role = Role::Admin;
            u.permissions = rights.clone();
        }
    }
    let ix = index(&entries);
    let found = ix
        .find(
            &UserFilter {
                query: Some("@".into()),
                ..Default::default()
            },
            None,
            10,
        )
        .unwrap();
    let pushed: Vec<User> = entries.into_iter().map(|e| e.user).collect();
    assert_eq!(found, pushed);
}

#[test]
fn refuses_rows_it_cannot_hold_exactly() {
    let mut b = IndexBuilder::new(2, 2);
    assert_eq!(b.push(&entry(2, "a", "a@x.example")), Ok(()));
    // Out of id order.
    assert_eq!(
        b.push(&entry(1, "b", "b@x.example")),
        Err(Unindexable::Irregular)
    );
    let mut upper = entry(0xa3, "c", "c@x.example");
    upper.user.id = upper.user.id.to_uppercase();
    assert_eq!(b.push(&upper), Err(Unindexable::Irregular));
    let mut stale = entry(0xa3, "c", "c@x.example");
    stale.user.email = "other@x.example".into();
    assert_eq!(b.push(&stale), Err(Unindexable::Irregular));
    let mut ancient = entry(0xa3, "c", "c@x.example");
    ancient.user.created_at = NaiveDateTime::default() - chrono::Duration::days(400 * 365);
    assert_eq!(b.push(&ancient), Err(Unindexable::Irregular));
    let mut elsewhere = entry(0xa3, "c", "c@x.example");
    elsewhere.user.account_id = "other".into();
    assert_eq!(b.push(&elsewhere), Err(Unindexable::Irregular));
    assert_eq!(b.push(&entry(0xa3, "c", "c@x.example")), Ok(()));
    assert_eq!(
        b.push(&entry(0xa4, "d", "d@x.example")),
        Err(Unindexable::TooManyUsers)
    );
}
