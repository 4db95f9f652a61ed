//! Patched copies against a copy read again at the same version, and what
//! a patch refuses.

use super::super::tests::entry;
use super::super::{IndexBuilder, SearchCopy};
use super::*;
use crate::domain::UserStatus;
use crate::domain::user::search_text;
use uuid::Uuid;

/// Every page of `copy` in each order, status and group, for `queries`.
fn all_pages(copy: &SearchCopy, queries: &[&str], page_size: usize) -> Vec<Vec<User>> {
    let mut pages = Vec::new();
    for query in queries {
        for order in [UserOrder::Created, UserOrder::Name, UserOrder::Email] {
            for (status, group) in [
                (None, None),
                (Some(UserStatus::Active), None),
                (None, Some("g3")),
                (Some(UserStatus::Inactive), Some("g9")),
            ] {
                let filter = UserFilter {
                    query: Some((*query).into()),
                    order,
                    status,
                    group_id: group.map(str::to_owned),
                    ..Default::default()
                };
                let mut after: Option<String> = None;
                loop {
                    let page = copy.find(&filter, after.as_deref(), page_size).unwrap();
                    let Some(last) = page.last() else { break };
                    after = Some(match order {
                        UserOrder::Created => last.id.clone(),
                        UserOrder::Email => last.email.clone(),
                        _ => search_text(&last.name, &last.email),
                    });
                    pages.push(page);
                }
            }
        }
    }
    pages
}

fn copy_of(entries: &[SearchEntry], version: i64) -> SearchCopy {
    let mut b = IndexBuilder::new(10_000, entries.len());
    for e in entries {
        b.push(e).unwrap();
    }
    SearchCopy::new(b.finish(version))
}

#[test]
fn a_patched_copy_answers_as_the_copy_read_again() {
    // Even ids: the copy as read; odd ids are added later, between them.
    let named = |i: u128, name: &str| {
        entry(
            i,
            &format!("{name} {i}"),
            &format!("u{i}@d{}.example", i % 7),
        )
    };
    let mut now: Vec<SearchEntry> = (1..=400)
        .map(|i| named(i * 2, ["ann", "bob", "zoë"][(i % 3) as usize]))
        .collect();
    let copy = copy_of(&now, 10);
    let queries = ["ann", "bob 1", "zoë", "@d3.", "renamed", "new", "7", "x"];
    let mut patched = copy;
    let mut version = 10;
    for step in 0..3u128 {
        // Renamed, moved to a group, disabled, removed, added.
        let mut touched = Vec::new();
        for e in now.iter_mut().filter(|e| {
            let i = Uuid::parse_str(&e.user.id).unwrap().as_u128();
            i.is_multiple_of(37 + step * 10)
        }) {
            let i = Uuid::parse_str(&e.user.id).unwrap().as_u128();
            let mut changed = named(i, if step == 1 { "new" } else { "renamed" });
            changed.user.group_id = i.is_multiple_of(4).then(|| "g9".to_owned());
            changed.user.status = UserStatus::Inactive;
            *e = changed;
            touched.push(e.user.id.clone());
        }
        let removed: Vec<String> = now
            .iter()
            .filter(|e| {
                Uuid::parse_str(&e.user.id)
                    .unwrap()
                    .as_u128()
                    .is_multiple_of(53 + step)
            })
            .map(|e| e.user.id.clone())
            .collect();
        now.retain(|e| !removed.contains(&e.user.id));
        touched.extend(removed);
        for i in (1..=30).map(|k| k * 26 + 1 + step * 2) {
            now.push(named(i, "new ann"));
            touched.push(Uuid::from_u128(i).hyphenated().to_string());
        }
        now.sort_by(|a, b| a.user.id.cmp(&b.user.id));
        version += 3;
        let entries: Vec<SearchEntry> = now
            .iter()
            .filter(|e| touched.contains(&e.user.id))
            .cloned()
            .collect();
        patched = patched.patched(&touched, entries, version).unwrap();
        assert_eq!(patched.users_version(), version);
        let read_again = copy_of(&now, version);
        for page_size in [1, 4, 50] {
            let expected = all_pages(&read_again, &queries, page_size);
            assert!(expected.len() > 40, "the queries find users");
            assert_eq!(
                all_pages(&patched, &queries, page_size),
                expected,
                "step {step}, pages of {page_size}"
            );
        }
    }
}

#[test]
fn a_patch_refuses_too_many_users_and_rows_it_was_not_asked_for() {
    let copy = copy_of(&[entry(2, "ann", "ann@x.example")], 1);
    let many: Vec<String> = (0..=PATCH_USERS as u128)
        .map(|i| Uuid::from_u128(1_000 + i).hyphenated().to_string())
        .collect();
    assert_eq!(
        copy.patched(&many, Vec::new(), 2).err(),
        Some(Unindexable::TooManyUsers)
    );
    let touched = [Uuid::from_u128(3).hyphenated().to_string()];
    assert_eq!(
        copy.patched(&touched, vec![entry(4, "bob", "bob@x.example")], 2)
            .err(),
        Some(Unindexable::Irregular)
    );
    let mut irregular = entry(3, "bob", "bob@x.example");
    irregular.search_text = "bob".into();
    assert_eq!(
        copy.patched(&touched, vec![irregular], 2).err(),
        Some(Unindexable::Irregular)
    );
    let patched = copy
        .patched(&touched, vec![entry(3, "bob", "bob@x.example")], 2)
        .unwrap();
    assert_eq!(patched.patched_users(), 1);
    assert_eq!(patched.patched_users_with(&touched), 1);
    assert_eq!(patched.patched_users_with(&many), 1 + many.len());
    let filter = UserFilter {
        query: Some("@x.".into()),
        ..Default::default()
    };
    let found = patched.find(&filter, None, 10).unwrap();
    assert_eq!(found.len(), 2);
    assert!(found.iter().all(|u| u.password_hash.is_empty()));
}
