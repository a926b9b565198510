//! Plain structs for `INFO replication` and metrics.

use crdt::{RegionId, VersionVector};

/// State of the link to one peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkState {
    /// No connection.
    Down,
    /// Connected, waiting for the peer's `Hello`.
    Handshaking,
    /// Streaming ops from the log.
    Streaming,
    /// Sending a snapshot (full resync) to the peer.
    SendingSnapshot,
    /// A full resync to the peer waits for this region's own incoming snapshot to end.
    SnapshotPending,
}

/// One peer as `INFO replication` shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct PeerStatus {
    /// Peer region id.
    pub region: RegionId,
    /// Link state.
    pub link: LinkState,
    /// Whether a snapshot from the peer is being merged.
    pub receiving_snapshot: bool,
    /// Peer's replication id, once heard.
    pub replication_id: Option<u64>,
    /// Last applied vector the peer acknowledged.
    pub acked_applied: VersionVector,
    /// Last durable vector the peer acknowledged.
    pub acked_durable: VersionVector,
    /// Ops this region applied that the peer has not acknowledged (summed over origins).
    pub lag_ops: u64,
    /// Age of the oldest local op the peer has not acknowledged (0 when none).
    pub lag_ms: u64,
    /// Op bytes sent and not yet acknowledged.
    pub inflight_bytes: u64,
    /// Handshakes answered from the op log.
    pub partial_resyncs: u64,
    /// Snapshots sent to the peer.
    pub full_resyncs_sent: u64,
    /// Snapshots received from the peer.
    pub full_resyncs_received: u64,
    /// Wall clock the peer reported in its last heartbeat (Unix ms).
    pub last_heartbeat_peer_ms: Option<u64>,
    /// Local time of the last message from the peer.
    pub last_heard_ms: Option<u64>,
    /// A snapshot being sent to the peer: keys sent so far and the cursor position.
    pub sending_snapshot: Option<SnapshotProgress>,
    /// A snapshot being received from the peer: keys merged so far and the cursor.
    pub receiving_progress: Option<SnapshotProgress>,
}

/// Progress of a full resync on one link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotProgress {
    /// Keys sent (or merged) so far.
    pub keys: u64,
    /// Database of the cursor.
    pub db: u8,
    /// Last key sent (or merged), if any.
    pub after: Option<Vec<u8>>,
}

/// The replicator as `INFO replication` shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct ReplicationStatus {
    /// This region.
    pub region: RegionId,
    /// Its replication id.
    pub replication_id: u64,
    /// Applied vector.
    pub applied: VersionVector,
    /// Durable vector.
    pub durable: VersionVector,
    /// Causally stable vector used by the last GC (if any).
    pub stable: Option<VersionVector>,
    /// Op-log entries retained.
    pub log_entries: u64,
    /// Op-log bytes retained.
    pub log_bytes: u64,
    /// Op-log floor.
    pub log_floor: VersionVector,
    /// Whether local writes are allowed (see `Replicator::local_writes_allowed`).
    pub writable: bool,
    /// Per peer.
    pub peers: Vec<PeerStatus>,
    /// Local time the oldest retained op-log entry was appended.
    pub log_oldest_ms: Option<u64>,
    /// The replicator's clock (same time base as `log_oldest_ms`, `last_heard_ms`).
    pub now_ms: u64,
    /// Whether the region is recovering (see `Replicator::recovering`).
    pub recovering: bool,
    /// Regions removed at run time: (region, cutoff, entries of theirs refused).
    pub removed: Vec<(RegionId, u64, u64)>,
}
