//! Turning a bearer token into a [`Principal`].

use chrono::DateTime;

use crate::auth::{Principal, TokenVerifier};
use crate::domain::{Role, User};
use crate::error::{Error, Result};
use crate::store::Store;

/// A bearer token whose signature, expiry and audience are verified but whose
/// user, for user tokens, has not been checked against the database yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bearer {
    /// Services are trusted on their token alone.
    Service(Principal),
    /// A user token: [`UserClaims::confirm`] against the user's row decides.
    User(UserClaims),
}

/// What a verified user token claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserClaims {
    pub user_id: String,
    pub account_id: String,
    /// `iat`, seconds since the epoch.
    pub issued_at: i64,
}

impl UserClaims {
    /// The rule behind every user call: the user must exist, be active,
    /// belong to the token's account, and the token must be issued after
    /// the user's last disable or password change (revocation). `row` is
    /// the user's row read in this call, so revocation takes effect at once.
    pub fn confirm(&self, row: Option<&User>) -> Result<Principal> {
        let revoked = || Error::unauthenticated("bearer token revoked or user not active");
        let user = row.filter(|u| u.id == self.user_id).ok_or_else(revoked)?;
        if user.account_id != self.account_id || !user.is_active() {
            return Err(revoked());
        }
        if let Some(valid_after) = user.tokens_valid_after {
            let issued = DateTime::from_timestamp(self.issued_at, 0)
                .map(|t| t.naive_utc())
                .ok_or_else(revoked)?;
            if issued < valid_after {
                return Err(revoked());
            }
        }
        Ok(Principal::User {
            user_id: user.id.clone(),
            account_id: user.account_id.clone(),
            is_admin: user.role == Role::Admin,
        })
    }

    /// [`UserClaims::confirm`] on the user's row read now.
    pub async fn confirm_now(&self, store: &Store) -> Result<Principal> {
        let row = store.users().by_id(&self.user_id).await?;
        self.confirm(row.as_ref())
    }

    /// Whether a call naming `requested` (empty: the caller's own account)
    /// acts on the token's account, so the caller's row can be read in the
    /// same query as the answer.
    pub fn acts_on(&self, requested: &str) -> bool {
        requested.is_empty() || requested == self.account_id
    }
}

/// Verifies tokens and, for user tokens, checks the user in the database on
/// every call (see [`UserClaims::confirm`]).
#[derive(Clone)]
pub struct Authenticator {
    pub verifier: TokenVerifier,
    pub store: Store,
}

impl Authenticator {
    /// Checks the token itself: no database access.
    pub fn bearer(&self, authorization: Option<&str>) -> Result<Bearer> {
        let header = authorization
            .ok_or_else(|| Error::unauthenticated("missing authorization: Bearer <token>"))?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| Error::unauthenticated("authorization must be \"Bearer <token>\""))?;
        let claims = self.verifier.verify(token)?;
        match claims.kind.as_str() {
            "service" => Ok(Bearer::Service(Principal::Service {
                name: claims.sub.clone(),
                scopes: claims
                    .scope
                    .as_deref()
                    .unwrap_or_default()
                    .split_whitespace()
                    .map(str::to_owned)
                    .collect(),
            })),
            "user" => Ok(Bearer::User(UserClaims {
                user_id: claims.sub.clone(),
                account_id: claims
                    .acc
                    .clone()
                    .ok_or_else(|| Error::unauthenticated("invalid bearer token"))?,
                issued_at: claims.iat,
            })),
            _ => Err(Error::unauthenticated("invalid bearer token")),
        }
    }

    /// The caller, with a user token's user read and confirmed.
    pub async fn principal(&self, bearer: Bearer) -> Result<Principal> {
        match bearer {
            Bearer::Service(principal) => Ok(principal),
            Bearer::User(claims) => claims.confirm_now(&self.store).await,
        }
    }

    pub async fn authenticate(&self, authorization: Option<&str>) -> Result<Principal> {
        self.principal(self.bearer(authorization)?).await
    }
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDateTime;

    use super::*;
    use crate::domain::UserStatus;
    use crate::error::Code;

    fn at(secs: i64) -> NaiveDateTime {
        DateTime::from_timestamp(secs, 0)
            .map(|t| t.naive_utc())
            .unwrap_or_default()
    }

    fn claims() -> UserClaims {
        UserClaims {
            user_id: "u1".into(),
            account_id: "a1".into(),
            issued_at: 1_000,
        }
    }

    fn row() -> User {
        User {
            account_id: "a1".into(),
            created_at: at(0),
            updated_at: at(0),
            ..User::example("u1", Role::Admin)
        }
    }

    fn refused(row: Option<&User>) -> bool {
        claims()
            .confirm(row)
            .is_err_and(|e| e.code == Code::Unauthenticated)
    }

    #[test]
    fn an_active_user_of_the_account_is_confirmed() {
        let principal = claims().confirm(Some(&row()));
        assert_eq!(
            principal.ok(),
            Some(Principal::User {
                user_id: "u1".into(),
                account_id: "a1".into(),
                is_admin: true,
            })
        );
        let valid_after = User {
            tokens_valid_after: Some(at(1_000)),
            ..row()
        };
        assert!(claims().confirm(Some(&valid_after)).is_ok());
    }

    #[test]
    fn missing_other_or_inactive_users_and_old_tokens_are_refused() {
        assert!(refused(None));
        let other = User {
            id: "u2".into(),
            ..row()
        };
        assert!(refused(Some(&other)), "another user's row");
        let moved = User {
            account_id: "a2".into(),
            ..row()
        };
        assert!(refused(Some(&moved)), "another account");
        let disabled = User {
            status: UserStatus::Inactive,
            ..row()
        };
        assert!(refused(Some(&disabled)), "disabled");
        let revoked = User {
            tokens_valid_after: Some(at(1_001)),
            ..row()
        };
        assert!(refused(Some(&revoked)), "issued before revocation");
    }

    #[test]
    fn only_the_tokens_own_account_is_served_from_one_query() {
        assert!(claims().acts_on(""));
        assert!(claims().acts_on("a1"));
        assert!(!claims().acts_on("a2"));
    }
}
