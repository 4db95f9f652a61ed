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
}
