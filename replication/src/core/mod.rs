//! # The sans-IO replication core
//!
//! One [`Replicator`] per region. No sockets, no tokio, no clock: time (`on_tick`) and
//! every event are inputs; sends, closes and events are outputs polled with
//! [`Replicator::poll_output`]. The region's data is reached through the object-safe
//! [`Data`] trait, passed as `&mut dyn Data` to the inputs that need it (the node
//! implements it for its store; it is implemented here for `crdt::Keyspace`). The op log
//! is behind the [`OpLog`] trait ([`MemLog`] in memory; RocksDB later).
//!
//! Files: [`config`] (bounds and intervals), [`data`] (the data trait), [`oplog`] (the
//! backlog), [`replicator`] (the state machine), [`output`] (outputs, events),
//! [`status`] (`INFO replication`), [`error`] (typed errors).
//!
//! ## What the shell and the node call
//!
//! | who | call | when |
//! |---|---|---|
//! | node | `on_local_op(LogEntry)` | after each local write is applied (`DeltaSink`) |
//! | node | `local_writes_allowed(&data)` | before accepting writes (else `-LOADING`-like) |
//! | node | `on_durable(&vv)` | persistence made `vv` durable (`persistence = true`) |
//! | node | `durable_regions(&vv)`, `status(&data)` | WAIT, `INFO replication` |
//! | shell | `on_connected(peer)`, `on_disconnected(peer)` | link up / down |
//! | shell | `on_message(peer, msg)` | each decoded message |
//! | shell | `on_tick(now_ms)` | every few ms (≤ `batch_delay_ms` for latency) |
//! | shell | `poll_output()` until `None` | after every input |
//!
//! ## Protocol
//!
//! **Log.** Every op the region applies — its own and remote ones — is appended to the op
//! log in application order, which is a causal order (an op is applied only after every
//! op its issuer had applied). Entries carry their origin and dot range; the encoded op is
//! relayed as is. The log is trimmed from the front when every peer *durably* acked an
//! entry, and beyond `log_retention_bytes_max` / `log_retention_age_ms`. Its *floor* is,
//! per origin, the highest sequence number it may no longer serve.
//!
//! **Handshake.** On connect both sides send `Hello { applied }`. The sender then streams,
//! in log order, every entry beyond what the peer is known to have (partial resync). The
//! per-session `known` vector (hello, acks, entries sent, entries received from the peer,
//! snapshot contexts) filters what is sent: nothing goes back to a peer that has it, so
//! relayed entries are not echoed. If the floor is above the peer's hello for some origin,
//! a full resync runs instead (below). A second `Hello` on a link only raises `known`; one
//! with another replication id is a stale message from an earlier incarnation → `Close`.
//!
//! **Receiving.** An entry is applied only if it is new and next:
//! `first_seq == applied[origin] + 1` (`Keyspace::apply` relies on causal delivery: ops
//! share one dot across keys). Entries entirely at or below `applied` are duplicates and
//! skipped; anything else (gap, overlap, bad range, unknown origin, undecodable op, op
//! whose dot is not the entry's) closes the link; the reconnect's handshake resumes from
//! what was applied. Why causal: entries on one link come in the sender's log order, and
//! every dependency of an entry is either covered by the receiver's hello/acks, or earlier
//! on the same stream (the sender's log reaches back to the receiver's hello, checked at
//! the handshake and again whenever the floor rises). Applied entries are appended to the
//! receiver's own log, so a region relays other origins' ops: C, cut from A, gets A's ops
//! through B.
//!
//! **Flow control.** Each session has a cursor into the log and streams lazily: batches
//! are bounded by `batch_ops_max` / `batch_bytes_max`, a partial batch waits up to
//! `batch_delay_ms`, and at most `inflight_bytes_max` / `inflight_ops_max` may be sent and
//! not yet acked. A slow peer stops its cursor; nothing is buffered per peer beyond that.
//! Snapshots send `snapshot_chunks_per_tick` chunks per tick from a key cursor.
//!
//! **Acks.** Each region sends `Ack { applied, durable }` to each peer when they changed
//! (at most once per tick), at least every `ack_interval_ms`, and at once after receiving
//! half the in-flight bound. Acks drive lag (`lag_ops`, `lag_ms`), WAIT
//! (`durable_regions`), trimming and GC.
//!
//! **Durability.** With `persistence = true`, the region's *own* ops leave only once
//! durable (`on_durable`) — as entries, and inside snapshots: a `SnapshotBegin` or chunk
//! waits until the own ops applied when it was read are durable, so a restart from
//! durable state never reuses a sequence number a peer already has (or holds effects
//! of); relayed ops are not held back (their origin has them). Without persistence
//! durable = applied.
//!
//! **Tombstone GC.** The stable vector is the pointwise min of this region's applied
//! vector and every peer's durable ack of the *current* session (acks are forgotten on
//! disconnect, so a peer that restarts cannot be counted with its old acks). A peer P's
//! ack is used only once this region applied P's own ops up to the ack's P component:
//! every op concurrent with a stable dot was then already applied here, which is what
//! `Keyspace::gc` requires. No GC while a peer never acked in this session, while a
//! snapshot is being merged, or while merged snapshot state is ahead of `applied`.
//!
//! **Liveness.** Heartbeats every `heartbeat_interval_ms`; a link silent for
//! `peer_timeout_ms` is closed (`CloseReason::Timeout`), and the shell reconnects. Loss of
//! a message on the ordered stream must be treated the same way by the shell.
//!
//! **Membership.** [`Replicator::add_peer`] and [`Replicator::remove_peer`] change the
//! peer set at run time (the shell owner opens or drops the link). A new peer starts
//! like a peer that was never heard: trimming by acks and GC pause until it acks (its
//! ack is needed for stability), and its hello decides partial or full resync as for
//! any reconnect — an empty region whose peers trimmed their log gets a full resync.
//!
//! A removed region leaves the peer set, hence trimming, WAIT and recovery. Its
//! *cutoff* is the highest of its sequence numbers this region or any peer was known to
//! have applied at the removal: its ops up to the cutoff are shared history (some
//! region may have built on them, so refusing them would break causal delivery and
//! convergence) and are still applied and relayed; its ops beyond the cutoff are
//! refused on arrival — also relayed by a region that has not removed it yet
//! (`Event::RemovedOriginRefused`; the link stays up) — and never sent. Direct links
//! are refused by the shell. Procedure: stop the region, wait until every region
//! applied the same number of its ops (`status`), then remove it everywhere; the
//! cutoffs are then equal and nothing is refused unless the region keeps writing. A
//! region that reaches one region after its removal there and another one before is
//! a split history that only re-adding it resolves: re-adding a region whose entries
//! were refused closes every link once, so each peer's next handshake resends them.
//!
//! Causal stability (GC) leaves a removed region out once this region applied all its
//! ops up to the cutoff (until then there is no GC: one of them could be concurrent
//! with a dot already considered stable).
//!
//! *Version-vector entries of a removed region are kept, not purged.* Its dots live on
//! in the data (values and tombstones it wrote); were its entry dropped from the
//! vectors, a region re-added with the same id and a fresh history would issue those
//! sequence numbers again and its new dots would be taken for old ones. Keeping the
//! entry costs a few bytes per vector; what purging is meant to achieve — that a gone
//! region no longer holds back stability, tombstone GC and log trimming — is achieved
//! by leaving it out of those computations.
//!
//! ## Full resync and its consistency
//!
//! The sender captures `begin = data.ctx()` and the log end position, sends
//! `SnapshotBegin { ctx: begin }`, then chunks of keys read with a cursor while it keeps
//! applying ops, then `SnapshotEnd`, then streams every log entry after the captured
//! position (all of them lie beyond `begin`). The receiver merges each key with
//! `merge_key(db, key, state, &begin)` and at the end joins `begin` into its context and
//! raises its log floor for the origins that jumped (it cannot serve those ops).
//!
//! Why it is safe: a key read at time t ≥ begin holds the effects of every op in `begin`
//! plus some later ops. Merging it with the smaller `begin` as its context is
//! conservative: an entry of the receiver removed by a later op is kept (the op arrives
//! later in the stream and removes it), an entry added by a later op is kept unless the
//! receiver has seen its dot already (then it saw its removal too). Keys created and
//! deleted during the snapshot are created/deleted by ops after `begin`, which follow.
//! Every later op arrives afterwards through the ordinary stream and applies idempotently.
//! The only hazard is that until then the store holds dots outside the receiver's
//! context; a local write built on that state would carry such dots in its context and
//! break causal delivery elsewhere. So the replicator records the highest merged dot per
//! origin (the *taint*) and [`Replicator::local_writes_allowed`] is false (and GC
//! pauses) until `applied` covers it. The taint lives in memory only: while it is set,
//! [`Replicator::recovering`] is true, so state saved then restarts with
//! `Start::Restored { recovering: true }`, which recomputes it from the data
//! ([`Data::max_dots`]) before writes or GC resume. A region that is merging a snapshot
//! does not start one towards another peer; when its floor rises at the end, sessions it
//! can no longer serve restart with a snapshot of their own. Snapshot messages are only
//! valid on the connection they were sent on (QUIC streams are connection-scoped); a
//! stray chunk or end closes the link. A sender that abandons an open snapshot (its own
//! state jumped under it) and cannot begin a new one at once sends `SnapshotAbort`, so
//! the receiver is not left holding a snapshot open that blocks its own snapshots.
//!
//! ## Restarts
//!
//! [`Start::Restored`]: data + log from the last durable point, same replication id; peers
//! hold none of our ops beyond it, so writes resume at once. [`Start::LostHistory`]: empty
//! data, new replication id; peers seeing the new id forget our acks. Local writes wait
//! until every peer said hello and we applied everything those hellos covered (our own
//! old ops included), so no sequence number is reused and nothing a peer considered
//! stable is written concurrently. A peer that itself lost its history meanwhile (a hello
//! with a new replication id) replaces what its earlier incarnation said: ops only it
//! held are gone, and waiting for them would keep the region read-only for good. The
//! same holds within one incarnation: the latest hello of a peer replaces earlier ones.
//!
//! ## Orphaned effects
//!
//! A region without persistence that crashes while sending a snapshot may have shipped
//! effects of its own last ops that no region applied: they are lost, but their effects
//! sit in some regions' state as taint that would never clear. Hellos carry `seen` (the
//! merged dots above `applied`), so the origin's new incarnation learns which of its
//! sequence numbers were used. Once recovered it adopts them (marks them seen, issues its
//! next op after them, raises its log floor so peers get a full resync from it) and
//! announces `Adopted`; every region then sends its full state to every peer once, so
//! the partial effects spread. Removals and additions of observed-remove types converge
//! this way; a counter increment among the orphans can still differ (sim seed 19722).

pub mod config;
pub mod data;
pub mod error;
pub mod oplog;
pub mod output;
pub mod replicator;
pub mod status;

pub use config::{Config, Start};
pub use data::{Data, SnapshotCursor, SnapshotKey};
pub use error::{CloseReason, ProtocolError, ReplError};
pub use oplog::{EntryMeta, MemLog, OpLog, ENTRY_OVERHEAD_BYTES};
pub use output::{Event, Output, TrimReason};
pub use replicator::Replicator;
pub use status::{LinkState, PeerStatus, ReplicationStatus, SnapshotProgress};
