//! Replicator configuration: identity, bounds and intervals (every bound has a unit in
//! its name).

use crate::core::error::ReplError;
use crdt::RegionId;

/// How a replicator starts (see the module docs of [`crate::core`], "Restarts").
#[derive(Clone, Debug, PartialEq)]
pub enum Start {
    /// A brand-new region of a brand-new cluster: nothing to recover, writable at once.
    Fresh,
    /// Restarted from durable state (data and op log as of the last durable point,
    /// same replication id). `durable` is the applied vector of that state.
    Restored {
        /// Applied vector of the restored data.
        durable: crdt::VersionVector,
        /// Whether the region was still recovering when that state was saved (a lost
        /// history, or snapshot state merged beyond what it applied;
        /// [`Replicator::recovering`](crate::core::Replicator::recovering) must be
        /// persisted with the data): recovery then starts over, and the merged state's
        /// dots are recomputed from the data ([`Data::max_dots`](crate::core::Data::max_dots)).
        recovering: bool,
    },
    /// Restarted without history (data lost): the config carries a NEW replication id and
    /// local writes must wait until the region has heard from every peer and caught up
    /// with what they had (so it never reuses one of its own sequence numbers and never
    /// writes concurrently with something a peer already considers stable).
    LostHistory,
}

/// Configuration of one region's [`Replicator`](crate::core::Replicator).
#[derive(Clone, Debug)]
pub struct Config {
    /// This region's id.
    pub region: RegionId,
    /// Every other region of the cluster (full mesh; stability needs all of them).
    /// Changed at run time with `Replicator::add_peer` / `Replicator::remove_peer`.
    pub peers: Vec<RegionId>,
    /// Regions removed from the cluster (restored from the stored membership), each
    /// with its cutoff: its ops beyond it are refused. Disjoint from `peers`.
    pub removed: Vec<(RegionId, u64)>,
    /// This region's replication id (new whenever its history is lost).
    pub replication_id: u64,
    /// Largest `Ops` batch in op bytes (a single larger op still goes alone).
    pub batch_bytes_max: usize,
    /// Largest `Ops` batch in entries (also the largest batch accepted from a peer ×4).
    pub batch_ops_max: usize,
    /// How long a partial batch may wait for more ops before it is sent (0 = at once).
    pub batch_delay_ms: u64,
    /// Bound on op bytes sent to one peer and not yet acknowledged (backpressure).
    pub inflight_bytes_max: usize,
    /// Bound on entries sent to one peer and not yet acknowledged (backpressure).
    pub inflight_ops_max: usize,
    /// An `Ack` goes to each peer at least this often (and sooner after applying ops).
    pub ack_interval_ms: u64,
    /// A `Heartbeat` goes to each peer this often.
    pub heartbeat_interval_ms: u64,
    /// A link silent for this long is declared dead (`Close` with `Timeout`).
    pub peer_timeout_ms: u64,
    /// How often tombstone GC runs (when the stable vector moved).
    pub gc_interval_ms: u64,
    /// Op-log retention: oldest entries are trimmed beyond this many bytes.
    pub log_retention_bytes_max: u64,
    /// Op-log retention: entries older than this are trimmed.
    pub log_retention_age_ms: u64,
    /// Keys per `SnapshotChunk`.
    pub snapshot_chunk_keys_max: usize,
    /// `SnapshotChunk`s sent per peer per tick (bounds a full resync's memory and pace).
    pub snapshot_chunks_per_tick: usize,
    /// Whether persistence reports durability through `on_durable`. When `false`, the
    /// durable vector is the applied vector.
    pub persistence: bool,
}

impl Config {
    /// A configuration with default bounds (WAN-sized: 200 ms RTT links).
    pub fn new(region: RegionId, peers: Vec<RegionId>, replication_id: u64) -> Config {
        Config {
            region,
            peers,
            removed: Vec::new(),
            replication_id,
            batch_bytes_max: 256 * 1024,
            batch_ops_max: 4096,
            batch_delay_ms: 2,
            inflight_bytes_max: 16 * 1024 * 1024,
            inflight_ops_max: 256 * 1024,
            ack_interval_ms: 100,
            heartbeat_interval_ms: 1_000,
            peer_timeout_ms: 10_000,
            gc_interval_ms: 1_000,
            log_retention_bytes_max: 256 * 1024 * 1024,
            log_retention_age_ms: 3_600_000,
            snapshot_chunk_keys_max: 1024,
            snapshot_chunks_per_tick: 4,
            persistence: false,
        }
    }

    /// Checks the configuration.
    pub fn validate(&self) -> Result<(), ReplError> {
        let bad = |why: &str| Err(ReplError::Config(why.to_string()));
        if self.region == 0 {
            return bad("region id 0 is reserved");
        }
        let mut p = self.peers.clone();
        p.sort_unstable();
        p.dedup();
        if p.len() != self.peers.len() || p.contains(&0) || p.contains(&self.region) {
            return bad("peers must be distinct non-zero ids other than the region's own");
        }
        if self
            .removed
            .iter()
            .any(|(r, _)| *r == 0 || *r == self.region || self.peers.contains(r))
        {
            return bad(
                "removed regions must be non-zero ids that are neither the region nor a peer",
            );
        }
        if self.batch_bytes_max == 0 || self.batch_ops_max == 0 {
            return bad("batch bounds must be positive");
        }
        if self.inflight_bytes_max < self.batch_bytes_max || self.inflight_ops_max == 0 {
            return bad("inflight_bytes_max must be at least batch_bytes_max");
        }
        if self.snapshot_chunk_keys_max == 0 || self.snapshot_chunks_per_tick == 0 {
            return bad("snapshot chunk bounds must be positive");
        }
        if self.heartbeat_interval_ms == 0 || self.peer_timeout_ms <= self.heartbeat_interval_ms {
            return bad("peer_timeout_ms must exceed heartbeat_interval_ms > 0");
        }
        Ok(())
    }
}
