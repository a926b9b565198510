//! Messages exchanged between regions (the protocol core's view; the wire encoding is
//! the versioned protobuf schema in `proto/`).
//!
//! Every message travels on one region-pair link. Deltas (`Ops`, snapshot messages) go on
//! the link's ordered data stream; `Hello`, `Ack`, `Heartbeat` and `Publish` on its control
//! stream. Ops are carried as the `crdt::codec` encoding of an `OpDelta` so a region can
//! relay another origin's op without re-encoding it.

use crdt::{CausalContext, RegionId, VersionVector};

/// Wire protocol version spoken by this build.
pub const PROTOCOL_VERSION: u32 = 1;

/// One op as stored in a region's op log and shipped to peers.
#[derive(Clone, Debug, PartialEq)]
pub struct LogEntry {
    /// Region that issued the op.
    pub origin: RegionId,
    /// First dot sequence number the op uses (an op may use several consecutive dots).
    pub first_seq: u64,
    /// Last dot sequence number (the op's dot).
    pub last_seq: u64,
    /// `crdt::codec::encode_op` of the `OpDelta`.
    pub op: Vec<u8>,
}

/// A message between two regions.
#[derive(Clone, Debug, PartialEq)]
pub enum Msg {
    /// First message on a link, both ways: who I am and what I have applied.
    Hello {
        /// Protocol version.
        version: u32,
        /// Sender's region id.
        region: RegionId,
        /// Sender's replication id (new whenever its history was lost).
        replication_id: u64,
        /// Sender's applied version vector (what it needs from here is everything beyond).
        applied: VersionVector,
        /// Per region, the highest dot the sender's data holds where that is above
        /// `applied` (snapshot state merged before its ops arrived); empty when none is.
        /// A region that lost its history learns from it which of its sequence numbers
        /// were used by its earlier incarnation and must never be issued again.
        seen: VersionVector,
    },
    /// A batch of ops, in the sender's log order (which is a causal order).
    Ops(Vec<LogEntry>),
    /// Start of a full resync: the receiver will get the sender's whole state.
    SnapshotBegin {
        /// Sender's causal context at the start of the snapshot.
        ctx: CausalContext,
    },
    /// A chunk of keys of a full resync: (db, key, `crdt::codec::encode_key`).
    SnapshotChunk(Vec<(u8, Vec<u8>, Vec<u8>)>),
    /// End of a full resync; deltas after `SnapshotBegin`'s context follow as `Ops`.
    SnapshotEnd,
    /// The sender abandoned the open full resync without finishing it (its state moved
    /// under it and it cannot restart at once); the receiver closes it without merging
    /// its context, so it is free to send its own snapshots again.
    SnapshotAbort,
    /// The origin region marked its sequence numbers up to `to_seq` as seen although no
    /// region applied their ops: orphans of an incarnation that lost its history, whose
    /// effects some regions merged from snapshots (partially, and removals cannot be
    /// undone by a merge). Every region then sends its full state to every peer once,
    /// so the union of those effects reaches everyone.
    Adopted {
        /// The region whose sequence numbers were adopted.
        origin: RegionId,
        /// The last adopted sequence number.
        to_seq: u64,
    },
    /// What the sender has applied and made durable (drives WAIT, lag, trimming, GC).
    Ack {
        /// Applied version vector.
        applied: VersionVector,
        /// Durable version vector (`applied` when persistence is off).
        durable: VersionVector,
    },
    /// Liveness and clock information.
    Heartbeat {
        /// Sender's wall clock in Unix ms (for lag in ms and skew reporting).
        now_ms: u64,
    },
    /// A PUBLISH forwarded to other regions (best effort).
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
}
