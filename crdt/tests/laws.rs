//! The generic law checker ([`common::check_laws`]) applied to every type: `Field<Bytes>`
//! (strings and counters), `Field<f64>` (scores), `ORSet`, `ORHash`, `ZSet`, `List`, `Hll`, `Stream`, `Key` (the
//! envelope: several slot types, expiry, deletes) and `Keyspace` (via `OpDelta`).
//!
//! Each test runs `MERIDIAN_PROPTEST_CASES` cases (default 2,000) of 3–5 replicas with
//! random ops, skewed and backward-jumping wall clocks, random partial/duplicated/reordered
//! delivery and full-state merges, then full delivery. Failures print the minimal run.

mod common;

use common::subjects::{HyperLogLog, KeyEnv, ScoreField, Seq, Set, Space, StrField, Strm, Zset, C};
use common::{check_laws, config, runs};
use proptest::prelude::*;

const STEPS: usize = 14;

proptest! {
    #![proptest_config(config())]

    #[test]
    fn laws_string_field(run in runs::<C<StrField>>(STEPS)) {
        check_laws::<C<StrField>>(&run)?;
    }

    #[test]
    fn laws_score_field(run in runs::<C<ScoreField>>(STEPS)) {
        check_laws::<C<ScoreField>>(&run)?;
    }

    #[test]
    fn laws_orset(run in runs::<C<Set>>(STEPS)) {
        check_laws::<C<Set>>(&run)?;
    }

    #[test]
    fn laws_orhash(run in runs::<C<common::subjects::Hash>>(STEPS)) {
        check_laws::<C<common::subjects::Hash>>(&run)?;
    }

    #[test]
    fn laws_zset(run in runs::<C<Zset>>(STEPS)) {
        check_laws::<C<Zset>>(&run)?;
    }

    #[test]
    fn laws_list(run in runs::<C<Seq>>(STEPS)) {
        check_laws::<C<Seq>>(&run)?;
    }

    #[test]
    fn laws_hll(run in runs::<C<HyperLogLog>>(STEPS)) {
        check_laws::<C<HyperLogLog>>(&run)?;
    }

    #[test]
    fn laws_stream(run in runs::<C<Strm>>(STEPS)) {
        check_laws::<C<Strm>>(&run)?;
    }

    #[test]
    fn laws_key(run in runs::<C<KeyEnv>>(STEPS)) {
        check_laws::<C<KeyEnv>>(&run)?;
    }

    #[test]
    fn laws_keyspace(run in runs::<Space>(STEPS)) {
        check_laws::<Space>(&run)?;
    }
}
