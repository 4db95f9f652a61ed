//! Turning a bearer token into a [`Principal`].

use chrono::DateTime;

use crate::auth::{Principal, TokenVerifier};
use crate::error::{Error, Result};
use crate::read;
use crate::store::{Repo, Store};

/// Verifies tokens and, for user tokens, checks the user in the database on
/// every call: it must exist, be active, belong to the token's account, and
/// the token must be issued after the user's last disable (revocation).
#[derive(Clone)]
pub struct Authenticator {
    pub verifier: TokenVerifier,
    pub store: Store,
}

impl Authenticator {
    pub async fn authenticate(&self, authorization: Option<&str>) -> Result<Principal> {
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
            "service" => Ok(Principal::Service {
                name: claims.sub,
                scopes: claims
                    .scope
                    .unwrap_or_default()
                    .split_whitespace()
                    .map(str::to_owned)
                    .collect(),
            }),
            "user" => {
                let account_id = claims
                    .acc
                    .ok_or_else(|| Error::unauthenticated("invalid bearer token"))?;
                let user = read!(self.store, |conn| conn.find_user_by_id(&claims.sub).await)?;
                let revoked = || Error::unauthenticated("bearer token revoked or user not active");
                let user = user.ok_or_else(revoked)?;
                if user.account_id != account_id || user.status != "ACTIVE" {
                    return Err(revoked());
                }
                if let Some(valid_after) = user.tokens_valid_after {
                    let issued = DateTime::from_timestamp(claims.iat, 0)
                        .map(|t| t.naive_utc())
                        .ok_or_else(revoked)?;
                    if issued < valid_after {
                        return Err(revoked());
                    }
                }
                Ok(Principal::User {
                    user_id: user.id,
                    account_id: user.account_id,
                    is_admin: user.role == "ADMIN",
                })
            }
            _ => Err(Error::unauthenticated("invalid bearer token")),
        }
    }
}
