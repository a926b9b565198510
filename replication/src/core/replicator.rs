//! The per-region replication state machine (protocol described in [`crate::core`]).

use crate::core::config::{Config, Start};
use crate::core::data::{Data, SnapshotCursor};
use crate::core::error::{CloseReason, ProtocolError, ReplError};
use crate::core::oplog::{MemLog, OpLog};
use crate::core::output::{Event, Output, TrimReason};
use crate::core::status::{LinkState, PeerStatus, ReplicationStatus, SnapshotProgress};
use crate::msg::{LogEntry, Msg, PROTOCOL_VERSION};
use crdt::keyspace::DATABASES;
use crdt::{CausalContext, Dot, DotStore, RegionId, VersionVector};
use std::collections::{BTreeMap, VecDeque};

/// Pending acks kept per peer until they become usable for stability.
const GC_PENDING_MAX: usize = 16;
/// Entries trimmed per tick at most (bounds one tick's work).
const TRIM_PER_TICK_MAX: u64 = 1 << 20;

/// What this region sends on a session's data stream.
#[derive(Debug)]
enum SendState {
    /// No `Hello` from the peer yet.
    AwaitHello,
    /// Streaming log entries from `cursor`.
    Streaming { cursor: u64 },
    /// Sending a snapshot; afterwards stream from `log_pos` (the log end at the start).
    Snapshot {
        cursor: SnapshotCursor,
        begin: CausalContext,
        log_pos: u64,
        /// Keys sent so far (progress).
        keys_sent: u64,
        /// With persistence: a chunk read while own ops up to `.2` were applied but not
        /// all durable, and where to resume after it; sent once they are durable.
        held: Option<(
            Vec<crate::core::data::SnapshotKey>,
            Option<SnapshotCursor>,
            u64,
        )>,
        /// With persistence: `SnapshotBegin` not sent yet because its context holds own
        /// ops up to this seq that are not durable yet.
        begin_need: Option<u64>,
    },
    /// A snapshot is needed; it starts when no incoming snapshot is open here.
    FullPending,
}

/// One connection to a peer.
#[derive(Debug)]
struct Session {
    /// Replication id of the first `Hello` on this link.
    hello_id: Option<u64>,
    /// What the peer has (or will have, for entries sent): its hello, acks, snapshot and
    /// entries both ways. Entries at or below it are never sent.
    known: VersionVector,
    send: SendState,
    /// An open snapshot from the peer.
    incoming: Option<Incoming>,
    /// Entries received while another peer's snapshot is open (bounded by twice
    /// `inflight_bytes_max`, which the sender's own in-flight bound keeps us under).
    held: VecDeque<LogEntry>,
    held_bytes: u64,
    /// Per origin, the last seq among `held` (a duplicate of a held entry is dropped).
    held_top: VersionVector,
    /// Entries sent and not yet acknowledged: (origin, last seq, bytes).
    inflight: VecDeque<(RegionId, u64, u64)>,
    inflight_bytes: u64,
    last_heard_ms: u64,
    last_heartbeat_ms: u64,
    last_ack_ms: u64,
    last_ack: Option<(VersionVector, VersionVector)>,
    recv_bytes_since_ack: u64,
}

/// A snapshot being received: its context and the last key position merged.
#[derive(Debug)]
struct Incoming {
    ctx: CausalContext,
    cursor: SnapshotCursor,
    /// Keys merged so far (progress).
    keys: u64,
}

/// Whether `(db, key)` lies strictly after the cursor position.
fn after_cursor(c: &SnapshotCursor, db: u8, key: &[u8]) -> bool {
    db > c.db || (db == c.db && c.after.as_deref().is_none_or(|a| key > a))
}

/// What this region remembers about a peer across sessions.
#[derive(Debug, Default)]
struct Peer {
    replication_id: Option<u64>,
    acked_applied: VersionVector,
    acked_durable: VersionVector,
    has_acked: bool,
    /// Latest durable ack usable for stability (this session only).
    gc_ack: Option<VersionVector>,
    /// Later acks, waiting until this region applied the peer's own ops they cover.
    gc_pending: VecDeque<VersionVector>,
    partial_resyncs: u64,
    full_resyncs_sent: u64,
    full_resyncs_received: u64,
    last_heartbeat_peer_ms: Option<u64>,
    last_heard_ms: Option<u64>,
    session: Option<Session>,
}

/// One region's replication core. Generic over its op log (default: [`MemLog`]).
///
/// Drive it with the `on_*` inputs and drain [`Replicator::poll_output`] after each one.
/// The region's data is passed to every input that needs it (`&mut dyn Data`).
#[derive(Debug)]
pub struct Replicator<L: OpLog = MemLog> {
    cfg: Config,
    log: L,
    now_ms: u64,
    durable: VersionVector,
    peers: BTreeMap<RegionId, Peer>,
    out: VecDeque<Output>,
    /// After a loss of history: the hellos heard so far (writes wait for all of them),
    /// each with the replication id of the incarnation that sent it.
    recovery: Option<BTreeMap<RegionId, (u64, VersionVector)>>,
    /// Per origin, the highest dot merged from snapshot chunks (reset once `applied`
    /// covers it).
    taint: VersionVector,
    /// Restored from state saved while tainted or recovering: the taint was lost with
    /// the process and is recomputed from the data before writes or GC may resume.
    rescan_taint: bool,
    own_last_seq: u64,
    /// The highest own dot peers' hellos report holding (see `adopt_orphans`).
    orphan_top: u64,
    /// Own sequence numbers adopted up to here (announced to peers that lack them).
    adopted_own: u64,
    /// Per origin, the highest adoption announced to this region.
    adopted_seen: VersionVector,
    /// Peers owed a full snapshot of this region's state after an adoption (see
    /// [`Msg::Adopted`]); cleared once one was sent completely.
    owed_full: std::collections::BTreeSet<RegionId>,
    last_gc_ms: u64,
    last_stable: Option<VersionVector>,
    /// Regions removed at run time: their cutoff (highest sequence number accepted)
    /// and how many of their entries were refused.
    removed: BTreeMap<RegionId, Removed>,
}

/// A region removed at run time.
#[derive(Debug, Clone, Copy)]
struct Removed {
    /// Its ops up to here are shared history and accepted (relayed); later ones are
    /// refused.
    cutoff: u64,
    refused: u64,
}

impl<L: OpLog> Replicator<L> {
    /// A replicator for `cfg` over `log` (empty, or restored with the data for
    /// [`Start::Restored`]).
    pub fn new(cfg: Config, log: L, start: Start) -> Result<Replicator<L>, ReplError> {
        cfg.validate()?;
        let peers = cfg.peers.iter().map(|&p| (p, Peer::default())).collect();
        let (durable, recovery, rescan_taint) = match start {
            Start::Fresh => (VersionVector::new(), None, false),
            Start::Restored {
                durable,
                recovering,
            } => (durable, recovering.then(BTreeMap::new), recovering),
            Start::LostHistory => (VersionVector::new(), Some(BTreeMap::new()), false),
        };
        let own_last_seq = durable.get(cfg.region);
        let removed = cfg
            .removed
            .iter()
            .map(|&(r, cutoff)| (r, Removed { cutoff, refused: 0 }))
            .collect();
        Ok(Replicator {
            cfg,
            log,
            now_ms: 0,
            durable,
            peers,
            out: VecDeque::new(),
            recovery,
            taint: VersionVector::new(),
            rescan_taint,
            own_last_seq,
            orphan_top: 0,
            adopted_own: 0,
            adopted_seen: VersionVector::new(),
            owed_full: Default::default(),
            last_gc_ms: 0,
            last_stable: None,
            removed,
        })
    }

    /// Input: `peer` joins the cluster at run time (the shell owner opens its link).
    /// Returns `false` when it is a peer already. A peer removed earlier may be added
    /// again; if some of its entries were refused meanwhile, every link is closed once
    /// so that each peer's next handshake resends them (see "Membership" in
    /// [`crate::core`]).
    pub fn add_peer(&mut self, peer: RegionId) -> Result<bool, ReplError> {
        if peer == 0 || peer == self.cfg.region {
            return Err(ReplError::Config(format!(
                "region {peer} cannot be a peer of region {}",
                self.cfg.region
            )));
        }
        if self.peers.contains_key(&peer) {
            return Ok(false);
        }
        let refused = self.removed.remove(&peer).map_or(0, |r| r.refused);
        self.cfg.removed.retain(|&(r, _)| r != peer);
        self.cfg.peers.push(peer);
        self.peers.insert(peer, Peer::default());
        self.event(Event::PeerAdded { peer });
        if refused > 0 {
            let ids: Vec<RegionId> = self
                .peers
                .iter()
                .filter(|(_, p)| p.session.is_some())
                .map(|(&id, _)| id)
                .collect();
            for id in ids {
                self.close(id, CloseReason::Membership);
            }
        }
        Ok(true)
    }

    /// Input: `peer` leaves the cluster at run time. Its session ends at once (no
    /// `Close` output: the shell owner drops the link for good), it leaves trimming,
    /// WAIT and recovery, and its ops beyond its *cutoff* are refused from now on. The
    /// cutoff is the highest of its sequence numbers this region or any peer is known
    /// to have applied: those ops are shared history and still travel (relayed). Its
    /// version-vector entries are kept (see "Membership" in [`crate::core`]). Returns
    /// the cutoff, `None` when it was not a peer.
    pub fn remove_peer(&mut self, peer: RegionId, data: &dyn Data) -> Option<u64> {
        let gone = self.peers.remove(&peer)?;
        let mut cutoff = data.applied().get(peer).max(gone.acked_applied.get(peer));
        for p in self.peers.values() {
            cutoff = cutoff.max(p.acked_applied.get(peer));
        }
        self.cfg.peers.retain(|&r| r != peer);
        self.cfg.removed.push((peer, cutoff));
        self.removed.insert(peer, Removed { cutoff, refused: 0 });
        if let Some(h) = self.recovery.as_mut() {
            h.remove(&peer);
        }
        self.last_stable = None;
        self.event(Event::PeerRemoved { peer });
        self.check_recovery(data);
        self.pump_all(false);
        Some(cutoff)
    }

    /// Regions removed at run time, with their cutoffs (store them with the
    /// membership: a restart passes them back in [`Config::removed`]).
    pub fn removed_peers(&self) -> Vec<(RegionId, u64)> {
        self.removed.iter().map(|(&r, x)| (r, x.cutoff)).collect()
    }

    fn refuses(&self, origin: RegionId, last_seq: u64) -> bool {
        self.removed
            .get(&origin)
            .is_some_and(|r| last_seq > r.cutoff)
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// The op log.
    pub fn log(&self) -> &L {
        &self.log
    }

    /// The next output, if any.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    fn send(&mut self, peer: RegionId, msg: Msg) {
        self.out.push_back(Output::Send { peer, msg });
    }

    fn event(&mut self, e: Event) {
        self.out.push_back(Output::Event(e));
    }

    fn durable_vv(&self, data: &dyn Data) -> VersionVector {
        if self.cfg.persistence {
            self.durable.clone()
        } else {
            data.applied()
        }
    }

    fn known_origin(&self, r: RegionId) -> bool {
        r == self.cfg.region || self.peers.contains_key(&r) || self.removed.contains_key(&r)
    }

    /// Whether the data, if saved now, needs recovery after a restart (persist this with
    /// the data; see [`Start::Restored`]): true while the region is recovering a lost
    /// history, and while its data may hold state merged from a snapshot beyond what it
    /// applied (the *taint*, kept in memory only: a restart from such state must not
    /// write before it applied the ops that made that state, see
    /// [`Replicator::local_writes_allowed`]).
    pub fn recovering(&self) -> bool {
        self.recovery.is_some() || !self.taint.is_empty() || self.rescan_taint
    }

    /// After a restart from state saved while `recovering()`: the taint is the highest
    /// dot per origin the data holds (merged snapshot state may be in it).
    fn rescan_taint(&mut self, data: &dyn Data) {
        if std::mem::take(&mut self.rescan_taint) {
            self.taint = data.max_dots();
        }
    }

    /// Forgets the taint once the applied vector covers it.
    fn clear_taint(&mut self, data: &dyn Data) {
        if !self.rescan_taint && !self.taint.is_empty() && self.taint.leq(&data.applied()) {
            self.taint = VersionVector::new();
        }
    }

    /// Whether the node may accept local writes now. False while a region that lost its
    /// history has not heard from every peer and caught up with them, and while state
    /// merged from a snapshot holds dots this region has not applied yet (a local op
    /// built on it would carry those dots in its context without the region having
    /// applied the ops that made them: not a causal delivery for the receivers).
    pub fn local_writes_allowed(&self, data: &dyn Data) -> bool {
        self.recovery.is_none() && !self.rescan_taint && self.taint.leq(&data.applied())
    }

    /// Input: a local write, already applied to the data (the node's `DeltaSink`).
    pub fn on_local_op(&mut self, entry: LogEntry) -> Result<(), ReplError> {
        if entry.origin != self.cfg.region {
            return Err(ReplError::ForeignOrigin {
                region: self.cfg.region,
                got: entry.origin,
            });
        }
        if entry.first_seq != self.own_last_seq + 1 || entry.last_seq < entry.first_seq {
            return Err(ReplError::SeqOrder {
                last: self.own_last_seq,
                first_seq: entry.first_seq,
                last_seq: entry.last_seq,
            });
        }
        self.own_last_seq = entry.last_seq;
        self.log.append(entry, self.now_ms);
        // Appending is O(1): the entry leaves with the next `on_tick`'s batch (pumping
        // here scanned the whole unsent tail for every op while a batch waited).
        Ok(())
    }

    /// Input: persistence made everything up to `vv` durable.
    pub fn on_durable(&mut self, vv: &VersionVector) {
        self.durable.join(vv);
        self.pump_all(false);
    }

    /// Input: a link to `peer` is up; sends our `Hello`.
    pub fn on_connected(&mut self, peer: RegionId, data: &dyn Data) {
        let Some(p) = self.peers.get_mut(&peer) else {
            self.out.push_back(Output::Close {
                peer,
                reason: CloseReason::Protocol(ProtocolError::UnknownPeer(peer)),
            });
            return;
        };
        p.gc_ack = None;
        p.gc_pending.clear();
        p.session = Some(Session {
            hello_id: None,
            known: VersionVector::new(),
            send: SendState::AwaitHello,
            incoming: None,
            held: VecDeque::new(),
            held_bytes: 0,
            held_top: VersionVector::new(),
            inflight: VecDeque::new(),
            inflight_bytes: 0,
            last_heard_ms: self.now_ms,
            last_heartbeat_ms: self.now_ms,
            last_ack_ms: self.now_ms,
            last_ack: None,
            recv_bytes_since_ack: 0,
        });
        self.rescan_taint(data);
        let applied = data.applied();
        let seen = VersionVector::from_pairs(
            self.taint
                .iter()
                .filter(|&(r, n)| n > applied.get(r))
                .collect::<Vec<_>>(),
        );
        let hello = Msg::Hello {
            version: PROTOCOL_VERSION,
            region: self.cfg.region,
            replication_id: self.cfg.replication_id,
            applied,
            seen,
        };
        self.send(peer, hello);
    }

    /// Input: the link to `peer` is down (idempotent).
    pub fn on_disconnected(&mut self, peer: RegionId) {
        if let Some(p) = self.peers.get_mut(&peer) {
            p.session = None;
            p.gc_ack = None;
            p.gc_pending.clear();
        }
    }

    fn close(&mut self, peer: RegionId, reason: CloseReason) {
        self.on_disconnected(peer);
        self.out.push_back(Output::Close { peer, reason });
    }

    /// Input: a message from `peer`.
    pub fn on_message(&mut self, peer: RegionId, msg: Msg, data: &mut dyn Data) {
        if !self.peers.contains_key(&peer) {
            self.out.push_back(Output::Close {
                peer,
                reason: CloseReason::Protocol(ProtocolError::UnknownPeer(peer)),
            });
            return;
        }
        self.rescan_taint(data);
        let now = self.now_ms;
        let p = self.peers.get_mut(&peer).expect("checked");
        let Some(s) = p.session.as_mut() else {
            return; // stale message of a closed link
        };
        s.last_heard_ms = now;
        p.last_heard_ms = Some(now);
        let r = match msg {
            Msg::Hello {
                version,
                region,
                replication_id,
                applied,
                seen,
            } => self
                .on_hello(peer, version, region, replication_id, applied, data)
                .and_then(|()| self.note_seen(&seen)),
            Msg::Ops(entries) => self.on_ops(peer, entries, data),
            Msg::SnapshotBegin { ctx } => self.on_snapshot_begin(peer, ctx),
            Msg::SnapshotChunk(keys) => self.on_snapshot_chunk(peer, keys, data),
            Msg::SnapshotEnd => self.on_snapshot_end(peer, data),
            Msg::SnapshotAbort => {
                self.on_snapshot_abort(peer, data);
                Ok(())
            }
            Msg::Adopted { origin, to_seq } => self.on_adopted(origin, to_seq, data),
            Msg::Ack { applied, durable } => {
                self.on_ack(peer, applied, durable, data);
                Ok(())
            }
            Msg::Heartbeat { now_ms } => {
                if let Some(p) = self.peers.get_mut(&peer) {
                    p.last_heartbeat_peer_ms = Some(now_ms);
                }
                Ok(())
            }
            Msg::Publish {
                origin,
                channel,
                message,
                shard,
            } => {
                self.out.push_back(Output::Publish {
                    origin,
                    channel,
                    message,
                    shard,
                });
                Ok(())
            }
        };
        if let Err(e) = r {
            self.close(peer, CloseReason::Protocol(e));
        }
    }

    fn session(&mut self, peer: RegionId) -> Option<&mut Session> {
        self.peers.get_mut(&peer)?.session.as_mut()
    }

    fn on_hello(
        &mut self,
        peer: RegionId,
        version: u32,
        region: RegionId,
        replication_id: u64,
        applied: VersionVector,
        data: &dyn Data,
    ) -> Result<(), ProtocolError> {
        if version != PROTOCOL_VERSION {
            return Err(ProtocolError::Version {
                got: version,
                want: PROTOCOL_VERSION,
            });
        }
        if region != peer {
            return Err(ProtocolError::WrongRegion {
                claimed: region,
                link: peer,
            });
        }

        let p = self.peers.get_mut(&peer).expect("checked");
        let s = p.session.as_mut().expect("checked");
        if let Some(first) = s.hello_id {
            if first != replication_id {
                return Err(ProtocolError::ReplicationIdChanged {
                    first,
                    got: replication_id,
                });
            }
            // A duplicate (or old) hello: it only tells what the peer had; nothing restarts.
            s.known.join(&applied);
            return Ok(());
        }
        s.hello_id = Some(replication_id);
        s.known.join(&applied);
        let lost = p.replication_id.is_some_and(|id| id != replication_id);
        p.replication_id = Some(replication_id);
        // The hello is the truth about what the peer applied now.
        p.acked_applied = applied.clone();
        if !lost {
            // Same incarnation: whatever it acked as durable survived any restart.
            s.known.join(&p.acked_durable);
        } else {
            p.acked_durable = VersionVector::new();
            p.has_acked = false;
            self.event(Event::PeerHistoryLost {
                peer,
                replication_id,
            });
        }
        let own = self.cfg.region;
        if self.recovery.is_none() && applied.get(own) > data.applied().get(own) {
            // The peer holds ops of ours this region never applied: it started without
            // its history under an id that was used before (a fresh data dir without
            // `repl-join`, e.g. a region removed and added back). Writing on would reuse
            // those sequence numbers and the peers would drop the new ops as duplicates:
            // recover as after a loss of history (writes wait until caught up with every
            // peer). The hellos already heard on other links count.
            let mut heard = BTreeMap::new();
            for (&id, q) in &self.peers {
                let hello = q.session.as_ref().and_then(|s| s.hello_id);
                if let (Some(rid), true) = (hello, id != peer) {
                    heard.insert(id, (rid, q.acked_applied.clone()));
                }
            }
            self.recovery = Some(heard);
            self.event(Event::OwnHistoryAhead {
                peer,
                seq: applied.get(own),
            });
        }
        if let Some(h) = self.recovery.as_mut() {
            // The latest hello replaces what an earlier session of the peer said: ops it
            // held then and no longer holds (an earlier incarnation that lost its
            // history, or a restart from durable state that lost the ops applied after
            // it) are gone from there, and waiting for them would keep this region
            // read-only forever (sim seed 506). Any other region that holds them says
            // so in its own hello.
            h.insert(peer, (replication_id, applied.clone()));
        }
        if self.adopted_own > applied.get(self.cfg.region) {
            let (origin, to_seq) = (self.cfg.region, self.adopted_own);
            self.send(peer, Msg::Adopted { origin, to_seq });
        }
        self.start_stream(peer, data);
        Ok(())
    }

    /// A valid hello's `seen`: only this region issues its dots, so any of them the peer
    /// holds above what this region applied was issued by an incarnation that lost its
    /// history (see `adopt_orphans`).
    fn note_seen(&mut self, seen: &VersionVector) -> Result<(), ProtocolError> {
        let own = seen.get(self.cfg.region);
        if own > crdt::dot::SEQ_MAX {
            return Err(ProtocolError::BadRange {
                origin: self.cfg.region,
                first_seq: own,
                last_seq: own,
            });
        }
        self.orphan_top = self.orphan_top.max(own);
        Ok(())
    }

    /// An origin adopted orphaned sequence numbers: send this region's full state to
    /// every peer once (see [`Msg::Adopted`]).
    fn on_adopted(
        &mut self,
        origin: RegionId,
        to_seq: u64,
        data: &dyn Data,
    ) -> Result<(), ProtocolError> {
        if !self.known_origin(origin) {
            return Err(ProtocolError::UnknownOrigin(origin));
        }
        if origin == self.cfg.region || to_seq <= self.adopted_seen.get(origin) {
            return Ok(());
        }
        self.adopted_seen.raise(origin, to_seq);
        self.owed_full = self.peers.keys().copied().collect();
        let ids: Vec<RegionId> = self.peers.keys().copied().collect();
        for id in ids {
            let Some(s) = self.session(id) else { continue };
            if matches!(s.send, SendState::Streaming { .. }) {
                s.send = SendState::FullPending;
                self.try_start_full(id, data);
            }
        }
        Ok(())
    }

    /// Answers a handshake: partial resync from the log when it reaches back far enough
    /// for every origin, else a full resync.
    fn start_stream(&mut self, peer: RegionId, data: &dyn Data) {
        let floor = self.log.floor();
        let regions: Vec<RegionId> = std::iter::once(self.cfg.region)
            .chain(self.cfg.peers.iter().copied())
            .collect();
        let s = self.peers.get_mut(&peer).and_then(|p| p.session.as_mut());
        let Some(s) = s else { return };
        if floor.leq(&s.known) && !self.owed_full.contains(&peer) {
            let cursor = regions
                .iter()
                .filter_map(|&r| self.log.first_after(r, s.known.get(r)))
                .min()
                .unwrap_or_else(|| self.log.end());
            s.send = SendState::Streaming { cursor };
            self.peers.get_mut(&peer).expect("peer").partial_resyncs += 1;
            self.event(Event::PartialResync { peer });
            self.pump_ops(peer, false);
        } else {
            s.send = SendState::FullPending;
            self.try_start_full(peer, data);
        }
    }

    fn receiving_snapshot(&self) -> bool {
        self.peers
            .values()
            .any(|p| p.session.as_ref().is_some_and(|s| s.incoming.is_some()))
    }

    /// With persistence, a snapshot must not carry own ops that are not durable yet (a
    /// crash would lose them here while the peer keeps their effects, and the restarted
    /// region would issue their sequence numbers again for other ops): its begin and each
    /// chunk wait until the own ops applied when they were read are durable (see
    /// `pump_snapshot`).
    fn own_ops_durable(&self, data: &dyn Data) -> bool {
        let r = self.cfg.region;
        !self.cfg.persistence || data.applied().get(r) <= self.durable.get(r)
    }

    fn try_start_full(&mut self, peer: RegionId, data: &dyn Data) {
        if self.receiving_snapshot() || !self.own_ops_durable(data) {
            return; // retried on tick (an incoming snapshot's end raises the floor)
        }
        let begin_need = (!self.own_ops_durable(data)).then(|| data.applied().get(self.cfg.region));
        let log_pos = self.log.end();
        let Some(s) = self.session(peer) else { return };
        if !matches!(s.send, SendState::FullPending) {
            return;
        }
        let begin = data.ctx();
        s.send = SendState::Snapshot {
            cursor: SnapshotCursor::default(),
            begin: begin.clone(),
            log_pos,
            keys_sent: 0,
            held: None,
            begin_need,
        };
        self.peers.get_mut(&peer).expect("peer").full_resyncs_sent += 1;
        self.event(Event::FullResyncStarted { peer });
        if begin_need.is_none() {
            self.send(peer, Msg::SnapshotBegin { ctx: begin });
        }
    }

    fn on_ops(
        &mut self,
        peer: RegionId,
        entries: Vec<LogEntry>,
        data: &mut dyn Data,
    ) -> Result<(), ProtocolError> {
        let max = self.cfg.batch_ops_max.saturating_mul(4);
        if entries.len() > max {
            return Err(ProtocolError::TooLarge {
                what: "ops batch",
                len: entries.len(),
                max,
            });
        }
        if self.session(peer).is_some_and(|s| s.incoming.is_some()) {
            return Err(ProtocolError::OpsInSnapshot);
        }
        let busy = self.receiving_snapshot();
        let hold_max = 2 * self.cfg.inflight_bytes_max as u64;
        let applied = data.applied();
        let s = self.session(peer).expect("checked");
        if busy || !s.held.is_empty() {
            // Another peer's snapshot is open: its context is not ours yet, and an op it
            // covers applied now could be resurrected or lost by its chunks. Hold these
            // entries (the sender stops at its in-flight bound since acks do not move);
            // duplicates of applied or held entries are dropped, they do not count.
            for e in entries {
                let top = applied.get(e.origin).max(s.held_top.get(e.origin));
                if e.last_seq <= top {
                    continue;
                }
                s.held_top.raise(e.origin, e.last_seq);
                s.held_bytes += e.op.len() as u64;
                s.held.push_back(e);
            }
            if s.held_bytes > hold_max {
                return Err(ProtocolError::TooLarge {
                    what: "held ops (bytes)",
                    len: s.held_bytes as usize,
                    max: hold_max as usize,
                });
            }
            if !busy {
                self.release_held(data);
            }
            return Ok(());
        }
        self.apply_entries(peer, entries, data)
    }

    /// Applies entries received while a snapshot was open, once none is.
    fn release_held(&mut self, data: &mut dyn Data) {
        if self.receiving_snapshot() {
            return;
        }
        let ids: Vec<RegionId> = self.peers.keys().copied().collect();
        for id in ids {
            let Some(s) = self.session(id) else { continue };
            if s.held.is_empty() {
                continue;
            }
            let entries: Vec<LogEntry> = std::mem::take(&mut s.held).into();
            s.held_bytes = 0;
            s.held_top = VersionVector::new();
            if let Err(e) = self.apply_entries(id, entries, data) {
                self.close(id, CloseReason::Protocol(e));
            }
        }
    }

    fn apply_entries(
        &mut self,
        peer: RegionId,
        entries: Vec<LogEntry>,
        data: &mut dyn Data,
    ) -> Result<(), ProtocolError> {
        let mut applied = data.applied();
        let mut any = false;
        let mut bytes = 0u64;
        let mut result = Ok(());
        let mut refused: BTreeMap<RegionId, u64> = BTreeMap::new();
        for e in entries {
            if self.refuses(e.origin, e.last_seq) {
                // A removed region's op beyond its cutoff (relayed by a peer that has
                // not removed it yet): refused, neither applied nor logged nor relayed.
                if let Some(r) = self.removed.get_mut(&e.origin) {
                    r.refused += 1;
                }
                *refused.entry(e.origin).or_default() += 1;
                bytes += e.op.len() as u64;
                if let Some(s) = self.session(peer) {
                    s.known.raise(e.origin, e.last_seq);
                }
                continue;
            }
            if let Err(err) = self.check_entry(&e, &applied) {
                result = Err(err);
                break;
            }
            bytes += e.op.len() as u64;
            let (origin, last) = (e.origin, e.last_seq);
            if last > applied.get(origin) {
                let op = match crdt::codec::decode_op(&e.op) {
                    Ok(op) => op,
                    Err(err) => {
                        result = Err(err.into());
                        break;
                    }
                };
                if op.dot != Dot::new(origin, last) {
                    result = Err(ProtocolError::OpMismatch {
                        origin,
                        last_seq: last,
                        op_region: op.dot.region(),
                        op_seq: op.dot.seq(),
                    });
                    break;
                }
                data.apply(&op);
                applied.raise(origin, last);
                if origin == self.cfg.region {
                    self.own_last_seq = self.own_last_seq.max(last);
                }
                self.log.append(e, self.now_ms);
                any = true;
            }
            if let Some(s) = self.session(peer) {
                s.known.raise(origin, last);
            }
        }
        if let Some(s) = self.session(peer) {
            s.recv_bytes_since_ack += bytes;
        }
        for (origin, entries) in refused {
            self.event(Event::RemovedOriginRefused {
                peer,
                origin,
                entries,
            });
        }
        if any {
            self.check_recovery(data);
            self.pump_all(false);
        }
        let threshold_bytes = self.cfg.inflight_bytes_max as u64;
        let ack_now = self
            .session(peer)
            .is_some_and(|s| s.recv_bytes_since_ack * 2 >= threshold_bytes);
        if result.is_ok() && ack_now {
            self.send_ack(peer, data);
        }
        result
    }

    /// An entry is a duplicate (entirely applied: skipped), new (starts right after what
    /// is applied from its origin), or a protocol violation.
    fn check_entry(&self, e: &LogEntry, applied: &VersionVector) -> Result<(), ProtocolError> {
        if !self.known_origin(e.origin) {
            return Err(ProtocolError::UnknownOrigin(e.origin));
        }
        if e.first_seq == 0 || e.last_seq < e.first_seq || e.last_seq > crdt::dot::SEQ_MAX {
            return Err(ProtocolError::BadRange {
                origin: e.origin,
                first_seq: e.first_seq,
                last_seq: e.last_seq,
            });
        }
        let a = applied.get(e.origin);
        if e.last_seq <= a || e.first_seq == a + 1 {
            Ok(())
        } else {
            Err(ProtocolError::Gap {
                origin: e.origin,
                first_seq: e.first_seq,
                last_seq: e.last_seq,
                applied: a,
            })
        }
    }

    fn on_snapshot_begin(
        &mut self,
        peer: RegionId,
        ctx: CausalContext,
    ) -> Result<(), ProtocolError> {
        if let Some((&other, _)) = self
            .peers
            .iter()
            .find(|(&id, p)| id != peer && p.session.as_ref().is_some_and(|s| s.incoming.is_some()))
        {
            return Err(ProtocolError::SnapshotBusy(other));
        }
        let p = self.peers.get_mut(&peer).expect("checked");
        p.full_resyncs_received += 1;
        let s = p.session.as_mut().expect("checked");
        s.known.join(ctx.vv());
        // A new begin abandons an open snapshot: keys merged so far are harmless (every
        // key is merged again with the new context).
        s.incoming = Some(Incoming {
            ctx,
            cursor: SnapshotCursor::default(),
            keys: 0,
        });
        self.event(Event::SnapshotReceiving { peer });
        Ok(())
    }

    /// Merges this region's keys in `(cursor, upto]` that the snapshot lacks as absent
    /// keys: whatever they hold that the snapshot's context has seen was removed there.
    fn reconcile_absent(
        &mut self,
        ctx: &CausalContext,
        cursor: &SnapshotCursor,
        upto: Option<(u8, &[u8])>,
        present: &std::collections::BTreeSet<(u8, &[u8])>,
        data: &mut dyn Data,
    ) {
        let bottom = crdt::Key::default();
        let mut from = cursor.clone();
        loop {
            let (keys, next) =
                data.keys_in_range(&from, upto, self.cfg.snapshot_chunk_keys_max.max(64));
            for (db, key) in &keys {
                if !present.contains(&(*db, &key[..])) {
                    data.merge_key(*db, key, &bottom, ctx);
                }
            }
            match next {
                Some(n) => from = n,
                None => break,
            }
        }
    }

    fn on_snapshot_chunk(
        &mut self,
        peer: RegionId,
        keys: Vec<(u8, Vec<u8>, Vec<u8>)>,
        data: &mut dyn Data,
    ) -> Result<(), ProtocolError> {
        let max = self.cfg.snapshot_chunk_keys_max.saturating_mul(4);
        if keys.len() > max {
            return Err(ProtocolError::TooLarge {
                what: "snapshot chunk",
                len: keys.len(),
                max,
            });
        }
        let s = self.session(peer).expect("checked");
        let Some(inc) = s.incoming.as_ref() else {
            return Err(ProtocolError::NoSnapshot("snapshot chunk"));
        };
        let (ctx, cursor) = (inc.ctx.clone(), inc.cursor.clone());
        let mut pos = cursor.clone();
        let mut decoded = Vec::with_capacity(keys.len());
        for (db, key, state) in &keys {
            if *db as usize >= DATABASES {
                return Err(ProtocolError::BadDatabase(*db));
            }
            if !after_cursor(&pos, *db, key) {
                return Err(ProtocolError::SnapshotOrder);
            }
            pos = SnapshotCursor {
                db: *db,
                after: Some(key.clone()),
            };
            decoded.push(crdt::codec::decode_key(state)?);
        }
        let Some((last_db, last_key, _)) = keys.last() else {
            return Ok(());
        };
        let present: std::collections::BTreeSet<(u8, &[u8])> =
            keys.iter().map(|(d, k, _)| (*d, &k[..])).collect();
        self.reconcile_absent(&ctx, &cursor, Some((*last_db, last_key)), &present, data);
        for ((db, key, _), k) in keys.iter().zip(&decoded) {
            let taint = &mut self.taint;
            k.for_each_dot(&mut |d| taint.raise(d.region(), d.seq()));
            data.merge_key(*db, key, k, &ctx);
        }
        // Merged state may hold metadata this region already collected: collect again
        // even if the stable vector does not move.
        self.last_stable = None;
        if let Some(inc) = self.session(peer).and_then(|s| s.incoming.as_mut()) {
            inc.cursor = pos;
            inc.keys += keys.len() as u64;
        }
        Ok(())
    }

    fn on_snapshot_end(
        &mut self,
        peer: RegionId,
        data: &mut dyn Data,
    ) -> Result<(), ProtocolError> {
        let s = self.session(peer).expect("checked");
        let Some(Incoming { ctx, cursor, .. }) = s.incoming.take() else {
            return Err(ProtocolError::NoSnapshot("snapshot end"));
        };
        self.reconcile_absent(&ctx, &cursor, None, &Default::default(), data);
        self.last_stable = None;
        let before = data.applied();
        data.merge_ctx(&ctx);
        let after = data.applied();
        // The ops of the jump never enter the log: it can no longer serve them.
        let jump = VersionVector::from_pairs(after.iter().filter(|&(r, n)| n > before.get(r)));
        self.log.raise_floor(&jump);
        self.own_last_seq = self.own_last_seq.max(after.get(self.cfg.region));
        self.event(Event::SnapshotMerged { peer });
        // Sessions the raised floor leaves behind need a snapshot themselves; pending
        // ones can start now.
        let floor = self.log.floor();
        let ids: Vec<RegionId> = self.peers.keys().copied().collect();
        for id in ids {
            if let Some(s) = self.session(id) {
                let (restart, begun) = match &s.send {
                    SendState::Streaming { .. } => (!floor.leq(&s.known), false),
                    SendState::Snapshot { begin_need, .. } => (true, begin_need.is_none()),
                    _ => (false, false),
                };
                if restart {
                    s.send = SendState::FullPending;
                }
                if begun {
                    // Close the peer's open snapshot now: if ours cannot restart at once
                    // (this region is receiving another, or own ops wait for durability),
                    // a snapshot left open there would block the peer's own snapshots
                    // and hold its ops — two regions each holding the other's abandoned
                    // snapshot open never start again (sim seeds 2066, 2355).
                    self.send(id, Msg::SnapshotAbort);
                }
                if self
                    .session(id)
                    .is_some_and(|s| matches!(s.send, SendState::FullPending))
                {
                    self.try_start_full(id, data);
                }
            }
        }
        self.release_held(data);
        self.check_recovery(data);
        self.send_ack(peer, data);
        Ok(())
    }

    /// The peer abandoned its open snapshot: close it without merging its context. Keys
    /// merged so far stay (their dots are in the taint until the ops that made them are
    /// applied, as for any snapshot); the next `SnapshotBegin` merges every key again.
    fn on_snapshot_abort(&mut self, peer: RegionId, data: &mut dyn Data) {
        let Some(s) = self.session(peer) else { return };
        if s.incoming.take().is_none() {
            return; // nothing open (an abort may follow a begin that was replaced)
        }
        self.event(Event::SnapshotAborted { peer });
        // Like the end of a snapshot, minus the merge: snapshots this region deferred
        // while receiving can start, and ops held meanwhile apply.
        let ids: Vec<RegionId> = self.peers.keys().copied().collect();
        for id in ids {
            if self
                .session(id)
                .is_some_and(|s| matches!(s.send, SendState::FullPending))
            {
                self.try_start_full(id, data);
            }
        }
        self.release_held(data);
        self.check_recovery(data);
    }

    fn on_ack(
        &mut self,
        peer: RegionId,
        applied: VersionVector,
        durable: VersionVector,
        data: &dyn Data,
    ) {
        let p = self.peers.get_mut(&peer).expect("checked");
        p.acked_applied.join(&applied);
        p.acked_durable.join(&durable);
        p.has_acked = true;
        if p.gc_pending.len() >= GC_PENDING_MAX {
            p.gc_pending.pop_back();
        }
        p.gc_pending.push_back(durable);
        let s = p.session.as_mut().expect("checked");
        s.known.join(&applied);
        while let Some(&(o, last, b)) = s.inflight.front() {
            if applied.get(o) < last {
                break;
            }
            s.inflight.pop_front();
            s.inflight_bytes -= b;
        }
        self.promote_gc_acks(data);
        self.pump_ops(peer, false);
    }

    /// An ack from peer P is usable for stability once this region applied P's own ops
    /// up to the ack's P component: every op concurrent with a dot the ack covers was
    /// issued by some region R before R applied that dot, so it is covered by R's own
    /// component of R's ack — and is then applied here.
    fn promote_gc_acks(&mut self, data: &dyn Data) {
        let applied = data.applied();
        for (&id, p) in self.peers.iter_mut() {
            while let Some(a) = p.gc_pending.front() {
                if a.get(id) > applied.get(id) {
                    break;
                }
                p.gc_ack = p.gc_pending.pop_front();
            }
        }
    }

    fn send_ack(&mut self, peer: RegionId, data: &dyn Data) {
        let applied = data.applied();
        let durable = self.durable_vv(data);
        let now = self.now_ms;
        let Some(s) = self.session(peer) else { return };
        s.last_ack_ms = now;
        s.recv_bytes_since_ack = 0;
        s.last_ack = Some((applied.clone(), durable.clone()));
        self.send(peer, Msg::Ack { applied, durable });
    }

    fn check_recovery(&mut self, data: &dyn Data) {
        let Some(h) = &self.recovery else { return };
        if self.cfg.peers.iter().any(|p| !h.contains_key(p)) {
            return;
        }
        let mut want = VersionVector::new();
        for (_, v) in h.values() {
            want.join(v);
        }
        for (&r, x) in &self.removed {
            // Ops of a removed region beyond its cutoff are refused here.
            if want.get(r) > x.cutoff {
                want.set(r, x.cutoff);
            }
        }
        if want.leq(&data.applied()) {
            self.recovery = None;
            self.event(Event::Recovered);
        }
    }

    /// Adopts orphaned own dots. After this region lost its history (or restarted from
    /// tainted state), it or a peer (its hello's `seen` says so) may hold, merged from a
    /// snapshot, effects of its own earlier ops that no region applied: the incarnation
    /// that issued them died before any op left, and every peer's hello — which
    /// recovery waited for — was below them. No
    /// region will ever send those ops, so the taint they cause never clears and writes
    /// would be refused everywhere forever (sim seed 18461). Only this region issues its
    /// dots, so it alone decides: it marks them seen (their effects, wherever a snapshot
    /// carried them, are kept where its own state has them and removed elsewhere by the
    /// full resync its raised log floor now forces on every peer), and its next op
    /// follows them, so a sequence number is never issued twice.
    fn adopt_orphans(&mut self, data: &mut dyn Data) {
        let r = self.cfg.region;
        if self.recovery.is_some() || self.rescan_taint || self.receiving_snapshot() {
            return;
        }
        let top = self.taint.get(r).max(self.orphan_top);
        let applied = data.applied().get(r);
        if top <= applied || applied < self.own_last_seq {
            return;
        }
        let dots = (applied + 1..=top).map(|seq| Dot::new(r, seq));
        data.merge_ctx(&CausalContext::from_dots(dots));
        self.own_last_seq = top;
        self.log.raise_floor(&VersionVector::from_pairs([(r, top)]));
        self.last_stable = None;
        self.event(Event::OrphansAdopted {
            from_seq: applied + 1,
            to_seq: top,
        });
        self.adopted_own = top;
        let ids: Vec<RegionId> = self.peers.keys().copied().collect();
        for &id in &ids {
            if self.session(id).is_some_and(|s| s.hello_id.is_some()) {
                self.send(
                    id,
                    Msg::Adopted {
                        origin: r,
                        to_seq: top,
                    },
                );
            }
        }
        let floor = self.log.floor();
        let ids: Vec<RegionId> = self.peers.keys().copied().collect();
        for id in ids {
            let Some(s) = self.session(id) else { continue };
            if matches!(s.send, SendState::Streaming { .. }) && !floor.leq(&s.known) {
                s.send = SendState::FullPending;
                self.try_start_full(id, data);
            }
        }
    }

    fn pump_all(&mut self, flush: bool) {
        let ids: Vec<RegionId> = self.peers.keys().copied().collect();
        for id in ids {
            self.pump_ops(id, flush);
        }
    }

    /// Sends log entries the peer lacks, in log order, within the batch and in-flight
    /// bounds. A partial batch waits up to `batch_delay_ms` unless `flush`.
    fn pump_ops(&mut self, peer: RegionId, flush: bool) {
        let region = self.cfg.region;
        let gate = self.cfg.persistence.then(|| self.durable.get(region));
        let (start, end) = (self.log.start(), self.log.end());
        let floor = self.log.floor();
        let now = self.now_ms;
        let cfg = &self.cfg;
        let log = &self.log;
        let removed = &self.removed;
        let Some(s) = self.peers.get_mut(&peer).and_then(|p| p.session.as_mut()) else {
            return;
        };
        let SendState::Streaming { cursor } = &mut s.send else {
            return;
        };
        if *cursor < start {
            if floor.leq(&s.known) {
                *cursor = start;
            } else {
                s.send = SendState::FullPending; // started by the next tick
                return;
            }
        }
        let mut batches = Vec::new();
        loop {
            if s.inflight_bytes >= cfg.inflight_bytes_max as u64
                || s.inflight.len() >= cfg.inflight_ops_max
            {
                break;
            }
            let mut pos = *cursor;
            let mut first = *cursor;
            let mut take: Vec<(u64, crate::core::oplog::EntryMeta)> = Vec::new();
            let mut bytes = 0u64;
            let mut bounded = false;
            while pos < end {
                let m = log.meta(pos).expect("retained");
                let refused = removed
                    .get(&m.origin)
                    .is_some_and(|r| m.last_seq > r.cutoff);
                if m.last_seq <= s.known.get(m.origin) || refused {
                    pos += 1;
                    if take.is_empty() {
                        first = pos;
                    }
                    continue;
                }
                if gate.is_some_and(|g| m.origin == region && m.last_seq > g) {
                    break; // own op not durable yet: nothing after it leaves either
                }
                if !take.is_empty()
                    && (take.len() >= cfg.batch_ops_max
                        || bytes + m.bytes > cfg.batch_bytes_max as u64
                        || s.inflight_bytes + bytes + m.bytes > cfg.inflight_bytes_max as u64
                        || s.inflight.len() + take.len() >= cfg.inflight_ops_max)
                {
                    bounded = true;
                    break;
                }
                take.push((pos, m));
                bytes += m.bytes;
                pos += 1;
            }
            if take.is_empty() {
                *cursor = first;
                break;
            }
            let waited = now.saturating_sub(take[0].1.appended_at_ms);
            if !bounded && !flush && cfg.batch_delay_ms > 0 && waited < cfg.batch_delay_ms {
                *cursor = first;
                break;
            }
            let batch: Option<Vec<LogEntry>> = take.iter().map(|&(p, _)| log.read(p)).collect();
            let Some(batch) = batch else {
                // The log could not read an entry back (a disk-backed log's I/O error):
                // this peer cannot be served from the log any more.
                s.send = SendState::FullPending; // started by the next tick
                break;
            };
            for (_, m) in take {
                s.known.raise(m.origin, m.last_seq);
                s.inflight.push_back((m.origin, m.last_seq, m.bytes));
                s.inflight_bytes += m.bytes;
            }
            *cursor = pos;
            batches.push(batch);
            if !bounded {
                break;
            }
        }
        for b in batches {
            self.send(peer, Msg::Ops(b));
        }
    }

    /// Input: the shell's clock, without the tick's work (call before feeding local ops
    /// between ticks so their log entries carry the right append time; never goes back).
    pub fn advance_clock(&mut self, now_ms: u64) {
        self.now_ms = self.now_ms.max(now_ms);
    }

    /// Input: time passed (`now_ms` from the shell's clock; never goes back here).
    pub fn on_tick(&mut self, now_ms: u64, data: &mut dyn Data) {
        self.now_ms = self.now_ms.max(now_ms);
        self.rescan_taint(data);
        self.adopt_orphans(data);
        self.clear_taint(data);
        let now = self.now_ms;
        let ids: Vec<RegionId> = self.peers.keys().copied().collect();
        let (timeout_ms, heartbeat_ms) = (self.cfg.peer_timeout_ms, self.cfg.heartbeat_interval_ms);
        // Liveness.
        for &id in &ids {
            let Some(s) = self.session(id) else { continue };
            let silent_ms = now.saturating_sub(s.last_heard_ms);
            if silent_ms >= timeout_ms {
                self.close(id, CloseReason::Timeout { silent_ms });
                continue;
            }
            if now.saturating_sub(s.last_heartbeat_ms) >= heartbeat_ms {
                s.last_heartbeat_ms = now;
                self.send(id, Msg::Heartbeat { now_ms: now });
            }
        }
        self.promote_gc_acks(data);
        self.release_held(data);
        // Data streams: pending snapshots, snapshot chunks, delayed batches.
        for &id in &ids {
            if self
                .session(id)
                .is_some_and(|s| matches!(s.send, SendState::FullPending))
            {
                self.try_start_full(id, data);
            }
            self.pump_snapshot(id, data);
            self.pump_ops(id, true);
        }
        // Acks: when something changed, and at least every `ack_interval_ms`.
        let applied = data.applied();
        let durable = self.durable_vv(data);
        for &id in &ids {
            let Some(s) = self.session(id) else { continue };
            let changed = s
                .last_ack
                .as_ref()
                .is_none_or(|(a, d)| *a != applied || *d != durable);
            if changed || now.saturating_sub(s.last_ack_ms) >= self.cfg.ack_interval_ms {
                self.send_ack(id, data);
            }
        }
        self.trim(data);
        if now.saturating_sub(self.last_gc_ms) >= self.cfg.gc_interval_ms {
            self.last_gc_ms = now;
            self.collect(data);
        }
        self.check_recovery(data);
    }

    /// Sends up to `snapshot_chunks_per_tick` chunks. With persistence, a chunk may hold
    /// effects of own ops applied when it was read: it leaves only once those are durable
    /// (a restart from durable state would otherwise issue their sequence numbers again
    /// while the peer keeps their effects). Later writes do not delay it.
    fn pump_snapshot(&mut self, peer: RegionId, data: &dyn Data) {
        let keys_max = self.cfg.snapshot_chunk_keys_max;
        let region = self.cfg.region;
        let own_applied = data.applied().get(region);
        let own_durable = if self.cfg.persistence {
            self.durable.get(region)
        } else {
            u64::MAX
        };
        for _ in 0..self.cfg.snapshot_chunks_per_tick {
            let Some(s) = self.session(peer) else { return };
            let SendState::Snapshot {
                cursor,
                begin,
                log_pos,
                keys_sent,
                held,
                begin_need,
            } = &mut s.send
            else {
                return;
            };
            if let Some(need) = *begin_need {
                if need > own_durable {
                    return; // resumes once `on_durable` covers `need`
                }
                *begin_need = None;
                let ctx = begin.clone();
                self.send(peer, Msg::SnapshotBegin { ctx });
                continue;
            }
            let (chunk, next) = match held.take() {
                Some((chunk, next, need)) if need > own_durable => {
                    *held = Some((chunk, next, need));
                    return; // resumes once `on_durable` covers `need`
                }
                Some((chunk, next, _)) => (chunk, next),
                None => {
                    let (chunk, next) = data.snapshot_chunk(cursor, keys_max);
                    if own_applied > own_durable && !chunk.is_empty() {
                        *held = Some((chunk, next, own_applied));
                        return;
                    }
                    (chunk, next)
                }
            };
            *keys_sent += chunk.len() as u64;
            match next {
                Some(c) => {
                    *cursor = c;
                    if !chunk.is_empty() {
                        self.send(peer, Msg::SnapshotChunk(chunk));
                    }
                }
                None => {
                    s.known.join(begin.vv());
                    s.send = SendState::Streaming { cursor: *log_pos };
                    if !chunk.is_empty() {
                        self.send(peer, Msg::SnapshotChunk(chunk));
                    }
                    self.send(peer, Msg::SnapshotEnd);
                    self.owed_full.remove(&peer);
                    self.event(Event::FullResyncSent { peer });
                    self.pump_ops(peer, true);
                    return;
                }
            }
        }
    }

    /// Trims the log: entries every peer durably acknowledged, then by bytes and age.
    fn trim(&mut self, data: &dyn Data) {
        let ack_floor = if self.peers.values().all(|p| p.has_acked) {
            let mut it = self.peers.values();
            it.next().map(|first| {
                it.fold(first.acked_durable.clone(), |acc, p| {
                    acc.meet(&p.acked_durable)
                })
            })
        } else {
            None
        };
        let own_durable = self.durable_vv(data).get(self.cfg.region);
        let mut counts: [(u64, u64); 3] = [(0, 0); 3];
        for _ in 0..TRIM_PER_TICK_MAX {
            let Some(m) = self.log.meta(self.log.start()) else {
                break;
            };
            let reason = if self.log.bytes() > self.cfg.log_retention_bytes_max {
                TrimReason::Bytes
            } else if self.now_ms.saturating_sub(m.appended_at_ms) > self.cfg.log_retention_age_ms {
                TrimReason::Age
            } else if ack_floor
                .as_ref()
                .is_some_and(|f| f.get(m.origin) >= m.last_seq)
                && !(m.origin == self.cfg.region && m.last_seq > own_durable)
            {
                TrimReason::Acked
            } else {
                break;
            };
            self.log.pop_front();
            let c = &mut counts[reason as usize];
            c.0 += 1;
            c.1 += m.bytes;
        }
        for (reason, (entries, bytes)) in [TrimReason::Acked, TrimReason::Bytes, TrimReason::Age]
            .into_iter()
            .zip(counts)
        {
            if entries > 0 {
                self.event(Event::LogTrimmed {
                    reason,
                    entries,
                    bytes,
                });
            }
        }
    }

    /// The causally stable vector: pointwise min of this region's applied vector and
    /// every peer's usable durable ack (`None` while some peer has none).
    pub fn stable(&self, data: &dyn Data) -> Option<VersionVector> {
        let mut v = data.applied();
        // A removed region no longer holds stability back, but only once its accepted
        // ops (up to the cutoff) are all applied here: one of them arriving later could
        // be concurrent with a dot already considered stable.
        if self.removed.iter().any(|(&r, x)| v.get(r) < x.cutoff) {
            return None;
        }
        for p in self.peers.values() {
            v = v.meet(p.gc_ack.as_ref()?);
        }
        Some(v)
    }

    /// Tombstone GC at causal stability (skipped while merged snapshot state is ahead of
    /// the applied vector).
    fn collect(&mut self, data: &mut dyn Data) {
        if self.receiving_snapshot() || self.rescan_taint || !self.taint.leq(&data.applied()) {
            return;
        }
        let Some(stable) = self.stable(data) else {
            return;
        };
        if self.last_stable.as_ref() == Some(&stable) {
            return;
        }
        data.gc(&stable);
        self.last_stable = Some(stable.clone());
        self.event(Event::Gc { stable });
    }

    /// WAIT: how many peer regions durably applied everything in `vv` (e.g. the
    /// caller's last write as `VersionVector::from_pairs([(region, seq)])`).
    pub fn durable_regions(&self, vv: &VersionVector) -> usize {
        self.peers
            .values()
            .filter(|p| vv.leq(&p.acked_durable))
            .count()
    }

    /// Sends a PUBLISH to every connected peer (best effort, no relay).
    pub fn publish(&mut self, channel: &[u8], message: &[u8], shard: bool) {
        let ids: Vec<RegionId> = self
            .peers
            .iter()
            .filter(|(_, p)| p.session.is_some())
            .map(|(&id, _)| id)
            .collect();
        for id in ids {
            let msg = Msg::Publish {
                origin: self.cfg.region,
                channel: channel.to_vec(),
                message: message.to_vec(),
                shard,
            };
            self.send(id, msg);
        }
    }

    /// Everything `INFO replication` shows.
    pub fn status(&self, data: &dyn Data) -> ReplicationStatus {
        let applied = data.applied();
        let region = self.cfg.region;
        let peers = self
            .peers
            .iter()
            .map(|(&id, p)| {
                let lag_ops = applied
                    .iter()
                    .map(|(r, n)| n.saturating_sub(p.acked_applied.get(r)))
                    .sum();
                let lag_ms = self
                    .log
                    .first_after(region, p.acked_applied.get(region))
                    .and_then(|pos| self.log.meta(pos))
                    .map_or(0, |m| self.now_ms.saturating_sub(m.appended_at_ms));
                let link = match p.session.as_ref().map(|s| &s.send) {
                    None => LinkState::Down,
                    Some(SendState::AwaitHello) => LinkState::Handshaking,
                    Some(SendState::Streaming { .. }) => LinkState::Streaming,
                    Some(SendState::Snapshot { .. }) => LinkState::SendingSnapshot,
                    Some(SendState::FullPending) => LinkState::SnapshotPending,
                };
                PeerStatus {
                    region: id,
                    link,
                    receiving_snapshot: p.session.as_ref().is_some_and(|s| s.incoming.is_some()),
                    replication_id: p.replication_id,
                    acked_applied: p.acked_applied.clone(),
                    acked_durable: p.acked_durable.clone(),
                    lag_ops,
                    lag_ms,
                    inflight_bytes: p.session.as_ref().map_or(0, |s| s.inflight_bytes),
                    partial_resyncs: p.partial_resyncs,
                    full_resyncs_sent: p.full_resyncs_sent,
                    full_resyncs_received: p.full_resyncs_received,
                    last_heartbeat_peer_ms: p.last_heartbeat_peer_ms,
                    last_heard_ms: p.last_heard_ms,
                    sending_snapshot: p.session.as_ref().and_then(|s| match &s.send {
                        SendState::Snapshot {
                            cursor, keys_sent, ..
                        } => Some(SnapshotProgress {
                            keys: *keys_sent,
                            db: cursor.db,
                            after: cursor.after.clone(),
                        }),
                        _ => None,
                    }),
                    receiving_progress: p.session.as_ref().and_then(|s| {
                        s.incoming.as_ref().map(|i| SnapshotProgress {
                            keys: i.keys,
                            db: i.cursor.db,
                            after: i.cursor.after.clone(),
                        })
                    }),
                }
            })
            .collect();
        ReplicationStatus {
            region,
            replication_id: self.cfg.replication_id,
            durable: self.durable_vv(data),
            applied,
            stable: self.last_stable.clone(),
            log_entries: self.log.len(),
            log_bytes: self.log.bytes(),
            log_floor: self.log.floor(),
            writable: self.local_writes_allowed(data),
            peers,
            log_oldest_ms: self.log.meta(self.log.start()).map(|m| m.appended_at_ms),
            now_ms: self.now_ms,
            recovering: self.recovering(),
            removed: self
                .removed
                .iter()
                .map(|(&r, x)| (r, x.cutoff, x.refused))
                .collect(),
        }
    }
}
