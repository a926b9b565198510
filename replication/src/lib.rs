//! # Meridian replication
//!
//! Region-to-region replication of CRDT deltas (see `DESIGN.md`, "Replication").
//!
//! - [`msg`]: the protocol's messages.
//! - [`wire`]: their versioned protobuf encoding and frame format (bounded, never panics).

#![warn(missing_docs)]

pub mod msg;
pub mod wire;
