//! Meridian region server library.
//!
//! The `meridian` binary (see `main.rs`) is a thin shell over this crate:
//!
//! * [`acl`]: users, passwords and permissions (AUTH, ACL), per region.
//! * [`resp`]: RESP2/RESP3 request parser and reply encoder (no I/O).
//! * [`server`]: the tokio TCP server, one task per connection, pipelining,
//!   client registry, limits and statistics.
//! * [`cmd`]: the command table (arity, flags, docs) and the handlers of the
//!   connection/server commands. Data commands plug in here.
//! * [`store`]: the CRDT keyspace, the single write path (command → deltas → apply →
//!   sink), expiry.
//! * [`script`]: Lua scripting (EVAL, SCRIPT), replicated by effects.
//! * [`persist`]: RocksDB write-ahead log, snapshots and crash recovery.
//! * [`config`] and [`cli`]: TOML configuration, defaults, command-line flags.
//! * [`memory`]: allocator accounting for `maxmemory` and INFO memory.
//! * [`observe`]: per-command latency, SLOWLOG, LATENCY, `/metrics` and `/health`
//!   over HTTP, the log format.
//! * [`glob`]: Redis-compatible glob matching (CONFIG GET, later KEYS/SCAN).

pub mod acl;
pub mod admin;
pub mod bytesize;
pub mod certs;
pub mod check_config;
pub mod cli;
pub mod cmd;
pub mod config;
pub mod glob;
pub mod local;
pub mod membership;
pub mod memory;
pub mod observe;
pub mod persist;
pub mod repl;
pub mod resp;
pub mod script;
pub mod server;
pub mod store;

/// Redis version this server reports to clients (INFO, HELLO). Clients gate
/// features on it, so it names the Redis release whose behaviour we follow.
pub const REDIS_COMPAT_VERSION: &str = "7.2.4";

/// Meridian's own version (Cargo package version).
pub const MERIDIAN_VERSION: &str = env!("CARGO_PKG_VERSION");
