//! Handing freed memory back to the operating system.
//!
//! The binary allocates with mimalloc (see `main.rs`). mimalloc keeps freed
//! memory for a second before returning it, and only returns it when some
//! thread allocates again: a burst of password hashing (19 MiB per argon2
//! hash) left up to 40 MiB resident on idle blocking threads until the next
//! unrelated allocation, long after the burst.

/// Returns the memory freed so far to the operating system now. Cheap
/// enough to call at the end of a burst of large allocations, not per call.
pub fn release_free_memory() {
    // SAFETY: mi_collect takes no pointers and is safe to call from any
    // thread at any time; it only walks mimalloc's own bookkeeping (and is
    // harmless when mimalloc is not the global allocator, as in tests).
    unsafe { libmimalloc_sys::mi_collect(true) }
}
