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
use crate::domain::User;
use crate::domain::access::{Check, Decision, decide};
use crate::error::Result;

impl AccessService {
    /// Decides `checks` in order, reading each user involved once.
    pub async fn check_access(&self, grant: &Grant, checks: &[Check]) -> Result<Vec<Decision>> {
        let account_id = grant.account_id();
        let mut ids: Vec<String> = checks
            .iter()
            .flat_map(|c| std::iter::once(&c.user_id).chain(c.owner_user_id.as_ref()))
            .cloned()
            .collect();
        ids.sort_unstable();
        ids.dedup();
        let users = match self.store.users().users_version(account_id).await? {
            // No such account: nobody in it may do anything.
            None => KeptUsers::new(),
            Some(version) => match self.rights.get(account_id, version, &ids) {
                Some(kept) => kept,
                None => self.read_users(account_id, version, ids).await?,
            },
        };
        let user = |id: &str| users.get(id).and_then(Option::as_deref);
        Ok(checks
            .iter()
            .map(|check| {
                decide(
                    check,
                    user(&check.user_id),
                    check.owner_user_id.as_deref().and_then(user),
                )
            })
            .collect())
    }

    /// Reads `ids` (all of them, so that one call never mixes users kept
    /// from an earlier read with newer ones) and keeps them under `version`,
    /// read before them.
    async fn read_users(
        &self,
        account_id: &str,
        version: i64,
        ids: Vec<String>,
    ) -> Result<KeptUsers> {
        let found: Vec<Arc<User>> = self
            .store
            .users()
            .many_of_account(account_id, ids.clone())
            .await?
            .into_iter()
            .map(|mut user| {
                // Checks never need it; it is not kept in memory.
                user.password_hash = String::new();
                Arc::new(user)
            })
            .collect();
        self.rights.put(account_id, version, &ids, &found);
        let mut users: KeptUsers = ids.into_iter().map(|id| (id, None)).collect();
        for user in found {
            users.insert(user.id.clone(), Some(user));
        }
        Ok(users)
    }
}
