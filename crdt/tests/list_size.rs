//! Memory per list element, measured with a counting allocator: RPUSH / LPUSH of many
//! small values, applied through `join_delta` as a replica would. Prints the bytes per
//! element and fails when the CRDT metadata (everything but the value bytes and the
//! 16-byte handle every list needs to point at a value) exceeds 32 bytes.

use crdt::context::CausalContext;
use crdt::list::List;
use crdt::Dot;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

struct Counting;
static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as isize, Ordering::SeqCst);
        System.alloc(l)
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size() as isize, Ordering::SeqCst);
        System.dealloc(p, l)
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        LIVE.fetch_add(n as isize - l.size() as isize, Ordering::SeqCst);
        System.realloc(p, l, n)
    }
}

#[global_allocator]
static A: Counting = Counting;

const N: usize = 100_000;
const VALUE: usize = 8;

/// Builds a list of `N` elements, one op each; returns heap bytes per element beyond the
/// value bytes. `mixed`: every tenth op is an LINSERT in the middle; `one_place`: every
/// op after the first two inserts right after the head element (the worst honest
/// pattern: positions get a second and third digit).
fn build(head: bool, mixed: bool, one_place: bool) -> f64 {
    let mut l = List::default();
    let mut ctx = CausalContext::new();
    let before = LIVE.load(Ordering::SeqCst);
    for i in 0..N {
        let dot = Dot::new(1 + (i % 3) as u8, 1 + i as u64 / 3);
        let mut d = List::default();
        let mut dctx = CausalContext::new();
        let v: crdt::Bytes = (i as u64).to_le_bytes()[..VALUE].into();
        if one_place && i >= 2 {
            l.insert_at_into(&mut d, 1, v, dot, &mut dctx).unwrap();
        } else if mixed && i % 10 == 9 {
            l.insert_at_into(&mut d, l.len() / 2, v, dot, &mut dctx)
                .unwrap();
        } else {
            l.push_into(&mut d, head, [v], dot, &mut dctx).unwrap();
        }
        l.join_delta(&ctx, &d, &dctx);
        ctx.join(&dctx);
    }
    assert_eq!(l.len(), N);
    let after = LIVE.load(Ordering::SeqCst);
    // The replica's context (a version vector here) is not the list's: subtract it.
    let ctx_bytes = std::mem::size_of_val(&ctx) as isize;
    drop(ctx);
    let bytes = (after - before - ctx_bytes.min(after - before)) as f64;
    let per = bytes / N as f64 - VALUE as f64;
    drop(l);
    per
}

#[test]
fn metadata_per_element_at_most_32_bytes() {
    for (name, head, mixed) in [
        ("RPUSH", false, false),
        ("LPUSH", true, false),
        ("RPUSH + 10% LINSERT in the middle", false, true),
    ] {
        let per = build(head, mixed, false);
        let handle = std::mem::size_of::<crdt::Bytes>() as f64;
        let meta = per - handle;
        println!(
            "{name}: {per:.1} bytes per element beyond the {VALUE}-byte value \
             ({handle} value handle + {meta:.1} CRDT metadata)"
        );
        assert!(
            meta <= 32.0,
            "{name}: {meta:.1} bytes of metadata per element"
        );
    }
    // Every insert at one place: positions need a second digit (a heap block each), so
    // this pattern costs more, but stays bounded.
    let per = build(false, false, true);
    let meta = per - std::mem::size_of::<crdt::Bytes>() as f64;
    println!("LINSERT always at one place: {meta:.1} bytes of CRDT metadata per element");
    assert!(meta <= 80.0, "{meta:.1} bytes of metadata per element");
}
