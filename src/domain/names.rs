//! Display names, group names and client request ids.

use std::fmt;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TextError {
    #[error("must not be empty")]
    Empty,
    #[error("must be at most {0} characters")]
    TooLong(usize),
    #[error("must not contain control or bidirectional formatting characters")]
    ControlCharacters,
}

/// The first character of `text` that no request field may hold: a control
/// character (C0, DEL, C1) or a bidirectional embedding, override or isolate
/// character (U+202A..U+202E, U+2066..U+2069), which can make text display
/// differently from what it is. Marks such as U+200E/U+200F stay allowed:
/// right-to-left names need them.
pub fn refused_char(text: &str) -> Option<char> {
    // Every request string passes here (a batch of access checks holds
    // hundreds), so clean text is told apart by its bytes alone: in UTF-8
    // each refused character starts with a byte below 0x20, 0x7F (DEL),
    // 0xC2 (C1) or 0xE2 (the bidi controls). Only text holding one of those
    // is decoded.
    if !may_hold_refused(text.as_bytes()) {
        return None;
    }
    text.chars().find(|&c| refused(c))
}

/// Whether some byte could start a refused character. Each 32-byte chunk
/// is folded without branches, which the compiler turns into vector
/// instructions (a per-byte early exit was 6% of a BatchCheckAccess).
fn may_hold_refused(bytes: &[u8]) -> bool {
    bytes.chunks(32).any(|chunk| {
        chunk.iter().fold(0u8, |seen, &b| {
            seen | u8::from(b < 0x20)
                | u8::from(b == 0x7F)
                | u8::from(b == 0xC2)
                | u8::from(b == 0xE2)
        }) != 0
    })
}

fn refused(c: char) -> bool {
    c.is_control()
        || ('\u{202A}'..='\u{202E}').contains(&c)
        || ('\u{2066}'..='\u{2069}').contains(&c)
}

fn parse_text(raw: &str, max: usize) -> Result<String, TextError> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err(TextError::Empty);
    }
    if trimmed.chars().count() > max {
        return Err(TextError::TooLong(max));
    }
    if refused_char(trimmed).is_some() {
        return Err(TextError::ControlCharacters);
    }
    Ok(trimmed.to_owned())
}

/// A user's or account's display name: 1 to 200 characters after trimming.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    pub const MAX_LEN: usize = 200;

    pub fn parse(raw: &str) -> Result<Self, TextError> {
        parse_text(raw, Self::MAX_LEN).map(DisplayName)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A group name: 1 to 100 characters, unique per account ignoring case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupName(String);

impl GroupName {
    pub const MAX_LEN: usize = 100;

    pub fn parse(raw: &str) -> Result<Self, TextError> {
        parse_text(raw, Self::MAX_LEN).map(GroupName)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The key uniqueness is checked on.
    pub fn key(&self) -> String {
        group_name_key(&self.0)
    }
}

/// An access role's name: the same rules as a group's.
pub type RoleName = GroupName;

/// The key a group name's uniqueness is checked on (and groups are listed by).
pub fn group_name_key(name: &str) -> String {
    name.to_lowercase()
}

/// A client-chosen idempotency key: 1 to 128 printable characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(String);

impl RequestId {
    pub const MAX_LEN: usize = 128;

    /// An empty string means "no request id".
    pub fn parse_optional(raw: &str) -> Result<Option<Self>, TextError> {
        if raw.is_empty() {
            return Ok(None);
        }
        if raw.chars().count() > Self::MAX_LEN {
            return Err(TextError::TooLong(Self::MAX_LEN));
        }
        if refused_char(raw).is_some() || raw.chars().any(char::is_whitespace) {
            return Err(TextError::ControlCharacters);
        }
        Ok(Some(RequestId(raw.to_owned())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DisplayName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn the_byte_screen_never_hides_a_refused_character(text in "\\PC*|[\\x00-\\x{9F}\\x{2060}-\\x{2070}\\x{2028}-\\x{2030}a-z]*") {
            prop_assert_eq!(refused_char(&text), text.chars().find(|&c| refused(c)));
        }
    }

    #[test]
    fn every_refused_character_is_found() {
        for c in (0..=0x10FFFF)
            .filter_map(char::from_u32)
            .filter(|&c| refused(c))
        {
            assert_eq!(
                refused_char(&format!("ok {c} ok")),
                Some(c),
                "U+{:04X}",
                u32::from(c)
            );
        }
    }

    #[test]
    fn display_name_bounds() {
        assert_eq!(DisplayName::parse("  Ann  ").unwrap().as_str(), "Ann");
        assert_eq!(DisplayName::parse("   "), Err(TextError::Empty));
        assert!(DisplayName::parse(&"x".repeat(200)).is_ok());
        assert_eq!(
            DisplayName::parse(&"x".repeat(201)),
            Err(TextError::TooLong(200))
        );
        assert_eq!(
            DisplayName::parse("a\u{0}b"),
            Err(TextError::ControlCharacters)
        );
    }

    #[test]
    fn request_id_optional() {
        assert_eq!(RequestId::parse_optional("").unwrap(), None);
        assert!(RequestId::parse_optional("abc-123").unwrap().is_some());
        assert!(RequestId::parse_optional("a b").is_err());
        assert!(RequestId::parse_optional(&"r".repeat(129)).is_err());
    }
}
