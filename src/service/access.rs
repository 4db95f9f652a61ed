//! Access checks for the CRM's other services: the users involved are read
//! on every call (no cache), so an admin's change is seen by the next check
//! on any replica; the rules are `domain::access::decide`.

use std::collections::HashMap;

use super::AccessService;
use crate::auth::principal::Grant;
use crate::domain::User;
use crate::domain::access::{Check, Decision, decide};
use crate::error::Result;

impl AccessService {
    /// Decides `checks` in order, reading each user involved once.
    pub async fn check_access(&self, grant: &Grant, checks: &[Check]) -> Result<Vec<Decision>> {
        let mut ids: Vec<String> = checks
            .iter()
            .flat_map(|c| std::iter::once(&c.user_id).chain(c.owner_user_id.as_ref()))
            .cloned()
            .collect();
        ids.sort_unstable();
        ids.dedup();
        let users = self
            .store
            .users()
            .many_of_account(grant.account_id(), ids)
            .await?;
        let by_id: HashMap<&str, &User> = users.iter().map(|u| (u.id.as_str(), u)).collect();
        Ok(checks
            .iter()
            .map(|check| {
                let user = by_id.get(check.user_id.as_str()).copied();
                let owner = check
                    .owner_user_id
                    .as_deref()
                    .and_then(|id| by_id.get(id).copied());
                decide(check, user, owner)
            })
            .collect())
    }
}
