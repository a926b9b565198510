//! The admin API: a gRPC service (`meridian.admin.v1.Admin`, tonic) on `admin-port`,
//! and the `meridian admin` command that calls it.
//!
//! - [`server`]: binds `admin-port` on the same addresses as the Redis port (`bind`,
//!   loopback by default) and serves until shutdown.
//! - [`auth`]: bearer-token check (constant time). A token is required when the admin
//!   port listens on a non-loopback address. Mutual TLS on the admin port is not
//!   implemented: off loopback, put it behind a TLS-terminating proxy or a private
//!   network, and keep the token secret.
//! - [`service`]: the calls (status, health, add/remove region, flush).
//! - [`convert`]: replication status → protobuf.
//! - [`cli`]: `meridian admin --addr HOST:PORT [--token T] [--json] <command>`.

pub mod auth;
pub mod cli;
pub mod convert;
pub mod server;
pub mod service;
