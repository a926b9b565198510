//! The node-local access word of a stored key (LRU/LFU eviction metadata) is not CRDT
//! state: joins keep it, equality and the encoding ignore it.

use crdt::field::Field;
use crdt::{codec, Bytes, CausalContext, Dot, HlcClock, Key, Value};

fn set_delta(cur: &Key, dot: Dot, clock: &mut HlcClock, val: &[u8]) -> (Key, CausalContext) {
    let field = match cur.visible() {
        Some(Value::Str(f)) => f.clone(),
        _ => Field::<Bytes>::default(),
    };
    let mut ctx = CausalContext::new();
    let d = field.write_delta(dot, clock.now(1_000), val.into(), &mut ctx);
    ctx.insert(dot);
    (Key::from_value(Value::Str(d)), ctx)
}

#[test]
fn joins_keep_the_access_word_and_nothing_else_sees_it() {
    let mut clock = HlcClock::new(1);
    let mut replica_ctx = CausalContext::new();
    let mut k = Key::default();
    k.set_access(7);
    assert_eq!(k.access(), 0, "the empty key has no block to hold a word");

    let (d1, c1) = set_delta(&k, Dot::new(1, 1), &mut clock, b"a");
    assert_eq!(d1.access(), 0, "deltas carry no word");
    k.join_delta(&replica_ctx, &d1, &c1);
    replica_ctx.join(&c1);
    k.set_access(0xdead_beef);

    // A later write (fast path) and an expiry (general path) keep the word.
    let (d2, c2) = set_delta(&k, Dot::new(1, 2), &mut clock, b"b");
    k.join_delta(&replica_ctx, &d2, &c2);
    replica_ctx.join(&c2);
    assert_eq!(k.access(), 0xdead_beef);
    let mut c3 = CausalContext::new();
    let d3 = k.expire_delta(5_000, Dot::new(1, 3), &mut c3);
    c3.insert(Dot::new(1, 3));
    k.join_delta(&replica_ctx, &d3, &c3);
    replica_ctx.join(&c3);
    assert_eq!(k.expire_at(), Some(5_000));
    assert_eq!(k.access(), 0xdead_beef);
    k.gc(&replica_ctx.vv().clone());
    assert_eq!(k.access(), 0xdead_beef);

    // Equality and encoding ignore it.
    let mut other = k.clone();
    other.set_access(1);
    assert_eq!(k, other);
    assert_eq!(codec::encode_key(&k), codec::encode_key(&other));
    let back = codec::decode_key(&codec::encode_key(&k)).unwrap();
    assert_eq!(back, k);
    assert_eq!(back.access(), 0, "decoded keys start untouched");
}
