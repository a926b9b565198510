//! Differential tests against the `crdts` crate where the semantics coincide:
//! - `ORSet` (deltas, keyed `join_delta`) vs `crdts::Orswot` (state merges): random add /
//!   remove histories at 3 replicas with causal delivery (replicas sync by taking every
//!   delta the other has, which is causally closed) give the same membership at every
//!   replica after every step;
//! - the string counter (`Field` increments, read with `string::read`) vs
//!   `crdts::PNCounter`: random increments / decrements with random delivery give the same
//!   total everywhere.

mod common;

use common::config;
use crdt::context::{Causal, CausalContext};
use crdt::field::Field;
use crdt::set::ORSet;
use crdt::string::{self, StrValue};
use crdt::{Bytes, Dot};
use crdts::{CmRDT, CvRDT, Orswot, PNCounter};
use proptest::prelude::*;
use std::collections::BTreeSet;

#[derive(Clone, Debug)]
enum SetStep {
    Add(usize, u8),
    Rem(usize, u8),
    Sync(usize, usize),
}

fn set_steps() -> impl Strategy<Value = Vec<SetStep>> {
    let s = prop_oneof![
        3 => (0..3usize, 0u8..5).prop_map(|(r, m)| SetStep::Add(r, m)),
        2 => (0..3usize, 0u8..5).prop_map(|(r, m)| SetStep::Rem(r, m)),
        2 => (0..3usize, 0..3usize).prop_map(|(a, b)| SetStep::Sync(a, b)),
    ];
    proptest::collection::vec(s, 1..40)
}

struct SetReplica {
    ours: Causal<ORSet>,
    /// Indices of the deltas applied here.
    has: BTreeSet<usize>,
    theirs: Orswot<u8, u8>,
}

fn members(s: &Causal<ORSet>) -> BTreeSet<u8> {
    s.store.members().map(|m| m[0]).collect()
}

#[derive(Clone, Debug)]
enum CtrStep {
    Inc(usize, i64),
    Deliver(usize, usize),
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn orset_matches_orswot(steps in set_steps()) {
        let mut reps: Vec<SetReplica> = (0..3)
            .map(|_| SetReplica { ours: Causal::new(), has: BTreeSet::new(), theirs: Orswot::new() })
            .collect();
        let mut log: Vec<Causal<ORSet>> = Vec::new();
        for step in &steps {
            match *step {
                SetStep::Add(r, m) => {
                    let rep = &mut reps[r];
                    let region = r as u8 + 1;
                    let dot = Dot::new(region, rep.ours.ctx.vv().get(region) + 1);
                    let mut ctx = CausalContext::new();
                    let store = rep.ours.store.add_delta(&[m], dot, &mut ctx);
                    let d = Causal { store, ctx };
                    rep.ours.store.join_delta(&rep.ours.ctx, &d.store, &d.ctx);
                    rep.ours.ctx.join(&d.ctx);
                    log.push(d);
                    rep.has.insert(log.len() - 1);
                    let op = rep.theirs.add(m, rep.theirs.read_ctx().derive_add_ctx(region));
                    rep.theirs.apply(op);
                }
                SetStep::Rem(r, m) => {
                    let rep = &mut reps[r];
                    let mut ctx = CausalContext::new();
                    let store = rep.ours.store.rem_delta(&[m], &mut ctx);
                    let d = Causal { store, ctx };
                    rep.ours.store.join_delta(&rep.ours.ctx, &d.store, &d.ctx);
                    rep.ours.ctx.join(&d.ctx);
                    log.push(d);
                    rep.has.insert(log.len() - 1);
                    let op = rep.theirs.rm(m, rep.theirs.contains(&m).derive_rm_ctx());
                    rep.theirs.apply(op);
                }
                SetStep::Sync(to, from) => {
                    if to == from {
                        continue;
                    }
                    // Ours: the deltas `from` has and `to` lacks, in reverse order (a causal
                    // set, delivered out of order: delta application tolerates it).
                    let missing: Vec<usize> = reps[from].has.difference(&reps[to].has).copied().collect();
                    let other = reps[from].theirs.clone();
                    let rep = &mut reps[to];
                    for i in missing.into_iter().rev() {
                        let d = &log[i];
                        rep.ours.store.join_delta(&rep.ours.ctx, &d.store, &d.ctx);
                        rep.ours.ctx.join(&d.ctx);
                        rep.has.insert(i);
                    }
                    rep.theirs.merge(other);
                }
            }
            for (i, rep) in reps.iter().enumerate() {
                let want: BTreeSet<u8> = rep.theirs.read().val.into_iter().collect();
                prop_assert_eq!(members(&rep.ours), want, "replica {} after {:?}", i, step);
            }
        }
    }

    #[test]
    fn counter_matches_pncounter(
        steps in proptest::collection::vec(prop_oneof![
            3 => (0..3usize, -50i64..50).prop_map(|(r, n)| CtrStep::Inc(r, n)),
            2 => (0..3usize, any::<usize>()).prop_map(|(r, i)| CtrStep::Deliver(r, i)),
        ], 1..40)
    ) {
        let mut ours: Vec<Causal<Field<Bytes>>> = (0..3).map(|_| Causal::new()).collect();
        let mut theirs: Vec<PNCounter<u8>> = (0..3).map(|_| PNCounter::new()).collect();
        let mut log = Vec::new();
        let mut oplog = Vec::new();
        for step in &steps {
            match *step {
                CtrStep::Inc(r, n) => {
                    let region = r as u8 + 1;
                    let dot = Dot::new(region, ours[r].ctx.vv().get(region) + 1);
                    let mut ctx = CausalContext::new();
                    let store = ours[r].store.incr_delta(dot, n, 0.0, &mut ctx);
                    let d = Causal { store, ctx };
                    ours[r].merge(&d);
                    log.push(d);
                    let op = if n >= 0 {
                        theirs[r].inc_many(region, n as u64)
                    } else {
                        theirs[r].dec_many(region, n.unsigned_abs())
                    };
                    theirs[r].apply(op.clone());
                    oplog.push(op);
                }
                CtrStep::Deliver(r, i) => {
                    if !log.is_empty() {
                        // Ours: any delta, any order, duplicates. PNCounter ops are
                        // idempotent max-merges too, so deliver the same op.
                        let i = i % log.len();
                        ours[r].merge(&log[i]);
                        theirs[r].apply(oplog[i].clone());
                    }
                }
            }
        }
        // Full delivery, in reverse order.
        for r in 0..3 {
            for i in (0..log.len()).rev() {
                ours[r].merge(&log[i]);
                theirs[r].apply(oplog[i].clone());
            }
        }
        let want = theirs[0].read().to_string();
        for r in 0..3 {
            prop_assert_eq!(theirs[r].read().to_string(), want.clone());
            let got = match string::read(&ours[r].store) {
                Some(StrValue::Int(i)) => i.to_string(),
                None => "0".to_string(),
                other => format!("{other:?}"),
            };
            prop_assert_eq!(got, want.clone(), "replica {}", r);
        }
    }
}
