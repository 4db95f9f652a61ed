//! The columns of a search copy that are more than a plain vector: the
//! per-block trigram filters, interned values, and times kept as numbers.

use std::collections::HashMap;
use std::hash::Hash;

use chrono::{DateTime, NaiveDateTime};

use super::Unindexable;

/// Users per block of [`TrigramFilters`].
pub(super) const BLOCK: usize = 32;
/// Bits of one block's filter (a power of two): 16 bytes per user. A
/// block's texts hold about 1,500 distinct byte trigrams, which set about
/// 30% of the bits, so a trigram no user of the block has passes the
/// filter about one time in three, and a query of three trigrams one time
/// in thirty.
const FILTER_BITS: usize = 4096;
const FILTER_WORDS: usize = FILTER_BITS / 64;

/// The bit of one byte trigram in a block's filter.
fn trigram_bit(trigram: &[u8]) -> usize {
    let key = u32::from(trigram[0]) | u32::from(trigram[1]) << 8 | u32::from(trigram[2]) << 16;
    // Fibonacci hashing: the top bits of the product.
    (key.wrapping_mul(0x9E37_79B1) >> (32 - FILTER_BITS.trailing_zeros())) as usize
}

/// Per block of [`BLOCK`] users, the set of byte trigrams of their texts
/// as a one-hash Bloom filter: a search skips every block that lacks one
/// of its query's trigrams without reading the block's texts (a text that
/// holds the query holds each of its trigrams).
pub(super) struct TrigramFilters {
    words: Vec<u64>,
}

impl TrigramFilters {
    pub(super) fn with_capacity(users: usize) -> Self {
        Self {
            words: Vec::with_capacity(users.div_ceil(BLOCK) * FILTER_WORDS),
        }
    }

    /// Adds user `u`'s text (users come in order).
    pub(super) fn add(&mut self, u: usize, text: &[u8]) {
        let block = u / BLOCK;
        if self.words.len() < (block + 1) * FILTER_WORDS {
            self.words.resize((block + 1) * FILTER_WORDS, 0);
        }
        let words = &mut self.words[block * FILTER_WORDS..][..FILTER_WORDS];
        for trigram in text.windows(3) {
            let bit = trigram_bit(trigram);
            words[bit / 64] |= 1 << (bit % 64);
        }
    }

    pub(super) fn bytes(&self) -> usize {
        self.words.capacity() * 8
    }

    /// Whether block `block` may hold a text with every bit of `bits`.
    pub(super) fn may_hold(&self, block: usize, bits: &[usize]) -> bool {
        let words = &self.words[block * FILTER_WORDS..][..FILTER_WORDS];
        bits.iter()
            .all(|bit| words[bit / 64] & (1 << (bit % 64)) != 0)
    }
}

/// The distinct filter bits of a query's trigrams (none for a query of
/// fewer than three bytes: every block may hold it).
pub(super) fn query_bits(needle: &[u8]) -> Vec<usize> {
    let mut bits: Vec<usize> = needle.windows(3).map(trigram_bit).collect();
    bits.sort_unstable();
    bits.dedup();
    bits
}

/// Distinct values of one column and each user's code among them.
pub(super) struct Interned<V> {
    values: Vec<V>,
    pub(super) codes: Vec<u32>,
}

impl<V> Interned<V> {
    pub(super) fn with_capacity(users: usize) -> Self {
        Self {
            values: Vec::new(),
            codes: Vec::with_capacity(users),
        }
    }

    /// User `u`'s value.
    pub(super) fn of(&self, u: usize) -> &V {
        &self.values[self.codes[u] as usize]
    }

    /// The code of the value `is` picks (None: no user has it).
    pub(super) fn code_where(&self, is: impl Fn(&V) -> bool) -> Option<u32> {
        self.values
            .iter()
            .position(is)
            .and_then(|at| u32::try_from(at).ok())
    }

    /// Heap bytes held, `extra` giving each value's own.
    pub(super) fn bytes(&self, extra: impl Fn(&V) -> usize) -> usize {
        self.codes.capacity() * 4
            + self.values.capacity() * std::mem::size_of::<V>()
            + self.values.iter().map(extra).sum::<usize>()
    }
}

/// The codes given so far to an [`Interned`] column's values, by key, so
/// that each push is O(1) (needed only while the column is built).
pub(super) struct InternKeys<K> {
    known: HashMap<K, u32>,
}

impl<K: Eq + Hash> InternKeys<K> {
    pub(super) fn new() -> Self {
        Self {
            known: HashMap::new(),
        }
    }

    /// Adds the next user's value, known by `key`, to `column`.
    pub(super) fn push<V>(
        &mut self,
        column: &mut Interned<V>,
        key: K,
        value: impl FnOnce() -> V,
    ) -> Result<(), Unindexable> {
        let code = match self.known.get(&key) {
            Some(code) => *code,
            None => {
                let code =
                    u32::try_from(column.values.len()).map_err(|_| Unindexable::Irregular)?;
                column.values.push(value());
                self.known.insert(key, code);
                code
            }
        };
        column.codes.push(code);
        Ok(())
    }
}

/// A user's version and the times every user has, the times as
/// nanoseconds since 1970: 24 bytes where `NaiveDateTime`s would take 32.
#[derive(Clone, Copy)]
pub(super) struct Stamps {
    pub(super) version: i64,
    pub(super) created_at: i64,
    pub(super) updated_at: i64,
}

/// A time few users have (disabled, tokens cut off), kept only for those
/// who have it: 12 bytes each, none for the others.
#[derive(Default)]
pub(super) struct SparseTimes {
    /// Ascending user positions.
    users: Vec<u32>,
    nanos: Vec<i64>,
}

impl SparseTimes {
    pub(super) fn push(
        &mut self,
        u: usize,
        time: Option<NaiveDateTime>,
    ) -> Result<(), Unindexable> {
        if let Some(time) = time {
            self.users
                .push(u32::try_from(u).map_err(|_| Unindexable::TooManyUsers)?);
            self.nanos.push(nanos(time)?);
        }
        Ok(())
    }

    pub(super) fn of(&self, u: usize) -> Option<NaiveDateTime> {
        let at = self.users.binary_search(&(u as u32)).ok()?;
        Some(time_of(self.nanos[at]))
    }

    pub(super) fn bytes(&self) -> usize {
        self.users.capacity() * 4 + self.nanos.capacity() * 8
    }

    pub(super) fn shrink_to_fit(&mut self) {
        self.users.shrink_to_fit();
        self.nanos.shrink_to_fit();
    }
}

pub(super) fn nanos(time: NaiveDateTime) -> Result<i64, Unindexable> {
    let nanos = time
        .and_utc()
        .timestamp_nanos_opt()
        .ok_or(Unindexable::Irregular)?;
    // Exactly the time again (no leap second lost).
    if time_of(nanos) != time {
        return Err(Unindexable::Irregular);
    }
    Ok(nanos)
}

pub(super) fn time_of(nanos: i64) -> NaiveDateTime {
    DateTime::from_timestamp_nanos(nanos).naive_utc()
}
