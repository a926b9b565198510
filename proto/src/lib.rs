//! # Meridian protobuf schemas
//!
//! Generated from the `.proto` files under `proto/` at build time by `prost-build`, with
//! the pure-Rust `protox` compiler (no system `protoc` is needed).
//!
//! - [`wire::v1`]: the region-to-region wire (`meridian.wire.v1`): one [`wire::v1::Envelope`]
//!   per frame, carrying a version and one message mirroring `replication::msg::Msg`.
//!
//! - [`admin::v1`]: the admin gRPC API (`meridian.admin.v1.Admin`, tonic client and server).

/// The region-to-region wire protocol.
pub mod wire {
    /// Version 1 of the wire schema (`meridian/wire/v1/wire.proto`).
    #[allow(missing_docs, clippy::all)]
    pub mod v1 {
        include!(concat!(env!("OUT_DIR"), "/meridian.wire.v1.rs"));
    }
}

/// The admin gRPC API.
pub mod admin {
    /// Version 1 of the admin schema (`meridian/admin/v1/admin.proto`).
    #[allow(missing_docs, clippy::all)]
    pub mod v1 {
        include!(concat!(env!("OUT_DIR"), "/meridian.admin.v1.rs"));
    }
}

pub use prost;
pub use tonic;
