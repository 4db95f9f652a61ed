//! JSON Web Tokens: what Roster accepts and how `roster token` mints them.
//!
//! Accepted algorithms are exactly those a key is configured for (HS256 with
//! the shared secret; RS256/ES256/EdDSA with PEM public keys), so a token
//! can never pick its own verification method.

use jsonwebtoken::{
    Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, decode_header, encode,
};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Clock skew tolerated on `exp`.
const LEEWAY_SECS: u64 = 5;

use crate::error::{Error, Result};

/// Token claims. `kind` is "user" (then `acc` is the user's account) or
/// "service" (then `scope` lists space-separated scopes).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    pub sub: String,
    pub exp: i64,
    pub iat: i64,
    pub jti: String,
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acc: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

/// Verifies bearer tokens.
#[derive(Clone)]
pub struct TokenVerifier {
    keys: Vec<(Algorithm, DecodingKey)>,
    issuer: String,
    audience: String,
    verified: Arc<Mutex<HashMap<String, Arc<Claims>>>>,
}

/// Tokens whose signature was already checked, by their full text (the
/// signature included, so a forged variant never matches). Expiry is still
/// checked on every use, and user tokens are still re-checked against the
/// database by the caller: the cache only skips decoding and the HMAC/
/// signature, about a tenth of a cheap call's CPU time.
const VERIFIED_CACHE_ENTRIES: usize = 10_000;

impl TokenVerifier {
    pub fn new(issuer: &str, audience: &str) -> Self {
        TokenVerifier {
            keys: Vec::new(),
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            verified: Arc::default(),
        }
    }

    pub fn with_hs256_secret(mut self, secret: &[u8]) -> Self {
        self.keys
            .push((Algorithm::HS256, DecodingKey::from_secret(secret)));
        self
    }

    /// Adds a PEM public key (RSA, EC P-256 or Ed25519).
    pub fn with_public_key_pem(mut self, pem: &[u8]) -> anyhow::Result<Self> {
        let key = if let Ok(k) = DecodingKey::from_rsa_pem(pem) {
            (Algorithm::RS256, k)
        } else if let Ok(k) = DecodingKey::from_ec_pem(pem) {
            (Algorithm::ES256, k)
        } else if let Ok(k) = DecodingKey::from_ed_pem(pem) {
            (Algorithm::EdDSA, k)
        } else {
            anyhow::bail!("unsupported public key: expected an RSA, EC P-256 or Ed25519 PEM key");
        };
        self.keys.push(key);
        Ok(self)
    }

    pub fn has_keys(&self) -> bool {
        !self.keys.is_empty()
    }

    /// Checks signature, expiry, issuer and audience. Never says which
    /// check failed beyond "expired" (which the holder can see anyway).
    /// The token's claims once its signature, issuer, audience and expiry
    /// are checked (shared with the cache: no copy per call).
    pub fn verify(&self, token: &str) -> Result<Arc<Claims>> {
        let now = jsonwebtoken::get_current_timestamp() as i64;
        let cached = self
            .verified
            .lock()
            .ok()
            .and_then(|cache| cache.get(token).cloned());
        if let Some(claims) = cached {
            if claims.exp + LEEWAY_SECS as i64 >= now {
                return Ok(claims);
            }
            return Err(Error::unauthenticated("bearer token expired"));
        }
        let claims = Arc::new(self.verify_signature(token)?);
        if let Ok(mut cache) = self.verified.lock() {
            if cache.len() >= VERIFIED_CACHE_ENTRIES {
                cache.clear();
            }
            cache.insert(token.to_owned(), claims.clone());
        }
        Ok(claims)
    }

    fn verify_signature(&self, token: &str) -> Result<Claims> {
        let header =
            decode_header(token).map_err(|_| Error::unauthenticated("malformed bearer token"))?;
        let mut last_error = Error::unauthenticated("invalid bearer token");
        for (algorithm, key) in self.keys.iter().filter(|(a, _)| *a == header.alg) {
            let mut validation = Validation::new(*algorithm);
            validation.set_issuer(&[&self.issuer]);
            validation.set_audience(&[&self.audience]);
            validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
            validation.leeway = LEEWAY_SECS;
            match decode::<Claims>(token, key, &validation) {
                Ok(data) => return Ok(data.claims),
                Err(e) if matches!(e.kind(), jsonwebtoken::errors::ErrorKind::ExpiredSignature) => {
                    last_error = Error::unauthenticated("bearer token expired");
                }
                Err(_) => {}
            }
        }
        Err(last_error)
    }
}

/// Mints HS256 tokens (the CLI, tests, and development).
#[derive(Clone)]
pub struct TokenIssuer {
    key: EncodingKey,
    issuer: String,
    audience: String,
}

impl TokenIssuer {
    pub fn hs256(secret: &[u8], issuer: &str, audience: &str) -> Self {
        TokenIssuer {
            key: EncodingKey::from_secret(secret),
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
        }
    }

    pub fn claims_for_user(
        &self,
        user_id: &str,
        account_id: &str,
        iat: i64,
        ttl_secs: i64,
    ) -> Claims {
        Claims {
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub: user_id.to_owned(),
            exp: iat + ttl_secs,
            iat,
            jti: uuid::Uuid::new_v4().to_string(),
            kind: "user".into(),
            acc: Some(account_id.to_owned()),
            scope: None,
        }
    }

    pub fn claims_for_service(
        &self,
        name: &str,
        scopes: &[&str],
        iat: i64,
        ttl_secs: i64,
    ) -> Claims {
        Claims {
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub: name.to_owned(),
            exp: iat + ttl_secs,
            iat,
            jti: uuid::Uuid::new_v4().to_string(),
            kind: "service".into(),
            acc: None,
            scope: Some(scopes.join(" ")),
        }
    }

    pub fn sign(&self, claims: &Claims) -> anyhow::Result<String> {
        Ok(encode(&Header::new(Algorithm::HS256), claims, &self.key)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> i64 {
        chrono::Utc::now().timestamp()
    }

    #[test]
    fn round_trip_and_rejections() {
        let issuer = TokenIssuer::hs256(b"0123456789abcdef0123456789abcdef", "roster", "roster");
        let verifier = TokenVerifier::new("roster", "roster")
            .with_hs256_secret(b"0123456789abcdef0123456789abcdef");
        let claims = issuer.claims_for_service("billing", &["billing:write"], now(), 60);
        let token = issuer.sign(&claims).unwrap();
        assert_eq!(*verifier.verify(&token).unwrap(), claims);

        let forged = TokenIssuer::hs256(b"another-secret-another-secret-xx", "roster", "roster");
        assert!(verifier.verify(&forged.sign(&claims).unwrap()).is_err());

        let expired = issuer.claims_for_service("billing", &[], now() - 3600, 60);
        let err = verifier
            .verify(&issuer.sign(&expired).unwrap())
            .unwrap_err();
        assert!(err.message.contains("expired"));

        let other_aud =
            TokenIssuer::hs256(b"0123456789abcdef0123456789abcdef", "roster", "elsewhere");
        assert!(
            verifier
                .verify(
                    &other_aud
                        .sign(&other_aud.claims_for_service("x", &[], now(), 60))
                        .unwrap()
                )
                .is_err()
        );
        assert!(verifier.verify("not.a.token").is_err());
    }
}
