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
///
/// The filters are laid out bit by bit across a group of `lanes` blocks:
/// the word holding filter bit `b` of a group holds that bit of each of the
/// group's blocks, so one load per query bit answers for `lanes` blocks.
/// A copy is filled with one block per group (each block's filter is
/// then its own 512 bytes, as added) and regrouped by 64 when it is
/// finished with at least 64 blocks: a search that finds few users then
/// reads a few words per 2,048 users, where one block at a time it took
/// a cache miss per block (at 100,000 users most of its time).
pub(super) struct TrigramFilters {
    words: Vec<u64>,
    /// Blocks per group: 1 or 64.
    lanes: usize,
    blocks: usize,
}

/// Blocks per group once regrouped: the bits of one `u64`.
const LANES: usize = 64;

impl TrigramFilters {
    pub(super) fn with_capacity(users: usize) -> Self {
        Self {
            words: Vec::with_capacity(users.div_ceil(BLOCK) * FILTER_WORDS),
            lanes: 1,
            blocks: 0,
        }
    }

    /// Adds user `u`'s text (users come in order, before [`Self::regroup`]).
    pub(super) fn add(&mut self, u: usize, text: &[u8]) {
        debug_assert_eq!(self.lanes, 1);
        let block = u / BLOCK;
        if self.blocks <= block {
            self.blocks = block + 1;
            self.words.resize(self.blocks * FILTER_WORDS, 0);
        }
        let words = &mut self.words[block * FILTER_WORDS..][..FILTER_WORDS];
        for trigram in text.windows(3) {
            let bit = trigram_bit(trigram);
            words[bit / 64] |= 1 << (bit % 64);
        }
    }

    /// Lays the filters out by groups of 64 blocks if there are at least
    /// 64 (the last group padded with empty blocks); fewer stay one block
    /// per group, which wastes nothing.
    pub(super) fn regroup(&mut self) {
        if self.lanes != 1 || self.blocks < LANES {
            self.words.shrink_to_fit();
            return;
        }
        let groups = self.blocks.div_ceil(LANES);
        let mut grouped = vec![0u64; groups * FILTER_BITS];
        for (block, words) in self.words.chunks_exact(FILTER_WORDS).enumerate() {
            let (group, lane) = (block / LANES, block % LANES);
            let lanes_of_bit = &mut grouped[group * FILTER_BITS..][..FILTER_BITS];
            for (w, &word) in words.iter().enumerate() {
                let mut rest = word;
                while rest != 0 {
                    let bit = w * 64 + rest.trailing_zeros() as usize;
                    lanes_of_bit[bit] |= 1 << lane;
                    rest &= rest - 1;
                }
            }
        }
        self.words = grouped;
        self.lanes = LANES;
    }

    pub(super) fn bytes(&self) -> usize {
        self.words.capacity() * 8
    }

    /// Blocks per group.
    pub(super) fn lanes(&self) -> usize {
        self.lanes
    }

    /// The blocks of group `group` that may hold a text with every bit of
    /// `bits`, as a mask of lanes (lane `l` is block `group * lanes + l`);
    /// past the last block, none.
    pub(super) fn candidates(&self, group: usize, bits: &[usize]) -> u64 {
        let lane_mask = if self.lanes == 64 {
            u64::MAX
        } else {
            (1 << self.lanes) - 1
        };
        let first = group * self.lanes;
        let present = match self.blocks.saturating_sub(first) {
            n if n >= self.lanes => lane_mask,
            n => (1 << n) - 1,
        };
        bits.iter().fold(present, |mask, &bit| {
            let at = (group * FILTER_BITS + bit) * self.lanes;
            mask & (self.words[at / 64] >> (at % 64))
        })
    }

    /// Whether block `block` may hold a text with every bit of `bits`.
    pub(super) fn may_hold(&self, block: usize, bits: &[usize]) -> bool {
        self.candidates(block / self.lanes, bits) >> (block % self.lanes) & 1 != 0
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
