//! Server configuration: the TOML file format, defaults, and the table of
//! keys that `CONFIG GET/SET` and the command-line flags share.
//!
//! Every key has the same spelling everywhere: in the TOML file
//! (`proto-max-bulk-len = "512mb"`), as a flag (`--proto-max-bulk-len 512mb`)
//! and in `CONFIG GET proto-max-bulk-len`. Flags override the file; both
//! go through [`Config::set`], so a value is validated in one place.

use std::{fmt, path::Path};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::{bytesize::ByteSize, resp::ParseLimits};

/// Errors loading or changing the configuration.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The config file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Io {
        /// File path as given.
        path: String,
        /// Underlying error.
        source: std::io::Error,
    },
    /// The config file is not valid TOML or has unknown keys / bad types.
    #[error("invalid config file {path}: {message}")]
    Parse {
        /// File path as given.
        path: String,
        /// What the TOML parser said.
        message: String,
    },
    /// No such key.
    #[error("unknown config key '{0}'")]
    UnknownKey(String),
    /// The key cannot change while the server runs.
    #[error("can't set immutable config")]
    Immutable(String),
    /// The value is not acceptable for the key.
    #[error("{reason}")]
    Invalid {
        /// Key name.
        key: String,
        /// Why (Redis-like wording, shown after the key in CONFIG SET).
        reason: String,
    },
}

/// Output buffer limits of one client class (Redis' `client-output-buffer-limit`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClassLimit {
    /// Disconnect as soon as this many reply bytes are pending (0 = none).
    pub hard: u64,
    /// Disconnect when over this many bytes for `soft_seconds` (0 = none).
    pub soft: u64,
    /// See `soft`.
    pub soft_seconds: u64,
}

/// `client-output-buffer-limit`: `normal <hard> <soft> <secs> replica ... pubsub ...`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputBufferLimits {
    /// Ordinary clients.
    pub normal: ClassLimit,
    /// Replica connections (kept for Redis compatibility; regions use QUIC).
    pub replica: ClassLimit,
    /// Clients in pub/sub mode.
    pub pubsub: ClassLimit,
}

impl Default for OutputBufferLimits {
    fn default() -> Self {
        const MB: u64 = 1024 * 1024;
        OutputBufferLimits {
            // Redis leaves normal clients unbounded; Meridian bounds every buffer.
            normal: ClassLimit {
                hard: 1024 * MB,
                soft: 0,
                soft_seconds: 0,
            },
            replica: ClassLimit {
                hard: 256 * MB,
                soft: 64 * MB,
                soft_seconds: 60,
            },
            pubsub: ClassLimit {
                hard: 32 * MB,
                soft: 8 * MB,
                soft_seconds: 60,
            },
        }
    }
}

impl OutputBufferLimits {
    /// Applies a Redis-style spec on top of `self` (classes not named keep
    /// their values). `slave` is accepted for `replica`.
    pub fn parse_onto(mut self, spec: &str) -> Result<Self, String> {
        let words: Vec<&str> = spec.split_whitespace().collect();
        if words.is_empty() || words.len() % 4 != 0 {
            return Err("Wrong number of arguments in buffer limit configuration.".into());
        }
        for chunk in words.chunks(4) {
            let size = |s: &str| {
                ByteSize::parse(s).map(|b| b.bytes()).ok_or_else(|| {
                    "Error in hard, soft or soft_seconds setting in buffer limit configuration."
                        .to_string()
                })
            };
            let limit = ClassLimit {
                hard: size(chunk[1])?,
                soft: size(chunk[2])?,
                soft_seconds: chunk[3].parse().map_err(|_| {
                    "Error in hard, soft or soft_seconds setting in buffer limit configuration."
                        .to_string()
                })?,
            };
            match chunk[0].to_ascii_lowercase().as_str() {
                "normal" => self.normal = limit,
                "replica" | "slave" => self.replica = limit,
                "pubsub" => self.pubsub = limit,
                _ => {
                    return Err(
                        "Invalid client class specified in buffer limit configuration.".into(),
                    )
                }
            }
        }
        Ok(self)
    }
}

impl fmt::Display for OutputBufferLimits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = |l: ClassLimit| format!("{} {} {}", l.hard, l.soft, l.soft_seconds);
        write!(
            f,
            "normal {} slave {} pubsub {}",
            c(self.normal),
            c(self.replica),
            c(self.pubsub)
        )
    }
}

impl Serialize for OutputBufferLimits {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for OutputBufferLimits {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        OutputBufferLimits::default()
            .parse_onto(&s)
            .map_err(serde::de::Error::custom)
    }
}

/// One peer region: its id and the UDP address of its region link (QUIC).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerSpec {
    /// The peer's region id (1..=255). Its certificate must name this id.
    pub region_id: u8,
    /// `host:port` of its `repl-port`.
    pub address: String,
}

/// The peer regions. In a TOML file either a string `"2@10.0.0.2:17001 3@..."` or a
/// list of tables:
///
/// ```toml
/// [[peers]]
/// region-id = 2
/// address = "127.0.0.1:17002"
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Peers(pub Vec<PeerSpec>);

impl Peers {
    /// Parses `"<id>@<host:port> ..."` (space separated; empty = no peers).
    pub fn parse(s: &str) -> Result<Peers, String> {
        let mut out = Vec::new();
        for w in s.split_whitespace() {
            let (id, addr) = w
                .split_once('@')
                .ok_or_else(|| format!("peer '{w}' is not <region-id>@<host:port>"))?;
            let region_id: u8 = id
                .parse()
                .ok()
                .filter(|v| *v >= 1)
                .ok_or_else(|| format!("peer '{w}': region id must be 1..=255"))?;
            if !addr.contains(':') {
                return Err(format!("peer '{w}': address must be host:port"));
            }
            if out.iter().any(|p: &PeerSpec| p.region_id == region_id) {
                return Err(format!("peer region {region_id} listed twice"));
            }
            out.push(PeerSpec {
                region_id,
                address: addr.to_string(),
            });
        }
        Ok(Peers(out))
    }
}

impl fmt::Display for Peers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v: Vec<String> = self
            .0
            .iter()
            .map(|p| format!("{}@{}", p.region_id, p.address))
            .collect();
        f.write_str(&v.join(" "))
    }
}

impl Serialize for Peers {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Peers {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(rename_all = "kebab-case", deny_unknown_fields)]
        struct Table {
            region_id: u8,
            address: String,
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Form {
            Text(String),
            Tables(Vec<Table>),
        }
        match Form::deserialize(d)? {
            Form::Text(s) => Peers::parse(&s).map_err(serde::de::Error::custom),
            Form::Tables(t) => {
                let s: Vec<String> = t
                    .into_iter()
                    .map(|t| format!("{}@{}", t.region_id, t.address))
                    .collect();
                Peers::parse(&s.join(" ")).map_err(serde::de::Error::custom)
            }
        }
    }
}

/// The whole server configuration. Field docs are the user documentation;
/// `meridian server --help` shows the same text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
pub struct Config {
    /// Addresses to listen on, space separated (Redis `bind`).
    pub bind: String,
    /// TCP port for clients.
    pub port: u16,
    /// This region's stable numeric id (unique among regions, 1..=255).
    pub region_id: u64,
    /// Directory for persistent state (op log, snapshots).
    pub data_dir: String,
    /// Number of logical databases (SELECT 0..databases-1).
    pub databases: u32,
    /// Maximum simultaneous client connections.
    pub maxclients: u64,
    /// Close a client idle for this many seconds (0 = never).
    pub timeout: u64,
    /// TCP keep-alive interval for client sockets in seconds (0 = off).
    pub tcp_keepalive: u64,
    /// Largest bulk string a client may send.
    pub proto_max_bulk_len: ByteSize,
    /// Largest unprocessed input a client may accumulate.
    pub client_query_buffer_limit: ByteSize,
    /// Output buffer limits per client class, Redis syntax.
    pub client_output_buffer_limit: OutputBufferLimits,
    /// Log verbosity: debug, verbose, notice, warning, nothing.
    pub loglevel: String,
    /// Durability of acknowledged writes: always, everysec, no.
    pub appendfsync: String,
    /// Persistence (RocksDB write-ahead log and snapshots in data-dir): yes/no.
    pub appendonly: bool,
    /// Take a snapshot (and trim the write-ahead log) this often, 0 = only by size.
    pub snapshot_interval_secs: u64,
    /// Take a snapshot when the write-ahead log exceeds this size.
    pub wal_max_bytes: ByteSize,
    /// Op-log (replication backlog) retention by size: on disk with persistence, in
    /// memory without.
    pub repl_backlog_size: ByteSize,
    /// Op-log retention by age, in seconds.
    pub repl_backlog_max_age_secs: u64,
    /// Op-log entries kept in memory (all of the log without persistence; the newest
    /// entries with it, older ones are read back from the write-ahead log).
    pub repl_backlog_memory: ByteSize,
    /// TCP port for TLS client connections (same `bind` addresses); 0 = off.
    pub tls_port: u16,
    /// PEM certificate chain of the server for `tls-port`.
    pub tls_cert_file: String,
    /// PEM private key of that certificate.
    pub tls_key_file: String,
    /// PEM CA certificates that sign client certificates.
    pub tls_ca_cert_file: String,
    /// Client certificates on `tls-port`: yes (required), optional, no.
    pub tls_auth_clients: String,
    /// UDP port of the region link (QUIC, mutual TLS); 0 = no replication.
    pub repl_port: u16,
    /// Address the region link binds to.
    pub repl_bind: String,
    /// Peer regions (full mesh: list every other region).
    pub peers: Peers,
    /// Directory with the cluster CA (`ca.pem`) and this region's certificate and key
    /// (`region-<id>.pem`, `region-<id>.key`); dev certificates are created there when
    /// missing and `repl-dev-certs` is on.
    pub repl_tls_dir: String,
    /// Create a dev cluster CA and region certificates in `repl-tls-dir` when missing
    /// (`meridian local` turns this on; production deployments provide their own).
    pub repl_dev_certs: bool,
    /// This region joins a cluster that already has data (added with `meridian admin
    /// add-region`): on an empty data-dir it starts without history and accepts writes
    /// only once it has heard from every peer and caught up, so a region id that was
    /// used before never issues its old sequence numbers again.
    pub repl_join: bool,
    /// TCP port of the admin gRPC API (`meridian admin`), on the `bind` addresses;
    /// 0 = off.
    pub admin_port: u16,
    /// Bearer token the admin API requires (also from env `MERIDIAN_ADMIN_TOKEN`).
    /// Required when admin-port is on and `bind` is not loopback only.
    pub admin_token: String,
    /// Password of the `default` user (empty: none, the default user is `nopass`).
    /// Setting it is `ACL SETUSER default resetpass >password`.
    pub requirepass: String,
    /// ACL file (`user <name> <rules>` lines): loaded at start-up, by ACL LOAD,
    /// written by ACL SAVE. Empty: users live only in memory.
    pub aclfile: String,
    /// Entries kept by ACL LOG.
    pub acllog_max_len: u64,
    /// Memory limit (0 = none): over it, commands that may grow memory are refused
    /// with `-OOM` (see `memory.rs` for what is counted).
    pub maxmemory: ByteSize,
    /// What happens over `maxmemory`: `noeviction` (refuse writes that may grow
    /// memory), `allkeys-random`, `volatile-ttl`, `allkeys-lru`, `volatile-lru`,
    /// `allkeys-lfu` or `volatile-lfu` (delete keys, replicated).
    pub maxmemory_policy: String,
    /// Keys sampled per database and eviction by the LRU/LFU policies (at most 64
    /// are used).
    pub maxmemory_samples: u32,
    /// LFU counter growth: an access increments a counter `c` with probability
    /// 1 / ((c - 5) * factor + 1).
    pub lfu_log_factor: u32,
    /// Minutes without access per LFU counter decrement (0: no decay).
    pub lfu_decay_time: u32,
    /// Protected mode: while the default user has no password, only loopback
    /// clients are accepted (others get `-DENIED`).
    pub protected_mode: bool,
    /// A script that has run this long (ms) makes other clients' commands answer
    /// `-BUSY` (they wait before); `lua-time-limit` is an alias, as in Redis.
    pub busy_reply_threshold_ms: u64,
    /// A script that runs this long (ms) is stopped with an error (0 = never; Redis
    /// never stops one by itself). Writes it did before are kept and replicate.
    pub script_time_limit_ms: u64,
    /// Memory of the Lua state (0 = unbounded).
    pub lua_memory_limit: ByteSize,
    /// Test mode: enables the fault knobs of the `DEBUG` command (clock skew, dropped
    /// replication ops) used by the chaos harness. Never turn this on in production.
    pub test_mode: bool,
    /// TCP port of the HTTP endpoint serving `/metrics` (Prometheus) and `/health`,
    /// on the `bind` addresses; 0 = off.
    pub metrics_port: u16,
    /// Log line format: `text` or `json` (one JSON object per line).
    pub log_format: String,
    /// SLOWLOG records commands that take at least this many microseconds
    /// (0 = every command, negative = none).
    pub slowlog_log_slower_than: i64,
    /// Entries kept by SLOWLOG.
    pub slowlog_max_len: u64,
    /// LATENCY records command latency spikes of at least this many milliseconds
    /// (0 = monitor off).
    pub latency_monitor_threshold: u64,
}

impl Config {
    /// How the store keeps its node-local access words under this configuration.
    pub fn access_mode(&self) -> crate::store::AccessMode {
        crate::store::AccessMode {
            lfu: crate::store::Policy::parse(&self.maxmemory_policy).is_some_and(|p| p.is_lfu()),
            log_factor: self.lfu_log_factor,
            decay_minutes: self.lfu_decay_time,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            bind: "127.0.0.1".into(),
            port: 6379,
            region_id: 1,
            data_dir: "meridian-data".into(),
            databases: 16,
            maxclients: 10_000,
            timeout: 0,
            tcp_keepalive: 300,
            proto_max_bulk_len: ByteSize(512 * 1024 * 1024),
            client_query_buffer_limit: ByteSize(1024 * 1024 * 1024),
            client_output_buffer_limit: OutputBufferLimits::default(),
            loglevel: "notice".into(),
            appendfsync: "everysec".into(),
            appendonly: false,
            snapshot_interval_secs: 300,
            wal_max_bytes: ByteSize(256 * 1024 * 1024),
            repl_backlog_size: ByteSize(1024 * 1024 * 1024),
            repl_backlog_max_age_secs: 6 * 3600,
            repl_backlog_memory: ByteSize(256 * 1024 * 1024),
            tls_port: 0,
            tls_cert_file: String::new(),
            tls_key_file: String::new(),
            tls_ca_cert_file: String::new(),
            tls_auth_clients: "yes".into(),
            repl_port: 0,
            repl_bind: "127.0.0.1".into(),
            peers: Peers::default(),
            repl_tls_dir: "meridian-data/tls".into(),
            repl_dev_certs: false,
            requirepass: String::new(),
            aclfile: String::new(),
            acllog_max_len: 128,
            maxmemory: ByteSize(0),
            maxmemory_policy: "noeviction".into(),
            maxmemory_samples: 5,
            lfu_log_factor: 10,
            lfu_decay_time: 1,
            protected_mode: true,
            busy_reply_threshold_ms: 5000,
            script_time_limit_ms: 10_000,
            lua_memory_limit: ByteSize(256 * 1024 * 1024),
            test_mode: false,
            repl_join: false,
            admin_port: 0,
            admin_token: String::new(),
            metrics_port: 0,
            log_format: "text".into(),
            slowlog_log_slower_than: 10_000,
            slowlog_max_len: 128,
            latency_monitor_threshold: 0,
        }
    }
}

/// One configuration key as seen by CONFIG GET/SET and the CLI.
pub struct ConfigKey {
    /// Name (kebab-case), identical in file, flag and CONFIG.
    pub name: &'static str,
    /// Whether CONFIG SET may change it at run time.
    pub mutable: bool,
    /// Whether it is a real, settable key (file + flag). Informational keys
    /// (`save`, `appendonly`) exist only so tools that read them get an answer.
    pub settable: bool,
    get: fn(&Config) -> String,
    set: fn(&mut Config, &str) -> Result<(), String>,
}

fn int<T: std::str::FromStr>(v: &str) -> Result<T, String> {
    v.parse::<T>()
        .map_err(|_| "argument couldn't be parsed into an integer".to_string())
}

fn size(v: &str) -> Result<ByteSize, String> {
    ByteSize::parse(v).ok_or_else(|| "argument must be a memory value".to_string())
}

fn one_of(v: &str, allowed: &[&str]) -> Result<String, String> {
    let lower = v.to_ascii_lowercase();
    if allowed.contains(&lower.as_str()) {
        Ok(lower)
    } else {
        Err("argument(s) must be one of the following: ".to_string() + &allowed.join(", "))
    }
}

fn yes_no(v: &str) -> Result<bool, String> {
    match v.to_ascii_lowercase().as_str() {
        "yes" | "true" => Ok(true),
        "no" | "false" => Ok(false),
        _ => Err("argument must be 'yes' or 'no'".into()),
    }
}

fn in_range<T: PartialOrd + fmt::Display>(v: T, lo: T, hi: T) -> Result<T, String> {
    if v < lo || v > hi {
        Err(format!("argument must be between {lo} and {hi} inclusive"))
    } else {
        Ok(v)
    }
}

/// Largest `slowlog-max-len` (each entry holds at most 32 arguments of 128 bytes).
pub const SLOWLOG_MAX_LEN_MAX: u64 = 100_000;

/// Every key CONFIG GET knows, in CONFIG GET order.
pub static CONFIG_KEYS: &[ConfigKey] = &[
    ConfigKey {
        name: "bind",
        mutable: false,
        settable: true,
        get: |c| c.bind.clone(),
        set: |c, v| {
            if v.split_whitespace().next().is_none() {
                return Err("Too few bind addresses".into());
            }
            c.bind = v.split_whitespace().collect::<Vec<_>>().join(" ");
            Ok(())
        },
    },
    ConfigKey {
        name: "port",
        mutable: false,
        settable: true,
        get: |c| c.port.to_string(),
        set: |c, v| {
            c.port = int(v)?;
            Ok(())
        },
    },
    ConfigKey {
        name: "region-id",
        mutable: false,
        settable: true,
        get: |c| c.region_id.to_string(),
        set: |c, v| {
            c.region_id = in_range(int(v)?, 1, 255)?;
            Ok(())
        },
    },
    ConfigKey {
        name: "data-dir",
        mutable: false,
        settable: true,
        get: |c| c.data_dir.clone(),
        set: |c, v| {
            if v.is_empty() {
                return Err("argument must not be empty".into());
            }
            c.data_dir = v.to_string();
            Ok(())
        },
    },
    ConfigKey {
        name: "databases",
        mutable: false,
        settable: true,
        get: |c| c.databases.to_string(),
        set: |c, v| {
            c.databases = in_range(int(v)?, 1, 16)?;
            Ok(())
        },
    },
    ConfigKey {
        name: "maxclients",
        mutable: true,
        settable: true,
        get: |c| c.maxclients.to_string(),
        set: |c, v| {
            c.maxclients = in_range(int(v)?, 1, 1_000_000)?;
            Ok(())
        },
    },
    ConfigKey {
        name: "timeout",
        mutable: true,
        settable: true,
        get: |c| c.timeout.to_string(),
        set: |c, v| {
            c.timeout = in_range(int(v)?, 0, i32::MAX as u64)?;
            Ok(())
        },
    },
    ConfigKey {
        name: "tcp-keepalive",
        mutable: true,
        settable: true,
        get: |c| c.tcp_keepalive.to_string(),
        set: |c, v| {
            c.tcp_keepalive = in_range(int(v)?, 0, i32::MAX as u64)?;
            Ok(())
        },
    },
    ConfigKey {
        name: "proto-max-bulk-len",
        mutable: true,
        settable: true,
        get: |c| c.proto_max_bulk_len.to_string(),
        set: |c, v| {
            let s = size(v)?;
            c.proto_max_bulk_len = ByteSize(in_range(s.bytes(), 1024 * 1024, i64::MAX as u64)?);
            Ok(())
        },
    },
    ConfigKey {
        name: "client-query-buffer-limit",
        mutable: true,
        settable: true,
        get: |c| c.client_query_buffer_limit.to_string(),
        set: |c, v| {
            let s = size(v)?;
            c.client_query_buffer_limit =
                ByteSize(in_range(s.bytes(), 1024 * 1024, i64::MAX as u64)?);
            Ok(())
        },
    },
    ConfigKey {
        name: "client-output-buffer-limit",
        mutable: true,
        settable: true,
        get: |c| c.client_output_buffer_limit.to_string(),
        set: |c, v| {
            c.client_output_buffer_limit = c.client_output_buffer_limit.parse_onto(v)?;
            Ok(())
        },
    },
    ConfigKey {
        name: "loglevel",
        mutable: false,
        settable: true,
        get: |c| c.loglevel.clone(),
        set: |c, v| {
            c.loglevel = one_of(v, &["debug", "verbose", "notice", "warning", "nothing"])?;
            Ok(())
        },
    },
    ConfigKey {
        name: "appendfsync",
        mutable: true,
        settable: true,
        get: |c| c.appendfsync.clone(),
        set: |c, v| {
            c.appendfsync = one_of(v, &["always", "everysec", "no"])?;
            Ok(())
        },
    },
    ConfigKey {
        name: "appendonly",
        mutable: false,
        settable: true,
        get: |c| if c.appendonly { "yes" } else { "no" }.to_string(),
        set: |c, v| {
            c.appendonly = match v.to_ascii_lowercase().as_str() {
                "yes" | "true" => true,
                "no" | "false" => false,
                _ => return Err("argument must be 'yes' or 'no'".into()),
            };
            Ok(())
        },
    },
    ConfigKey {
        name: "snapshot-interval-secs",
        mutable: true,
        settable: true,
        get: |c| c.snapshot_interval_secs.to_string(),
        set: |c, v| {
            c.snapshot_interval_secs = in_range(int(v)?, 0, 365 * 24 * 3600)?;
            Ok(())
        },
    },
    ConfigKey {
        name: "wal-max-bytes",
        mutable: true,
        settable: true,
        get: |c| c.wal_max_bytes.to_string(),
        set: |c, v| {
            let s = size(v)?;
            c.wal_max_bytes = ByteSize(in_range(s.bytes(), 1024 * 1024, i64::MAX as u64)?);
            Ok(())
        },
    },
    ConfigKey {
        name: "repl-backlog-size",
        mutable: false,
        settable: true,
        get: |c| c.repl_backlog_size.to_string(),
        set: |c, v| {
            let s = size(v)?;
            c.repl_backlog_size = ByteSize(in_range(s.bytes(), 1024 * 1024, i64::MAX as u64)?);
            Ok(())
        },
    },
    ConfigKey {
        name: "repl-backlog-max-age",
        mutable: false,
        settable: true,
        get: |c| c.repl_backlog_max_age_secs.to_string(),
        set: |c, v| {
            c.repl_backlog_max_age_secs = in_range(int(v)?, 1, 30 * 24 * 3600)?;
            Ok(())
        },
    },
    ConfigKey {
        name: "repl-backlog-memory",
        mutable: false,
        settable: true,
        get: |c| c.repl_backlog_memory.to_string(),
        set: |c, v| {
            let s = size(v)?;
            c.repl_backlog_memory = ByteSize(in_range(s.bytes(), 64 * 1024, i64::MAX as u64)?);
            Ok(())
        },
    },
    ConfigKey {
        name: "repl-port",
        mutable: false,
        settable: true,
        get: |c| c.repl_port.to_string(),
        set: |c, v| {
            c.repl_port = int(v)?;
            Ok(())
        },
    },
    ConfigKey {
        name: "repl-bind",
        mutable: false,
        settable: true,
        get: |c| c.repl_bind.clone(),
        set: |c, v| {
            if v.parse::<std::net::IpAddr>().is_err() {
                return Err("repl-bind must be an IP address".into());
            }
            c.repl_bind = v.to_string();
            Ok(())
        },
    },
    ConfigKey {
        name: "peers",
        mutable: false,
        settable: true,
        get: |c| c.peers.to_string(),
        set: |c, v| {
            c.peers = Peers::parse(v)?;
            Ok(())
        },
    },
    ConfigKey {
        name: "tls-port",
        mutable: false,
        settable: true,
        get: |c| c.tls_port.to_string(),
        set: |c, v| {
            c.tls_port = v
                .parse()
                .map_err(|_| "tls-port must be 0..65535".to_string())?;
            Ok(())
        },
    },
    ConfigKey {
        name: "tls-cert-file",
        mutable: false,
        settable: true,
        get: |c| c.tls_cert_file.clone(),
        set: |c, v| {
            c.tls_cert_file = v.to_string();
            Ok(())
        },
    },
    ConfigKey {
        name: "tls-key-file",
        mutable: false,
        settable: true,
        get: |c| c.tls_key_file.clone(),
        set: |c, v| {
            c.tls_key_file = v.to_string();
            Ok(())
        },
    },
    ConfigKey {
        name: "tls-ca-cert-file",
        mutable: false,
        settable: true,
        get: |c| c.tls_ca_cert_file.clone(),
        set: |c, v| {
            c.tls_ca_cert_file = v.to_string();
            Ok(())
        },
    },
    ConfigKey {
        name: "tls-auth-clients",
        mutable: false,
        settable: true,
        get: |c| c.tls_auth_clients.clone(),
        set: |c, v| {
            let v = v.to_ascii_lowercase();
            if !matches!(v.as_str(), "yes" | "no" | "optional") {
                return Err("argument must be 'yes', 'no' or 'optional'".into());
            }
            c.tls_auth_clients = v;
            Ok(())
        },
    },
    ConfigKey {
        name: "repl-tls-dir",
        mutable: false,
        settable: true,
        get: |c| c.repl_tls_dir.clone(),
        set: |c, v| {
            c.repl_tls_dir = v.to_string();
            Ok(())
        },
    },
    ConfigKey {
        name: "repl-dev-certs",
        mutable: false,
        settable: true,
        get: |c| if c.repl_dev_certs { "yes" } else { "no" }.to_string(),
        set: |c, v| {
            c.repl_dev_certs = match v.to_ascii_lowercase().as_str() {
                "yes" | "true" => true,
                "no" | "false" => false,
                _ => return Err("argument must be 'yes' or 'no'".into()),
            };
            Ok(())
        },
    },
    ConfigKey {
        name: "requirepass",
        mutable: true,
        settable: true,
        get: |c| c.requirepass.clone(),
        set: |c, v| {
            c.requirepass = v.to_string();
            Ok(())
        },
    },
    ConfigKey {
        name: "aclfile",
        mutable: false,
        settable: true,
        get: |c| c.aclfile.clone(),
        set: |c, v| {
            c.aclfile = v.to_string();
            Ok(())
        },
    },
    ConfigKey {
        name: "acllog-max-len",
        mutable: true,
        settable: true,
        get: |c| c.acllog_max_len.to_string(),
        set: |c, v| {
            c.acllog_max_len = in_range(int(v)?, 0, 100_000)?;
            Ok(())
        },
    },
    ConfigKey {
        name: "maxmemory",
        mutable: true,
        settable: true,
        get: |c| c.maxmemory.bytes().to_string(),
        set: |c, v| {
            c.maxmemory = size(v)?;
            Ok(())
        },
    },
    ConfigKey {
        name: "maxmemory-policy",
        mutable: true,
        settable: true,
        get: |c| c.maxmemory_policy.clone(),
        set: |c, v| {
            c.maxmemory_policy = one_of(v, crate::store::Policy::NAMES)?;
            Ok(())
        },
    },
    ConfigKey {
        name: "maxmemory-samples",
        mutable: true,
        settable: true,
        get: |c| c.maxmemory_samples.to_string(),
        set: |c, v| {
            // Redis' range; eviction uses at most `store::SAMPLES_MAX` per database.
            let n: u32 = int(v)?;
            if !(1..=i32::MAX as u32).contains(&n) {
                return Err("argument must be between 1 and 2147483647 inclusive".into());
            }
            c.maxmemory_samples = n;
            Ok(())
        },
    },
    ConfigKey {
        name: "lfu-log-factor",
        mutable: true,
        settable: true,
        get: |c| c.lfu_log_factor.to_string(),
        set: |c, v| {
            c.lfu_log_factor = int::<u32>(v)?.min(i32::MAX as u32);
            Ok(())
        },
    },
    ConfigKey {
        name: "lfu-decay-time",
        mutable: true,
        settable: true,
        get: |c| c.lfu_decay_time.to_string(),
        set: |c, v| {
            c.lfu_decay_time = int::<u32>(v)?.min(i32::MAX as u32);
            Ok(())
        },
    },
    ConfigKey {
        name: "protected-mode",
        mutable: true,
        settable: true,
        get: |c| if c.protected_mode { "yes" } else { "no" }.to_string(),
        set: |c, v| {
            c.protected_mode = yes_no(v)?;
            Ok(())
        },
    },
    ConfigKey {
        name: "repl-join",
        mutable: false,
        settable: true,
        get: |c| if c.repl_join { "yes" } else { "no" }.to_string(),
        set: |c, v| {
            c.repl_join = yes_no(v)?;
            Ok(())
        },
    },
    ConfigKey {
        name: "admin-port",
        mutable: false,
        settable: true,
        get: |c| c.admin_port.to_string(),
        set: |c, v| {
            c.admin_port = int(v)?;
            Ok(())
        },
    },
    ConfigKey {
        name: "admin-token",
        mutable: false,
        settable: true,
        get: |c| c.admin_token.clone(),
        set: |c, v| {
            if v.chars().any(|ch| ch.is_control() || ch == ' ') {
                return Err("admin-token must not contain spaces or control characters".into());
            }
            c.admin_token = v.to_string();
            Ok(())
        },
    },
    ConfigKey {
        name: "test-mode",
        mutable: false,
        settable: true,
        get: |c| if c.test_mode { "yes" } else { "no" }.to_string(),
        set: |c, v| {
            c.test_mode = match v.to_ascii_lowercase().as_str() {
                "yes" | "true" => true,
                "no" | "false" => false,
                _ => return Err("argument must be 'yes' or 'no'".into()),
            };
            Ok(())
        },
    },
    ConfigKey {
        name: "metrics-port",
        mutable: false,
        settable: true,
        get: |c| c.metrics_port.to_string(),
        set: |c, v| {
            c.metrics_port = int(v)?;
            Ok(())
        },
    },
    ConfigKey {
        name: "log-format",
        mutable: false,
        settable: true,
        get: |c| c.log_format.clone(),
        set: |c, v| {
            c.log_format = one_of(v, &["text", "json"])?;
            Ok(())
        },
    },
    ConfigKey {
        name: "slowlog-log-slower-than",
        mutable: true,
        settable: true,
        get: |c| c.slowlog_log_slower_than.to_string(),
        set: |c, v| {
            c.slowlog_log_slower_than = in_range(int(v)?, -1, i64::MAX)?;
            Ok(())
        },
    },
    ConfigKey {
        name: "slowlog-max-len",
        mutable: true,
        settable: true,
        get: |c| c.slowlog_max_len.to_string(),
        set: |c, v| {
            // Redis' range first (same error for negatives), then Meridian's bound.
            let n: i64 = in_range(int(v)?, 0, i64::MAX)?;
            c.slowlog_max_len = in_range(n as u64, 0, SLOWLOG_MAX_LEN_MAX)?;
            Ok(())
        },
    },
    ConfigKey {
        name: "latency-monitor-threshold",
        mutable: true,
        settable: true,
        get: |c| c.latency_monitor_threshold.to_string(),
        set: |c, v| {
            c.latency_monitor_threshold = in_range(int::<i64>(v)?, 0, i64::MAX)? as u64;
            Ok(())
        },
    },
    ConfigKey {
        name: "busy-reply-threshold",
        mutable: true,
        settable: true,
        get: |c| c.busy_reply_threshold_ms.to_string(),
        set: |c, v| {
            c.busy_reply_threshold_ms = in_range(int(v)?, 0, i32::MAX as u64)?;
            Ok(())
        },
    },
    ConfigKey {
        name: "lua-time-limit",
        mutable: true,
        settable: true,
        get: |c| c.busy_reply_threshold_ms.to_string(),
        set: |c, v| {
            c.busy_reply_threshold_ms = in_range(int(v)?, 0, i32::MAX as u64)?;
            Ok(())
        },
    },
    ConfigKey {
        name: "script-time-limit",
        mutable: true,
        settable: true,
        get: |c| c.script_time_limit_ms.to_string(),
        set: |c, v| {
            c.script_time_limit_ms = in_range(int(v)?, 0, i32::MAX as u64)?;
            Ok(())
        },
    },
    ConfigKey {
        name: "lua-memory-limit",
        mutable: true,
        settable: true,
        get: |c| c.lua_memory_limit.bytes().to_string(),
        set: |c, v| {
            let s = size(v)?;
            c.lua_memory_limit = ByteSize(in_range(s.bytes(), 0, 1 << 40)?);
            Ok(())
        },
    },
    // Informational, for tools such as redis-benchmark that read them.
    ConfigKey {
        name: "save",
        mutable: false,
        settable: false,
        get: |_| String::new(),
        set: |_, _| Err("not supported".into()),
    },
    ConfigKey {
        name: "appendonly",
        mutable: false,
        settable: false,
        get: |_| "no".into(),
        set: |_, _| Err("not supported".into()),
    },
];

/// Finds a key by name, case-insensitively.
pub fn find_key(name: &str) -> Option<&'static ConfigKey> {
    CONFIG_KEYS
        .iter()
        .find(|k| k.name.eq_ignore_ascii_case(name))
}

impl Config {
    /// Reads a TOML config file. Missing keys take their defaults; unknown
    /// keys are an error (a typo must not be silently ignored).
    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Config::from_toml(&text).map_err(|message| ConfigError::Parse {
            path: path.display().to_string(),
            message,
        })
    }

    /// Parses TOML text.
    pub fn from_toml(text: &str) -> Result<Config, String> {
        let config: Config = toml::from_str(text).map_err(|e| e.to_string())?;
        // Re-validate through the key table so file and flags share rules.
        let mut checked = Config::default();
        for key in CONFIG_KEYS.iter().filter(|k| k.settable) {
            (key.set)(&mut checked, &(key.get)(&config))
                .map_err(|reason| format!("{}: {reason}", key.name))?;
        }
        Ok(checked)
    }

    /// The current value of a key, as CONFIG GET shows it.
    pub fn get(&self, name: &str) -> Option<String> {
        find_key(name).map(|k| (k.get)(self))
    }

    /// Sets a key from its text form. `runtime` refuses immutable keys, as
    /// CONFIG SET does; start-up (file, flags) may set every settable key.
    pub fn set(&mut self, name: &str, value: &str, runtime: bool) -> Result<(), ConfigError> {
        let key = find_key(name)
            .filter(|k| k.settable)
            .ok_or_else(|| ConfigError::UnknownKey(name.to_string()))?;
        if runtime && !key.mutable {
            return Err(ConfigError::Immutable(key.name.to_string()));
        }
        (key.set)(self, value).map_err(|reason| ConfigError::Invalid {
            key: key.name.to_string(),
            reason,
        })
    }

    /// Checks that combine several keys (each key alone was validated when set): what
    /// the server would refuse at start-up. `meridian check-config` runs it too.
    pub fn check(&self) -> Result<(), String> {
        if !self.peers.0.is_empty() && self.repl_port == 0 {
            return Err("peers are configured but repl-port is 0".into());
        }
        if self
            .peers
            .0
            .iter()
            .any(|p| u64::from(p.region_id) == self.region_id)
        {
            return Err(format!(
                "peers list this region's own id {}",
                self.region_id
            ));
        }
        if self.metrics_port != 0 && self.metrics_port == self.port {
            return Err("metrics-port must differ from port".into());
        }
        Ok(())
    }

    /// Parser limits derived from this configuration.
    pub fn parse_limits(&self) -> ParseLimits {
        ParseLimits {
            max_bulk_len: self.proto_max_bulk_len.bytes(),
            ..ParseLimits::default()
        }
    }

    /// The socket addresses to listen on (plain TCP). `port 0` with a `tls-port` means
    /// TLS only, as in Redis.
    pub fn listen_addrs(&self) -> Vec<String> {
        if self.port == 0 && self.tls_port != 0 {
            return Vec::new();
        }
        self.addrs_on(self.port)
    }

    /// `bind` addresses with `tls-port` (empty when it is 0).
    pub fn tls_listen_addrs(&self) -> Vec<String> {
        if self.tls_port == 0 {
            return Vec::new();
        }
        self.addrs_on(self.tls_port)
    }

    fn addrs_on(&self, port: u16) -> Vec<String> {
        self.bind
            .split_whitespace()
            .map(|host| {
                if host.contains(':') && !host.starts_with('[') {
                    format!("[{host}]:{port}")
                } else {
                    format!("{host}:{port}")
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults() {
        let c = Config::default();
        assert_eq!(c.bind, "127.0.0.1");
        assert_eq!(c.port, 6379);
        assert_eq!(c.listen_addrs(), ["127.0.0.1:6379"]);
        assert_eq!(c.get("proto-max-bulk-len").unwrap(), "536870912");
    }

    #[test]
    fn toml_file_and_sizes() {
        let c = Config::from_toml(
            "port = 7000\nproto-max-bulk-len = \"2mb\"\nbind = \"127.0.0.1 ::1\"\nclient-output-buffer-limit = \"pubsub 1mb 0 0\"\n",
        )
        .unwrap();
        assert_eq!(c.port, 7000);
        assert_eq!(c.proto_max_bulk_len, ByteSize(2 << 20));
        assert_eq!(c.listen_addrs(), ["127.0.0.1:7000", "[::1]:7000"]);
        assert_eq!(c.client_output_buffer_limit.pubsub.hard, 1 << 20);
        assert_eq!(c.client_output_buffer_limit.normal.hard, 1 << 30);
        assert!(Config::from_toml("prot = 1").is_err());
        assert!(Config::from_toml("databases = 99").is_err());
    }

    #[test]
    fn runtime_set_rules() {
        let mut c = Config::default();
        c.set("MAXCLIENTS", "5", true).unwrap();
        assert_eq!(c.maxclients, 5);
        assert!(matches!(
            c.set("port", "1", true),
            Err(ConfigError::Immutable(_))
        ));
        assert!(matches!(
            c.set("nope", "1", true),
            Err(ConfigError::UnknownKey(_))
        ));
        assert!(matches!(
            c.set("maxclients", "x", true),
            Err(ConfigError::Invalid { .. })
        ));
        c.set("port", "1", false).unwrap();
        assert_eq!(c.port, 1);
    }
}
