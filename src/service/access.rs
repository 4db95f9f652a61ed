//! Access checks for the CRM's other services. Every call reads the
//! account's `users_version` afresh (a read shared with concurrent calls but
//! never older than the call); the users involved come from memory while it
//! is unchanged, else from the database ([`super::rights_cache`]). So an
//! admin's change is seen by the next check on any replica. The rules are
//! `domain::access::decide`.

use std::sync::Arc;

use super::AccessService;
use super::rights_cache::KeptUsers;
use crate::auth::principal::Grant;
use crate::domain::access::{Check, Decision, decide};
use crate::error::Result;

/// The ids a check needs.
fn ids_of(check: &Check) -> impl Iterator<Item = &String> {
    std::iter::once(&check.user_id).chain(check.owner_user_id.as_ref())
}

impl AccessService {
    /// Decides `checks` in order, reading each user involved once.
    pub async fn check_access(&self, grant: &Grant, checks: &[Check]) -> Result<Vec<Decision>> {
        let account_id = grant.account_id();
        let users = match self.store.users().users_version(account_id).await? {
            // No such account: nobody in it may do anything.
            None => Arc::default(),
            Some(version) => {
                let kept = self.rights.at(account_id, version).filter(|kept| {
                    checks
                        .iter()
                        .flat_map(ids_of)
                        .all(|id| kept.contains_key(id))
                });
                let source = if kept.is_some() { "kept" } else { "database" };
                metrics::counter!("roster_access_user_reads_total", "source" => source)
                    .increment(1);
                match kept {
                    Some(kept) => kept,
                    None => Arc::new(self.read_users(account_id, version, checks).await?),
                }
            }
        };
        let user = |id: &str| users.get(id).and_then(Option::as_deref);
        Ok(checks
            .iter()
            .map(|check| {
                let owner = check.owner_user_id.as_deref().and_then(user);
                decide(check, user(&check.user_id), owner)
            })
            .collect())
    }

    /// Reads every user `checks` need (all of them, so that one call never
    /// mixes users kept from an earlier read with newer ones) and keeps them
    /// under `version`, read before them.
    async fn read_users(
        &self,
        account_id: &str,
        version: i64,
        checks: &[Check],
    ) -> Result<KeptUsers> {
        let mut ids: Vec<String> = checks.iter().flat_map(ids_of).cloned().collect();
        ids.sort_unstable();
        ids.dedup();
        let found = self
            .store
            .users()
            .many_of_account(account_id, ids.clone())
            .await?;
        let mut users: KeptUsers = ids.into_iter().map(|id| (id, None)).collect();
        for mut user in found {
            // Checks never need it; it is not kept in memory.
            user.password_hash = String::new();
            users.insert(user.id.clone(), Some(Arc::new(user)));
        }
        self.rights.put(account_id, version, &users);
        Ok(users)
    }
}
