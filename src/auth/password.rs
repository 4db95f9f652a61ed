//! argon2id hashing on a bounded pool of threads.
//!
//! Hashing costs ~20 ms of one core and 19 MiB; it runs on at most
//! `concurrency` threads at a time ([`super::hash_pool`]), so the async
//! workers keep serving other calls and memory stays bounded.

use std::sync::Arc;

use argon2::password_hash::{Output, Salt, SaltString};
use argon2::{Algorithm, Argon2, Params, PasswordHash, Version};

use super::hash_pool::{HashPool, Scratch};
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
    pool: Arc<HashPool>,
    /// A hash of a random password with the configured parameters:
    /// unknown emails are checked against it, so they cost the same time.
    dummy: Arc<tokio::sync::OnceCell<String>>,
}

/// The argon2 output of `password` and `salt`, computed in `memory` (grown
/// to the size `argon2` needs, never cleared: the first pass writes every
/// block before any is read).
fn digest(
    argon2: &Argon2<'_>,
    memory: &mut Scratch,
    password: &[u8],
    salt: Salt<'_>,
) -> argon2::password_hash::Result<Output> {
    let params = argon2.params();
    let blocks = memory.blocks(params.block_count()).map_err(|e| {
        tracing::error!(error = %e, "could not map argon2 memory");
        argon2::password_hash::Error::Crypto
    })?;
    let mut salt_bytes = [0u8; 64];
    let salt_bytes = salt.decode_b64(&mut salt_bytes)?;
    let len = params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN);
    Output::init_with(len, |out| {
        Ok(argon2.hash_password_into_with_memory(password, salt_bytes, out, &mut *blocks)?)
    })
}

/// A fresh salted hash of `password` as a PHC string, as
/// `argon2::PasswordHasher::hash_password` writes it.
fn hash_phc(params: &Params, memory: &mut Scratch, password: &[u8]) -> Result<String> {
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    let phc = digest(&argon2, memory, password, salt.as_salt()).and_then(|output| {
        Ok(PasswordHash {
            algorithm: argon2::ARGON2ID_IDENT,
            version: Some(Version::V0x13.into()),
            params: params.try_into()?,
            salt: Some(salt.as_salt()),
            hash: Some(output),
        }
        .to_string())
    });
    phc.map_err(|e| {
        tracing::error!(error = %e, "argon2 hashing failed");
        Error::internal()
    })
}

/// Whether `password` matches the PHC string `phc`, with the algorithm,
/// version and costs `phc` names (as `argon2::PasswordVerifier` checks it;
/// the comparison of outputs is constant-time). A string that is not an
/// argon2 PHC string matches nothing.
fn matches_phc(memory: &mut Scratch, password: &[u8], phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return false;
    };
    let (Ok(algorithm), Ok(version), Ok(params)) = (
        Algorithm::try_from(parsed.algorithm),
        parsed
            .version
            .map_or(Ok(Version::default()), Version::try_from),
        Params::try_from(&parsed),
    ) else {
        return false;
    };
    let argon2 = Argon2::new(algorithm, version, params);
    digest(&argon2, memory, password, salt).is_ok_and(|computed| computed == expected)
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
        Ok(PasswordHasher {
            params,
            pool: HashPool::new(concurrency),
            dummy: Arc::default(),
        })
    }

    /// Hashes in use now (for saturation metrics).
    pub fn in_use(&self) -> usize {
        self.pool.running()
    }

    /// Returns the PHC string of a fresh salted argon2id hash.
    pub async fn hash(&self, password: &Password) -> Result<String> {
        self.hash_str(password.expose()).await
    }

    /// [`Self::hash`] of a password that was not parsed (a rehash of a
    /// legacy password that met older rules).
    pub async fn hash_str(&self, password: &str) -> Result<String> {
        let password = secrecy::SecretString::from(password.to_owned());
        let params = self.params.clone();
        self.pool
            .run(move |memory| {
                use secrecy::ExposeSecret;
                hash_phc(&params, memory, password.expose_secret().as_bytes())
            })
            .await
    }

    /// Checks a password against a PHC string in constant time.
    pub async fn verify(&self, password: &str, phc: &str) -> Result<bool> {
        let password = secrecy::SecretString::from(password.to_owned());
        let phc = phc.to_owned();
        self.pool
            .run(move |memory| {
                use secrecy::ExposeSecret;
                Ok(matches_phc(
                    memory,
                    password.expose_secret().as_bytes(),
                    &phc,
                ))
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
            Argon2::default()
                .verify_password(b"correct horse 42", &parsed)
                .is_ok()
        );
        assert!(
            Argon2::default()
                .verify_password(b"correct horse 43", &parsed)
                .is_err()
        );
        // The crate's, with other algorithms and costs, checked by ours
        // (the runner's memory is reused across sizes).
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
