//! Structural size guard: the in-memory layout of the per-element types decides the
//! metadata cost per key / member / field (see `crdt/benches/crdt_bench.rs` and
//! BENCHMARKS.md). This test measures nothing in time; it fails when a change makes one
//! of these types larger than it is today, so a layout regression is caught in review.
//! Making a type smaller is welcome: lower the bound here in the same change.

use crdt::context::CausalContext;
use crdt::dotset::{DotFun, DotSet};
use crdt::field::{Field, RegEntry};
use crdt::hash::ORHash;
use crdt::key::{Coll, Key, Value};
use crdt::set::ORSet;
use crdt::tiny::Tiny;
use crdt::zset::ZSet;
use crdt::{Bytes, Dot, Hlc, KeyDelta, OpDelta};
use std::mem::size_of;

/// `(name, current size, bound)`; the bound is the smallest size reached so far.
fn sizes() -> Vec<(&'static str, usize, usize)> {
    vec![
        // Packed identifiers: one u64 each.
        ("Dot", size_of::<Dot>(), 8),
        ("Hlc", size_of::<Hlc>(), 8),
        // Per set member (next to the 16-byte boxed member name).
        ("Tiny<Dot>", size_of::<Tiny<Dot>>(), 16),
        ("DotSet", size_of::<DotSet>(), 16),
        // Per string key / hash field / zset member.
        ("RegEntry<Bytes>", size_of::<RegEntry<Bytes>>(), 32),
        ("Field<Bytes>", size_of::<Field<Bytes>>(), 40),
        ("Field<f64>", size_of::<Field<f64>>(), 32),
        ("Value", size_of::<Value>(), 40),
        ("Option<Value>", size_of::<Option<Value>>(), 40),
        ("Key", size_of::<Key>(), 8),
        // Per collection / per key extras.
        ("DotFun<Hlc>", size_of::<DotFun<Hlc>>(), 24),
        ("DotFun<u64>", size_of::<DotFun<u64>>(), 24),
        ("ORSet", size_of::<ORSet>(), 32),
        ("ORHash", size_of::<ORHash>(), 32),
        ("ZSet", size_of::<ZSet>(), 32),
        ("Coll<ORSet>", size_of::<Coll<ORSet>>(), 56),
        ("CausalContext", size_of::<CausalContext>(), 48),
        // Per stream entry: ID 16, dot 8, field block 16.
        ("stream::Entry", size_of::<crdt::stream::Entry>(), 40),
        // Wire structs (not stored per element, but kept from growing silently).
        ("KeyDelta", size_of::<KeyDelta>(), 80),
        ("OpDelta", size_of::<OpDelta>(), 40),
    ]
}

#[test]
fn layout_does_not_grow() {
    let mut grown = Vec::new();
    for (name, now, bound) in sizes() {
        if now > bound {
            grown.push(format!("{name}: {now} bytes (bound {bound})"));
        }
    }
    assert!(
        grown.is_empty(),
        "per-element types grew (memory per key/member goes up; see BENCHMARKS.md):\n{}",
        grown.join("\n")
    );
}

#[test]
fn option_and_value_use_niches() {
    // The key envelope relies on niche optimisation: `Option<Value>` costs no tag word
    // over `Value`, and a string `Value` costs nothing over its `Field`.
    assert_eq!(size_of::<Option<Value>>(), size_of::<Value>());
    assert_eq!(size_of::<Value>(), size_of::<Field<Bytes>>());
    assert_eq!(size_of::<Option<Box<u8>>>(), size_of::<Box<u8>>());
}
