//! What the core asks its shell to do, and the events it reports for metrics and logs.

use crate::core::error::CloseReason;
use crate::msg::Msg;
use crdt::{RegionId, VersionVector};

/// One output of the core; poll them with
/// [`Replicator::poll_output`](crate::core::Replicator::poll_output) after every input.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Send `msg` to `peer` (data messages on the ordered data stream, the rest on the
    /// control stream: see [`crate::msg`]).
    Send {
        /// Destination region.
        peer: RegionId,
        /// The message.
        msg: Msg,
    },
    /// Close the link to `peer` (the core already forgot the session; the shell calls
    /// `on_disconnected` when the link is down and reconnects with backoff).
    Close {
        /// The peer.
        peer: RegionId,
        /// Why.
        reason: CloseReason,
    },
    /// A PUBLISH from another region, for local subscribers (best effort).
    Publish {
        /// Region where it was published.
        origin: RegionId,
        /// Channel.
        channel: Vec<u8>,
        /// Message.
        message: Vec<u8>,
        /// Sharded channel (SPUBLISH).
        shard: bool,
    },
    /// Something worth counting or logging.
    Event(Event),
}

/// Why op-log entries were trimmed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrimReason {
    /// Every peer durably acknowledged them.
    Acked,
    /// The log exceeded `log_retention_bytes_max`.
    Bytes,
    /// The entries were older than `log_retention_age_ms`.
    Age,
}

/// Events for metrics and logs.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A peer's handshake was answered from the op log.
    PartialResync {
        /// The peer.
        peer: RegionId,
    },
    /// A peer needs entries the log no longer holds: a snapshot starts.
    FullResyncStarted {
        /// The peer.
        peer: RegionId,
    },
    /// A snapshot to a peer was sent completely.
    FullResyncSent {
        /// The peer.
        peer: RegionId,
    },
    /// A snapshot from a peer begins.
    SnapshotReceiving {
        /// The peer.
        peer: RegionId,
    },
    /// A snapshot from a peer was merged completely.
    SnapshotMerged {
        /// The peer.
        peer: RegionId,
    },
    /// A peer abandoned the snapshot it was sending (it sends a new one later).
    SnapshotAborted {
        /// The peer.
        peer: RegionId,
    },
    /// Effects of own ops of a lost incarnation that no region applied were found in
    /// merged state: their sequence numbers are marked seen (never issued again) and
    /// peers get a full resync.
    OrphansAdopted {
        /// First adopted sequence number.
        from_seq: u64,
        /// Last adopted sequence number.
        to_seq: u64,
    },
    /// A peer came back with a new replication id: it lost its history.
    PeerHistoryLost {
        /// The peer.
        peer: RegionId,
        /// Its new replication id.
        replication_id: u64,
    },
    /// Entries left the op log.
    LogTrimmed {
        /// Why.
        reason: TrimReason,
        /// How many entries.
        entries: u64,
        /// How many bytes.
        bytes: u64,
    },
    /// Tombstone GC ran with this stable vector.
    Gc {
        /// The causally stable vector.
        stable: VersionVector,
    },
    /// A region that lost its history caught up: local writes are allowed again.
    Recovered,
    /// A peer holds more of this region's own ops than it applied: it started without
    /// its history (an id used before, without `repl-join`). It now recovers as after a
    /// loss (writes wait); own ops written before this hello may have reused numbers.
    OwnHistoryAhead {
        /// The peer.
        peer: RegionId,
        /// The highest own sequence number the peer has.
        seq: u64,
    },
    /// A peer region was added at run time.
    PeerAdded {
        /// The new peer.
        peer: RegionId,
    },
    /// A peer region was removed at run time (its link closes; its ops are refused).
    PeerRemoved {
        /// The removed peer.
        peer: RegionId,
    },
    /// Entries whose origin is a removed region arrived from `peer` and were refused
    /// (not applied, not logged, not relayed).
    RemovedOriginRefused {
        /// The peer that sent (relayed) them.
        peer: RegionId,
        /// The removed origin.
        origin: RegionId,
        /// How many entries.
        entries: u64,
    },
}
