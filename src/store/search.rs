//! What the search indexes are asked. ListUsers' text search is a
//! case-insensitive substring match (`LIKE '%text%'` on the lower-cased
//! name and email); an index only narrows the rows the LIKE is tried on,
//! so both backends answer exactly the same.

/// Characters in a trigram: a text shorter than this has none to look up.
const TRIGRAM: usize = 3;

/// Whether `text` has a trigram (3+ characters) for an index to look up.
pub fn has_trigram(text: &str) -> bool {
    text.chars().nth(TRIGRAM - 1).is_some()
}

/// `text` as an FTS5 phrase (`"…"`, inner quotes doubled), or None when it
/// is too short to have a trigram (an FTS5 trigram table finds nothing
/// for it, so the caller must not narrow by it).
pub fn trigram_phrase(text: &str) -> Option<String> {
    if !has_trigram(text) {
        return None;
    }
    let mut phrase = String::with_capacity(text.len() + 2);
    phrase.push('"');
    for c in text.chars() {
        if c == '"' {
            phrase.push('"');
        }
        phrase.push(c);
    }
    phrase.push('"');
    Some(phrase)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_texts_have_no_phrase() {
        assert_eq!(trigram_phrase(""), None);
        assert_eq!(trigram_phrase("ab"), None);
        // Characters, not bytes: two accented letters are four bytes.
        assert_eq!(trigram_phrase("éé"), None);
        assert_eq!(trigram_phrase("éée").as_deref(), Some("\"éée\""));
    }

    #[test]
    fn quotes_are_doubled_and_the_rest_is_literal() {
        assert_eq!(
            trigram_phrase("a\"b%_\\").as_deref(),
            Some("\"a\"\"b%_\\\"")
        );
    }
}
