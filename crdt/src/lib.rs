//! # Meridian CRDT core
//!
//! Pure library (no I/O, no clocks read inside): every Redis value Meridian stores is a
//! delta-state CRDT here, so regions that write concurrently converge once they have seen
//! the same writes, in any delivery order, with duplicates.
//!
//! - [`hlc`]: hybrid logical clocks; ties break on region id.
//! - [`dot`], [`vv`], [`context`]: dots, version vectors, causal contexts, the
//!   [`DotStore`](context::DotStore) join.
//! - [`field`] (+ [`counter`], [`string`]): LWW register + resettable counter — strings,
//!   hash fields, sorted-set scores.
//! - [`set`]: add-wins observed-remove set. [`hash`]: observed-remove map of fields.
//!   [`zset`]: sorted sets. [`list`]: lists (a sequence CRDT). [`hll`]: HyperLogLog.
//!   [`stream`]: streams (per-region ID spaces, union merge).
//! - [`key`]: the envelope every key shares — observed-remove delete, type conflicts by
//!   HLC, expiry register. [`keyspace`]: a replica's full state and op deltas.
//! - [`codec`]: versioned binary encoding.
//!
//! Mutators take the current state and return a small delta (`#[must_use]`), recording the
//! dots the delta adds or removes in a delta context; the caller applies the delta locally
//! and ships it. Garbage collection (`gc`) drops metadata once causally stable.

#![warn(missing_docs)]

pub mod codec;
pub mod context;
pub mod counter;
pub mod dot;
pub mod dotset;
pub mod field;
pub mod hash;
pub mod hlc;
pub mod hll;
pub mod key;
pub mod keyspace;
pub mod list;
pub mod map;
pub mod set;
pub mod stream;
pub mod string;
pub mod tiny;
pub mod vv;
pub mod zset;

/// Byte strings as stored (keys, members, values).
pub type Bytes = Box<[u8]>;

pub use context::{Causal, CausalContext, DotStore};
pub use dot::{Dot, RegionId};
pub use hlc::{Hlc, HlcClock};
pub use key::{Key, Kind, Value};
pub use keyspace::{KeyDelta, Keyspace, OpDelta};
pub use vv::VersionVector;
