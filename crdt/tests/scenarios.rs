//! One scenario per row of DESIGN.md's behaviour contract that the crate covers, driven the
//! way a server drives the crate: commands become op deltas (tests/common/server.rs), the
//! issuing region applies them, other regions receive them with `Keyspace::apply`, and
//! full resyncs use `Keyspace::merge`. "∥" means the two regions write without having seen
//! each other's write; every scenario checks both delivery orders and a full-state merge.

mod common;

use common::server::{b, s, set, Cmd, Region, VObs};
use crdt::{Hlc, HlcClock};
use std::collections::BTreeMap;

const T0: u64 = 1_700_000_000_000;

/// Two regions that have exchanged `setup` (run at region 1).
fn pair(setup: &[(&str, Cmd)]) -> (Region, Region) {
    let mut r1 = Region::new(1);
    let mut r2 = Region::new(2);
    for (k, c) in setup {
        let op = r1.run(T0, k, c.clone());
        r2.recv(&op);
    }
    (r1, r2)
}

/// Runs `c1` at region 1 (wall `w1`) and `c2` at region 2 (wall `w2`) concurrently, then
/// exchanges them; also checks that a full-state merge agrees. Returns region 1.
fn concurrent(
    setup: &[(&str, Cmd)],
    w1: u64,
    k1: &str,
    c1: Cmd,
    w2: u64,
    k2: &str,
    c2: Cmd,
) -> Region {
    let (mut r1, mut r2) = pair(setup);
    let full1 = r1.ks.clone();
    let full2 = r2.ks.clone();
    let a = r1.run(w1, k1, c1);
    let bop = r2.run(w2, k2, c2);
    r1.recv(&bop);
    r2.recv(&a);
    assert_eq!(r1.ks, r2.ks, "regions diverged");
    // Full resync path: merge states instead of deltas.
    let mut m1 = Region {
        id: 1,
        ks: full1,
        clock: HlcClock::new(1),
    };
    m1.recv(&a);
    let mut m2 = Region {
        id: 2,
        ks: full2,
        clock: HlcClock::new(2),
    };
    m2.recv(&bop);
    m1.ks.merge(&m2.ks);
    assert_eq!(
        m1.ks, r1.ks,
        "full-state merge disagrees with delta delivery"
    );
    r1
}

fn zset(m: &[(&str, f64)]) -> Option<VObs> {
    Some(VObs::ZSet(
        m.iter().map(|(k, v)| (b(k), v.to_bits())).collect(),
    ))
}

fn hash(m: &[(&str, &str)]) -> Option<VObs> {
    Some(VObs::Hash(
        m.iter()
            .map(|(k, v)| (b(k), b(v)))
            .collect::<BTreeMap<_, _>>(),
    ))
}

#[test]
fn sadd_concurrent_srem_add_wins() {
    let r = concurrent(
        &[("k", Cmd::SAdd(vec![b("x")]))],
        T0 + 1,
        "k",
        Cmd::SAdd(vec![b("x")]),
        T0 + 2,
        "k",
        Cmd::SRem(vec![b("x")]),
    );
    assert_eq!(r.get("k"), set(&["x"]));
}

#[test]
fn srem_removes_only_observed_adds() {
    // Region 2 removes x having seen only region 1's first add; region 1's later re-add
    // (unseen by region 2) survives, and y (never seen by region 2) is untouched.
    let (mut r1, mut r2) = pair(&[("k", Cmd::SAdd(vec![b("x")]))]);
    let re_add = r1.run(T0 + 1, "k", Cmd::SAdd(vec![b("x"), b("y")]));
    let rem = r2.run(T0 + 2, "k", Cmd::SRem(vec![b("x")]));
    r1.recv(&rem);
    r2.recv(&re_add);
    assert_eq!(r1.get("k"), set(&["x", "y"]));
    assert_eq!(r1.ks, r2.ks);
    // Sequential remove (observed everything) does remove.
    let rem2 = r2.run(T0 + 3, "k", Cmd::SRem(vec![b("x")]));
    r1.recv(&rem2);
    assert_eq!(r1.get("k"), set(&["y"]));
}

#[test]
fn set_concurrent_set_higher_hlc_wins() {
    let r = concurrent(
        &[],
        T0 + 5,
        "k",
        Cmd::Set(b("one")),
        T0 + 9,
        "k",
        Cmd::Set(b("two")),
    );
    assert_eq!(r.get("k"), s("two"));
    let r = concurrent(
        &[],
        T0 + 9,
        "k",
        Cmd::Set(b("one")),
        T0 + 5,
        "k",
        Cmd::Set(b("two")),
    );
    assert_eq!(r.get("k"), s("one"));
}

#[test]
fn set_concurrent_set_same_ms_breaks_tie_on_region_id() {
    // Same wall millisecond, same logical counter: the higher region id wins, everywhere.
    let r = concurrent(
        &[],
        T0,
        "k",
        Cmd::Set(b("from1")),
        T0,
        "k",
        Cmd::Set(b("from2")),
    );
    assert_eq!(r.get("k"), s("from2"));
}

#[test]
fn set_concurrent_incr_set_value_plus_unobserved_increments() {
    // k = 10 with +5 observed by both; region 1 SETs 100 while region 2 INCRBY 3.
    let r = concurrent(
        &[("k", Cmd::Set(b("10"))), ("k", Cmd::IncrBy(5))],
        T0 + 1,
        "k",
        Cmd::Set(b("100")),
        T0 + 2,
        "k",
        Cmd::IncrBy(3),
    );
    assert_eq!(r.get("k"), s("103"));
}

#[test]
fn incr_concurrent_incr_summed() {
    let r = concurrent(
        &[("k", Cmd::IncrBy(1))],
        T0 + 1,
        "k",
        Cmd::IncrBy(10),
        T0 + 1,
        "k",
        Cmd::IncrBy(-4),
    );
    assert_eq!(r.get("k"), s("7"));
}

#[test]
fn incrbyfloat_concurrent_summed() {
    let r = concurrent(
        &[("k", Cmd::Set(b("1.5")))],
        T0 + 1,
        "k",
        Cmd::IncrByFloat(0.25),
        T0 + 1,
        "k",
        Cmd::IncrByFloat(2.0),
    );
    assert_eq!(r.get("k"), s("3.75"));
    let r = concurrent(
        &[("k", Cmd::IncrBy(2))],
        T0 + 1,
        "k",
        Cmd::IncrByFloat(0.5),
        T0 + 1,
        "k",
        Cmd::IncrBy(3),
    );
    assert_eq!(r.get("k"), s("5.5"));
}

#[test]
fn incr_overflow_is_an_error_not_a_wrap() {
    let mut r = Region::new(1);
    r.run(T0, "k", Cmd::Set(i64::MAX.to_string().into_bytes()));
    assert!(
        r.run(T0 + 1, "k", Cmd::IncrBy(1)).is_none(),
        "INCR past i64::MAX must fail"
    );
    assert_eq!(r.get("k"), s(&i64::MAX.to_string()));
}

#[test]
fn counters_never_lose_increments() {
    // Three regions increment concurrently many times, deliveries interleaved and duplicated.
    let mut rs: Vec<Region> = (1..=3).map(Region::new).collect();
    let mut ops = Vec::new();
    let mut want = 0i64;
    for i in 0..30u64 {
        let r = (i % 3) as usize;
        let by = (i as i64 % 7) - 2;
        want += by;
        // Region clocks skewed by ±30 s and jumping backwards.
        let wall = T0 + 30_000 * r as u64 - (i % 4) * 1_000;
        ops.push(rs[r].run(wall, "c", Cmd::IncrBy(by)));
        // Deliver a random-ish earlier op to another region (duplicates included).
        let j = (i as usize * 7) % ops.len();
        let to = (r + 1) % 3;
        let op = ops[j].clone();
        // Causal delivery: only if its origin's earlier ops are there.
        if let Some(o) = &op {
            if o.dot.seq() == rs[to].ks.applied().get(o.dot.region()) + 1 {
                rs[to].recv(&op);
            }
        }
    }
    for r in rs.iter_mut() {
        for op in &ops {
            if let Some(o) = op {
                if !r.ks.has_applied(o.dot) {
                    r.recv(op);
                }
            }
        }
        assert_eq!(r.get("c"), s(&want.to_string()));
    }
}

#[test]
fn hash_hset_concurrent_hdel_field_survives() {
    let r = concurrent(
        &[("h", Cmd::HSet(vec![(b("f"), b("1")), (b("g"), b("2"))]))],
        T0 + 1,
        "h",
        Cmd::HSet(vec![(b("f"), b("new"))]),
        T0 + 2,
        "h",
        Cmd::HDel(vec![b("f"), b("g")]),
    );
    assert_eq!(r.get("h"), hash(&[("f", "new")]));
}

#[test]
fn hash_hincrby_summed() {
    let r = concurrent(
        &[("h", Cmd::HIncrBy(b("n"), 1))],
        T0 + 1,
        "h",
        Cmd::HIncrBy(b("n"), 5),
        T0 + 1,
        "h",
        Cmd::HIncrBy(b("n"), 7),
    );
    assert_eq!(r.get("h"), hash(&[("n", "13")]));
    // HSET ∥ HINCRBY on a field: HSET's value plus the unobserved increment.
    let r = concurrent(
        &[("h", Cmd::HIncrBy(b("n"), 1))],
        T0 + 1,
        "h",
        Cmd::HSet(vec![(b("n"), b("40"))]),
        T0 + 1,
        "h",
        Cmd::HIncrBy(b("n"), 2),
    );
    assert_eq!(r.get("h"), hash(&[("n", "42")]));
}

#[test]
fn zadd_score_is_lww() {
    let r = concurrent(
        &[("z", Cmd::ZAdd(vec![(1.0, b("m"))]))],
        T0 + 9,
        "z",
        Cmd::ZAdd(vec![(5.0, b("m"))]),
        T0 + 3,
        "z",
        Cmd::ZAdd(vec![(7.0, b("m"))]),
    );
    assert_eq!(r.get("z"), zset(&[("m", 5.0)]));
}

#[test]
fn zincrby_summed() {
    let r = concurrent(
        &[("z", Cmd::ZAdd(vec![(1.0, b("m"))]))],
        T0 + 1,
        "z",
        Cmd::ZIncrBy(2.5, b("m")),
        T0 + 1,
        "z",
        Cmd::ZIncrBy(-0.5, b("m")),
    );
    assert_eq!(r.get("z"), zset(&[("m", 3.0)]));
}

#[test]
fn zrem_concurrent_zincrby_on_4_1_gives_2() {
    let r = concurrent(
        &[("z", Cmd::ZAdd(vec![(4.1, b("m")), (1.0, b("o"))]))],
        T0 + 1,
        "z",
        Cmd::ZRem(vec![b("m")]),
        T0 + 1,
        "z",
        Cmd::ZIncrBy(2.0, b("m")),
    );
    assert_eq!(r.get("z"), zset(&[("m", 2.0), ("o", 1.0)]));
}

#[test]
fn del_concurrent_sadd_keeps_unobserved_add() {
    let r = concurrent(
        &[("k", Cmd::SAdd(vec![b("x")]))],
        T0 + 1,
        "k",
        Cmd::Del,
        T0 + 2,
        "k",
        Cmd::SAdd(vec![b("y")]),
    );
    assert_eq!(r.get("k"), set(&["y"]));
}

#[test]
fn del_removes_only_what_it_observed() {
    // Counter: DEL observed +5; a concurrent +2 survives. String: DEL ∥ SET ⇒ SET survives.
    let r = concurrent(
        &[("c", Cmd::IncrBy(5))],
        T0 + 1,
        "c",
        Cmd::Del,
        T0 + 1,
        "c",
        Cmd::IncrBy(2),
    );
    assert_eq!(r.get("c"), s("2"));
    let r = concurrent(
        &[("k", Cmd::Set(b("a")))],
        T0 + 5,
        "k",
        Cmd::Del,
        T0 + 1,
        "k",
        Cmd::Set(b("b")),
    );
    assert_eq!(r.get("k"), s("b"));
    // Hash: DEL ∥ HSET of a new field keeps only that field.
    let r = concurrent(
        &[("h", Cmd::HSet(vec![(b("f"), b("1"))]))],
        T0 + 1,
        "h",
        Cmd::Del,
        T0 + 1,
        "h",
        Cmd::HSet(vec![(b("g"), b("2"))]),
    );
    assert_eq!(r.get("h"), hash(&[("g", "2")]));
    // Sequential DEL removes everything.
    let (mut r1, mut r2) = pair(&[("k", Cmd::SAdd(vec![b("x"), b("y")]))]);
    let d = r2.run(T0 + 1, "k", Cmd::Del);
    r1.recv(&d);
    assert_eq!(r1.get("k"), None);
}

#[test]
fn type_conflict_higher_creation_hlc_decides() {
    // SET k (later HLC) ∥ SADD k: string wins; and the other way round.
    let r = concurrent(
        &[],
        T0 + 9,
        "k",
        Cmd::Set(b("v")),
        T0 + 1,
        "k",
        Cmd::SAdd(vec![b("x")]),
    );
    assert_eq!(r.get("k"), s("v"));
    let r = concurrent(
        &[],
        T0 + 1,
        "k",
        Cmd::Set(b("v")),
        T0 + 9,
        "k",
        Cmd::SAdd(vec![b("x")]),
    );
    assert_eq!(r.get("k"), set(&["x"]));
    // The winner keeps winning after the loser's region writes more to its own type, and the
    // loser's content stays discarded.
    let r = concurrent(
        &[],
        T0 + 1,
        "k",
        Cmd::HSet(vec![(b("f"), b("1"))]),
        T0 + 9,
        "k",
        Cmd::ZAdd(vec![(1.0, b("m"))]),
    );
    assert_eq!(r.get("k"), zset(&[("m", 1.0)]));
}

#[test]
fn type_conflict_winner_keeps_its_creation_stamp_after_member_writes() {
    // Region 2 creates a set (HLC T0+9, wins over region 1's SET at T0+1) and, before seeing
    // the SET, keeps working on it: SADD x y, SREM x, SADD x again. Those writes observe
    // (and remove) the dots the creating op used; the set's creation HLC must survive them.
    let (mut r1, mut r2) = pair(&[]);
    let a = r1.run(T0 + 1, "k", Cmd::Set(b("v")));
    let c1 = r2.run(T0 + 9, "k", Cmd::SAdd(vec![b("x"), b("y")]));
    let c2 = r2.run(T0 + 10, "k", Cmd::SRem(vec![b("x")]));
    let c3 = r2.run(T0 + 11, "k", Cmd::SAdd(vec![b("y")]));
    r2.recv(&a);
    for op in [&c1, &c2, &c3] {
        r1.recv(op);
    }
    assert_eq!(r1.ks, r2.ks);
    assert_eq!(r1.get("k"), set(&["y"]));
    // Same for a hash whose field written by the creating op is overwritten.
    let (mut r1, mut r2) = pair(&[]);
    let a = r1.run(T0 + 1, "h", Cmd::Set(b("v")));
    let c1 = r2.run(T0 + 9, "h", Cmd::HSet(vec![(b("f"), b("1"))]));
    let c2 = r2.run(T0 + 10, "h", Cmd::HSet(vec![(b("f"), b("2"))]));
    r2.recv(&a);
    r1.recv(&c1);
    r1.recv(&c2);
    assert_eq!(r1.ks, r2.ks);
    assert_eq!(r1.get("h"), hash(&[("f", "2")]));
}

#[test]
fn expire_10_concurrent_expire_100_later_wins() {
    let r = concurrent(
        &[("k", Cmd::Set(b("v")))],
        T0 + 1,
        "k",
        Cmd::ExpireAt(T0 + 10_000),
        T0 + 2,
        "k",
        Cmd::ExpireAt(T0 + 100_000),
    );
    assert_eq!(r.ttl("k"), Some(T0 + 100_000));
    let r = concurrent(
        &[("k", Cmd::Set(b("v")))],
        T0 + 2,
        "k",
        Cmd::ExpireAt(T0 + 100_000),
        T0 + 1,
        "k",
        Cmd::ExpireAt(T0 + 10_000),
    );
    assert_eq!(r.ttl("k"), Some(T0 + 100_000));
}

#[test]
fn persist_concurrent_expire_no_ttl() {
    let setup = [("k", Cmd::Set(b("v"))), ("k", Cmd::ExpireAt(T0 + 50_000))];
    let r = concurrent(
        &setup,
        T0 + 1,
        "k",
        Cmd::Persist,
        T0 + 9,
        "k",
        Cmd::ExpireAt(T0 + 100_000),
    );
    assert_eq!(r.ttl("k"), None);
    assert_eq!(r.get("k"), s("v"));
}

#[test]
fn sequential_expire_100_then_expire_10_gives_10() {
    let (mut r1, mut r2) = pair(&[("k", Cmd::Set(b("v")))]);
    let e1 = r1.run(T0 + 1, "k", Cmd::ExpireAt(T0 + 100_000));
    r2.recv(&e1);
    let e2 = r2.run(T0 + 2, "k", Cmd::ExpireAt(T0 + 10_000));
    r1.recv(&e2);
    assert_eq!(r1.ttl("k"), Some(T0 + 10_000));
    assert_eq!(r1.ks, r2.ks);
    // And a later EXPIRE after PERSIST applies again.
    let p = r1.run(T0 + 3, "k", Cmd::Persist);
    r2.recv(&p);
    assert_eq!(r2.ttl("k"), None);
    let e3 = r2.run(T0 + 4, "k", Cmd::ExpireAt(T0 + 20_000));
    r1.recv(&e3);
    assert_eq!(r1.ttl("k"), Some(T0 + 20_000));
}

#[test]
fn set_clears_observed_ttl_only() {
    // SET without KEEPTTL drops the TTL it saw; a concurrent EXPIRE still applies.
    let r = concurrent(
        &[("k", Cmd::Set(b("v"))), ("k", Cmd::ExpireAt(T0 + 50_000))],
        T0 + 1,
        "k",
        Cmd::Set(b("w")),
        T0 + 2,
        "k",
        Cmd::ExpireAt(T0 + 70_000),
    );
    assert_eq!(r.get("k"), s("w"));
    assert_eq!(r.ttl("k"), Some(T0 + 70_000));
}

#[test]
fn hlc_clock_jumping_backwards_still_orders_causal_writes() {
    // Region 1 writes at T0+10 s; its wall clock then jumps back 10 s and it overwrites.
    // The overwrite observed the first write, so it wins everywhere even at a smaller wall.
    let mut r1 = Region::new(1);
    let mut r2 = Region::new(2);
    let a = r1.run(T0 + 10_000, "k", Cmd::Set(b("first")));
    let bop = r1.run(T0, "k", Cmd::Set(b("second")));
    assert!(bop.as_ref().unwrap().hlc > a.as_ref().unwrap().hlc);
    r2.recv(&bop);
    r2.recv(&a);
    assert_eq!(r2.get("k"), s("second"));
    // A concurrent write from region 2 at T0+5 s loses to region 1's clock (which stayed at
    // T0+10 s): between concurrent writes the HLC decides.
    let mut r3 = Region::new(3);
    let c = r3.run(T0 + 5_000, "k", Cmd::Set(b("concurrent")));
    r2.recv(&c);
    assert_eq!(r2.get("k"), s("second"));
}

#[test]
fn hlc_skew_plus_minus_30s_write_that_observed_orders_after() {
    for skew in [30_000i64, -30_000] {
        // Region 2's wall clock is `skew` ms off region 1's.
        let mut r1 = Region::new(1);
        let mut r2 = Region::new(2);
        let w2 = (T0 as i64 + skew) as u64;
        let a = r2.run(w2, "k", Cmd::Set(b("from2")));
        r1.recv(&a);
        let bop = r1.run(T0, "k", Cmd::Set(b("from1-after-seeing-2")));
        let (ha, hb): (Hlc, Hlc) = (a.as_ref().unwrap().hlc, bop.as_ref().unwrap().hlc);
        assert!(
            hb > ha,
            "skew {skew}: {hb:?} must order after observed {ha:?}"
        );
        r2.recv(&bop);
        assert_eq!(r2.get("k"), s("from1-after-seeing-2"));
        assert_eq!(r1.ks, r2.ks);
        // And the other direction: region 2 observes region 1, then writes.
        let c = r2.run(w2 + 1, "k", Cmd::Set(b("from2-again")));
        r1.recv(&c);
        assert_eq!(r1.get("k"), s("from2-again"));
    }
}

#[test]
fn hlc_truly_concurrent_writes_decided_by_skewed_wall_clock() {
    // Only truly concurrent writes are decided by wall time (skew can only matter there).
    let r = concurrent(
        &[],
        T0 + 30_000,
        "k",
        Cmd::Set(b("ahead")),
        T0,
        "k",
        Cmd::Set(b("behind")),
    );
    assert_eq!(r.get("k"), s("ahead"));
}

// ---------------------------------------------------------------------------------------
// Lists: "concurrent inserts are all kept in one order agreed by every region; an element
// popped concurrently in two regions is removed once (both callers may receive it)".
// ---------------------------------------------------------------------------------------

fn list(vs: &[&str]) -> Option<VObs> {
    Some(VObs::List(vs.iter().map(|v| b(v)).collect()))
}

fn push(head: bool, vs: &[&str]) -> Cmd {
    Cmd::Push(head, vs.iter().map(|v| b(v)).collect())
}

#[test]
fn list_push_order_matches_redis() {
    let mut r = Region::new(1);
    r.run(T0, "k", push(false, &["a", "b"]));
    r.run(T0, "k", push(true, &["x", "y"]));
    r.run(T0, "k", push(false, &["c"]));
    // LPUSH x y pushes x then y at the head: y x a b c.
    assert_eq!(r.get("k"), list(&["y", "x", "a", "b", "c"]));
    r.run(T0, "k", Cmd::LInsert(true, b("a"), b("m")));
    r.run(T0, "k", Cmd::LInsert(false, b("a"), b("n")));
    assert_eq!(r.get("k"), list(&["y", "x", "m", "a", "n", "b", "c"]));
    r.run(T0, "k", Cmd::LSet(-1, b("C")));
    r.run(T0, "k", Cmd::LTrim(1, -2));
    assert_eq!(r.get("k"), list(&["x", "m", "a", "n", "b"]));
    r.run(T0, "k", Cmd::LRem(-1, b("m")));
    r.run(T0, "k", Cmd::Pop(true, 1));
    r.run(T0, "k", Cmd::Pop(false, 1));
    assert_eq!(r.get("k"), list(&["a", "n"]));
    // Popping the rest deletes the key.
    r.run(T0, "k", Cmd::Pop(true, 5));
    assert_eq!(r.get("k"), None);
    assert!(r.ks.get(0, b"k").is_none(), "nothing left behind");
}

#[test]
fn list_concurrent_pushes_all_kept_in_one_order() {
    for (h1, h2) in [(false, false), (true, true), (true, false)] {
        let r = concurrent(
            &[("k", push(false, &["m"]))],
            T0 + 1,
            "k",
            push(h1, &["a1", "a2"]),
            T0 + 2,
            "k",
            push(h2, &["b1", "b2"]),
        );
        let Some(VObs::List(v)) = r.get("k") else {
            panic!("not a list")
        };
        assert_eq!(v.len(), 5, "{v:?}");
        for x in ["m", "a1", "a2", "b1", "b2"] {
            assert!(v.contains(&b(x)), "{x} lost: {v:?}");
        }
        // Each region's own order is kept.
        let pos = |x: &str| v.iter().position(|y| *y == b(x)).unwrap();
        let (m, a1, a2, b1, b2) = (pos("m"), pos("a1"), pos("a2"), pos("b1"), pos("b2"));
        if h1 {
            assert!(a2 < a1 && a1 < m);
        } else {
            assert!(m < a1 && a1 < a2);
        }
        if h2 {
            assert!(b2 < b1 && b1 < m);
        } else {
            assert!(m < b1 && b1 < b2);
        }
    }
}

#[test]
fn list_concurrent_inserts_between_same_neighbours() {
    let r = concurrent(
        &[("k", push(false, &["a", "z"]))],
        T0 + 1,
        "k",
        Cmd::LInsert(false, b("a"), b("one")),
        T0 + 2,
        "k",
        Cmd::LInsert(true, b("z"), b("two")),
    );
    let Some(VObs::List(v)) = r.get("k") else {
        panic!("not a list")
    };
    assert_eq!(v.first(), Some(&b("a")));
    assert_eq!(v.last(), Some(&b("z")));
    assert_eq!(v.len(), 4);
}

#[test]
fn list_concurrent_pop_of_same_element_removes_it_once() {
    let (mut r1, mut r2) = pair(&[("k", push(false, &["a", "b", "c"]))]);
    // Both regions pop the head: both get "a" (at-least-once), only "a" is removed.
    assert_eq!(r1.get("k"), list(&["a", "b", "c"]));
    let p1 = r1.run(T0 + 1, "k", Cmd::Pop(true, 1));
    let p2 = r2.run(T0 + 2, "k", Cmd::Pop(true, 1));
    r1.recv(&p2);
    r2.recv(&p1);
    assert_eq!(r1.get("k"), list(&["b", "c"]));
    assert_eq!(r1.ks, r2.ks);
}

#[test]
fn list_pop_removes_only_observed_elements() {
    // Region 2 trims to nothing having seen only "a"; region 1's concurrent push survives.
    let r = concurrent(
        &[("k", push(false, &["a"]))],
        T0 + 1,
        "k",
        push(false, &["b"]),
        T0 + 2,
        "k",
        Cmd::Pop(true, 1),
    );
    assert_eq!(r.get("k"), list(&["b"]));
    let r = concurrent(
        &[("k", push(false, &["a", "x"]))],
        T0 + 1,
        "k",
        push(true, &["new"]),
        T0 + 2,
        "k",
        Cmd::Del,
    );
    assert_eq!(r.get("k"), list(&["new"]));
    let r = concurrent(
        &[("k", push(false, &["x", "y", "x"]))],
        T0 + 1,
        "k",
        push(false, &["x"]),
        T0 + 2,
        "k",
        Cmd::LRem(0, b("x")),
    );
    assert_eq!(r.get("k"), list(&["y", "x"]));
}

#[test]
fn list_concurrent_lset_keeps_both_values() {
    // LSET is remove + insert (see crdt::list): concurrent LSETs of one element both stay.
    let r = concurrent(
        &[("k", push(false, &["a", "b", "c"]))],
        T0 + 1,
        "k",
        Cmd::LSet(1, b("one")),
        T0 + 2,
        "k",
        Cmd::LSet(1, b("two")),
    );
    assert_eq!(r.get("k"), list(&["a", "one", "two", "c"]));
    // LSET concurrent with a pop of that element: the new value stays.
    let r = concurrent(
        &[("k", push(false, &["a", "b"]))],
        T0 + 1,
        "k",
        Cmd::LSet(0, b("A")),
        T0 + 2,
        "k",
        Cmd::Pop(true, 1),
    );
    assert_eq!(r.get("k"), list(&["A", "b"]));
}

#[test]
fn list_type_conflict_with_set_higher_hlc_wins() {
    let r = concurrent(
        &[],
        T0 + 1,
        "k",
        push(false, &["a"]),
        T0 + 9,
        "k",
        Cmd::SAdd(vec![b("m")]),
    );
    assert_eq!(r.get("k"), set(&["m"]));
}

// ---------------------------------------------------------------------------------------
// HyperLogLog: "register-wise max merge; DEL wins over a concurrent PFADD".
// ---------------------------------------------------------------------------------------

fn pfadd(es: &[&str]) -> Cmd {
    Cmd::PfAdd(es.iter().map(|e| b(e)).collect())
}

fn hll_count(r: &Region, key: &str) -> Option<u64> {
    match r.ks.get(0, key.as_bytes()).and_then(|k| k.visible()) {
        Some(crdt::Value::Hll(c)) => Some(c.data.count()),
        _ => None,
    }
}

#[test]
fn hll_concurrent_pfadds_merge_register_wise() {
    let r = concurrent(
        &[("h", pfadd(&["a", "b"]))],
        T0 + 1,
        "h",
        pfadd(&["c", "d", "e"]),
        T0 + 2,
        "h",
        pfadd(&["f", "g"]),
    );
    assert_eq!(hll_count(&r, "h"), Some(7));
    // Concurrent creations (two epochs) are counted together.
    let r = concurrent(
        &[],
        T0 + 1,
        "h",
        pfadd(&["a", "b"]),
        T0 + 2,
        "h",
        pfadd(&["b", "c"]),
    );
    assert_eq!(hll_count(&r, "h"), Some(3));
}

#[test]
fn hll_del_wins_over_concurrent_pfadd() {
    // DEL in region 1 while region 2 adds to the same HyperLogLog: gone everywhere.
    for (w1, w2) in [(T0 + 1, T0 + 9), (T0 + 9, T0 + 1)] {
        let r = concurrent(
            &[("h", pfadd(&["a", "b"]))],
            w1,
            "h",
            Cmd::Del,
            w2,
            "h",
            pfadd(&["c", "d"]),
        );
        assert_eq!(hll_count(&r, "h"), None);
    }
    // A PFADD that observed the DEL creates a new value.
    let (mut r1, mut r2) = pair(&[("h", pfadd(&["a"]))]);
    let d = r1.run(T0 + 1, "h", Cmd::Del);
    r2.recv(&d);
    let a = r2.run(T0 + 2, "h", pfadd(&["z"]));
    r1.recv(&a);
    assert_eq!(hll_count(&r1, "h"), Some(1));
    assert_eq!(r1.ks, r2.ks);
}

// ---------------------------------------------------------------------------------------
// Streams: "entries from each region keep their own ID space so IDs never collide; union
// merge".
// ---------------------------------------------------------------------------------------

use common::subjects::StreamOp;

fn xadd(v: u8) -> Cmd {
    Cmd::Stream(StreamOp::AddAuto(v))
}

fn stream_ids(r: &Region, key: &str) -> Vec<String> {
    match r.get(key) {
        Some(VObs::Stream(entries, _, _)) => entries.into_iter().map(|e| e.0).collect(),
        other => panic!("not a stream: {other:?}"),
    }
}

#[test]
fn stream_concurrent_xadds_in_the_same_millisecond_are_all_kept() {
    // Same wall-clock millisecond in both regions: distinct IDs (region in the low bits).
    let r = concurrent(
        &[("s", xadd(0))],
        T0 + 1,
        "s",
        xadd(1),
        T0 + 1,
        "s",
        xadd(2),
    );
    let ids = stream_ids(&r, "s");
    assert_eq!(ids.len(), 3, "{ids:?}");
    let seqs: Vec<u64> = ids
        .iter()
        .map(|i| i.split_once('-').unwrap().1.parse().unwrap())
        .collect();
    assert_eq!(
        seqs[1..].iter().map(|s| s & 0xff).collect::<Vec<_>>(),
        vec![1, 2]
    );
    match r.get("s") {
        Some(VObs::Stream(_, _, added)) => assert_eq!(added, 3),
        other => panic!("{other:?}"),
    }
}

#[test]
fn stream_trim_spares_a_concurrent_entry_and_del_spares_an_unseen_one() {
    // Region 2 trims to MAXLEN 0 without having seen region 1's new entry: it survives.
    let r = concurrent(
        &[("s", xadd(0)), ("s", xadd(1))],
        T0 + 5,
        "s",
        xadd(2),
        T0 + 5,
        "s",
        Cmd::Stream(StreamOp::TrimMaxLen(0)),
    );
    let ids = stream_ids(&r, "s");
    assert_eq!(ids.len(), 1, "{ids:?}");
    let seq: u64 = ids[0].split_once('-').unwrap().1.parse().unwrap();
    assert_eq!(seq & 0xff, 1, "region 1's entry survives: {ids:?}");
    // DEL ∥ XADD: the unseen entry survives, the observed ones are gone.
    let r = concurrent(
        &[("s", xadd(0))],
        T0 + 5,
        "s",
        Cmd::Del,
        T0 + 5,
        "s",
        xadd(1),
    );
    assert_eq!(stream_ids(&r, "s").len(), 1);
}
