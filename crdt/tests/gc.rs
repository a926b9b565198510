//! GC property for every type: for random histories, `gc(stable)` with a version vector
//! every replica has reached (after everything is delivered everywhere) never changes the
//! observable value, and replicas that collect at different times still converge (on the
//! observable value) while further ops happen. See [`common::check_gc`].

mod common;

use common::subjects::{
    Hash, HyperLogLog, KeyEnv, ScoreField, Seq, Set, Space, StrField, Strm, Zset, C,
};
use common::{check_gc, config, runs, Step, Subject};
use proptest::prelude::*;

const STEPS: usize = 12;

/// Phase-2 steps: ops, deliveries, and "catch up then collect" (`Merge`) steps.
fn more<S: Subject>() -> impl Strategy<Value = Vec<Step<S::Op>>> {
    let step = prop_oneof![
        5 => (0..5usize, S::ops(), -3_000i64..5_000).prop_map(|(r, op, dt)| Step::Op { r, op, dt }),
        2 => (0..5usize, any::<usize>()).prop_map(|(r, idx)| Step::Deliver { r, idx }),
        2 => (0..5usize, any::<u64>()).prop_map(|(r, seed)| Step::DeliverSome { r, seed }),
        2 => (0..5usize).prop_map(|to| Step::Merge { to, from: 0 }),
    ];
    proptest::collection::vec(step, 0..STEPS)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn gc_string_field(run in runs::<C<StrField>>(STEPS), more in more::<C<StrField>>()) {
        check_gc::<C<StrField>>(&run, &more)?;
    }

    #[test]
    fn gc_score_field(run in runs::<C<ScoreField>>(STEPS), more in more::<C<ScoreField>>()) {
        check_gc::<C<ScoreField>>(&run, &more)?;
    }

    #[test]
    fn gc_orset(run in runs::<C<Set>>(STEPS), more in more::<C<Set>>()) {
        check_gc::<C<Set>>(&run, &more)?;
    }

    #[test]
    fn gc_orhash(run in runs::<C<Hash>>(STEPS), more in more::<C<Hash>>()) {
        check_gc::<C<Hash>>(&run, &more)?;
    }

    #[test]
    fn gc_zset(run in runs::<C<Zset>>(STEPS), more in more::<C<Zset>>()) {
        check_gc::<C<Zset>>(&run, &more)?;
    }

    #[test]
    fn gc_list(run in runs::<C<Seq>>(STEPS), more in more::<C<Seq>>()) {
        check_gc::<C<Seq>>(&run, &more)?;
    }

    #[test]
    fn gc_hll(run in runs::<C<HyperLogLog>>(STEPS), more in more::<C<HyperLogLog>>()) {
        check_gc::<C<HyperLogLog>>(&run, &more)?;
    }

    #[test]
    fn gc_stream(run in runs::<C<Strm>>(STEPS), more in more::<C<Strm>>()) {
        check_gc::<C<Strm>>(&run, &more)?;
    }

    #[test]
    fn gc_key(run in runs::<C<KeyEnv>>(STEPS), more in more::<C<KeyEnv>>()) {
        check_gc::<C<KeyEnv>>(&run, &more)?;
    }

    #[test]
    fn gc_keyspace(run in runs::<Space>(STEPS), more in more::<Space>()) {
        check_gc::<Space>(&run, &more)?;
    }
}
