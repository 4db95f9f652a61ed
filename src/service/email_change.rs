//! ChangeUserEmail: a new address, unique across accounts, and the end of
//! every token issued to the user before the change.

use super::{UserService, ensure_writable, locked_account};
use crate::auth::principal::Grant;
use crate::domain::{Email, EventType, NewEvent, User};
use crate::error::{Error, Result};
use crate::store::Insert;
use crate::store::prelude::*;

impl UserService {
    pub async fn change_user_email(
        &self,
        grant: &Grant,
        user_id: &str,
        etag: &str,
        email: Email,
    ) -> Result<User> {
        let account_id = grant.account_id().to_owned();
        let actor = grant.actor();
        let now = self.now();
        self.store
            .write(async |conn| {
                let account = locked_account(conn, &account_id).await?;
                let user = conn
                    .find_user(&account_id, user_id)
                    .await?
                    .ok_or_else(Error::user_not_found)?;
                ensure_writable(&account, now)?;
                if user.etag() != etag {
                    return Err(Error::etag_mismatch("user"));
                }
                if user.email == email.as_str() {
                    return Ok(user);
                }
                let changed = User {
                    email: email.as_str().to_owned(),
                    // Whoever held a token for the old identity must sign in again.
                    tokens_valid_after: Some(now),
                    version: user.version + 1,
                    updated_at: now,
                    ..user
                };
                // The unique index decides between two racing changes to one address.
                if conn.email_taken(&changed.email).await?
                    || conn.set_user_email(&changed).await? == Insert::Duplicate
                {
                    return Err(Error::email_taken());
                }
                conn.append_event(
                    &account_id,
                    NewEvent {
                        user_id: Some(changed.id.clone()),
                        ..NewEvent::new(EventType::UserEmailChanged, &actor)
                    },
                    now,
                )
                .await?;
                Ok::<_, Error>(changed)
            })
            .await
    }
}
