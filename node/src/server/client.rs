//! Per-client state: what the connection task owns ([`ClientState`]), what
//! other clients may see or act on ([`ClientHandle`]: CLIENT LIST / KILL),
//! and the registry of connected clients ([`ClientRegistry`]).

use std::{
    collections::BTreeMap,
    net::SocketAddr,
    sync::{
        atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicU8, AtomicUsize, Ordering::Relaxed},
        Arc, Mutex, MutexGuard,
    },
    time::Instant,
};

use tokio::sync::Notify;

use crate::resp::Protocol;

/// Client attributes set by commands (CLIENT SETNAME, CLIENT SETINFO, ...).
#[derive(Debug, Clone, Default)]
pub struct ClientNames {
    /// CLIENT SETNAME / HELLO SETNAME (empty = none).
    pub name: String,
    /// CLIENT SETINFO LIB-NAME.
    pub lib_name: String,
    /// CLIENT SETINFO LIB-VER.
    pub lib_ver: String,
    /// The authenticated user (empty: `default`).
    pub user: String,
}

impl ClientNames {
    /// The user name CLIENT LIST shows.
    pub fn user_name(&self) -> &str {
        if self.user.is_empty() {
            "default"
        } else {
            &self.user
        }
    }
}

/// The shared, thread-safe view of one connected client.
#[derive(Debug)]
pub struct ClientHandle {
    /// Unique, increasing client id (CLIENT ID).
    pub id: u64,
    /// Peer address.
    pub addr: SocketAddr,
    /// Local address.
    pub laddr: SocketAddr,
    /// Socket file descriptor (-1 where unknown).
    pub fd: i64,
    /// When the connection was accepted.
    pub created: Instant,
    names: Mutex<ClientNames>,
    db: AtomicUsize,
    resp: AtomicU8,
    no_evict: AtomicBool,
    no_touch: AtomicBool,
    /// Id in the command table of the last command run (+1; 0 = none).
    pub last_cmd: AtomicUsize,
    /// Milliseconds since `created` of the last command.
    pub last_interaction_ms: AtomicU64,
    /// Unprocessed input bytes.
    pub qbuf: AtomicUsize,
    /// Pending output bytes.
    pub omem: AtomicUsize,
    /// Channel subscriptions (CLIENT LIST `sub`).
    pub sub: AtomicUsize,
    /// Pattern subscriptions (CLIENT LIST `psub`).
    pub psub: AtomicUsize,
    /// Shard channel subscriptions (CLIENT LIST `ssub`).
    pub ssub: AtomicUsize,
    /// Commands queued in MULTI, -1 outside a transaction (CLIENT LIST `multi`).
    pub multi: AtomicI64,
    killed: AtomicBool,
    kill_notify: Notify,
    blocked: AtomicBool,
}

impl ClientHandle {
    /// A new client in db 0 speaking RESP2.
    pub fn new(id: u64, addr: SocketAddr, laddr: SocketAddr, fd: i64) -> Self {
        ClientHandle {
            id,
            addr,
            laddr,
            fd,
            created: Instant::now(),
            names: Mutex::new(ClientNames::default()),
            db: AtomicUsize::new(0),
            resp: AtomicU8::new(2),
            no_evict: AtomicBool::new(false),
            no_touch: AtomicBool::new(false),
            last_cmd: AtomicUsize::new(0),
            last_interaction_ms: AtomicU64::new(0),
            qbuf: AtomicUsize::new(0),
            omem: AtomicUsize::new(0),
            sub: AtomicUsize::new(0),
            psub: AtomicUsize::new(0),
            ssub: AtomicUsize::new(0),
            multi: AtomicI64::new(-1),
            killed: AtomicBool::new(false),
            kill_notify: Notify::new(),
            blocked: AtomicBool::new(false),
        }
    }

    /// Name, library name and version. Hold the guard briefly.
    pub fn names(&self) -> MutexGuard<'_, ClientNames> {
        self.names.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Selected database.
    pub fn db(&self) -> usize {
        self.db.load(Relaxed)
    }

    /// Protocol version (2 or 3).
    pub fn resp(&self) -> u8 {
        self.resp.load(Relaxed)
    }

    /// CLIENT NO-EVICT state.
    pub fn no_evict(&self) -> bool {
        self.no_evict.load(Relaxed)
    }

    /// CLIENT NO-TOUCH state.
    pub fn no_touch(&self) -> bool {
        self.no_touch.load(Relaxed)
    }

    /// Sets CLIENT NO-EVICT.
    pub fn set_no_evict(&self, on: bool) {
        self.no_evict.store(on, Relaxed);
    }

    /// Sets CLIENT NO-TOUCH.
    pub fn set_no_touch(&self, on: bool) {
        self.no_touch.store(on, Relaxed);
    }

    /// Asks the connection to close (CLIENT KILL, shutdown). The connection
    /// finishes the command it is running, flushes, and closes.
    pub fn kill(&self) {
        self.killed.store(true, Relaxed);
        self.kill_notify.notify_one();
    }

    /// Whether the client waits in a blocking command (CLIENT LIST flag `b`).
    pub fn is_blocked(&self) -> bool {
        self.blocked.load(Relaxed)
    }

    /// Marks the client blocked or not (the connection, around a blocking wait).
    pub fn set_blocked(&self, on: bool) {
        self.blocked.store(on, Relaxed);
    }

    /// True once [`kill`](Self::kill) was called.
    pub fn is_killed(&self) -> bool {
        self.killed.load(Relaxed)
    }

    /// Resolves when the client is killed.
    pub async fn killed(&self) {
        if !self.is_killed() {
            self.kill_notify.notified().await;
        }
    }

    /// Seconds since the connection was accepted.
    pub fn age_secs(&self) -> u64 {
        self.created.elapsed().as_secs()
    }

    /// Seconds since the last command.
    pub fn idle_secs(&self) -> u64 {
        let now = self.created.elapsed().as_millis() as u64;
        now.saturating_sub(self.last_interaction_ms.load(Relaxed)) / 1000
    }

    /// Records activity now.
    pub fn touch(&self) {
        self.last_interaction_ms
            .store(self.created.elapsed().as_millis() as u64, Relaxed);
    }
}

/// A transaction being queued (between MULTI and EXEC/DISCARD).
#[derive(Debug, Default)]
pub struct MultiState {
    /// Queued commands (arguments copied out of the read buffer).
    pub queue: Vec<Vec<bytes::Bytes>>,
    /// Bytes of queued arguments (bounded by `client-query-buffer-limit`).
    pub bytes: usize,
    /// A command was refused while queueing: EXEC answers EXECABORT.
    pub dirty: bool,
}

/// One WATCHed key: EXEC aborts when its version in the store changed or, for a key
/// that was live with a TTL at WATCH time, when that TTL has passed.
#[derive(Debug, Clone)]
pub struct WatchedKey {
    /// Database.
    pub db: u8,
    /// Key.
    pub key: crdt::Bytes,
    /// `Store::watch_version` at WATCH time.
    pub version: u64,
    /// Expiry (Unix ms) of the key when it was live at WATCH time.
    pub deadline: Option<u64>,
}

/// Connection-local state, owned by the connection task and handed to
/// command handlers. Hot fields are plain copies; setters mirror them into
/// the shared [`ClientHandle`].
#[derive(Debug)]
pub struct ClientState {
    /// The shared view.
    pub handle: Arc<ClientHandle>,
    db: usize,
    protocol: Protocol,
    /// MULTI state (`None` outside a transaction).
    pub multi: Option<Box<MultiState>>,
    /// WATCHed keys (registered in the store; released by EXEC, DISCARD, UNWATCH,
    /// RESET and disconnection).
    pub watched: Vec<WatchedKey>,
    /// Pub/sub subscriptions and mailbox (created by the first subscribe).
    pub pubsub: Option<Box<super::Subscriptions>>,
    /// This region's op sequence number after the client's last write (what WAIT waits
    /// for peer regions to have made durable).
    pub woff: u64,
    /// User and authentication (set on connection; see `cmd::access`).
    pub session: Option<crate::acl::Session>,
    /// The IDs a blocked XREAD resolved (`$`) on its first run, kept for its retries.
    pub stream_block_ids: Option<Vec<crdt::stream::StreamId>>,
}

impl ClientState {
    /// Fresh state for a new connection.
    pub fn new(handle: Arc<ClientHandle>) -> Self {
        ClientState {
            handle,
            db: 0,
            protocol: Protocol::Resp2,
            multi: None,
            watched: Vec::new(),
            pubsub: None,
            woff: 0,
            session: None,
            stream_block_ids: None,
        }
    }

    /// Subscribed to at least one channel, pattern or shard channel.
    pub fn subscribed(&self) -> bool {
        self.pubsub.as_ref().is_some_and(|s| s.total() > 0)
    }

    /// In RESP2 pub/sub mode: only (P|S)(UN)SUBSCRIBE, PING, QUIT and RESET allowed.
    pub fn in_resp2_pubsub(&self) -> bool {
        self.protocol == Protocol::Resp2 && self.subscribed()
    }

    /// Client id.
    pub fn id(&self) -> u64 {
        self.handle.id
    }

    /// Selected database.
    pub fn db(&self) -> usize {
        self.db
    }

    /// SELECT (the caller validated the index).
    pub fn set_db(&mut self, db: usize) {
        self.db = db;
        self.handle.db.store(db, Relaxed);
    }

    /// Protocol for replies.
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// HELLO 2|3.
    pub fn set_protocol(&mut self, p: Protocol) {
        self.protocol = p;
        self.handle.resp.store(p.version() as u8, Relaxed);
    }
}

/// All connected clients, by id. Bounded by `maxclients`.
#[derive(Debug, Default)]
pub struct ClientRegistry {
    clients: Mutex<BTreeMap<u64, Arc<ClientHandle>>>,
    next_id: AtomicU64,
}

/// Removes a client from the registry when dropped.
#[derive(Debug)]
pub struct Registration<'a> {
    registry: &'a ClientRegistry,
    id: u64,
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        self.registry.lock().remove(&self.id);
    }
}

impl ClientRegistry {
    fn lock(&self) -> MutexGuard<'_, BTreeMap<u64, Arc<ClientHandle>>> {
        self.clients.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a new client unless `max` clients are already connected.
    pub fn register(
        &self,
        addr: SocketAddr,
        laddr: SocketAddr,
        fd: i64,
        max: u64,
    ) -> Option<Arc<ClientHandle>> {
        let mut map = self.lock();
        if map.len() as u64 >= max {
            return None;
        }
        let id = self.next_id.fetch_add(1, Relaxed) + 1;
        let handle = Arc::new(ClientHandle::new(id, addr, laddr, fd));
        map.insert(id, handle.clone());
        Some(handle)
    }

    /// Guard that unregisters `id` on drop.
    pub fn registration(&self, id: u64) -> Registration<'_> {
        Registration { registry: self, id }
    }

    /// Number of connected clients.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// True when no client is connected.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Snapshot of all clients, ordered by id.
    pub fn all(&self) -> Vec<Arc<ClientHandle>> {
        self.lock().values().cloned().collect()
    }

    /// Kills every client (shutdown).
    pub fn kill_all(&self) {
        for c in self.all() {
            c.kill();
        }
    }
}
