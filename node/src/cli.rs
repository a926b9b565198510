//! Command-line interface of the `meridian` binary (clap).
//!
//! `meridian server` takes `--config FILE` plus one flag per configuration
//! key (same name as in the TOML file and in CONFIG GET). Flags override the
//! file, which overrides the defaults.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::{Config, ConfigError};

/// Meridian: an active-active geo-replicated database that speaks the Redis
/// protocol.
#[derive(Debug, Parser)]
#[command(name = "meridian", version, about, long_about = None)]
pub struct Cli {
    /// What to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands of `meridian`.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a region server (RESP2/RESP3 over TCP).
    Server(Box<ServerArgs>),
    /// Start N regions of a local multi-region Meridian on this machine (dev).
    Local(LocalArgs),
    /// Call a region's admin API (status, health, membership, flush).
    Admin(crate::admin::cli::AdminArgs),
    /// Create a cluster CA and region certificates for the region links (mutual TLS).
    Certs(CertsArgs),
    /// Check a config file as `meridian server --config FILE` would, then exit:
    /// status 0 and "ok" when valid, 1 and the error otherwise.
    CheckConfig(CheckConfigArgs),
}

/// Flags of `meridian certs`.
#[derive(Debug, Clone, Args)]
pub struct CertsArgs {
    /// Regions to create certificates for: 1..=N.
    #[arg(long, default_value_t = 3)]
    pub regions: u8,
    /// Output directory: ca.pem and ca.key (keep the CA key offline), then
    /// region-<id>.pem and region-<id>.key per region. Existing files are kept, so
    /// running it again with more regions adds their certificates under the same CA.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

/// Flags of `meridian check-config`.
#[derive(Debug, Clone, Args)]
pub struct CheckConfigArgs {
    /// TOML config files to check.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

/// Flags of `meridian local`.
#[derive(Debug, Clone, Args)]
pub struct LocalArgs {
    /// Number of regions (1..=9).
    #[arg(long, default_value_t = 3)]
    pub regions: u8,
    /// RESP port of region 1; region i listens on base-port + i - 1.
    #[arg(long, default_value_t = 7001)]
    pub base_port: u16,
    /// QUIC port of region 1's region link; region i uses repl-base-port + i - 1.
    #[arg(long, default_value_t = 17001)]
    pub repl_base_port: u16,
    /// Admin API port of region 1; region i uses admin-base-port + i - 1 (0 = off).
    #[arg(long, default_value_t = 7101)]
    pub admin_base_port: u16,
    /// Port of region 1's metrics endpoint (/metrics, /health); region i uses
    /// metrics-base-port + i - 1 [default: base-port + 1000].
    #[arg(long)]
    pub metrics_base_port: Option<u16>,
    /// Directory for every region's data and the dev certificates.
    #[arg(long, default_value = "meridian-local")]
    pub data_dir: PathBuf,
    /// Extra `meridian server` flags given to every region (e.g. "--loglevel warning").
    #[arg(
        long,
        allow_hyphen_values = true,
        value_name = "FLAGS",
        default_value = ""
    )]
    pub server_flags: String,
}

/// Flags of `meridian server`. Each flag is also a key of the TOML config
/// file and of CONFIG GET/SET.
#[derive(Debug, Default, Args)]
#[command(after_help = "\
Config file: TOML, keys spelled as the flags without dashes in front, e.g.\n\
    port = 6380\n\
    bind = \"127.0.0.1 ::1\"\n\
    proto-max-bulk-len = \"512mb\"\n\
    client-output-buffer-limit = \"normal 1gb 0 0 pubsub 32mb 8mb 60\"\n\
Sizes accept Redis units: 1024, 64kb, 512mb, 1gb (k/m/g = 1000^n, kb/mb/gb = 1024^n).")]
pub struct ServerArgs {
    /// TOML config file; flags given here override its keys.
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Addresses to listen on, space separated [default: 127.0.0.1].
    #[arg(long, value_name = "ADDRS")]
    pub bind: Option<String>,
    /// TCP port for clients [default: 6379].
    #[arg(long, short = 'p', value_name = "N")]
    pub port: Option<u16>,
    /// This region's stable numeric id, unique among regions [default: 1].
    #[arg(long, value_name = "N")]
    pub region_id: Option<u64>,
    /// Directory for persistent state [default: meridian-data].
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<String>,
    /// Number of logical databases, 1..=16 [default: 16].
    #[arg(long, value_name = "N")]
    pub databases: Option<u32>,
    /// Maximum simultaneous clients [default: 10000].
    #[arg(long, value_name = "N")]
    pub maxclients: Option<u64>,
    /// Close clients idle for this many seconds, 0 = never [default: 0].
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<u64>,
    /// TCP keep-alive interval for client sockets, 0 = off [default: 300].
    #[arg(long, value_name = "SECS")]
    pub tcp_keepalive: Option<u64>,
    /// Largest bulk string a client may send [default: 512mb].
    #[arg(long, value_name = "SIZE")]
    pub proto_max_bulk_len: Option<String>,
    /// Largest unprocessed input per client [default: 1gb].
    #[arg(long, value_name = "SIZE")]
    pub client_query_buffer_limit: Option<String>,
    /// Output buffer limits per class, Redis syntax
    /// [default: "normal 1gb 0 0 replica 256mb 64mb 60 pubsub 32mb 8mb 60"].
    #[arg(long, value_name = "SPEC")]
    pub client_output_buffer_limit: Option<String>,
    /// Log verbosity: debug, verbose, notice, warning, nothing [default: notice].
    #[arg(long, visible_alias = "log-level", value_name = "LEVEL")]
    pub loglevel: Option<String>,
    /// Write durability: always, everysec, no [default: everysec].
    #[arg(long, value_name = "POLICY")]
    pub appendfsync: Option<String>,
    /// Persistence (RocksDB write-ahead log + snapshots in data-dir): yes/no [default: no].
    #[arg(long, value_name = "YES/NO")]
    pub appendonly: Option<String>,
    /// Snapshot (and WAL trim) period in seconds, 0 = only by size [default: 300].
    #[arg(long, value_name = "SECS")]
    pub snapshot_interval_secs: Option<u64>,
    /// Snapshot when the write-ahead log exceeds this size [default: 256mb].
    #[arg(long, value_name = "SIZE")]
    pub wal_max_bytes: Option<String>,
    /// Op-log (replication backlog) retention by size; on disk with persistence [default: 1gb].
    #[arg(long, value_name = "SIZE")]
    pub repl_backlog_size: Option<String>,
    /// Op-log retention by age in seconds [default: 21600].
    #[arg(long, value_name = "SECS")]
    pub repl_backlog_max_age: Option<u64>,
    /// Op-log bytes kept in memory; with persistence older entries are read from disk [default: 256mb].
    #[arg(long, value_name = "SIZE")]
    pub repl_backlog_memory: Option<String>,
    /// TCP port for TLS client connections on the `bind` addresses, 0 = off [default: 0].
    #[arg(long, value_name = "N")]
    pub tls_port: Option<u16>,
    /// PEM certificate chain of the server for tls-port.
    #[arg(long, value_name = "FILE")]
    pub tls_cert_file: Option<String>,
    /// PEM private key of the tls-port certificate.
    #[arg(long, value_name = "FILE")]
    pub tls_key_file: Option<String>,
    /// PEM CA certificates that sign client certificates.
    #[arg(long, value_name = "FILE")]
    pub tls_ca_cert_file: Option<String>,
    /// Client certificates on tls-port: yes (required), optional, no [default: yes].
    #[arg(long, value_name = "YES/NO/OPTIONAL")]
    pub tls_auth_clients: Option<String>,
    /// UDP port of the region link (QUIC, mutual TLS), 0 = no replication [default: 0].
    #[arg(long, value_name = "N")]
    pub repl_port: Option<u16>,
    /// Address the region link binds to [default: 127.0.0.1].
    #[arg(long, value_name = "ADDR")]
    pub repl_bind: Option<String>,
    /// Peer regions, space separated `<region-id>@<host:port>` (full mesh) [default: none].
    #[arg(long, value_name = "PEERS")]
    pub peers: Option<String>,
    /// Directory with ca.pem, region-<id>.pem and region-<id>.key [default: meridian-data/tls].
    #[arg(long, value_name = "DIR")]
    pub repl_tls_dir: Option<String>,
    /// Create dev certificates in repl-tls-dir when missing: yes/no [default: no].
    #[arg(long, value_name = "YES/NO")]
    pub repl_dev_certs: Option<String>,
    /// Password of the default user; empty = none [default: none].
    #[arg(long, value_name = "PASSWORD")]
    pub requirepass: Option<String>,
    /// ACL file loaded at start-up and by ACL LOAD, written by ACL SAVE [default: none].
    #[arg(long, value_name = "FILE")]
    pub aclfile: Option<String>,
    /// Entries kept by ACL LOG [default: 128].
    #[arg(long, value_name = "N")]
    pub acllog_max_len: Option<u64>,
    /// Memory limit, 0 = none; over it writes that may grow memory get -OOM [default: 0].
    #[arg(long, value_name = "SIZE")]
    pub maxmemory: Option<String>,
    /// Policy over maxmemory: noeviction (refuse such writes), allkeys-random,
    /// volatile-ttl, allkeys-lru, volatile-lru, allkeys-lfu or volatile-lfu (delete
    /// keys everywhere) [default: noeviction].
    #[arg(long, value_name = "POLICY")]
    pub maxmemory_policy: Option<String>,
    /// A script running this long makes other clients get -BUSY [default: 5000].
    #[arg(long, value_name = "MS")]
    pub busy_reply_threshold: Option<u64>,
    /// Alias of --busy-reply-threshold (Redis' older name).
    #[arg(long, value_name = "MS")]
    pub lua_time_limit: Option<u64>,
    /// A script running this long is stopped with an error, 0 = never [default: 10000].
    #[arg(long, value_name = "MS")]
    pub script_time_limit: Option<u64>,
    /// Memory of the Lua scripting state, 0 = unbounded [default: 256mb].
    #[arg(long, value_name = "SIZE")]
    pub lua_memory_limit: Option<String>,
    /// Keys sampled per database and eviction by the LRU/LFU policies (at most 64
    /// are used) [default: 5].
    #[arg(long, value_name = "N")]
    pub maxmemory_samples: Option<u32>,
    /// LFU counter growth factor (higher: slower) [default: 10].
    #[arg(long, value_name = "N")]
    pub lfu_log_factor: Option<u32>,
    /// Minutes without access per LFU counter decrement, 0 = never [default: 1].
    #[arg(long, value_name = "MINUTES")]
    pub lfu_decay_time: Option<u32>,
    /// Protected mode: without a default-user password only loopback clients are
    /// accepted, yes/no [default: yes].
    #[arg(long, value_name = "YES/NO")]
    pub protected_mode: Option<String>,
    /// Test mode (chaos harness): enables DEBUG's fault knobs, yes/no [default: no].
    #[arg(long, value_name = "YES/NO")]
    pub test_mode: Option<String>,
    /// Join a cluster that has data: on an empty data-dir, accept writes only once
    /// caught up with every peer: yes/no [default: no].
    #[arg(long, value_name = "YES/NO")]
    pub repl_join: Option<String>,
    /// TCP port of the admin gRPC API on the bind addresses, 0 = off [default: 0].
    #[arg(long, value_name = "N")]
    pub admin_port: Option<u16>,
    /// Bearer token required by the admin API [default: none].
    #[arg(
        long,
        value_name = "TOKEN",
        env = "MERIDIAN_ADMIN_TOKEN",
        hide_env_values = true
    )]
    pub admin_token: Option<String>,
    /// TCP port of the HTTP endpoint for /metrics (Prometheus) and /health, on the bind
    /// addresses, 0 = off [default: 0].
    #[arg(long, value_name = "N")]
    pub metrics_port: Option<u16>,
    /// Log line format: text or json (one JSON object per line) [default: text].
    #[arg(long, value_name = "FORMAT")]
    pub log_format: Option<String>,
    /// SLOWLOG records commands slower than this many microseconds, 0 = all,
    /// -1 = none [default: 10000].
    #[arg(long, value_name = "USEC", allow_hyphen_values = true)]
    pub slowlog_log_slower_than: Option<i64>,
    /// Entries kept by SLOWLOG [default: 128].
    #[arg(long, value_name = "N")]
    pub slowlog_max_len: Option<u64>,
    /// LATENCY records latency spikes of at least this many ms, 0 = off [default: 0].
    #[arg(long, value_name = "MS")]
    pub latency_monitor_threshold: Option<u64>,
}

impl ServerArgs {
    /// The flags that were given, as `(config key, value)` pairs.
    pub fn overrides(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        let mut add = |name: &'static str, v: Option<String>| {
            if let Some(v) = v {
                out.push((name, v));
            }
        };
        add("bind", self.bind.clone());
        add("port", self.port.map(|v| v.to_string()));
        add("region-id", self.region_id.map(|v| v.to_string()));
        add("data-dir", self.data_dir.clone());
        add("databases", self.databases.map(|v| v.to_string()));
        add("maxclients", self.maxclients.map(|v| v.to_string()));
        add("timeout", self.timeout.map(|v| v.to_string()));
        add("tcp-keepalive", self.tcp_keepalive.map(|v| v.to_string()));
        add("proto-max-bulk-len", self.proto_max_bulk_len.clone());
        add(
            "client-query-buffer-limit",
            self.client_query_buffer_limit.clone(),
        );
        add(
            "client-output-buffer-limit",
            self.client_output_buffer_limit.clone(),
        );
        add("loglevel", self.loglevel.clone());
        add("appendfsync", self.appendfsync.clone());
        add("appendonly", self.appendonly.clone());
        add(
            "snapshot-interval-secs",
            self.snapshot_interval_secs.map(|v| v.to_string()),
        );
        add("wal-max-bytes", self.wal_max_bytes.clone());
        add("repl-backlog-size", self.repl_backlog_size.clone());
        add(
            "repl-backlog-max-age",
            self.repl_backlog_max_age.map(|v| v.to_string()),
        );
        add("repl-backlog-memory", self.repl_backlog_memory.clone());
        add("tls-port", self.tls_port.map(|v| v.to_string()));
        add("tls-cert-file", self.tls_cert_file.clone());
        add("tls-key-file", self.tls_key_file.clone());
        add("tls-ca-cert-file", self.tls_ca_cert_file.clone());
        add("tls-auth-clients", self.tls_auth_clients.clone());
        add("repl-port", self.repl_port.map(|v| v.to_string()));
        add("repl-bind", self.repl_bind.clone());
        add("peers", self.peers.clone());
        add("repl-tls-dir", self.repl_tls_dir.clone());
        add("repl-dev-certs", self.repl_dev_certs.clone());
        add("requirepass", self.requirepass.clone());
        add("aclfile", self.aclfile.clone());
        add("acllog-max-len", self.acllog_max_len.map(|v| v.to_string()));
        add("maxmemory", self.maxmemory.clone());
        add("maxmemory-policy", self.maxmemory_policy.clone());
        add(
            "busy-reply-threshold",
            self.busy_reply_threshold.map(|v| v.to_string()),
        );
        add("lua-time-limit", self.lua_time_limit.map(|v| v.to_string()));
        add(
            "script-time-limit",
            self.script_time_limit.map(|v| v.to_string()),
        );
        add("lua-memory-limit", self.lua_memory_limit.clone());
        add(
            "maxmemory-samples",
            self.maxmemory_samples.map(|v| v.to_string()),
        );
        add("lfu-log-factor", self.lfu_log_factor.map(|v| v.to_string()));
        add("lfu-decay-time", self.lfu_decay_time.map(|v| v.to_string()));
        add("protected-mode", self.protected_mode.clone());
        add("test-mode", self.test_mode.clone());
        add("repl-join", self.repl_join.clone());
        add("admin-port", self.admin_port.map(|v| v.to_string()));
        add("admin-token", self.admin_token.clone());
        add("metrics-port", self.metrics_port.map(|v| v.to_string()));
        add("log-format", self.log_format.clone());
        add(
            "slowlog-log-slower-than",
            self.slowlog_log_slower_than.map(|v| v.to_string()),
        );
        add(
            "slowlog-max-len",
            self.slowlog_max_len.map(|v| v.to_string()),
        );
        add(
            "latency-monitor-threshold",
            self.latency_monitor_threshold.map(|v| v.to_string()),
        );
        out
    }

    /// Defaults, then the config file (if any), then the flags.
    pub fn load_config(&self) -> Result<Config, ConfigError> {
        let mut config = match &self.config {
            Some(path) => Config::from_file(path)?,
            None => Config::default(),
        };
        for (key, value) in self.overrides() {
            config.set(key, &value, false)?;
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;
    use crate::config::CONFIG_KEYS;

    #[test]
    fn every_config_key_has_a_flag() {
        let cmd = Cli::command();
        let server = cmd.find_subcommand("server").unwrap();
        for key in CONFIG_KEYS.iter().filter(|k| k.settable) {
            assert!(
                server
                    .get_arguments()
                    .any(|a| a.get_long() == Some(key.name)),
                "no --{} flag",
                key.name
            );
        }
        // and every flag is applied
        let all = ServerArgs {
            bind: Some("127.0.0.2".into()),
            port: Some(1),
            region_id: Some(2),
            data_dir: Some("d".into()),
            databases: Some(3),
            maxclients: Some(4),
            timeout: Some(5),
            tcp_keepalive: Some(6),
            proto_max_bulk_len: Some("2mb".into()),
            client_query_buffer_limit: Some("3mb".into()),
            client_output_buffer_limit: Some("normal 0 0 0".into()),
            loglevel: Some("debug".into()),
            appendfsync: Some("always".into()),
            appendonly: Some("yes".into()),
            snapshot_interval_secs: Some(60),
            wal_max_bytes: Some("64mb".into()),
            repl_backlog_size: Some("2gb".into()),
            repl_backlog_max_age: Some(7200),
            repl_backlog_memory: Some("32mb".into()),
            tls_port: Some(6380),
            tls_cert_file: Some("server.pem".into()),
            tls_key_file: Some("server.key".into()),
            tls_ca_cert_file: Some("ca.pem".into()),
            tls_auth_clients: Some("optional".into()),
            repl_port: Some(17001),
            repl_bind: Some("127.0.0.1".into()),
            peers: Some("2@127.0.0.1:17002 3@127.0.0.1:17003".into()),
            repl_tls_dir: Some("tls".into()),
            repl_dev_certs: Some("yes".into()),
            test_mode: Some("yes".into()),
            requirepass: Some("pw".into()),
            aclfile: Some("users.acl".into()),
            acllog_max_len: Some(10),
            protected_mode: Some("no".into()),
            maxmemory: Some("100mb".into()),
            maxmemory_policy: Some("noeviction".into()),
            repl_join: Some("yes".into()),
            admin_port: Some(7100),
            admin_token: Some("t".into()),
            metrics_port: Some(9121),
            log_format: Some("json".into()),
            slowlog_log_slower_than: Some(-1),
            slowlog_max_len: Some(5),
            latency_monitor_threshold: Some(100),
            busy_reply_threshold: Some(100),
            lua_time_limit: Some(200),
            script_time_limit: Some(300),
            lua_memory_limit: Some("10mb".into()),
            maxmemory_samples: Some(10),
            lfu_log_factor: Some(1),
            lfu_decay_time: Some(0),
            config: None,
        };
        assert_eq!(
            all.overrides().len(),
            CONFIG_KEYS.iter().filter(|k| k.settable).count()
        );
        let c = all.load_config().unwrap();
        assert_eq!((c.port, c.region_id, c.databases), (1, 2, 3));
        assert_eq!((c.metrics_port, c.log_format.as_str()), (9121, "json"));
        assert_eq!(
            (
                c.slowlog_log_slower_than,
                c.slowlog_max_len,
                c.latency_monitor_threshold
            ),
            (-1, 5, 100)
        );
    }

    #[test]
    fn flags_override_file() {
        let dir = std::env::temp_dir().join(format!("meridian-cli-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("m.toml");
        std::fs::write(&file, "port = 7000\nmaxclients = 7\n").unwrap();
        let cli = Cli::try_parse_from([
            "meridian",
            "server",
            "--config",
            file.to_str().unwrap(),
            "--port",
            "7001",
        ])
        .unwrap();
        let Command::Server(args) = cli.command else {
            panic!("expected the server subcommand")
        };
        let c = args.load_config().unwrap();
        assert_eq!(c.port, 7001);
        assert_eq!(c.maxclients, 7);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
