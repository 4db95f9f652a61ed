//! argon2id hashing on a bounded blocking pool.
//!
//! Hashing costs ~20 ms of one core and 19 MiB; it runs on tokio's blocking
//! threads, at most `concurrency` at a time (a semaphore), so the async
//! workers keep serving other calls and memory stays bounded.

use std::sync::Arc;

use argon2::password_hash::SaltString;
use argon2::{
    Algorithm, Argon2, Params, PasswordHash, PasswordHasher as _, PasswordVerifier as _, Version,
};
use tokio::sync::Semaphore;
use tracing::Instrument;

use crate::domain::Password;
use crate::error::{Error, Result};

/// argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashParams {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for HashParams {
    /// OWASP's minimum for argon2id: m=19456 KiB, t=2, p=1.
    fn default() -> Self {
        HashParams {
            memory_kib: 19_456,
            iterations: 2,
            parallelism: 1,
        }
    }
}

#[derive(Clone)]
pub struct PasswordHasher {
    params: Params,
    permits: Arc<Semaphore>,
    concurrency: usize,
}

impl PasswordHasher {
    pub fn new(params: HashParams, concurrency: usize) -> anyhow::Result<Self> {
        let params = Params::new(
            params.memory_kib,
            params.iterations,
            params.parallelism,
            None,
        )
        .map_err(|e| anyhow::anyhow!("invalid argon2 parameters: {e}"))?;
        let concurrency = concurrency.max(1);
        Ok(PasswordHasher {
            params,
            permits: Arc::new(Semaphore::new(concurrency)),
            concurrency,
        })
    }

    /// Hashes in use now (for saturation metrics).
    pub fn in_use(&self) -> usize {
        self.concurrency - self.permits.available_permits()
    }

    fn argon2(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }

    /// Returns the PHC string of a fresh salted argon2id hash.
    pub async fn hash(&self, password: &Password) -> Result<String> {
        let password = password.clone();
        let argon2 = self.argon2();
        self.run_blocking(move || {
            let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
            argon2
                .hash_password(password.expose().as_bytes(), &salt)
                .map(|h| h.to_string())
                .map_err(|e| {
                    tracing::error!(error = %e, "argon2 hashing failed");
                    Error::internal()
                })
        })
        .await
    }

    /// Checks a password against a PHC string in constant time.
    pub async fn verify(&self, password: &str, phc: &str) -> Result<bool> {
        let password = secrecy::SecretString::from(password.to_owned());
        let phc = phc.to_owned();
        let argon2 = self.argon2();
        self.run_blocking(move || {
            use secrecy::ExposeSecret;
            let Ok(parsed) = PasswordHash::new(&phc) else {
                return Ok(false);
            };
            Ok(argon2
                .verify_password(password.expose_secret().as_bytes(), &parsed)
                .is_ok())
        })
        .await
    }

    async fn run_blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| Error::internal())?;
        metrics::gauge!("roster_password_hash_slots").set(self.concurrency as f64);
        metrics::gauge!("roster_password_hashes_in_use").set(self.in_use() as f64);
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || span.in_scope(work))
            .instrument(tracing::Span::current())
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "hashing task failed");
                Error::internal()
            })?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_are_argon2id_phc_and_verify() {
        let hasher = PasswordHasher::new(HashParams::default(), 2).unwrap();
        let password = Password::parse("correct horse 42").unwrap();
        let phc = hasher.hash(&password).await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(hasher.verify("correct horse 42", &phc).await.unwrap());
        assert!(!hasher.verify("wrong horse 42", &phc).await.unwrap());
        assert!(
            !hasher
                .verify("correct horse 42", "not-a-hash")
                .await
                .unwrap()
        );
    }
}
