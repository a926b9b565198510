//! Memory accounting for `maxmemory` and INFO memory.
//!
//! `used_memory` is the number of bytes currently allocated through Rust's
//! global allocator, counted by [`CountingAlloc`] (installed by the `meridian`
//! binary): keys, values, CRDT metadata, client buffers, the replication op log
//! in memory. It does not include RocksDB's own C++ allocations (block cache,
//! memtables), the allocator's fragmentation or thread stacks; INFO shows the
//! process RSS next to it (`used_memory_rss`). Without the counting allocator
//! (library unit tests) the RSS is used instead. The cost is a thread-local
//! add per allocation and free, and a relaxed atomic add per 64 KiB counted.

use std::{
    alloc::{GlobalAlloc, Layout, System},
    cell::Cell,
    sync::atomic::{AtomicIsize, Ordering::Relaxed},
};

/// Live bytes, as flushed by the threads (see [`FLUSH_BYTES`]).
static ALLOCATED: AtomicIsize = AtomicIsize::new(0);

/// A thread adds its allocations and frees to a local counter and moves it to
/// the shared one when it exceeds this many bytes either way, so the shared
/// counter is not a contended cache line on every allocation. The count is
/// therefore exact to within this much per thread.
const FLUSH_BYTES: isize = 64 * 1024;

thread_local! {
    static LOCAL: Cell<isize> = const { Cell::new(0) };
}

fn account(delta: isize) {
    // `try_with`: during thread teardown the local is gone; count directly.
    let flushed = LOCAL.try_with(|l| {
        let v = l.get() + delta;
        if v.abs() >= FLUSH_BYTES {
            l.set(0);
            ALLOCATED.fetch_add(v, Relaxed);
        } else {
            l.set(v);
        }
    });
    if flushed.is_err() {
        ALLOCATED.fetch_add(delta, Relaxed);
    }
}

/// The system allocator, counting live bytes.
pub struct CountingAlloc;

// SAFETY: every call is forwarded unchanged to `System`; the counters are only
// bookkeeping (no allocation happens in them) and never affect the returned memory.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc(layout);
        if !p.is_null() {
            account(layout.size() as isize);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc_zeroed(layout);
        if !p.is_null() {
            account(layout.size() as isize);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout);
        account(-(layout.size() as isize));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = System.realloc(ptr, layout, new_size);
        if !p.is_null() {
            account(new_size as isize - layout.size() as isize);
        }
        p
    }
}

/// Bytes allocated through the counting allocator (0 when it is not installed).
pub fn allocated() -> u64 {
    ALLOCATED.load(Relaxed).max(0) as u64
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
