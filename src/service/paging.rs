//! Opaque page tokens: the last key of a page plus a fingerprint of the
//! filters, so a token cannot be replayed with other filters.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

pub const MAX_PAGE_SIZE: i32 = 1000;

/// Checks `page_size` (0 means `default`).
pub fn page_size(requested: i32, default: i32) -> Result<i64> {
    match requested {
        0 => Ok(i64::from(default)),
        1..=MAX_PAGE_SIZE => Ok(i64::from(requested)),
        _ => Err(Error::invalid(
            "page_size",
            format!("must be between 0 and {MAX_PAGE_SIZE}"),
        )),
    }
}

fn fingerprint(filters: &str) -> String {
    hex::encode(&Sha256::digest(filters.as_bytes())[..8])
}

pub fn encode_token(last_key: &str, filters: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}:{}", fingerprint(filters), last_key))
}

/// Returns the last key of the previous page, or None for the first page.
pub fn decode_token(token: &str, filters: &str) -> Result<Option<String>> {
    if token.is_empty() {
        return Ok(None);
    }
    let bad = || {
        Error::invalid(
            "page_token",
            "not a page token of this listing (filters must stay the same)",
        )
    };
    let raw = URL_SAFE_NO_PAD.decode(token).map_err(|_| bad())?;
    let text = String::from_utf8(raw).map_err(|_| bad())?;
    let (print, key) = text.split_once(':').ok_or_else(bad)?;
    if print != fingerprint(filters) || key.is_empty() {
        return Err(bad());
    }
    Ok(Some(key.to_owned()))
}

/// Trims a page fetched with `limit + 1` rows to `limit` and returns the
/// next page token (empty when this was the last page).
pub fn finish_page<T>(
    rows: &mut Vec<T>,
    limit: i64,
    filters: &str,
    key: impl Fn(&T) -> String,
) -> String {
    if rows.len() as i64 <= limit {
        return String::new();
    }
    rows.truncate(limit as usize);
    rows.last()
        .map(|last| encode_token(&key(last), filters))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_bound_to_filters() {
        let t = encode_token("k42", "status=ACTIVE");
        assert_eq!(
            decode_token(&t, "status=ACTIVE").unwrap().as_deref(),
            Some("k42")
        );
        assert!(decode_token(&t, "status=INACTIVE").is_err());
        assert!(decode_token("%%%", "").is_err());
        assert_eq!(decode_token("", "x").unwrap(), None);
        assert!(page_size(-1, 50).is_err());
        assert!(page_size(1001, 50).is_err());
        assert_eq!(page_size(0, 50).unwrap(), 50);
    }
}
