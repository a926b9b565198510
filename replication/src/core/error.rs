//! Typed errors: protocol violations (which close a link) and API misuse.

use crdt::codec::CodecError;
use crdt::RegionId;
use thiserror::Error;

/// A peer broke the protocol. The link is closed (`Output::Close`); the shell reconnects
/// and a fresh handshake resynchronises both sides.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum ProtocolError {
    /// The peer speaks another protocol version.
    #[error("peer speaks protocol version {got}, this build speaks {want}")]
    Version {
        /// Peer's version.
        got: u32,
        /// Ours.
        want: u32,
    },
    /// The `Hello` names another region than the link's.
    #[error("hello from region {claimed} on the link to region {link}")]
    WrongRegion {
        /// Region named in the hello.
        claimed: RegionId,
        /// Region the link was opened for.
        link: RegionId,
    },
    /// The link's region is not a configured peer.
    #[error("region {0} is not a configured peer")]
    UnknownPeer(RegionId),
    /// A second `Hello` on one link names another replication id (a stale message from
    /// an earlier incarnation of the peer).
    #[error("hello with replication id {got:#x} on a link that started with {first:#x}")]
    ReplicationIdChanged {
        /// Id of the link's first hello.
        first: u64,
        /// Id of this hello.
        got: u64,
    },
    /// An entry of a region that is neither a peer nor this region.
    #[error("entry of unknown origin region {0}")]
    UnknownOrigin(RegionId),
    /// An entry whose sequence range is empty or reversed.
    #[error("entry of origin {origin} has bad range {first_seq}..={last_seq}")]
    BadRange {
        /// Origin.
        origin: RegionId,
        /// First seq.
        first_seq: u64,
        /// Last seq.
        last_seq: u64,
    },
    /// An entry that does not follow what this region applied from its origin.
    #[error("gap: entry {first_seq}..={last_seq} of origin {origin}, applied up to {applied}")]
    Gap {
        /// Origin.
        origin: RegionId,
        /// Entry's first seq.
        first_seq: u64,
        /// Entry's last seq.
        last_seq: u64,
        /// What this region applied from `origin`.
        applied: u64,
    },
    /// The op inside an entry does not carry the entry's dot.
    #[error("op dot {op_region}:{op_seq} does not match entry {origin}:{last_seq}")]
    OpMismatch {
        /// Entry origin.
        origin: RegionId,
        /// Entry last seq.
        last_seq: u64,
        /// Op's dot region.
        op_region: RegionId,
        /// Op's dot seq.
        op_seq: u64,
    },
    /// An op or key state does not decode.
    #[error("undecodable payload: {0}")]
    Codec(String),
    /// A batch or chunk over the configured bounds.
    #[error("{what} of {len} items exceeds the bound {max}")]
    TooLarge {
        /// What was too large.
        what: &'static str,
        /// Its length.
        len: usize,
        /// The bound.
        max: usize,
    },
    /// `SnapshotChunk`/`SnapshotEnd` without a `SnapshotBegin`.
    #[error("{0} outside a snapshot")]
    NoSnapshot(&'static str),
    /// `Ops` while a snapshot from the same peer is open.
    #[error("ops inside a snapshot")]
    OpsInSnapshot,
    /// A snapshot from a second peer while one is being merged (merging two at once is
    /// not safe: each one's removals are only known through its context at its end). The
    /// link is closed; the peer retries after reconnecting.
    #[error("a snapshot from region {0} is already being merged")]
    SnapshotBusy(RegionId),
    /// Snapshot keys not in strictly increasing cursor order.
    #[error("snapshot keys out of order")]
    SnapshotOrder,
    /// A snapshot key in a database that does not exist.
    #[error("snapshot key in database {0}")]
    BadDatabase(u8),
}

/// Why the core asks the shell to close a link.
#[derive(Debug, Clone, PartialEq)]
pub enum CloseReason {
    /// The peer broke the protocol.
    Protocol(ProtocolError),
    /// Nothing was heard from the peer for `silent_ms` (≥ `peer_timeout_ms`).
    Timeout {
        /// How long the link was silent.
        silent_ms: u64,
    },
    /// The membership changed (a region whose entries were refused was added again):
    /// the next handshake resends what was refused.
    Membership,
}

impl std::fmt::Display for CloseReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CloseReason::Protocol(e) => write!(f, "protocol violation: {e}"),
            CloseReason::Timeout { silent_ms } => write!(f, "peer silent for {silent_ms} ms"),
            CloseReason::Membership => write!(f, "membership changed: resync"),
        }
    }
}

/// Misuse of the replicator's API by its caller (node or shell).
#[derive(Debug, Error, Clone, PartialEq)]
pub enum ReplError {
    /// Invalid configuration.
    #[error("invalid replication config: {0}")]
    Config(String),
    /// `on_local_op` with an entry of another origin.
    #[error("local op of origin {got}, this region is {region}")]
    ForeignOrigin {
        /// This region.
        region: RegionId,
        /// Entry's origin.
        got: RegionId,
    },
    /// `on_local_op` with a sequence range that does not follow the previous local op.
    #[error("local op {first_seq}..={last_seq} does not follow {last}")]
    SeqOrder {
        /// Previous last seq.
        last: u64,
        /// Entry's first seq.
        first_seq: u64,
        /// Entry's last seq.
        last_seq: u64,
    },
}

impl From<CodecError> for ProtocolError {
    fn from(e: CodecError) -> Self {
        ProtocolError::Codec(e.to_string())
    }
}
