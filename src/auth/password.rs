//! argon2id hashing on a bounded blocking pool.
//!
//! Hashing costs ~20 ms of one core and 19 MiB; it runs on tokio's blocking
//! threads, at most `concurrency` at a time (a semaphore), so the async
//! workers keep serving other calls and memory stays bounded.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

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
    /// Hashes running now; the last one of a burst releases their memory.
    running: Arc<AtomicUsize>,
    /// A hash of a random password with the configured parameters:
    /// unknown emails are checked against it, so they cost the same time.
    dummy: Arc<tokio::sync::OnceCell<String>>,
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
            running: Arc::default(),
            dummy: Arc::default(),
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
        self.hash_str(password.expose()).await
    }

    /// [`Self::hash`] of a password that was not parsed (a rehash of a
    /// legacy password that met older rules).
    pub async fn hash_str(&self, password: &str) -> Result<String> {
        let password = secrecy::SecretString::from(password.to_owned());
        let argon2 = self.argon2();
        self.run_blocking(move || {
            use secrecy::ExposeSecret;
            let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
            argon2
                .hash_password(password.expose_secret().as_bytes(), &salt)
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

    /// Spends the time of a real check on a password that cannot match
    /// (for unknown or inactive users). Always false.
    pub async fn verify_dummy(&self, password: &str) -> Result<bool> {
        let dummy = self
            .dummy
            .get_or_try_init(|| async {
                let random = uuid::Uuid::new_v4().simple().to_string();
                let random =
                    Password::parse(&format!("{random}{random}")).map_err(|_| Error::internal())?;
                self.hash(&random).await
            })
            .await?;
        self.verify(password, dummy).await?;
        Ok(false)
    }

    /// Whether a stored hash is weaker than the configured parameters (or
    /// not argon2id v19), so a successful check should store a new one.
    pub fn needs_rehash(&self, phc: &str) -> bool {
        let Ok(parsed) = PasswordHash::new(phc) else {
            return true;
        };
        let Ok(stored) = Params::try_from(&parsed) else {
            return true;
        };
        parsed.algorithm != argon2::ARGON2ID_IDENT
            || parsed.version != Some(Version::V0x13 as u32)
            || stored.m_cost() < self.params.m_cost()
            || stored.t_cost() < self.params.t_cost()
            || stored.p_cost() < self.params.p_cost()
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
        let running = self.running.clone();
        running.fetch_add(1, Ordering::SeqCst);
        let result = tokio::task::spawn_blocking(move || {
            let result = span.in_scope(work);
            // Back-to-back hashes reuse each other's 19 MiB; the last one
            // of a burst hands it all back to the operating system.
            if running.fetch_sub(1, Ordering::SeqCst) == 1 {
                crate::memory::release_free_memory();
            }
            result
        })
        .instrument(tracing::Span::current())
        .await;
        // This call's slot is still held: the gauge counts it out itself.
        metrics::gauge!("roster_password_hashes_in_use")
            .set(self.in_use().saturating_sub(1) as f64);
        result.map_err(|e| {
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

    #[tokio::test]
    async fn hashes_agree_with_the_argon2_crates_own_hasher_and_verifier() {
        use argon2::{PasswordHasher as _, PasswordVerifier as _};
        let hasher = PasswordHasher::new(HashParams::default(), 1).unwrap();
        // Ours, checked by the crate.
        let ours = hasher.hash_str("correct horse 42").await.unwrap();
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(
            argon2::Argon2::default()
                .verify_password(b"correct horse 42", &parsed)
                .is_ok()
        );
        assert!(
            argon2::Argon2::default()
                .verify_password(b"correct horse 43", &parsed)
                .is_err()
        );
        // The crate's, with other algorithms and costs, checked by ours.
        for (algorithm, m, t) in [
            (Algorithm::Argon2i, 8192, 1),
            (Algorithm::Argon2id, 32768, 3),
            (Algorithm::Argon2d, 4096, 2),
        ] {
            let params = Params::new(m, t, 1, Some(24)).unwrap();
            let theirs = Argon2::new(algorithm, Version::V0x13, params)
                .hash_password(
                    b"correct horse 42",
                    &SaltString::generate(&mut argon2::password_hash::rand_core::OsRng),
                )
                .unwrap()
                .to_string();
            assert!(
                hasher.verify("correct horse 42", &theirs).await.unwrap(),
                "{theirs}"
            );
            assert!(
                !hasher.verify("correct horse 4", &theirs).await.unwrap(),
                "{theirs}"
            );
        }
        // A hash cut short, or with no salt, matches nothing.
        let truncated = &ours[..ours.len() - 4];
        assert!(!hasher.verify("correct horse 42", truncated).await.unwrap());
        assert!(
            !hasher
                .verify("correct horse 42", "$argon2id$v=19$m=19456,t=2,p=1")
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn weaker_hashes_need_a_rehash_and_unknown_users_never_match() {
        let weak = PasswordHasher::new(
            HashParams {
                memory_kib: 8192,
                iterations: 1,
                parallelism: 1,
            },
            1,
        )
        .unwrap();
        let strong = PasswordHasher::new(HashParams::default(), 1).unwrap();
        let password = Password::parse("correct horse 42").unwrap();
        let weak_phc = weak.hash(&password).await.unwrap();
        let strong_phc = strong.hash(&password).await.unwrap();
        assert!(strong.needs_rehash(&weak_phc));
        assert!(!strong.needs_rehash(&strong_phc));
        assert!(!weak.needs_rehash(&strong_phc));
        assert!(strong.needs_rehash("$2b$10$notargon"));
        // A weaker stored hash still verifies with the stronger hasher.
        assert!(strong.verify("correct horse 42", &weak_phc).await.unwrap());
        assert!(!strong.verify_dummy("correct horse 42").await.unwrap());
    }
}
