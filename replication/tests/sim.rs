//! Deterministic simulation of the replication core (no sockets, no threads, no clock).
//!
//! `sim_seeds` runs `MERIDIAN_SIM_SEEDS` (default 1,000) seeded chaos runs of 3–5 regions:
//! random workloads over every value type, latency/jitter, loss (= link failure on an
//! ordered stream), duplicated batches, stale messages of earlier connections, two-way and
//! one-way partitions, crashes with and without durable state, skewed clocks. After
//! healing, every region must hold the identical keyspace, observe identical values, have
//! applied every op of every origin that survived, log only ops as issued, and have done
//! full resyncs only when some log was trimmed by its bounds or a region lost its history.
//!
//! A failing seed prints the command that replays it:
//! `MERIDIAN_SIM_SEED=<seed> cargo test -p meridian-replication --profile ci --test sim -- replay --nocapture`
//! (add `MERIDIAN_SIM_TRACE=1` for a message trace).
//!
//! In about a quarter of the seeds (drawn from a separate generator, so the other seeds
//! run exactly as before) the last region is stopped, removed from the cluster at run
//! time once every other region applied the same ops of it (the documented procedure),
//! left out for a while, then added back and restarted (from its durable image or
//! empty): membership changes meet the same faults.
//!
//! The targeted tests below script one scenario each.
//!
//! Known open failures, as of this writing: none in seeds 0..30,000 (swept with
//! `MERIDIAN_SIM_SEEDS=30000`). A known weakness that the sweep no longer hits:
//! - keyspace states differed — seed 19722 before membership changes entered the
//!   simulator (which shifted its timing). A region without persistence crashed while
//!   sending a snapshot; the chunks some regions had merged held effects of its last ops
//!   (11 of them), which no region ever applied. Its new incarnation adopts those
//!   sequence numbers (`adopt_orphans`: without that, every region refused writes
//!   forever) and every region then sends its full state to every peer (`Msg::Adopted`),
//!   which makes observed-remove effects converge. A counter increment among the
//!   orphans does not: a region whose context already covers the adopted dot refuses
//!   the entry while the region holding it keeps it. Converging here needs the holders'
//!   states exchanged before the adopted context is merged anywhere, or a region that
//!   holds orphaned effects rebuilding its state from a peer.
//!   (Seed 8447, a metadata-only difference listed here before, passes since the
//!   snapshot-abort change altered its timing; the underlying cause — a hidden sorted-set
//!   slot holding only counter floors — was not fixed directly.)

#[path = "../../crdt/tests/common/server.rs"]
#[allow(dead_code)]
mod server;
mod sim {
    pub mod harness;
}

use crdt::{RegionId, VersionVector};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use replication::core::{Config, Event, LinkState, TrimReason};
use replication::msg::{LogEntry, Msg};
use server::Cmd;
use sim::harness::{random_op, CfgFn, World};

fn seeds() -> u64 {
    std::env::var("MERIDIAN_SIM_SEEDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000)
}

/// Knobs drawn from a seed.
fn chaos_cfg(rng: &mut StdRng) -> (CfgFn, bool) {
    let persistence = rng.gen_bool(0.6);
    let small_log = rng.gen_bool(0.3);
    let batch_ops_max = rng.gen_range(1..=64);
    let batch_bytes_max = rng.gen_range(300..4_000);
    let batch_delay_ms = rng.gen_range(0..10);
    let inflight_bytes_max = batch_bytes_max * rng.gen_range(1..8);
    let inflight_ops_max = rng.gen_range(4..256);
    let ack_interval_ms = rng.gen_range(20..100);
    let gc_interval_ms = rng.gen_range(30..200);
    let log_retention_bytes_max = if small_log {
        rng.gen_range(1_500..8_000)
    } else {
        u64::MAX
    };
    let snapshot_chunk_keys_max = rng.gen_range(1..8);
    let snapshot_chunks_per_tick = rng.gen_range(1..3);
    let f: CfgFn = Box::new(move |id, peers, rid| {
        let mut c = Config::new(id, peers, rid);
        c.batch_ops_max = batch_ops_max;
        c.batch_bytes_max = batch_bytes_max;
        c.batch_delay_ms = batch_delay_ms;
        c.inflight_bytes_max = inflight_bytes_max;
        c.inflight_ops_max = inflight_ops_max;
        c.ack_interval_ms = ack_interval_ms;
        c.heartbeat_interval_ms = 50;
        c.peer_timeout_ms = 300;
        c.gc_interval_ms = gc_interval_ms;
        c.log_retention_bytes_max = log_retention_bytes_max;
        c.log_retention_age_ms = 3_600_000;
        c.snapshot_chunk_keys_max = snapshot_chunk_keys_max;
        c.snapshot_chunks_per_tick = snapshot_chunks_per_tick;
        c.persistence = persistence;
        c
    });
    (f, persistence)
}

/// One chaos run; `Err` describes the violated property.
fn chaos(seed: u64) -> Result<World, String> {
    let mut rng = StdRng::seed_from_u64(seed);
    let n = rng.gen_range(3..=5usize);
    let (cfg, persistence) = chaos_cfg(&mut rng);
    let wrng = StdRng::seed_from_u64(seed ^ 0x5eed_5eed);
    let mut w = World::new(n, wrng, cfg);
    w.keep_events = false;
    w.net.latency_ms = rng.gen_range(1..60);
    w.net.jitter_ms = rng.gen_range(0..20);
    w.net.loss = if rng.gen_bool(0.5) {
        rng.gen_range(0.0..0.01)
    } else {
        0.0
    };
    w.net.dup = rng.gen_range(0.0..0.05);
    w.net.stale = if rng.gen_bool(0.3) {
        rng.gen_range(0.0..0.3)
    } else {
        0.0
    };
    w.image_interval_ms = rng.gen_range(10..100);
    for r in w.regions.iter_mut() {
        r.skew_ms = rng.gen_range(-30_000..=30_000);
    }
    let chaos_ms = rng.gen_range(1_500..3_500);
    let op_p = rng.gen_range(0.05..0.4);
    let p_partition = rng.gen_range(0.0..0.006);
    let p_crash = rng.gen_range(0.0..0.003);
    let mut heal_at: Option<u64> = None;
    let mut restarts: Vec<(u64, RegionId, bool)> = Vec::new();
    // Membership: remove the last region at `rm.0`, add it back at `rm.1`.
    let mut mrng = StdRng::seed_from_u64(seed ^ 0x6d65_6d62_6572_7321);
    let last = n as RegionId;
    let mut membership = mrng.gen_bool(0.25).then(|| {
        let at = mrng.gen_range(200..chaos_ms / 2);
        (
            at,
            at + mrng.gen_range(100..chaos_ms / 2),
            mrng.gen_bool(0.5),
        )
    });
    let mut membership_ran = false;
    let mut stopped = false;
    let mut removed_now = false;
    while w.now_ms < chaos_ms {
        if let Some((rm_at, add_at, durable)) = membership {
            if !stopped && w.now_ms >= rm_at {
                // Stopped first; removed everywhere once its ops spread.
                w.crash(last, true);
                restarts.retain(|r| r.1 != last);
                stopped = true;
            } else if stopped && !removed_now && w.now_ms < add_at && w.spread(last) {
                w.remove_region(last);
                removed_now = true;
                membership_ran = true;
            } else if stopped && w.now_ms >= add_at {
                if removed_now {
                    w.add_region(last);
                }
                w.restart(last, persistence && durable);
                membership = None;
            }
        }
        // Faults.
        if heal_at.is_some_and(|t| w.now_ms >= t) {
            w.blocked.clear();
            heal_at = None;
        }
        if heal_at.is_none() && rng.gen_bool(p_partition) {
            let ids: Vec<RegionId> = (1..=n as RegionId).collect();
            if rng.gen_bool(0.5) {
                // Two-way split: a random minority against the rest.
                let k = rng.gen_range(1..=n / 2);
                let side: Vec<RegionId> = ids
                    .iter()
                    .copied()
                    .filter(|_| rng.gen_bool(0.5))
                    .take(k)
                    .collect();
                for &a in &side {
                    for &b in &ids {
                        if !side.contains(&b) {
                            w.blocked.insert((a, b));
                            w.blocked.insert((b, a));
                        }
                    }
                }
            } else {
                // One-way: a's messages to b are lost, b's reach a.
                let a = rng.gen_range(1..=n as RegionId);
                let mut b = rng.gen_range(1..=n as RegionId);
                if a == b {
                    b = b % n as RegionId + 1;
                }
                w.blocked.insert((a, b));
            }
            heal_at = Some(w.now_ms + rng.gen_range(100..1_500));
        }
        if rng.gen_bool(p_crash) {
            let id = rng.gen_range(1..=n as RegionId);
            if w.regions[id as usize - 1].alive && !(stopped && id == last && membership.is_some())
            {
                w.crash(id, rng.gen_bool(0.5));
                let durable = persistence && rng.gen_bool(0.75);
                restarts.push((w.now_ms + rng.gen_range(50..1_500), id, durable));
            }
        }
        let due: Vec<_> = restarts
            .iter()
            .copied()
            .filter(|r| r.0 <= w.now_ms)
            .collect();
        restarts.retain(|r| r.0 > w.now_ms);
        for (_, id, durable) in due {
            w.restart(id, durable);
        }
        // Workload.
        for id in 1..=n as RegionId {
            if rng.gen_bool(op_p) {
                let wall = w.wall_ms(id);
                let op = random_op(&mut rng, wall);
                w.write(id, &op);
            }
        }
        w.step();
    }
    // Heal.
    w.blocked.clear();
    w.net.loss = 0.0;
    for (_, id, durable) in restarts {
        w.restart(id, durable);
    }
    if !w.settle(60_000) {
        return Err(format!(
            "no quiescence 60 s after healing (in flight {}, stats {:?}){}",
            w.in_flight(),
            w.stats,
            w.describe_state()
        ));
    }
    w.check_converged()?;
    // While a region is removed, the others trim their logs by their own acks alone, so
    // its re-add may need a snapshot.
    if w.stats.full_resyncs > 0
        && w.stats.trims_bounded == 0
        && w.stats.restarts_empty == 0
        && !membership_ran
    {
        return Err(format!(
            "{} full resyncs without any bounded trim or lost history",
            w.stats.full_resyncs
        ));
    }
    if w.net.stale == 0.0 && w.stats.closes_protocol > 0 {
        return Err(format!(
            "protocol closes without stale traffic: {:?}",
            w.closes
                .iter()
                .filter(|c| !c.3.contains("silent"))
                .take(3)
                .collect::<Vec<_>>()
        ));
    }
    Ok(w)
}

fn replay_cmd(seed: u64) -> String {
    format!(
        "MERIDIAN_SIM_SEED={seed} cargo test -p meridian-replication --profile ci --test sim -- replay --nocapture"
    )
}

#[test]
fn sim_seeds() {
    let base: u64 = std::env::var("MERIDIAN_SIM_BASE_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let started = std::time::Instant::now();
    let mut total = sim::harness::Stats::default();
    let mut failures = Vec::new();
    for seed in base..base + seeds() {
        let r = std::panic::catch_unwind(|| chaos(seed));
        match r {
            Ok(Ok(w)) => {
                let s = &w.stats;
                total.ops += s.ops;
                total.partial_resyncs += s.partial_resyncs;
                total.full_resyncs += s.full_resyncs;
                total.gcs += s.gcs;
                total.crashes += s.crashes;
                total.restarts_empty += s.restarts_empty;
                total.closes_protocol += s.closes_protocol;
                total.closes_timeout += s.closes_timeout;
                total.losses += s.losses;
                total.messages += s.messages;
                total.trims_bounded += s.trims_bounded;
                total.regions_removed += s.regions_removed;
                total.regions_added += s.regions_added;
            }
            Ok(Err(e)) => {
                failures.push(format!("seed {seed}: {e}\n  replay: {}", replay_cmd(seed)))
            }
            Err(p) => {
                let msg = p
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                failures.push(format!(
                    "seed {seed}: panic: {msg}\n  replay: {}",
                    replay_cmd(seed)
                ))
            }
        }
        if failures.len() >= 5 {
            break;
        }
    }
    eprintln!(
        "sim: {} seeds from {base} in {:.1} s; totals: ops {}, messages {}, partial resyncs {}, full resyncs {}, bounded trims {}, gc runs {}, crashes {} ({} lost history), losses {}, closes {} protocol / {} timeout, regions removed {} / added {}",
        seeds(),
        started.elapsed().as_secs_f64(),
        total.ops,
        total.messages,
        total.partial_resyncs,
        total.full_resyncs,
        total.trims_bounded,
        total.gcs,
        total.crashes,
        total.restarts_empty,
        total.losses,
        total.closes_protocol,
        total.closes_timeout,
        total.regions_removed,
        total.regions_added
    );
    assert!(
        failures.is_empty(),
        "{} failing seeds:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Replays `MERIDIAN_SIM_SEED` (no-op without it).
#[test]
fn replay() {
    let Some(seed) = std::env::var("MERIDIAN_SIM_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
    else {
        return;
    };
    match chaos(seed) {
        Ok(w) => eprintln!("seed {seed} passes: {:?}", w.stats),
        Err(e) => panic!("seed {seed}: {e}"),
    }
}

// ---------------------------------------------------------------------------------------
// Seeds that once failed (each named after the root cause it pins).

fn must_pass(seed: u64) {
    if let Err(e) = chaos(seed) {
        panic!("seed {seed}: {e}\n  replay: {}", replay_cmd(seed));
    }
}

/// A region crashed while merging a snapshot; the state it restored held merged keys
/// with dots it had not applied, but the in-memory taint was gone, so it wrote on top of
/// them (an op whose context held 5:23 before 5:23 arrived: "core applied 5:23 twice").
/// Now `recovering()` covers the taint and a restart recomputes it from the data.
#[test]
fn seed_1794_taint_survives_restart() {
    must_pass(1794);
}

/// A region recovering a lost history waited for everything an earlier incarnation of a
/// peer had said in its hello; that peer then lost its history too, so the ops it alone
/// held never came and the region stayed read-only. A new incarnation's hello replaces
/// the old one.
#[test]
fn seed_4137_recovery_forgets_a_peers_lost_incarnation() {
    must_pass(4137);
}

/// A region merged a snapshot holding a counter floor at 2:11 whose entry the sender had
/// already collected, while it still held the older entry 2:5 of the same run: that
/// entry was dead but stayed forever, so the regions' states differed. Joins now drop
/// entries a floor fully cancels.
#[test]
fn seed_7574_floored_counter_entries_are_dropped() {
    must_pass(7574);
}

/// Two regions each held the other's abandoned snapshot open (the sender had restarted
/// it after merging a third region's snapshot but could not begin again while it was
/// receiving one): neither could send its own snapshot again and nothing converged. A
/// sender now closes the peer's open snapshot with `SnapshotAbort` when it abandons it.
#[test]
fn seed_2066_abandoned_snapshots_are_aborted() {
    must_pass(2066);
}

/// A region without persistence crashed while sending a snapshot and restarted with an
/// empty state; the merged chunks held effects of its own ops 1:2 and 1:3 that no region
/// applied, so every region (itself included) waited for them forever with writes
/// refused. The origin now adopts such orphaned sequence numbers once it has recovered.
#[test]
fn seed_18461_orphaned_own_dots_are_adopted() {
    must_pass(18461);
}

/// A recovering region joined every hello a peer's incarnation sent; the peer had
/// applied an op, restarted from durable state without it (same incarnation), and no
/// region held the op any more: the recovering region waited for it forever. The latest
/// hello of a peer now replaces its earlier ones.
#[test]
fn seed_506_recovery_takes_the_latest_hello() {
    must_pass(506);
}

/// Duplicated batches held while another peer's snapshot was open counted twice against
/// the held-ops bound and closed the link. Duplicates of held or applied entries are now
/// dropped.
#[test]
fn seed_3282_duplicates_do_not_count_as_held_ops() {
    must_pass(3282);
}

/// With persistence, a region sent snapshot chunks read after its own op 2:103 was
/// applied but before it was durable, then crashed and restarted from durable state
/// (2:102): the receiver held effects of 2:103 that would never come. Chunks are now
/// read only while every own op is durable.
#[test]
fn seed_14243_snapshot_chunks_hold_only_durable_own_ops() {
    must_pass(14243);
}

// ---------------------------------------------------------------------------------------
// Targeted scenarios.

fn base_cfg() -> CfgFn {
    Box::new(|id, peers, rid| {
        let mut c = Config::new(id, peers, rid);
        c.batch_delay_ms = 0;
        c.heartbeat_interval_ms = 50;
        c.peer_timeout_ms = 300;
        c.ack_interval_ms = 50;
        c.gc_interval_ms = 50;
        c.snapshot_chunk_keys_max = 2;
        c
    })
}

fn world(n: usize, cfg: CfgFn) -> World {
    let mut w = World::new(n, StdRng::seed_from_u64(7), cfg);
    w.run_ms(100);
    w
}

fn set(w: &mut World, id: RegionId, key: &str, v: &str) {
    assert!(w.write(
        id,
        &[(0, key.as_bytes().to_vec(), Cmd::Set(v.as_bytes().to_vec()))]
    ));
}

fn sadd(w: &mut World, id: RegionId, key: &str, m: &str) {
    assert!(w.write(
        id,
        &[(
            0,
            key.as_bytes().to_vec(),
            Cmd::SAdd(vec![m.as_bytes().to_vec()])
        )]
    ));
}

fn cut(w: &mut World, a: RegionId, b: RegionId) {
    w.blocked.insert((a, b));
    w.blocked.insert((b, a));
}

fn count(w: &World, f: impl Fn(&Event) -> bool) -> usize {
    w.events.iter().filter(|(_, _, e)| f(e)).count()
}

fn settle_and_check(w: &mut World) {
    assert!(w.settle(20_000), "no quiescence: {:?}", w.stats);
    w.check_converged().unwrap();
}

#[test]
fn partial_resync_after_partition() {
    let mut w = world(3, base_cfg());
    for i in 0..20 {
        set(&mut w, 1 + (i % 3), &format!("a{i}"), "x");
    }
    w.run_ms(300);
    cut(&mut w, 1, 2);
    cut(&mut w, 1, 3);
    w.run_ms(600); // links time out
    assert!(!w.connected(1, 2) && !w.connected(1, 3));
    for i in 0..30 {
        set(&mut w, 1, &format!("p{i}"), "minority");
        sadd(&mut w, 2, "s", &format!("m{i}"));
    }
    let partial_before = w.stats.partial_resyncs;
    w.blocked.clear();
    settle_and_check(&mut w);
    assert!(
        w.stats.partial_resyncs > partial_before,
        "reconnect resynced partially"
    );
    assert_eq!(w.stats.full_resyncs, 0, "no full resync without trimming");
}

#[test]
fn full_resync_after_trimming() {
    let cfg: CfgFn = Box::new(|id, peers, rid| {
        let mut c = (base_cfg())(id, peers, rid);
        c.log_retention_bytes_max = 1_000;
        c
    });
    let mut w = world(3, cfg);
    cut(&mut w, 3, 1);
    cut(&mut w, 3, 2);
    w.run_ms(600);
    for i in 0..60 {
        set(&mut w, 1, &format!("k{i}"), "v");
        sadd(&mut w, 2, "s", &format!("m{i}"));
    }
    w.run_ms(200);
    assert!(
        w.stats.trims_bounded > 0,
        "the log was trimmed by its byte bound"
    );
    w.blocked.clear();
    settle_and_check(&mut w);
    assert!(w.stats.full_resyncs > 0, "region 3 needed a snapshot");
    assert!(count(&w, |e| matches!(e, Event::SnapshotMerged { .. })) > 0);
    let applied = w.regions[2].data.ks.applied().clone();
    assert_eq!(applied.get(1), 60);
    assert_eq!(applied.get(2), 60);
}

/// A region added at run time to a cluster whose logs were trimmed: it is empty and
/// starts as a joiner (no history: writes wait until it caught up with every peer), gets
/// a full resync, then deltas both ways.
#[test]
fn region_added_at_run_time_gets_a_full_sync_then_deltas() {
    let cfg: CfgFn = Box::new(|id, peers, rid| {
        let mut c = (base_cfg())(id, peers, rid);
        c.log_retention_bytes_max = 1_000;
        c
    });
    let mut w = world(3, cfg);
    // Region 3 is not a member yet.
    w.crash(3, true);
    w.remove_region(3);
    assert!(w.regions[0].repl.status(&w.regions[0].data).peers.len() == 1);
    for i in 0..60 {
        set(&mut w, 1, &format!("k{i}"), "v");
        sadd(&mut w, 2, "s", &format!("m{i}"));
    }
    w.run_ms(300);
    assert!(
        w.stats.trims_bounded > 0,
        "logs trimmed by their byte bound"
    );
    let full_before = w.stats.full_resyncs;
    w.add_region(3);
    w.restart(3, false);
    assert!(!w.write(3, &[(0, b"early".to_vec(), Cmd::Set(b"x".to_vec()))]));
    settle_and_check(&mut w);
    assert!(
        w.stats.full_resyncs > full_before,
        "region 3 got a snapshot"
    );
    let applied = w.regions[2].data.ks.applied().clone();
    assert_eq!((applied.get(1), applied.get(2)), (60, 60));
    // Deltas both ways afterwards.
    let partial_before = w.stats.full_resyncs;
    set(&mut w, 3, "from-3", "x");
    set(&mut w, 1, "from-1", "y");
    settle_and_check(&mut w);
    assert_eq!(w.stats.full_resyncs, partial_before, "no more snapshots");
    assert!(w.regions[0].data.ks.get(0, b"from-3").is_some());
    assert!(w.regions[2].data.ks.get(0, b"from-1").is_some());
}

/// Region 1 removed region 3, region 2 not yet: 3's writes relayed by 2 are refused at 1
/// (not applied, no protocol close, the 1–2 link keeps working), and 3's link to 1
/// stays down. Once 1 adds 3 back, everything converges, refused ops included.
#[test]
fn removed_region_ops_are_refused_also_when_relayed() {
    let mut w = world(3, base_cfg());
    set(&mut w, 3, "before", "x");
    settle_and_check(&mut w);
    w.remove_peer_at(1, 3);
    let before = w.regions[0].data.ks.applied().get(3);
    for i in 0..10 {
        set(&mut w, 3, &format!("r{i}"), "from-3");
    }
    w.run_ms(1_000);
    assert_eq!(
        w.regions[1].data.ks.applied().get(3),
        before + 10,
        "2 has them"
    );
    assert_eq!(
        w.regions[0].data.ks.applied().get(3),
        before,
        "1 refused them"
    );
    assert!(w.regions[0].data.ks.get(0, b"r0").is_none());
    assert!(!w.connected(1, 3), "no link to a removed region");
    let refused: u64 = w
        .events
        .iter()
        .filter_map(|(_, at, e)| match e {
            Event::RemovedOriginRefused {
                origin: 3, entries, ..
            } if *at == 1 => Some(*entries),
            _ => None,
        })
        .sum();
    assert!(refused >= 10, "refusals reported: {refused}");
    assert_eq!(w.stats.closes_protocol, 0, "refusal closes no link");
    assert!(w.connected(1, 2));
    // 1 and 2 still replicate their own writes.
    set(&mut w, 1, "own-1", "a");
    set(&mut w, 2, "own-2", "b");
    w.run_ms(1_000);
    assert!(w.regions[1].data.ks.get(0, b"own-1").is_some());
    assert!(w.regions[0].data.ks.get(0, b"own-2").is_some());
    let st = w.regions[0].repl.status(&w.regions[0].data);
    assert_eq!(st.removed, vec![(3, before, refused)]);
    // Back in: converges, the refused ops arrive.
    w.add_peer_at(1, 3);
    settle_and_check(&mut w);
    assert!(w.regions[0].data.ks.get(0, b"r9").is_some());
}

/// A region removed and added back on an empty disk as `Start::Fresh` (no
/// `repl-join`): the first hello showing peers hold its own ops puts it into recovery,
/// so it writes only once it caught up and never reuses a sequence number (the
/// harness asserts that no region holds an op whose number is issued again).
#[test]
fn re_added_region_started_fresh_recovers_instead_of_reusing_numbers() {
    let mut w = world(3, base_cfg());
    for i in 0..10 {
        set(&mut w, 3, &format!("old{i}"), "x");
    }
    settle_and_check(&mut w);
    w.crash(3, true);
    w.remove_region(3);
    set(&mut w, 1, "while-removed", "y");
    w.run_ms(300);
    w.add_region(3);
    w.restart_fresh(3);
    // (A write before its first hello would still reuse a number: the window that
    // `repl-join` closes.) Step until the first hello arrives: from then on it refuses
    // writes until it caught up.
    let mut refused_seen = false;
    for _ in 0..400 {
        w.step();
        if count(&w, |e| matches!(e, Event::OwnHistoryAhead { .. })) > 0 {
            let r = &w.regions[2];
            refused_seen = !r.repl.local_writes_allowed(&r.data);
            break;
        }
    }
    assert!(
        refused_seen,
        "writes refused after the hello revealed the lost history"
    );
    // Writable again once caught up: its next write follows its old ops.
    w.settle(20_000);
    set(&mut w, 3, "new", "n");
    settle_and_check(&mut w);
    assert!(w.regions[0].data.ks.applied().get(3) > 10);
    assert!(w.regions[0].data.ks.get(0, b"new").is_some());
    assert!(w.regions[2].data.ks.get(0, b"old9").is_some());
}

#[test]
fn relay_through_a_third_region() {
    let mut w = world(3, base_cfg());
    cut(&mut w, 1, 3);
    w.run_ms(600);
    assert!(!w.connected(1, 3) && w.connected(1, 2) && w.connected(2, 3));
    for i in 0..25 {
        set(&mut w, 1, &format!("a{i}"), "from-1");
    }
    w.run_ms(1_000);
    let c = &w.regions[2];
    assert_eq!(c.data.ks.applied().get(1), 25, "3 got 1's writes through 2");
    assert!(c.data.ks.get(0, b"a24").is_some());
    w.blocked.clear();
    settle_and_check(&mut w);
}

#[test]
fn one_way_partition() {
    let mut w = world(3, base_cfg());
    w.blocked.insert((1, 2)); // 1's messages to 2 are lost; 2's reach 1
    for i in 0..10 {
        set(&mut w, 1, &format!("a{i}"), "x");
        set(&mut w, 2, &format!("b{i}"), "y");
    }
    w.run_ms(1_500);
    assert!(
        !w.connected(1, 2),
        "the silent direction timed the link out"
    );
    // Both still converge through region 3.
    assert_eq!(w.regions[1].data.ks.applied().get(1), 10);
    assert_eq!(w.regions[0].data.ks.applied().get(2), 10);
    assert!(w.closes.iter().any(|c| c.3.contains("silent")));
    w.blocked.clear();
    settle_and_check(&mut w);
}

#[test]
fn gc_happens_at_stability_and_not_before() {
    let mut w = world(3, base_cfg());
    sadd(&mut w, 1, "s", "x");
    w.run_ms(500);
    // Partition region 3 away, then delete: the tombstone must survive until 3 saw it.
    cut(&mut w, 3, 1);
    cut(&mut w, 3, 2);
    w.run_ms(600);
    w.events.clear();
    assert!(w.write(1, &[(0, b"s".to_vec(), Cmd::SRem(vec![b"x".to_vec()]))]));
    let dot = w.regions[0].data.ks.applied().get(1);
    w.run_ms(1_000);
    for (_, id, e) in &w.events {
        if let Event::Gc { stable } = e {
            assert!(
                stable.get(1) < dot,
                "region {id} collected at {stable:?} before region 3 saw op {dot}"
            );
        }
    }
    w.blocked.clear();
    settle_and_check(&mut w);
    let stable_seen = w
        .events
        .iter()
        .any(|(_, _, e)| matches!(e, Event::Gc { stable } if stable.get(1) >= dot));
    assert!(stable_seen, "GC ran once the remove was stable everywhere");
    for r in &w.regions {
        let k = r.data.ks.get(0, b"s");
        assert!(k.is_none_or(|k| k.visible().is_none()), "region {}", r.id);
    }
}

#[test]
fn duplicate_and_old_hello_are_harmless() {
    let mut w = world(2, base_cfg());
    for i in 0..5 {
        set(&mut w, 1, &format!("a{i}"), "x");
    }
    w.run_ms(300);
    let r2 = &mut w.regions[1];
    let old = Msg::Hello {
        version: replication::msg::PROTOCOL_VERSION,
        region: 1,
        replication_id: r2.repl.status(&r2.data).peers[0].replication_id.unwrap(),
        applied: VersionVector::new(),
        seen: VersionVector::new(),
    };
    r2.repl.on_message(1, old.clone(), &mut r2.data);
    r2.repl.on_message(1, old, &mut r2.data);
    let mut closed = false;
    while let Some(o) = r2.repl.poll_output() {
        closed |= matches!(o, replication::core::Output::Close { .. });
    }
    assert!(
        !closed,
        "an old hello of the same incarnation keeps the link"
    );
    // A hello of another incarnation on this link is stale: close, reconnect, converge.
    let r2 = &mut w.regions[1];
    let foreign = Msg::Hello {
        version: replication::msg::PROTOCOL_VERSION,
        region: 1,
        replication_id: 1,
        applied: VersionVector::new(),
        seen: VersionVector::new(),
    };
    r2.repl.on_message(1, foreign, &mut r2.data);
    let mut closed = false;
    while let Some(o) = r2.repl.poll_output() {
        closed |= matches!(o, replication::core::Output::Close { .. });
    }
    assert!(closed);
    settle_and_check(&mut w);
}

#[test]
fn malformed_and_out_of_order_entries_close_and_recover() {
    let mut w = world(2, base_cfg());
    set(&mut w, 1, "a", "1");
    w.run_ms(300);
    let good = LogEntry {
        origin: 1,
        first_seq: 1,
        last_seq: 1,
        op: w.issued[&(1, 1)].clone(),
    };
    // Each case is built against what region 2 applied at that moment (`next`).
    type Make = fn(&LogEntry, u64) -> LogEntry;
    let cases: [(&str, Make); 4] = [
        ("gap", |g, next| LogEntry {
            first_seq: next + 3,
            last_seq: next + 3,
            ..g.clone()
        }),
        ("undecodable", |g, next| LogEntry {
            first_seq: next,
            last_seq: next,
            op: vec![1, 2, 3],
            ..g.clone()
        }),
        ("dot mismatch", |g, next| LogEntry {
            first_seq: next,
            last_seq: next,
            ..g.clone()
        }),
        ("unknown origin", |g, _| LogEntry {
            origin: 9,
            ..g.clone()
        }),
    ];
    for (what, make) in cases {
        assert!(w.connected(1, 2));
        let e = make(&good, w.regions[1].data.ks.applied().get(1) + 1);
        let r2 = &mut w.regions[1];
        r2.repl.on_message(1, Msg::Ops(vec![e]), &mut r2.data);
        let mut closed = false;
        while let Some(o) = r2.repl.poll_output() {
            closed |= matches!(o, replication::core::Output::Close { .. });
        }
        assert!(closed, "{what} closes the link");
        w.regions[1].repl.on_disconnected(1);
        w.regions[0].repl.on_disconnected(2);
        // The harness still has the connection: drop it the way the shell would.
        w.crash(2, true);
        w.restart(2, false);
        set(&mut w, 1, "a", what);
        assert!(w.settle(20_000), "{what}: recovered");
    }
    // Stray snapshot messages too.
    let r2 = &mut w.regions[1];
    r2.repl.on_message(1, Msg::SnapshotEnd, &mut r2.data);
    assert!(std::iter::from_fn(|| r2.repl.poll_output())
        .any(|o| matches!(o, replication::core::Output::Close { .. })));
    w.check_converged().unwrap();
}

#[test]
fn crash_restart_durable_resumes_partially_and_loses_nothing_shipped() {
    let cfg: CfgFn = Box::new(|id, peers, rid| {
        let mut c = (base_cfg())(id, peers, rid);
        c.persistence = true;
        c
    });
    let mut w = world(3, cfg);
    for i in 0..20 {
        set(&mut w, 1, &format!("a{i}"), "x");
        sadd(&mut w, 2, "s", &format!("m{i}"));
    }
    w.run_ms(500);
    w.crash(2, false);
    for i in 0..10 {
        set(&mut w, 1, &format!("b{i}"), "y");
    }
    w.run_ms(500);
    w.restart(2, true);
    settle_and_check(&mut w);
    assert_eq!(w.stats.full_resyncs, 0);
    assert!(w.regions[0].data.ks.applied().get(2) >= 20);
}

#[test]
fn lost_history_recovers_own_ops_before_writing() {
    let mut w = world(3, base_cfg());
    for i in 0..15 {
        set(&mut w, 2, &format!("a{i}"), "x");
    }
    w.run_ms(500);
    w.crash(2, true);
    w.run_ms(100);
    w.restart(2, false);
    assert!(!w.regions[1].repl.local_writes_allowed(&w.regions[1].data));
    w.run_ms(1_000);
    assert!(w.regions[1].repl.local_writes_allowed(&w.regions[1].data));
    assert_eq!(
        w.regions[1].data.ks.applied().get(2),
        15,
        "own ops recovered from peers"
    );
    set(&mut w, 2, "after", "restart");
    settle_and_check(&mut w);
    assert!(count(&w, |e| matches!(e, Event::PeerHistoryLost { peer: 2, .. })) >= 2);
    assert!(count(&w, |e| matches!(e, Event::Recovered)) == 1);
}

#[test]
fn backpressure_bounds_inflight_and_status_reports_lag() {
    let cfg: CfgFn = Box::new(|id, peers, rid| {
        let mut c = (base_cfg())(id, peers, rid);
        c.batch_bytes_max = 400;
        c.inflight_bytes_max = 800;
        c
    });
    let mut w = world(2, cfg);
    w.net.latency_ms = 100;
    for i in 0..200 {
        set(&mut w, 1, &format!("k{i}"), "some value");
    }
    for _ in 0..40 {
        w.step();
        let r = &w.regions[0];
        let st = r.repl.status(&r.data);
        assert!(
            st.peers[0].inflight_bytes <= 800 + 200,
            "{:?}",
            st.peers[0].inflight_bytes
        );
    }
    let r = &w.regions[0];
    let st = r.repl.status(&r.data);
    assert!(st.peers[0].lag_ops > 0 && st.peers[0].lag_ms > 0);
    assert_eq!(st.peers[0].link, LinkState::Streaming);
    settle_and_check(&mut w);
    let r = &w.regions[0];
    let st = r.repl.status(&r.data);
    assert_eq!(st.peers[0].lag_ops, 0);
    let last = VersionVector::from_pairs([(1, 200)]);
    assert_eq!(r.repl.durable_regions(&last), 1, "WAIT sees region 2");
    assert!(
        count(&w, |e| matches!(
            e,
            Event::LogTrimmed {
                reason: TrimReason::Acked,
                ..
            }
        )) > 0
    );
}
