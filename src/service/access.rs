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
use crate::error::{Error, Result};

/// The ids a check needs.
fn ids_of(check: &Check) -> impl Iterator<Item = &String> {
    std::iter::once(&check.user_id).chain(check.owner_user_id.as_ref())
}

/// Decides every check from `users`, or None if some id is not among them.
fn decide_from(users: &KeptUsers, checks: &[Check]) -> Option<Vec<Decision>> {
    checks
        .iter()
        .map(|check| {
            let user = users.get(&check.user_id)?.as_deref();
            let owner = match &check.owner_user_id {
                Some(id) => users.get(id)?.as_deref(),
                None => None,
            };
            Some(decide(check, user, owner))
        })
        .collect()
}

impl AccessService {
    /// Decides `checks` in order, reading each user involved once.
    pub async fn check_access(&self, grant: &Grant, checks: &[Check]) -> Result<Vec<Decision>> {
        let account_id = grant.account_id();
        let Some(version) = self.store.users().users_version(account_id).await? else {
            // No such account: nobody in it may do anything.
            return Ok(vec![Decision::UserNotFound; checks.len()]);
        };
        let kept = self
            .rights
            .at(account_id, version)
            .and_then(|kept| decide_from(&kept, checks));
        let source = if kept.is_some() { "kept" } else { "database" };
        metrics::counter!("roster_access_user_reads_total", "source" => source).increment(1);
        if let Some(decisions) = kept {
            return Ok(decisions);
        }
        let users = self.read_users(account_id, version, checks).await?;
        // Every id of `checks` was read.
        decide_from(&users, checks).ok_or_else(Error::internal)
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
