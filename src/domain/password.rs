//! Plain-text passwords as they arrive, before hashing.

use secrecy::{ExposeSecret, SecretString};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PasswordError {
    #[error("must be at least {0} characters")]
    TooShort(usize),
    #[error("must be at most {0} characters")]
    TooLong(usize),
    #[error("is too weak: use a mix of letters and digits or symbols, not one repeated character")]
    Weak,
}

/// A password that meets the policy. Its text is never logged or printed
/// (`Debug` is redacted by `SecretString`).
#[derive(Debug, Clone)]
pub struct Password(SecretString);

impl Password {
    pub const MIN_LEN: usize = 12;
    pub const MAX_LEN: usize = 256;

    pub fn parse(raw: &str) -> Result<Self, PasswordError> {
        let chars = raw.chars().count();
        if chars < Self::MIN_LEN {
            return Err(PasswordError::TooShort(Self::MIN_LEN));
        }
        if chars > Self::MAX_LEN {
            return Err(PasswordError::TooLong(Self::MAX_LEN));
        }
        let distinct = {
            let mut seen: Vec<char> = raw.chars().collect();
            seen.sort_unstable();
            seen.dedup();
            seen.len()
        };
        let has_letter = raw.chars().any(char::is_alphabetic);
        let has_other = raw.chars().any(|c| !c.is_alphabetic());
        if distinct < 5 || !(has_letter && has_other) {
            return Err(PasswordError::Weak);
        }
        Ok(Password(SecretString::from(raw.to_owned())))
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

/// Bounds on an imported hash's cost: checking a password runs with the
/// hash's own parameters, so an unbounded one could make one login take
/// gigabytes or minutes.
pub const IMPORTED_HASH_MAX_MEMORY_KIB: u32 = 65_536;
pub const IMPORTED_HASH_MAX_ITERATIONS: u32 = 16;
pub const IMPORTED_HASH_MAX_PARALLELISM: u32 = 4;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ImportedHashError {
    #[error("is not a PHC string ($argon2id$v=19$m=…,t=…,p=…$salt$hash)")]
    Malformed,
    #[error("must be an argon2id hash, version 19")]
    NotArgon2id,
    #[error("must have a salt of at least 8 bytes and a hash of at least 16")]
    TooShort,
    #[error(
        "costs more than a check may: at most m={IMPORTED_HASH_MAX_MEMORY_KIB} KiB, t={IMPORTED_HASH_MAX_ITERATIONS}, p={IMPORTED_HASH_MAX_PARALLELISM}"
    )]
    TooCostly,
}

/// An argon2id PHC string brought from another system (BulkAddUsers), so
/// its users keep their passwords and the import hashes nothing. A hash
/// weaker than the configured parameters is accepted: the first
/// successful sign-in stores a new one.
#[derive(Clone, PartialEq, Eq)]
pub struct ImportedHash(String);

impl std::fmt::Debug for ImportedHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ImportedHash(..)")
    }
}

impl ImportedHash {
    pub fn parse(raw: &str) -> Result<Self, ImportedHashError> {
        let parsed = argon2::PasswordHash::new(raw).map_err(|_| ImportedHashError::Malformed)?;
        if parsed.algorithm != argon2::ARGON2ID_IDENT
            || parsed.version != Some(argon2::Version::V0x13 as u32)
        {
            return Err(ImportedHashError::NotArgon2id);
        }
        let params = argon2::Params::try_from(&parsed).map_err(|_| ImportedHashError::Malformed)?;
        let salt_len = parsed
            .salt
            .map(|salt| {
                let mut buf = [0u8; 64];
                salt.decode_b64(&mut buf).map(<[u8]>::len).unwrap_or(0)
            })
            .unwrap_or(0);
        let hash_len = parsed.hash.map(|h| h.len()).unwrap_or(0);
        if salt_len < 8 || hash_len < 16 {
            return Err(ImportedHashError::TooShort);
        }
        if params.m_cost() > IMPORTED_HASH_MAX_MEMORY_KIB
            || params.t_cost() > IMPORTED_HASH_MAX_ITERATIONS
            || params.p_cost() > IMPORTED_HASH_MAX_PARALLELISM
        {
            return Err(ImportedHashError::TooCostly);
        }
        Ok(ImportedHash(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy() {
        assert!(Password::parse("correct horse 42").is_ok());
        assert_eq!(
            Password::parse("short1").unwrap_err(),
            PasswordError::TooShort(12)
        );
        assert_eq!(
            Password::parse("aaaaaaaaaaaaaaa1").unwrap_err(),
            PasswordError::Weak
        );
        assert_eq!(
            Password::parse("onlylettersinhere").unwrap_err(),
            PasswordError::Weak
        );
        assert_eq!(
            Password::parse(&"ab1".repeat(90)).unwrap_err(),
            PasswordError::TooLong(256)
        );
    }

    #[test]
    fn debug_does_not_leak() {
        let p = Password::parse("correct horse 42").unwrap();
        assert!(!format!("{p:?}").contains("horse"));
    }

    #[test]
    fn imported_hashes() {
        // argon2id, v=19, m=19456, t=2, p=1: made by the argon2 crate.
        let good = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$Hqn7lbnO4hxCaR+UOYn+lDqLHc63UmQRh+BOaGB0ymU";
        assert!(ImportedHash::parse(good).is_ok());
        assert_eq!(
            ImportedHash::parse("secret").unwrap_err(),
            ImportedHashError::Malformed
        );
        assert_eq!(
            ImportedHash::parse(&good.replace("argon2id", "argon2i")).unwrap_err(),
            ImportedHashError::NotArgon2id
        );
        assert_eq!(
            ImportedHash::parse(&good.replace("v=19", "v=16")).unwrap_err(),
            ImportedHashError::NotArgon2id
        );
        assert_eq!(
            ImportedHash::parse(&good.replace("m=19456", "m=4194304")).unwrap_err(),
            ImportedHashError::TooCostly
        );
        assert_eq!(
            ImportedHash::parse(&good.replace("t=2", "t=100")).unwrap_err(),
            ImportedHashError::TooCostly
        );
        assert_eq!(
            ImportedHash::parse(&good.replace("$c2FsdHNhbHRzYWx0$", "$c2FsdA$")).unwrap_err(),
            ImportedHashError::TooShort
        );
        assert!(!format!("{:?}", ImportedHash::parse(good).unwrap()).contains("argon2id"));
    }
}
