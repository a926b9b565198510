//! State shared by every connection of one server.

use std::{
    collections::hash_map::RandomState,
    hash::{BuildHasher, Hasher},
    path::PathBuf,
    sync::{RwLock, RwLockReadGuard, RwLockWriteGuard},
    time::{Instant, SystemTime},
};

use tokio::sync::watch;

use super::{ClientRegistry, PubSub, Stats};
use crate::{cmd::CommandTable, config::Config, store::Store};

/// Everything a command handler may reach besides its own client.
#[derive(Debug)]
pub struct ServerState {
    config: RwLock<Config>,
    /// The command table (specs, lookup, per-command stats).
    pub commands: CommandTable,
    /// Users and permissions (per region, not replicated).
    pub acl: crate::acl::Acl,
    /// Connected clients.
    pub clients: ClientRegistry,
    /// Counters for INFO.
    pub stats: Stats,
    /// The data: the region's CRDT store. Every command locks it for its duration.
    pub store: parking_lot::Mutex<Store>,
    /// The region link, when peers are configured (set once at start-up).
    pub repl: std::sync::OnceLock<std::sync::Arc<crate::repl::Replication>>,
    /// Persistence, when `appendonly yes` (set once at start-up, before the region link).
    pub persist: std::sync::OnceLock<std::sync::Arc<crate::persist::Persist>>,
    /// Pub/sub subscriptions and delivery (the seam where other regions' messages
    /// come in and local ones go out: see [`PubSub`]).
    pub pubsub: PubSub,
    /// Lua scripting: the Lua state, the script cache and the running script.
    pub scripts: crate::script::Scripts,
    databases: usize,
    /// Start time (monotonic).
    pub started: Instant,
    /// Start time (wall clock).
    pub started_at: SystemTime,
    /// 40 hex characters, new at every start (INFO `run_id`).
    pub run_id: String,
    /// Config file given at start-up, if any.
    pub config_file: Option<PathBuf>,
    /// SLOWLOG, LATENCY and the serving flag of `/health`.
    pub observe: crate::observe::Observe,
    /// Port actually listened on (differs from config when it was 0).
    pub tcp_port: std::sync::atomic::AtomicU16,
    shutdown: watch::Sender<bool>,
}

fn random_hex(len: usize) -> String {
    let mut out = String::with_capacity(len);
    while out.len() < len {
        let mut h = RandomState::new().build_hasher();
        h.write_u128(
            SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0),
        );
        h.write_u32(std::process::id());
        out.push_str(&format!("{:016x}", h.finish()));
    }
    out.truncate(len);
    out
}

impl ServerState {
    /// State for a server with this configuration.
    pub fn new(config: Config, config_file: Option<PathBuf>) -> Self {
        let mut store = Store::new(config.region_id as crdt::RegionId);
        store.set_access_mode(config.access_mode());
        let databases = (config.databases as usize).min(crdt::keyspace::DATABASES);
        let port = config.port;
        let commands = CommandTable::new();
        let acl = crate::acl::Acl::new(&commands);
        if !config.requirepass.is_empty() {
            acl.set_default_password(&config.requirepass, &commands);
        }
        let observe = crate::observe::Observe::new(&config);
        ServerState {
            observe,
            config: RwLock::new(config),
            commands,
            acl,
            clients: ClientRegistry::default(),
            stats: Stats::default(),
            store: parking_lot::Mutex::new(store),
            repl: std::sync::OnceLock::new(),
            persist: std::sync::OnceLock::new(),
            pubsub: PubSub::new(),
            scripts: crate::script::Scripts::default(),
            databases,
            started: Instant::now(),
            started_at: SystemTime::now(),
            run_id: random_hex(40),
            config_file,
            tcp_port: std::sync::atomic::AtomicU16::new(port),
            shutdown: watch::channel(false).0,
        }
    }

    /// Loads the `aclfile`, if one is configured (start-up; ACL LOAD at run time).
    /// On an error the current users stay.
    pub fn load_aclfile(&self) -> Result<bool, crate::acl::AclError> {
        let path = self.config().aclfile.clone();
        if path.is_empty() {
            return Ok(false);
        }
        let users = crate::acl::file::load(std::path::Path::new(&path), &self.commands)?;
        self.acl.replace_all(users, &self.commands);
        Ok(true)
    }

    /// Number of logical databases (SELECT accepts `0..databases`).
    pub fn databases(&self) -> usize {
        self.databases
    }

    /// Reads the live configuration. Hold the guard briefly.
    pub fn config(&self) -> RwLockReadGuard<'_, Config> {
        self.config.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Writes the live configuration (CONFIG SET).
    pub fn config_mut(&self) -> RwLockWriteGuard<'_, Config> {
        self.config.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts a shutdown: listeners stop, connections close.
    pub fn request_shutdown(&self) {
        self.shutdown.send_replace(true);
        self.clients.kill_all();
    }

    /// A receiver that sees `true` once shutdown was requested.
    pub fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    /// True once shutdown was requested.
    pub fn is_shutting_down(&self) -> bool {
        *self.shutdown.borrow()
    }
}
