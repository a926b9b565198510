//! # Meridian replication
//!
//! Region-to-region replication of CRDT deltas (see `DESIGN.md`, "Replication").
//!
//! - [`msg`]: the protocol's messages.

#![warn(missing_docs)]

pub mod msg;
