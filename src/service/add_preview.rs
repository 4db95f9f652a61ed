//! AddUser with validate_only: what adding would do to seats and billing,
//! and why it would be refused, with nothing written and nothing hashed.

use super::rules::Refusal;
use super::seats::{SeatEffect, seat_preview};
use super::users::NewUser;
use super::{UserService, ensure_writable};
use crate::auth::principal::Grant;
use crate::domain::User;
use crate::error::{Error, Reason, Result};
use crate::store::prelude::*;

/// The answer of AddUser with validate_only.
#[derive(Debug, Clone)]
pub struct AddPreview {
    /// As it would be added, rights resolved; its id is empty.
    pub user: User,
    pub seat_effect: SeatEffect,
    pub refusals: Vec<Refusal>,
}

impl UserService {
    /// Reads the account's counts and terms as a real AddUser would see
    /// them now; the same seat rule (`seat_preview`) decides both, so the
    /// preview's charge is the one AddUser would make at this instant.
    pub async fn preview_add_user(&self, grant: &Grant, user: NewUser) -> Result<AddPreview> {
        let account_id = grant.account_id().to_owned();
        let now = self.now();
        let role = user.role;
        let mut row = user.into_user(&account_id, role, String::new(), now);
        row.id = String::new();
        self.store
            .read(async |conn| {
                let account = conn
                    .find_account(&account_id)
                    .await?
                    .ok_or_else(Error::account_not_found)?;
                if let Some(group_id) = &row.group_id
                    && !conn.group_exists(&account_id, group_id).await?
                {
                    return Err(Error::invalid("group_id", "no such group in this account"));
                }
                if let Some(role_id) = &row.access_role_id {
                    row.permissions = conn
                        .find_access_role(&account_id, role_id)
                        .await?
                        .ok_or_else(|| {
                            Error::invalid("access_role_id", "no such access role in this account")
                        })?
                        .permissions;
                }
                let mut refusals = Vec::new();
                if let Err(e) = ensure_writable(&account, now) {
                    refusals.push(Refusal::new("", Reason::TrialExpired, e.message));
                }
                if conn.email_taken(&row.email).await? {
                    refusals.push(Refusal::new(
                        "",
                        Reason::EmailTaken,
                        Error::email_taken().message,
                    ));
                }
                let seat_effect = match seat_preview(&account, &self.prices, now) {
                    Ok((_, effect)) => effect,
                    Err(e) => {
                        refusals.push(Refusal::new("", Reason::SeatLimitReached, e.message));
                        SeatEffect::default()
                    }
                };
                Ok(AddPreview {
                    user: row.clone(),
                    seat_effect,
                    refusals,
                })
            })
            .await
    }
}
