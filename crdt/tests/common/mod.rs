//! Shared test support for the `crdt` integration tests:
//!
//! - [`server`]: builds key deltas from Redis commands the way a server would (type checks,
//!   creation stamps, hidden-slot cleanup, observed-remove DEL), so scenario and law tests
//!   drive the crate through its public API only.
//! - [`Subject`]: the one generic law checker's view of a CRDT type. Each type supplies an op
//!   generator and "apply op → delta"; [`check_laws`] and [`check_gc`] do the rest.
//! - Observation types: what a Redis client can see (values, TTL), used to compare replicas.

#![allow(dead_code)]

pub mod server;
pub mod subjects;

use crdt::{Hlc, HlcClock, RegionId, VersionVector};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use std::fmt::Debug;

/// Number of proptest cases per law test: `MERIDIAN_PROPTEST_CASES`, default 2,000.
pub fn cases() -> u32 {
    std::env::var("MERIDIAN_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000)
}

/// Proptest config with [`cases`] cases (failures print the minimal case and persist seeds).
pub fn config() -> ProptestConfig {
    ProptestConfig {
        cases: cases(),
        max_shrink_iters: 4_000,
        ..ProptestConfig::default()
    }
}

/// A CRDT type as seen by the generic law checker.
pub trait Subject {
    /// A replica's full state.
    type State: Clone + Debug + PartialEq;
    /// What one op ships.
    type Delta: Clone + Debug;
    /// A generated operation.
    type Op: Clone + Debug + 'static;
    /// What a reader sees.
    type Obs: PartialEq + Debug;

    /// Generator of operations.
    fn ops() -> BoxedStrategy<Self::Op>;
    /// The empty state.
    fn empty() -> Self::State;
    /// The delta of `op` issued at `region` (timestamp `hlc`) against its replica `state`,
    /// or `None` when the command is a no-op (error, nothing to remove...). Dots come from
    /// the replica's own context.
    fn mutate(
        state: &Self::State,
        region: RegionId,
        hlc: Hlc,
        op: &Self::Op,
    ) -> Option<Self::Delta>;
    /// Applies a delta with the keyed fast path (`join_delta`, `Keyspace::apply`).
    fn apply(state: &mut Self::State, d: &Self::Delta);
    /// Applies a delta as a full state with `Causal::merge`; `false` when the subject's
    /// deltas have no full-state form (then the "join_delta == join" law is skipped).
    fn apply_full(state: &mut Self::State, d: &Self::Delta) -> bool;
    /// Full-state merge.
    fn merge(state: &mut Self::State, other: &Self::State);
    /// The observable value.
    fn observe(state: &Self::State) -> Self::Obs;
    /// Garbage collection at causal stability.
    fn gc(state: &mut Self::State, stable: &VersionVector);
    /// The contiguous prefix of applied dots.
    fn applied(state: &Self::State) -> VersionVector;
    /// The op's own dot, when the delta records it (used to skip stale re-deliveries).
    fn op_dot(d: &Self::Delta) -> Option<crdt::Dot>;
    /// Whether deltas must be delivered causally (after everything their issuer had
    /// applied). `Keyspace` ops share one dot across keys and per-key removes, so, as
    /// DESIGN.md's replication section requires, they are delivered causally; the per-type
    /// subjects accept any order.
    const CAUSAL: bool = false;
}

/// One step of a simulated run.
#[derive(Clone, Debug)]
pub enum Step<O> {
    /// Replica `r` runs `op`; its wall clock moves by `dt` ms (may be negative).
    Op { r: usize, op: O, dt: i64 },
    /// Replica `r` receives delta number `idx % issued` (possibly again).
    Deliver { r: usize, idx: usize },
    /// Replica `r` receives a random subset of everything issued so far, shuffled.
    DeliverSome { r: usize, seed: u64 },
    /// Replica `to` merges replica `from`'s full state (full resync).
    Merge { to: usize, from: usize },
}

/// A generated run.
#[derive(Clone, Debug)]
pub struct Run<O> {
    /// Replica count (3..=5).
    pub n: usize,
    /// Per-replica wall-clock skew in ms (±30 s).
    pub skew: Vec<i64>,
    /// The steps.
    pub steps: Vec<Step<O>>,
    /// Seed for final-delivery orders and duplicates.
    pub seed: u64,
}

/// Strategy for runs of `S`'s ops with up to `max_steps` steps.
pub fn runs<S: Subject>(max_steps: usize) -> impl Strategy<Value = Run<S::Op>> {
    (3usize..=5).prop_flat_map(move |n| {
        let step = prop_oneof![
            5 => (0..n, S::ops(), -3_000i64..5_000).prop_map(|(r, op, dt)| Step::Op { r, op, dt }),
            2 => (0..n, any::<usize>()).prop_map(|(r, idx)| Step::Deliver { r, idx }),
            2 => (0..n, any::<u64>()).prop_map(|(r, seed)| Step::DeliverSome { r, seed }),
            1 => (0..n, 0..n).prop_map(|(to, from)| Step::Merge { to, from }),
        ];
        (
            Just(n),
            proptest::collection::vec(-30_000i64..=30_000, n),
            proptest::collection::vec(step, 1..max_steps),
            any::<u64>(),
        )
            .prop_map(|(n, skew, steps, seed)| Run {
                n,
                skew,
                steps,
                seed,
            })
    })
}

/// A simulated replica.
pub struct Replica<S: Subject> {
    /// Region id (1-based).
    pub region: RegionId,
    /// CRDT state.
    pub state: S::State,
    /// HLC.
    pub clock: HlcClock,
    /// Indices of the issued deltas this state contains (own, delivered, merged in).
    pub has: Vec<bool>,
    /// Largest HLC observed (own or remote).
    pub seen: Hlc,
}

/// Every issued delta with its HLC.
pub struct Log<S: Subject> {
    /// `(delta, hlc)` in issue order.
    pub deltas: Vec<(S::Delta, Hlc)>,
    /// What each delta's issuer had applied when issuing it (its causal dependencies).
    pub deps: Vec<VersionVector>,
}

impl<S: Subject> Log<S> {
    fn push(&mut self, d: S::Delta, hlc: Hlc, deps: VersionVector) {
        self.deltas.push((d, hlc));
        self.deps.push(deps);
    }
    /// Whether delta `i` may be applied to `state` now.
    pub fn ready(&self, state: &S::State, i: usize) -> bool {
        !S::CAUSAL || self.causally_ready(state, i)
    }
    /// Whether everything delta `i`'s issuer had applied is applied to `state`.
    pub fn causally_ready(&self, state: &S::State, i: usize) -> bool {
        self.deps[i].leq(&S::applied(state))
    }
}

fn deliver<S: Subject>(
    rep: &mut Replica<S>,
    log: &Log<S>,
    i: usize,
    check_full: bool,
) -> Result<bool, TestCaseError> {
    if !log.ready(&rep.state, i) {
        return Ok(false); // buffered by the replication layer until its dependencies arrive
    }
    let (d, hlc) = &log.deltas[i];
    if check_full {
        let mut full = rep.state.clone();
        if S::apply_full(&mut full, d) {
            let mut fast = rep.state.clone();
            S::apply(&mut fast, d);
            prop_assert_eq!(
                &fast,
                &full,
                "join_delta of a mutator delta must equal the full join"
            );
            rep.state = fast;
        } else {
            S::apply(&mut rep.state, d);
        }
    } else {
        S::apply(&mut rep.state, d);
    }
    rep.clock.observe(*hlc);
    rep.seen = rep.seen.max(*hlc);
    if rep.has.len() <= i {
        rep.has.resize(i + 1, false);
    }
    rep.has[i] = true;
    Ok(true)
}

/// Applies the deltas `idx` in the given order; with causal subjects, deltas whose
/// dependencies are missing wait for a later pass (a causal order consistent with `idx`).
fn deliver_seq<S: Subject>(
    rep: &mut Replica<S>,
    log: &Log<S>,
    idx: Vec<usize>,
) -> Result<(), TestCaseError> {
    let mut pending = idx;
    while !pending.is_empty() {
        let mut left = Vec::new();
        for &i in &pending {
            if !deliver(rep, log, i, false)? {
                left.push(i);
            }
        }
        if left.len() == pending.len() {
            break; // dependencies not in the set: they stay undelivered
        }
        pending = left;
    }
    Ok(())
}

/// State built by applying the deltas `idx` (in the given order, causally delayed where
/// needed) to an empty state.
fn from_deltas<S: Subject>(log: &Log<S>, idx: &[usize]) -> S::State {
    let mut s = S::empty();
    let mut pending = idx.to_vec();
    while !pending.is_empty() {
        let before = pending.len();
        pending.retain(|&i| {
            if log.ready(&s, i) {
                S::apply(&mut s, &log.deltas[i].0);
                false
            } else {
                true
            }
        });
        if pending.len() == before {
            break;
        }
    }
    s
}

fn merged<S: Subject>(a: &S::State, b: &S::State) -> S::State {
    let mut j = a.clone();
    S::merge(&mut j, b);
    j
}

/// Executes the run's steps; returns replicas and the log. Checks on the way: HLC causality
/// (a write orders after everything its replica observed) and `join_delta == join`.
pub fn simulate<S: Subject>(run: &Run<S::Op>) -> Result<(Vec<Replica<S>>, Log<S>), TestCaseError> {
    let mut reps: Vec<Replica<S>> = (0..run.n)
        .map(|i| Replica {
            region: (i + 1) as RegionId,
            state: S::empty(),
            clock: HlcClock::new((i + 1) as RegionId),
            has: Vec::new(),
            seen: Hlc::ZERO,
        })
        .collect();
    let mut log = Log::<S> {
        deltas: Vec::new(),
        deps: Vec::new(),
    };
    let mut wall = vec![1_700_000_000_000i64; run.n];
    for (i, w) in wall.iter_mut().enumerate() {
        *w += run.skew[i];
    }
    for step in &run.steps {
        match step {
            Step::Op { r, op, dt } => {
                wall[*r] += dt;
                let rep = &mut reps[*r];
                let hlc = rep.clock.now(wall[*r] as u64);
                prop_assert!(
                    hlc > rep.seen,
                    "HLC {:?} not after observed {:?}",
                    hlc,
                    rep.seen
                );
                rep.seen = hlc;
                if let Some(d) = S::mutate(&rep.state, rep.region, hlc, op) {
                    log.push(d, hlc, S::applied(&rep.state));
                    let i = log.deltas.len() - 1;
                    prop_assert!(deliver(rep, &log, i, true)?, "own op not applicable");
                }
            }
            Step::Deliver { r, idx } => {
                if !log.deltas.is_empty() {
                    let i = idx % log.deltas.len();
                    deliver(&mut reps[*r], &log, i, true)?;
                }
            }
            Step::DeliverSome { r, seed } => {
                let mut rng = StdRng::seed_from_u64(*seed);
                let mut idx: Vec<usize> = (0..log.deltas.len())
                    .filter(|_| rng.gen_bool(0.5))
                    .collect();
                idx.shuffle(&mut rng);
                deliver_seq(&mut reps[*r], &log, idx)?;
            }
            Step::Merge { to, from } => {
                if to != from {
                    let (src_state, src_has, src_last) = {
                        let f = &reps[*from];
                        (f.state.clone(), f.has.clone(), f.clock.last())
                    };
                    let t = &mut reps[*to];
                    S::merge(&mut t.state, &src_state);
                    t.clock.observe(src_last);
                    t.seen = t.seen.max(src_last);
                    if t.has.len() < src_has.len() {
                        t.has.resize(src_has.len(), false);
                    }
                    for (i, h) in src_has.iter().enumerate() {
                        t.has[i] |= *h;
                    }
                }
            }
        }
    }
    Ok((reps, log))
}

/// Delivers every issued delta to every replica in a shuffled order, with duplicates.
pub fn deliver_all<S: Subject>(
    reps: &mut [Replica<S>],
    log: &Log<S>,
    rng: &mut StdRng,
) -> Result<(), TestCaseError> {
    for rep in reps.iter_mut() {
        let mut idx: Vec<usize> = (0..log.deltas.len()).collect();
        let dups: Vec<usize> = idx.iter().copied().filter(|_| rng.gen_bool(0.2)).collect();
        idx.extend(dups);
        idx.shuffle(rng);
        deliver_seq(rep, log, idx)?;
    }
    Ok(())
}

fn assert_merge_laws<S: Subject>(
    a: &S::State,
    b: &S::State,
    c: &S::State,
) -> Result<(), TestCaseError> {
    let ab = merged::<S>(a, b);
    let ba = merged::<S>(b, a);
    prop_assert_eq!(&ab, &ba, "merge not commutative");
    prop_assert_eq!(
        S::observe(&ab),
        S::observe(&ba),
        "merge not commutative (observed)"
    );
    let ab_c = merged::<S>(&ab, c);
    let bc = merged::<S>(b, c);
    let a_bc = merged::<S>(a, &bc);
    prop_assert_eq!(&ab_c, &a_bc, "merge not associative");
    prop_assert_eq!(
        S::observe(&ab_c),
        S::observe(&a_bc),
        "merge not associative (observed)"
    );
    prop_assert_eq!(&merged::<S>(a, a), a, "merge not idempotent");
    prop_assert_eq!(&merged::<S>(&ab, b), &ab, "merge does not absorb");
    Ok(())
}

/// The generic law checker. On the states the run reaches:
/// 1. merge is commutative, associative, idempotent (and absorbs);
/// 2. every replica's state equals applying exactly the deltas it has seen, in a shuffled
///    order with duplicates, to an empty state (deltas in any order == merged full states);
/// 3. `join_delta` of every delivered mutator delta equals its full join (in `simulate`);
/// 4. after full delivery (shuffled, duplicated) all replicas hold identical states and
///    identical observable values, equal to applying the log in issue order.
pub fn check_laws<S: Subject>(run: &Run<S::Op>) -> Result<(), TestCaseError> {
    let (mut reps, log) = simulate::<S>(run)?;
    let mut rng = StdRng::seed_from_u64(run.seed);
    let n = reps.len();
    // 1. Merge laws on three distinct replica states.
    let pick = |k: usize| (run.seed as usize).wrapping_add(k) % n;
    assert_merge_laws::<S>(
        &reps[pick(0)].state,
        &reps[pick(1)].state,
        &reps[pick(2)].state,
    )?;
    assert_merge_laws::<S>(&reps[0].state, &reps[1].state, &reps[2].state)?;
    // 2. Delta sets in any order with duplicates == the replica's state.
    for rep in &reps {
        let mut idx: Vec<usize> = rep
            .has
            .iter()
            .enumerate()
            .filter(|(_, h)| **h)
            .map(|(i, _)| i)
            .collect();
        let dups: Vec<usize> = idx.iter().copied().filter(|_| rng.gen_bool(0.3)).collect();
        idx.extend(dups);
        idx.shuffle(&mut rng);
        let s = from_deltas(&log, &idx);
        prop_assert_eq!(&s, &rep.state, "deltas in shuffled order != replica state");
        prop_assert_eq!(S::observe(&s), S::observe(&rep.state));
    }
    // 4. Full delivery converges.
    deliver_all(&mut reps, &log, &mut rng)?;
    let reference = from_deltas(&log, &(0..log.deltas.len()).collect::<Vec<_>>());
    let obs = S::observe(&reference);
    for rep in &reps {
        prop_assert_eq!(&rep.state, &reference, "replica {} diverged", rep.region);
        prop_assert_eq!(
            &S::observe(&rep.state),
            &obs,
            "replica {} observes differently",
            rep.region
        );
    }
    Ok(())
}

/// Meet of all replicas' applied version vectors.
pub fn stable_vv<S: Subject>(reps: &[Replica<S>]) -> VersionVector {
    let mut v = S::applied(&reps[0].state);
    for r in &reps[1..] {
        v = v.meet(&S::applied(&r.state));
    }
    v
}

/// GC property. Phase 1: run, deliver everything, GC everywhere with the stable vector:
/// the observable value must not change (nor when a collected state merges with an
/// uncollected one). Phase 2: from there, replicas that did and did not collect run `more`
/// steps; `Merge { to, .. }` steps make replica `to` catch up on everything issued so far
/// (so every write concurrent with a stable dot is applied there) and collect with what is
/// stable at that moment, so replicas collect at different times. Finally everything is
/// delivered and every replica must observe the same value as a replica that never
/// collected.
///
/// Phase 2 delivers causally, as the replication layer does, and skips deltas whose op dot
/// the receiver's applied vector already covers: the replication layer resends only what
/// lies beyond the receiver's version vector (partial resync), so a stable delta never
/// reaches a replica again. (With non-causal delivery "the vector covers the dot" would not
/// imply "the op was applied", so that skip needs causal delivery.)
pub fn check_gc<S: Subject>(run: &Run<S::Op>, more: &[Step<S::Op>]) -> Result<(), TestCaseError> {
    let (mut reps, mut log) = simulate::<S>(run)?;
    let mut rng = StdRng::seed_from_u64(run.seed ^ 0x9e37);
    deliver_all(&mut reps, &log, &mut rng)?;
    let stable = stable_vv(&reps);
    for rep in &reps {
        let mut g = rep.state.clone();
        S::gc(&mut g, &stable);
        prop_assert_eq!(
            S::observe(&g),
            S::observe(&rep.state),
            "gc changed the observable value"
        );
        let m = merged::<S>(&g, &rep.state);
        prop_assert_eq!(
            S::observe(&m),
            S::observe(&rep.state),
            "gc'd ⊔ original changed the value"
        );
        let m = merged::<S>(&rep.state, &g);
        prop_assert_eq!(
            S::observe(&m),
            S::observe(&rep.state),
            "original ⊔ gc'd changed the value"
        );
    }
    let n = reps.len();
    let first = log.deltas.len();
    let mut shadow = reps[0].state.clone();
    for rep in reps.iter_mut() {
        if rng.gen_bool(0.5) {
            S::gc(&mut rep.state, &stable);
        }
    }
    // Receives delta `i` unless stale; `false` when it must wait for its dependencies.
    fn recv<S: Subject>(rep: &mut Replica<S>, log: &Log<S>, i: usize) -> bool {
        let (d, hlc) = &log.deltas[i];
        let stale = S::op_dot(d).is_some_and(|dot| S::applied(&rep.state).contains(dot));
        if !stale {
            if !log.causally_ready(&rep.state, i) {
                return false;
            }
            S::apply(&mut rep.state, d);
        }
        rep.clock.observe(*hlc);
        true
    }
    fn recv_all<S: Subject>(rep: &mut Replica<S>, log: &Log<S>, mut idx: Vec<usize>) {
        while !idx.is_empty() {
            let before = idx.len();
            idx.retain(|&i| !recv(rep, log, i));
            if idx.len() == before {
                break;
            }
        }
    }
    let mut wall = vec![1_800_000_000_000i64; n];
    for step in more {
        match step {
            Step::Op { r, op, dt } => {
                let r = r % n;
                wall[r] += dt;
                let rep = &mut reps[r];
                let hlc = rep.clock.now(wall[r] as u64);
                if let Some(d) = S::mutate(&rep.state, rep.region, hlc, op) {
                    let deps = S::applied(&rep.state);
                    S::apply(&mut rep.state, &d);
                    log.push(d, hlc, deps);
                }
            }
            Step::Deliver { r, idx } => {
                if log.deltas.len() > first {
                    let i = first + idx % (log.deltas.len() - first);
                    recv(&mut reps[r % n], &log, i);
                }
            }
            Step::DeliverSome { r, seed } => {
                let mut rr = StdRng::seed_from_u64(*seed);
                let idx: Vec<usize> = (first..log.deltas.len())
                    .filter(|_| rr.gen_bool(0.5))
                    .collect();
                recv_all(&mut reps[r % n], &log, idx);
            }
            Step::Merge { to, .. } => {
                let to = to % n;
                recv_all(&mut reps[to], &log, (0..log.deltas.len()).collect());
                let st = stable_vv(&reps);
                S::gc(&mut reps[to].state, &st);
            }
        }
    }
    for (d, _) in &log.deltas[first..] {
        S::apply(&mut shadow, d);
    }
    let want = S::observe(&shadow);
    for rep in reps.iter_mut() {
        let mut idx: Vec<usize> = (first..log.deltas.len()).collect();
        idx.shuffle(&mut rng);
        recv_all(rep, &log, idx);
        prop_assert_eq!(
            &S::observe(&rep.state),
            &want,
            "replica {} diverged after gc",
            rep.region
        );
    }
    Ok(())
}
