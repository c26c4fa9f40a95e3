//! Gives the heap pages a run has freed back to the operating system.
//!
//! A dedup pass frees large amounts in the middle of the heap at known points (the decoded
//! texts once passages are cut; the neighbour graph once neighbours are found); glibc keeps
//! such pages mapped, so the process's resident memory would stay at its high-water mark and
//! the next stage's allocations would not all reuse them. This module only releases memory;
//! it must not decide when anything is dropped.

/// Returns free heap pages to the OS (glibc's `malloc_trim`; a no-op elsewhere).
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists; it takes no pointers.
    unsafe {
        libc::malloc_trim(0);
    }
}
