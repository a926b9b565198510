//! A deterministic world of regions running the real replication core over a modelled
//! network: per-connection FIFO streams with latency and jitter, partitions (two-way and
//! one-way), loss (a lost message on an ordered stream = the connection breaks), whole
//! batches delivered twice, stale messages of an earlier connection replayed into a new
//! one, crashes (half-open connections time out), restarts from durable state or from
//! nothing, and skewed wall clocks. Time advances in fixed steps; every random choice
//! comes from one seeded `StdRng`.

use crate::server::{self, Cmd};
use crdt::{CausalContext, Dot, Hlc, HlcClock, Key, Keyspace, OpDelta, RegionId, VersionVector};
use rand::rngs::StdRng;
use rand::Rng;
use replication::core::{
    Config, Data, Event, MemLog, Output, Replicator, SnapshotCursor, SnapshotKey, Start, TrimReason,
};
use replication::msg::{LogEntry, Msg};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};

/// Builds a region's config from (region, peers, replication id).
pub type CfgFn = Box<dyn Fn(RegionId, Vec<RegionId>, u64) -> Config>;

/// Simulated milliseconds per step.
pub const STEP_MS: u64 = 5;
/// Unix ms at simulated time 0.
pub const EPOCH_MS: u64 = 1_700_000_000_000;

/// The region's data as the core sees it: keyspace + HLC (remote ops are observed).
pub struct SimData {
    pub ks: Keyspace,
    pub clock: HlcClock,
    /// Dots of remote ops applied here (to detect replicated ops).
    pub remote_applied: Vec<Dot>,
}

impl Data for SimData {
    fn applied(&self) -> VersionVector {
        self.ks.applied().clone()
    }
    fn ctx(&self) -> CausalContext {
        self.ks.ctx().clone()
    }
    fn apply(&mut self, op: &OpDelta) {
        assert!(
            !self.ks.has_applied(op.dot),
            "core applied {:?} twice",
            op.dot
        );
        self.clock.observe(op.hlc);
        self.ks.apply(op);
        self.remote_applied.push(op.dot);
    }
    fn snapshot_chunk(
        &self,
        from: &SnapshotCursor,
        keys_max: usize,
    ) -> (Vec<SnapshotKey>, Option<SnapshotCursor>) {
        replication::core::data::keyspace_chunk(&self.ks, from, keys_max)
    }
    fn keys_in_range(
        &self,
        after: &SnapshotCursor,
        upto: Option<(u8, &[u8])>,
        keys_max: usize,
    ) -> (Vec<(u8, Vec<u8>)>, Option<SnapshotCursor>) {
        replication::core::data::keyspace_keys_in_range(&self.ks, after, upto, keys_max)
    }
    fn merge_key(&mut self, db: u8, key: &[u8], state: &Key, ctx: &CausalContext) {
        self.ks.merge_key(db, key, state, ctx)
    }
    fn merge_ctx(&mut self, ctx: &CausalContext) {
        self.ks.merge_ctx(ctx)
    }
    fn gc(&mut self, stable: &VersionVector) {
        self.ks.gc(stable)
    }
    fn max_dots(&self) -> VersionVector {
        replication::core::data::keyspace_max_dots(&self.ks)
    }
}

/// What a durable restart restores.
#[derive(Clone)]
pub struct Image {
    pub ks: Keyspace,
    pub clock_last: Hlc,
    pub log: MemLog,
    pub replication_id: u64,
    pub recovering: bool,
}

/// One region.
pub struct Region {
    pub id: RegionId,
    pub alive: bool,
    pub data: SimData,
    pub repl: Replicator<MemLog>,
    pub incarnation: u64,
    pub image: Option<Image>,
    pub next_image_ms: u64,
    pub skew_ms: i64,
}

/// Counters over a run.
#[derive(Default, Debug, Clone)]
pub struct Stats {
    pub ops: u64,
    pub ops_refused: u64,
    pub partial_resyncs: u64,
    pub full_resyncs: u64,
    pub snapshots_merged: u64,
    pub trims_bounded: u64,
    pub trims_acked: u64,
    pub gcs: u64,
    pub closes_protocol: u64,
    pub closes_timeout: u64,
    pub closes_busy: u64,
    pub closes_membership: u64,
    pub regions_removed: u64,
    pub regions_added: u64,
    pub seq_reused_after_loss: u64,
    pub losses: u64,
    pub dups: u64,
    pub stale_injected: u64,
    pub crashes: u64,
    pub restarts_durable: u64,
    pub restarts_empty: u64,
    pub messages: u64,
}

struct Conn {
    a: RegionId,
    b: RegionId,
    inc: (u64, u64),
    /// [a→b, b→a]: (deliver at, message).
    q: [VecDeque<(u64, Msg)>; 2],
    last_at: [u64; 2],
    /// A crashed end: the other side only learns by timeout.
    dead: Option<RegionId>,
}

/// Fault knobs.
#[derive(Clone, Debug)]
pub struct NetParams {
    pub latency_ms: u64,
    pub jitter_ms: u64,
    pub loss: f64,
    pub dup: f64,
    pub stale: f64,
    pub reconnect_ms: u64,
}

impl Default for NetParams {
    fn default() -> Self {
        NetParams {
            latency_ms: 20,
            jitter_ms: 5,
            loss: 0.0,
            dup: 0.0,
            stale: 0.0,
            reconnect_ms: 50,
        }
    }
}

/// The world.
pub struct World {
    n_regions: RegionId,
    pub now_ms: u64,
    pub rng: StdRng,
    pub regions: Vec<Region>,
    pub net: NetParams,
    pub blocked: BTreeSet<(RegionId, RegionId)>,
    conns: BTreeMap<(RegionId, RegionId), Conn>,
    reconnect_at: BTreeMap<(RegionId, RegionId), u64>,
    stale_pool: HashMap<(RegionId, RegionId, u64, u64), VecDeque<Msg>>,
    pub cfg_fn: CfgFn,
    pub image_interval_ms: u64,
    pub stats: Stats,
    pub events: Vec<(u64, RegionId, Event)>,
    pub closes: Vec<(u64, RegionId, RegionId, String)>,
    /// Content of every op issued: (origin, seq) → encoded op.
    pub issued: HashMap<(RegionId, u64), Vec<u8>>,
    /// (origin, seq) applied by some other region at some point.
    pub replicated: HashSet<(RegionId, u64)>,
    /// Per origin: the highest own seq restored from an image (must survive).
    pub must_have: VersionVector,
    pub next_repl_id: u64,
    pub trace: bool,
    pub keep_events: bool,
    /// Regions removed from the cluster (every other region ran `remove_peer`).
    pub removed: BTreeSet<RegionId>,
    /// (region, removed peer) → the cutoff `remove_peer` returned there.
    pub cutoffs: BTreeMap<(RegionId, RegionId), u64>,
}

fn pair(a: RegionId, b: RegionId) -> (RegionId, RegionId) {
    (a.min(b), a.max(b))
}

impl World {
    pub fn new(n: usize, rng: StdRng, cfg_fn: CfgFn) -> World {
        let mut w = World {
            n_regions: n as RegionId,
            now_ms: 0,
            rng,
            regions: Vec::new(),
            net: NetParams::default(),
            blocked: BTreeSet::new(),
            conns: BTreeMap::new(),
            reconnect_at: BTreeMap::new(),
            stale_pool: HashMap::new(),
            cfg_fn,
            image_interval_ms: 40,
            stats: Stats::default(),
            events: Vec::new(),
            closes: Vec::new(),
            issued: HashMap::new(),
            replicated: HashSet::new(),
            must_have: VersionVector::new(),
            next_repl_id: 1000,
            trace: std::env::var("MERIDIAN_SIM_TRACE").is_ok(),
            keep_events: true,
            removed: BTreeSet::new(),
            cutoffs: BTreeMap::new(),
        };
        for i in 1..=n as RegionId {
            let repl_id = w.new_repl_id();
            let cfg = w.cfg(i, repl_id);
            w.regions.push(Region {
                id: i,
                alive: true,
                data: SimData {
                    ks: Keyspace::new(),
                    clock: HlcClock::new(i),
                    remote_applied: Vec::new(),
                },
                repl: Replicator::new(cfg, MemLog::new(), Start::Fresh).expect("config"),
                incarnation: 0,
                image: None,
                next_image_ms: 0,
                skew_ms: 0,
            });
        }
        w
    }

    fn new_repl_id(&mut self) -> u64 {
        self.next_repl_id += 1;
        self.next_repl_id
    }

    /// A region's config at (re)start: the current membership, as a node restores it
    /// from its stored membership.
    fn cfg(&self, id: RegionId, repl_id: u64) -> Config {
        let n = self.n_regions;
        let removed: Vec<(RegionId, u64)> = if self.removed.contains(&id) {
            Vec::new()
        } else {
            self.removed
                .iter()
                .map(|&r| (r, self.cutoffs.get(&(id, r)).copied().unwrap_or(0)))
                .collect()
        };
        let peers = (1..=n)
            .filter(|&p| p != id && !removed.iter().any(|&(r, _)| r == p))
            .collect();
        let mut c = (self.cfg_fn)(id, peers, repl_id);
        c.removed = removed;
        c
    }

    /// Removes region `id` from the cluster at run time: every other region runs
    /// `remove_peer` (live or not: a crashed region restarts with the membership), and
    /// links to it are torn down.
    pub fn remove_region(&mut self, id: RegionId) {
        self.removed.insert(id);
        self.stats.regions_removed += 1;
        let ps: Vec<_> = self
            .conns
            .keys()
            .copied()
            .filter(|&(a, b)| a == id || b == id)
            .collect();
        for p in ps {
            self.teardown(p);
        }
        for i in 0..self.regions.len() {
            let other = (i + 1) as RegionId;
            if other == id {
                continue;
            }
            let r = &mut self.regions[i];
            if let Some(cutoff) = r.repl.remove_peer(id, &r.data) {
                self.cutoffs.insert((other, id), cutoff);
            }
            self.drain(other);
        }
        if self.trace {
            eprintln!("{:>6} region {id} removed", self.now_ms);
        }
    }

    /// Region `at` alone removes `peer` (other regions keep it); the link between them
    /// is torn down and stays down while `at` does not list `peer`.
    pub fn remove_peer_at(&mut self, at: RegionId, peer: RegionId) {
        self.teardown(pair(at, peer));
        let r = &mut self.regions[at as usize - 1];
        let cutoff = r.repl.remove_peer(peer, &r.data);
        assert!(cutoff.is_some(), "{peer} was a peer of {at}");
        self.drain(at);
    }

    /// Region `at` alone adds `peer` (back).
    pub fn add_peer_at(&mut self, at: RegionId, peer: RegionId) {
        let r = &mut self.regions[at as usize - 1];
        assert!(r.repl.add_peer(peer).expect("add_peer"));
        self.drain(at);
    }

    /// Whether every region but `id` is up and has applied the same ops of `id` (the
    /// precondition of removing it).
    pub fn spread(&self, id: RegionId) -> bool {
        let mut seqs = self
            .regions
            .iter()
            .filter(|r| r.id != id)
            .map(|r| r.alive.then(|| r.data.ks.applied().get(id)));
        let first = seqs.next().flatten();
        first.is_some() && seqs.all(|s| s == first)
    }

    /// Adds region `id` (back) to the cluster: every other region runs `add_peer`.
    pub fn add_region(&mut self, id: RegionId) {
        self.removed.remove(&id);
        self.stats.regions_added += 1;
        self.cutoffs.retain(|&(_, r), _| r != id);
        for i in 0..self.regions.len() {
            let other = (i + 1) as RegionId;
            if other == id {
                continue;
            }
            let r = &mut self.regions[i];
            r.repl.add_peer(id).expect("add_peer");
            self.drain(other);
        }
        if self.trace {
            eprintln!("{:>6} region {id} added", self.now_ms);
        }
    }

    fn r(&mut self, id: RegionId) -> &mut Region {
        &mut self.regions[id as usize - 1]
    }

    pub fn wall_ms(&self, id: RegionId) -> u64 {
        (EPOCH_MS as i64 + self.now_ms as i64 + self.regions[id as usize - 1].skew_ms) as u64
    }

    /// Runs `cmds` as one op at region `id`; false when refused (down or not writable).
    pub fn write(&mut self, id: RegionId, cmds: &[(u8, Vec<u8>, Cmd)]) -> bool {
        let wall = self.wall_ms(id);
        let r = &mut self.regions[id as usize - 1];
        if !r.alive || !r.repl.local_writes_allowed(&r.data) {
            self.stats.ops_refused += 1;
            return false;
        }
        let hlc = r.data.clock.now(wall);
        let Some(op) = server::op(&r.data.ks, id, hlc, cmds) else {
            return true;
        };
        r.data.ks.apply(&op);
        if self.trace {
            eprintln!("{:>6} write {:?} {:?}", self.now_ms, op.dot, cmds);
        }
        let bytes = crdt::codec::encode_op(&op);
        let seq = op.dot.seq();
        if let Some(old) = self.issued.get(&(id, seq)) {
            if *old != bytes {
                // Reusing a lost op's number is fine only if nobody holds the lost op,
                // nor effects of it (merged from a snapshot before the op arrived).
                for o in &self.regions {
                    let held = o.id != id && o.alive && o.data.ks.applied().get(id) >= seq;
                    assert!(
                        !held,
                        "region {id} reused seq {seq}, but region {} holds the old op",
                        o.id
                    );
                    let effects = o.id != id
                        && o.alive
                        && replication::core::data::keyspace_max_dots(&o.data.ks).get(id) >= seq;
                    assert!(
                        !effects,
                        "region {id} reused seq {seq}, but region {} holds effects of the old op",
                        o.id
                    );
                }
                self.stats.seq_reused_after_loss += 1;
            }
        }
        self.issued.insert((id, seq), bytes.clone());
        let entry = LogEntry {
            origin: id,
            first_seq: seq,
            last_seq: seq,
            op: bytes,
        };
        let r = &mut self.regions[id as usize - 1];
        r.repl.on_local_op(entry).expect("local op accepted");
        self.stats.ops += 1;
        self.drain(id);
        true
    }

    /// Processes a region's outputs.
    fn drain(&mut self, id: RegionId) {
        // Record replicated dots.
        let ra = std::mem::take(&mut self.r(id).data.remote_applied);
        for d in ra {
            self.replicated.insert((d.region(), d.seq()));
        }
        while let Some(o) = self.r(id).repl.poll_output() {
            match o {
                Output::Send { peer, msg } => self.enqueue(id, peer, msg),
                Output::Close { peer, reason } => {
                    let s = reason.to_string();
                    if s.contains("silent") {
                        self.stats.closes_timeout += 1;
                    } else if s.contains("already being merged") {
                        self.stats.closes_busy += 1;
                    } else if s.contains("membership changed") {
                        self.stats.closes_membership += 1;
                    } else {
                        self.stats.closes_protocol += 1;
                    }
                    if self.trace {
                        eprintln!("{:>6} close {id}->{peer}: {s}", self.now_ms);
                    }
                    self.closes.push((self.now_ms, id, peer, s));
                    self.teardown(pair(id, peer));
                }
                Output::Publish { .. } => {}
                Output::Event(e) => {
                    match &e {
                        Event::PartialResync { .. } => self.stats.partial_resyncs += 1,
                        Event::FullResyncStarted { .. } => self.stats.full_resyncs += 1,
                        Event::SnapshotMerged { .. } => self.stats.snapshots_merged += 1,
                        Event::LogTrimmed { reason, .. } => match reason {
                            TrimReason::Acked => self.stats.trims_acked += 1,
                            _ => self.stats.trims_bounded += 1,
                        },
                        Event::Gc { .. } => self.stats.gcs += 1,
                        _ => {}
                    }
                    if self.trace {
                        eprintln!("{:>6} event {id}: {e:?}", self.now_ms);
                    }
                    if self.keep_events {
                        self.events.push((self.now_ms, id, e));
                    }
                }
            }
        }
    }

    fn enqueue(&mut self, from: RegionId, to: RegionId, msg: Msg) {
        let now = self.now_ms;
        let lat = self.net.latency_ms + self.rng.gen_range(0..=self.net.jitter_ms);
        let dup = matches!(msg, Msg::Ops(_)) && self.rng.gen_bool(self.net.dup);
        let Some(c) = self.conns.get_mut(&pair(from, to)) else {
            return;
        };
        let dir = usize::from(c.a != from);
        let at = (now + lat).max(c.last_at[dir]);
        c.last_at[dir] = at;
        if dup {
            self.stats.dups += 1;
            c.q[dir].push_back((at, msg.clone()));
        }
        c.q[dir].push_back((at, msg));
    }

    /// Tears a connection down; live ends learn at once.
    fn teardown(&mut self, p: (RegionId, RegionId)) {
        if let Some(c) = self.conns.remove(&p) {
            for id in [c.a, c.b] {
                if c.dead != Some(id) && self.regions[id as usize - 1].alive {
                    self.r(id)
                        .repl
                        .on_disconnected(if id == c.a { c.b } else { c.a });
                }
            }
        }
        let at = self.now_ms + self.net.reconnect_ms;
        self.reconnect_at.insert(p, at);
    }

    /// One step: deliveries, ticks, durable images, reconnects.
    pub fn step(&mut self) {
        self.now_ms += STEP_MS;
        let now = self.now_ms;
        // Deliveries.
        let keys: Vec<_> = self.conns.keys().copied().collect();
        for p in keys {
            for dir in 0..2 {
                while let Some(c) = self.conns.get_mut(&p) {
                    let (from, to) = if dir == 0 { (c.a, c.b) } else { (c.b, c.a) };
                    let inc = if dir == 0 { c.inc } else { (c.inc.1, c.inc.0) };
                    match c.q[dir].front() {
                        Some((at, _)) if *at <= now => {}
                        _ => break,
                    }
                    if self.blocked.contains(&(from, to)) {
                        // Partitioned: a reliable stream stalls (retransmits later) and
                        // the peer times out if the partition outlasts `peer_timeout_ms`.
                        break;
                    }
                    let (_, msg) = c.q[dir].pop_front().expect("front");
                    if c.dead == Some(to) {
                        continue; // the crashed end is gone: the other side times out
                    }
                    if self.net.loss > 0.0 && self.rng.gen_bool(self.net.loss) {
                        self.stats.losses += 1;
                        if self.trace {
                            eprintln!("{now:>6} loss {from}->{to}: link breaks");
                        }
                        self.teardown(p);
                        break;
                    }
                    self.stats.messages += 1;
                    if self.net.stale > 0.0
                        && matches!(
                            msg,
                            Msg::Ops(_)
                                | Msg::Ack { .. }
                                | Msg::Hello { .. }
                                | Msg::Heartbeat { .. }
                        )
                    {
                        let pool = self.stale_pool.entry((from, to, inc.0, inc.1)).or_default();
                        if pool.len() >= 16 {
                            pool.pop_front();
                        }
                        pool.push_back(msg.clone());
                    }
                    if self.trace {
                        eprintln!("{now:>6} {from}->{to} {}", describe(&msg));
                    }
                    let r = &mut self.regions[to as usize - 1];
                    r.repl.on_message(from, msg, &mut r.data);
                    self.drain(to);
                }
            }
        }
        // Ticks and durable images.
        for i in 0..self.regions.len() {
            let id = (i + 1) as RegionId;
            if !self.regions[i].alive {
                continue;
            }
            let t = self.wall_ms(id);
            let r = &mut self.regions[i];
            r.repl.on_tick(t, &mut r.data);
            if r.repl.config().persistence && now >= r.next_image_ms {
                r.next_image_ms = now + self.image_interval_ms;
                r.image = Some(Image {
                    ks: r.data.ks.clone(),
                    clock_last: r.data.clock.last(),
                    log: r.repl.log().clone(),
                    replication_id: r.repl.config().replication_id,
                    recovering: r.repl.recovering(),
                });
                let applied = r.data.ks.applied().clone();
                r.repl.on_durable(&applied);
            }
            self.drain(id);
        }
        // Reconnects.
        let n = self.regions.len() as RegionId;
        for a in 1..=n {
            for b in a + 1..=n {
                self.maybe_connect(a, b);
            }
        }
    }

    fn maybe_connect(&mut self, a: RegionId, b: RegionId) {
        let p = (a, b);
        let member = |x: RegionId, y: RegionId| {
            self.regions[x as usize - 1]
                .repl
                .config()
                .peers
                .contains(&y)
        };
        if self.conns.contains_key(&p)
            || !member(a, b)
            || !member(b, a)
            || !self.regions[a as usize - 1].alive
            || !self.regions[b as usize - 1].alive
            || self.blocked.contains(&(a, b))
            || self.blocked.contains(&(b, a))
            || self.reconnect_at.get(&p).is_some_and(|&t| t > self.now_ms)
        {
            return;
        }
        let inc = (
            self.regions[a as usize - 1].incarnation,
            self.regions[b as usize - 1].incarnation,
        );
        self.conns.insert(
            p,
            Conn {
                a,
                b,
                inc,
                q: [VecDeque::new(), VecDeque::new()],
                last_at: [0, 0],
                dead: None,
            },
        );
        let first = if self.rng.gen_bool(0.5) {
            [a, b]
        } else {
            [b, a]
        };
        for id in first {
            let other = if id == a { b } else { a };
            let r = &mut self.regions[id as usize - 1];
            r.repl.on_connected(other, &r.data);
            self.drain(id);
        }
        // Stale traffic of an earlier connection between the same incarnations.
        if self.net.stale > 0.0 && self.rng.gen_bool(self.net.stale) {
            for (from, to, ia, ib) in [(a, b, inc.0, inc.1), (b, a, inc.1, inc.0)] {
                let pool: Vec<Msg> = self
                    .stale_pool
                    .get(&(from, to, ia, ib))
                    .map(|q| q.iter().cloned().collect())
                    .unwrap_or_default();
                if pool.is_empty() {
                    continue;
                }
                let k = self.rng.gen_range(1..=3);
                for _ in 0..k {
                    let m = pool[self.rng.gen_range(0..pool.len())].clone();
                    self.stats.stale_injected += 1;
                    let c = self.conns.get_mut(&p).expect("conn");
                    let dir = usize::from(c.a != from);
                    let pos = self.rng.gen_range(0..=c.q[dir].len());
                    let at = c.q[dir].get(pos).map_or(self.now_ms + 1, |e| e.0);
                    c.q[dir].insert(pos, (at, m));
                }
            }
        }
    }

    /// Crashes a region (connections stay half-open unless `reset`).
    pub fn crash(&mut self, id: RegionId, reset: bool) {
        if !self.regions[id as usize - 1].alive {
            return;
        }
        self.stats.crashes += 1;
        self.r(id).alive = false;
        let ps: Vec<_> = self
            .conns
            .keys()
            .copied()
            .filter(|&(a, b)| a == id || b == id)
            .collect();
        for p in ps {
            if reset {
                self.teardown(p);
            } else if let Some(c) = self.conns.get_mut(&p) {
                c.dead = Some(id);
                for q in c.q.iter_mut() {
                    q.clear();
                }
            }
        }
    }

    /// Restarts a crashed region from its durable image (when `durable` and it has one)
    /// or from nothing with a new replication id.
    pub fn restart(&mut self, id: RegionId, durable: bool) {
        if self.regions[id as usize - 1].alive {
            return;
        }
        // Its half-open connections are reset by the new incarnation.
        let ps: Vec<_> = self
            .conns
            .keys()
            .copied()
            .filter(|&(a, b)| a == id || b == id)
            .collect();
        for p in ps {
            self.teardown(p);
        }
        let image = if durable {
            self.regions[id as usize - 1].image.clone()
        } else {
            None
        };
        let (data, repl) = match image {
            Some(img) => {
                self.stats.restarts_durable += 1;
                let mut clock = HlcClock::new(id);
                clock.observe(img.clock_last);
                let applied = img.ks.applied().clone();
                self.must_have.raise(id, applied.get(id));
                let cfg = self.cfg(id, img.replication_id);
                let start = Start::Restored {
                    durable: applied,
                    recovering: img.recovering,
                };
                let repl = Replicator::new(cfg, img.log, start).expect("config");
                (
                    SimData {
                        ks: img.ks,
                        clock,
                        remote_applied: Vec::new(),
                    },
                    repl,
                )
            }
            None => {
                self.stats.restarts_empty += 1;
                // Its own durable ops may be gone with its disk (unless a peer has them).
                self.must_have.set(id, 0);
                let rid = self.new_repl_id();
                let cfg = self.cfg(id, rid);
                let repl = Replicator::new(cfg, MemLog::new(), Start::LostHistory).expect("config");
                self.r(id).image = None;
                (
                    SimData {
                        ks: Keyspace::new(),
                        clock: HlcClock::new(id),
                        remote_applied: Vec::new(),
                    },
                    repl,
                )
            }
        };
        let now = self.now_ms;
        let r = self.r(id);
        r.alive = true;
        r.incarnation += 1;
        r.data = data;
        r.repl = repl;
        r.next_image_ms = now;
        let t = self.wall_ms(id);
        let r = self.r(id);
        r.repl.on_tick(t, &mut r.data);
        self.drain(id);
    }

    /// Restarts a crashed region empty as `Start::Fresh` with a new replication id, as
    /// an operator who starts a region on a fresh data dir without `repl-join` does.
    pub fn restart_fresh(&mut self, id: RegionId) {
        if self.regions[id as usize - 1].alive {
            return;
        }
        let ps: Vec<_> = self
            .conns
            .keys()
            .copied()
            .filter(|&(a, b)| a == id || b == id)
            .collect();
        for p in ps {
            self.teardown(p);
        }
        self.stats.restarts_empty += 1;
        self.must_have.set(id, 0);
        let rid = self.new_repl_id();
        let cfg = self.cfg(id, rid);
        let repl = Replicator::new(cfg, MemLog::new(), Start::Fresh).expect("config");
        let now = self.now_ms;
        let r = self.r(id);
        r.image = None;
        r.alive = true;
        r.incarnation += 1;
        r.data = SimData {
            ks: Keyspace::new(),
            clock: HlcClock::new(id),
            remote_applied: Vec::new(),
        };
        r.repl = repl;
        r.next_image_ms = now;
    }

    /// Data messages (ops, snapshots) in flight on all connections.
    pub fn in_flight(&self) -> usize {
        self.conns
            .values()
            .flat_map(|c| c.q[0].iter().chain(c.q[1].iter()))
            .filter(|(_, m)| {
                matches!(
                    m,
                    Msg::Ops(_)
                        | Msg::SnapshotBegin { .. }
                        | Msg::SnapshotChunk(_)
                        | Msg::SnapshotEnd
                        | Msg::SnapshotAbort
                        | Msg::Adopted { .. }
                )
            })
            .count()
    }

    pub fn connected(&self, a: RegionId, b: RegionId) -> bool {
        self.conns.contains_key(&pair(a, b))
    }

    /// Everyone alive, connected, same applied vector, nothing in flight, GC done at
    /// the common vector.
    pub fn quiescent(&self) -> bool {
        let n = self.regions.len() as RegionId;
        if self.regions.iter().any(|r| !r.alive) || self.in_flight() > 0 {
            return false;
        }
        for a in 1..=n {
            for b in a + 1..=n {
                if !self.connected(a, b) {
                    return false;
                }
            }
        }
        let v = self.regions[0].data.ks.applied();
        self.regions.iter().all(|r| {
            let st = r.repl.status(&r.data);
            r.data.ks.applied() == v
                && st.stable.as_ref() == Some(v)
                && st.writable
                && st.peers.iter().all(|p| {
                    p.link == replication::core::LinkState::Streaming
                        && !p.receiving_snapshot
                        && p.inflight_bytes == 0
                })
        })
    }

    /// A few lines per region describing why the world is not quiescent (for failures).
    pub fn describe_state(&self) -> String {
        let mut out = String::new();
        for r in &self.regions {
            if !r.alive {
                out.push_str(&format!("\n  region {}: down", r.id));
                continue;
            }
            let st = r.repl.status(&r.data);
            out.push_str(&format!(
                "\n  region {}: applied {:?} stable {:?} writable {} recovering {} floor {:?} log {}",
                r.id,
                st.applied,
                st.stable,
                st.writable,
                r.repl.recovering(),
                st.log_floor,
                st.log_entries
            ));
            // Private state, from the Debug form.
            let dbg = format!("{:?}", r.repl);
            for field in ["recovery: ", "taint: ", "rescan_taint: "] {
                if let Some(i) = dbg.find(field) {
                    let rest = &dbg[i..];
                    let end = rest.find(", own_last_seq").unwrap_or(rest.len()).min(300);
                    out.push_str(&format!("\n    {}", &rest[..end]));
                }
            }
            for p in &st.peers {
                out.push_str(&format!(
                    "\n    peer {}: {:?} receiving_snapshot {} connected {} acked {:?} inflight {}",
                    p.region,
                    p.link,
                    p.receiving_snapshot,
                    self.connected(r.id, p.region),
                    p.acked_applied,
                    p.inflight_bytes
                ));
            }
        }
        out
    }

    /// Runs until quiescent (true) or `max_ms` passed (false).
    pub fn settle(&mut self, max_ms: u64) -> bool {
        let end = self.now_ms + max_ms;
        while self.now_ms < end {
            self.step();
            if self.quiescent() {
                return true;
            }
        }
        false
    }

    pub fn run_ms(&mut self, ms: u64) {
        let end = self.now_ms + ms;
        while self.now_ms < end {
            self.step();
        }
    }

    /// The final checks: identical states and observations, every surviving op
    /// everywhere, logs hold exactly the issued ops.
    pub fn check_converged(&self) -> Result<(), String> {
        let r0 = &self.regions[0];
        let obs0 = server::obs_keyspace(&r0.data.ks, 16);
        for r in &self.regions[1..] {
            if r.data.ks.applied() != r0.data.ks.applied() {
                return Err(format!(
                    "applied vectors differ: region 1 {:?}, region {} {:?}",
                    r0.data.ks.applied(),
                    r.id,
                    r.data.ks.applied()
                ));
            }
            let obs = server::obs_keyspace(&r.data.ks, 16);
            if obs != obs0 {
                let keys: BTreeSet<_> = obs0.keys().chain(obs.keys()).cloned().collect();
                let diff: Vec<_> = keys
                    .into_iter()
                    .filter(|k| obs0.get(k) != obs.get(k))
                    .take(3)
                    .map(|k| (obs0.get(&k).cloned(), obs.get(&k).cloned(), k))
                    .collect();
                return Err(format!(
                    "observed values differ between region 1 and {}: {:?}",
                    r.id, diff
                ));
            }
            if r.data.ks != r0.data.ks {
                let mut what = String::from("contexts differ");
                'dbs: for db in 0..16u8 {
                    let (a, b) = (r0.data.ks.db(db), r.data.ks.db(db));
                    for k in a.keys().chain(b.keys()) {
                        if a.get(k) != b.get(k) {
                            what = format!(
                                "db {db} key {:?}:\n  region 1: {:?}\n  region {}: {:?}",
                                String::from_utf8_lossy(k),
                                a.get(k),
                                r.id,
                                b.get(k)
                            );
                            break 'dbs;
                        }
                    }
                }
                return Err(format!(
                    "keyspace states differ between region 1 and {}: {what}",
                    r.id
                ));
            }
        }
        if !self.must_have.leq(r0.data.ks.applied()) {
            return Err(format!(
                "durably restored ops missing: must have {:?}, applied {:?}",
                self.must_have,
                r0.data.ks.applied()
            ));
        }
        for r in &self.regions {
            let log = r.repl.log();
            use replication::core::OpLog;
            for pos in log.start()..log.end() {
                let e = log.read(pos).expect("entry");
                match self.issued.get(&(e.origin, e.first_seq)) {
                    Some(b) if *b == e.op => {}
                    _ => {
                        return Err(format!(
                            "region {} logs op {}:{} that differs from the one issued",
                            r.id, e.origin, e.first_seq
                        ))
                    }
                }
            }
        }
        Ok(())
    }
}

/// One-line description of a message for traces.
pub fn describe(m: &Msg) -> String {
    match m {
        Msg::Hello {
            replication_id,
            applied,
            ..
        } => format!("Hello id={replication_id} {applied:?}"),
        Msg::Ops(es) => format!(
            "Ops[{}] {:?}",
            es.len(),
            es.iter()
                .map(|e| (e.origin, e.first_seq))
                .take(6)
                .collect::<Vec<_>>()
        ),
        Msg::SnapshotBegin { ctx } => format!("SnapshotBegin {:?}", ctx.vv()),
        Msg::SnapshotChunk(k) => format!("SnapshotChunk[{}]", k.len()),
        Msg::SnapshotEnd => "SnapshotEnd".into(),
        Msg::SnapshotAbort => "SnapshotAbort".into(),
        Msg::Adopted { origin, to_seq } => format!("Adopted {origin}:{to_seq}"),
        Msg::Ack { applied, durable } => format!("Ack {applied:?} durable {durable:?}"),
        Msg::Heartbeat { now_ms } => format!("Heartbeat {now_ms}"),
        Msg::Publish { .. } => "Publish".into(),
    }
}

/// A random command on a random key (every value type, expiry, deletes, type conflicts).
pub fn random_cmd(rng: &mut StdRng, wall_ms: u64) -> (u8, Vec<u8>, Cmd) {
    let db = if rng.gen_bool(0.8) { 0 } else { 1 };
    let key = format!("k{}", rng.gen_range(0..8)).into_bytes();
    let m = |rng: &mut StdRng| format!("m{}", rng.gen_range(0..5)).into_bytes();
    let cmd = match rng.gen_range(0..17) {
        0 | 1 => Cmd::Set(format!("v{}", rng.gen_range(0..100)).into_bytes()),
        2 => Cmd::IncrBy(rng.gen_range(-5..=5)),
        3 => Cmd::IncrByFloat(rng.gen_range(-4..=4) as f64 * 0.5),
        4 => Cmd::SAdd((0..rng.gen_range(1..=3)).map(|_| m(rng)).collect()),
        5 => Cmd::SRem(vec![m(rng)]),
        6 => {
            let mut fs: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
            for _ in 0..rng.gen_range(1..=2) {
                let f = m(rng);
                if !fs.iter().any(|(x, _)| *x == f) {
                    fs.push((f, format!("{}", rng.gen_range(0..9)).into_bytes()));
                }
            }
            Cmd::HSet(fs)
        }
        7 => Cmd::HDel(vec![m(rng)]),
        8 => Cmd::HIncrBy(m(rng), rng.gen_range(-3..=3)),
        9 => Cmd::HIncrByFloat(m(rng), 0.25),
        10 => {
            let mut ms: Vec<(f64, Vec<u8>)> = Vec::new();
            for _ in 0..rng.gen_range(1..=2) {
                let x = m(rng);
                if !ms.iter().any(|(_, y)| *y == x) {
                    ms.push((rng.gen_range(0..10) as f64, x));
                }
            }
            Cmd::ZAdd(ms)
        }
        11 => Cmd::ZIncrBy(rng.gen_range(1..=3) as f64, m(rng)),
        12 => Cmd::ZRem(vec![m(rng)]),
        13 | 14 => Cmd::Del,
        15 => Cmd::ExpireAt(wall_ms + rng.gen_range(0..60_000)),
        _ => Cmd::Persist,
    };
    (db, key, cmd)
}

/// A random op: one command, sometimes several on distinct keys (MULTI/EXEC).
pub fn random_op(rng: &mut StdRng, wall_ms: u64) -> Vec<(u8, Vec<u8>, Cmd)> {
    let n = if rng.gen_bool(0.15) {
        rng.gen_range(2..=3)
    } else {
        1
    };
    (0..n).map(|_| random_cmd(rng, wall_ms)).collect()
}
