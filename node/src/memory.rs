//! Memory accounting for `maxmemory` and INFO memory.
//!
//! `used_memory` is the number of bytes currently allocated through Rust's
//! global allocator, counted by [`CountingAlloc`] (installed by the `meridian`
//! binary): keys, values, CRDT metadata, client buffers, the replication op log
//! in memory. It does not include RocksDB's own C++ allocations (block cache,
//! memtables), the allocator's fragmentation or thread stacks; INFO shows the
//! process RSS next to it (`used_memory_rss`). Without the counting allocator
//! (library unit tests) the RSS is used instead. The cost is one relaxed
//! atomic add or subtract per allocation and free.

use std::{
    alloc::{GlobalAlloc, Layout, System},
    sync::atomic::{AtomicUsize, Ordering::Relaxed},
};

static ALLOCATED: AtomicUsize = AtomicUsize::new(0);

/// The system allocator, counting live bytes.
pub struct CountingAlloc;

// SAFETY: every call is forwarded unchanged to `System`; the counter is only
// bookkeeping and never affects the returned memory.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc(layout);
        if !p.is_null() {
            ALLOCATED.fetch_add(layout.size(), Relaxed);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc_zeroed(layout);
        if !p.is_null() {
            ALLOCATED.fetch_add(layout.size(), Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout);
        ALLOCATED.fetch_sub(layout.size(), Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = System.realloc(ptr, layout, new_size);
        if !p.is_null() {
            if new_size >= layout.size() {
                ALLOCATED.fetch_add(new_size - layout.size(), Relaxed);
            } else {
                ALLOCATED.fetch_sub(layout.size() - new_size, Relaxed);
            }
        }
        p
    }
}

/// Bytes allocated through the counting allocator (0 when it is not installed).
pub fn allocated() -> u64 {
    ALLOCATED.load(Relaxed) as u64
}

/// (resident, peak resident) bytes of the process from /proc; zeros elsewhere.
pub fn process_memory() -> (u64, u64) {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return (0, 0);
    };
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// The memory `maxmemory` is compared with: the allocator's count, or the RSS
/// when the counting allocator is not installed.
pub fn used_memory() -> u64 {
    match allocated() {
        0 => process_memory().0,
        n => n,
    }
}

/// Whether memory is over a `maxmemory` limit (0 = no limit).
pub fn over_limit(maxmemory: u64) -> bool {
    maxmemory > 0 && used_memory() > maxmemory
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_rules() {
        assert!(!over_limit(0));
        assert!(over_limit(1), "a process uses more than one byte");
        assert!(!over_limit(u64::MAX));
    }
}
