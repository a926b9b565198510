//! # Meridian replication
//!
//! Region-to-region replication of CRDT deltas (see `DESIGN.md`, "Replication").
//!
//! - [`msg`]: the protocol's messages.
//! - [`core`]: the sans-IO replication state machine (handshake, resync, relay, acks, GC).
//! - [`net`]: the QUIC shell (quinn + rustls mutual TLS, tokio tasks) and dev certificates.
//! - [`wire`]: their versioned protobuf encoding and frame format (bounded, never panics).

#![warn(missing_docs)]

pub mod core;
pub mod msg;
pub mod net;
pub mod wire;
