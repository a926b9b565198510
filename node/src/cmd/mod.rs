//! The command table and the command handlers, one file per family.
//!
//! # Adding a command
//!
//! 1. In the family's file (e.g. a new `cmd/string.rs`), write the handler
//!    `fn get(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult` and add a
//!    [`CommandSpec`] to that file's `COMMANDS` slice:
//!    `CommandSpec::new("get", 2, get).flags(&[Flag::Readonly, Flag::Fast]).keys(1, 1, 1).group(Group::String).summary("...")`.
//! 2. For a new family, add its `COMMANDS` to [`FAMILIES`] (one line).
//!
//! The table checks arity (`args[0]` is the command name, as in Redis), counts
//! calls for INFO commandstats and answers COMMAND INFO/DOCS/COUNT/LIST from
//! the specs.
//!
//! # Handlers
//!
//! A handler is synchronous and returns `Ok(reply)` or `Err(error_reply)`
//! (`Err` must hold a [`Reply::Error`]). It sees the shared
//! [`ServerState`] and its own [`ClientState`] through [`Ctx`], and may ask
//! the connection to close or the server to shut down via [`Ctx::action`].
//! Argument `Bytes` are slices of the connection's read buffer: copy them
//! (`Bytes::copy_from_slice`) before storing them in the keyspace, or they
//! pin that whole buffer.
//!
//! # The store lock and transactions
//!
//! A handler reaches the store only through [`Ctx::store`], which returns a
//! [`StoreGuard`] (derefs to `Store`) held for the rest of the command. Normally
//! that guard locks `ServerState::store`. EXEC (see `multi.rs`) must run all
//! queued commands under ONE lock acquisition and as one replicated op: it locks
//! the store once, opens a batch (`Store::begin_batch`), and runs each queued
//! command with a `Ctx` that carries the already-held store ([`HeldStore`],
//! a `RefCell` around the locked `&mut Store`); `Ctx::store` then hands out a
//! `RefMut` of it instead of locking again. Handler code is the same either way.
//! Consequences: a handler must not lock `ServerState::store` directly (it would
//! deadlock inside EXEC) and must not call `ctx.store()` again while its first
//! guard is alive (it would deadlock outside EXEC and panic inside).
//!
//! Commands are entered through [`dispatch`], which queues them inside MULTI
//! and restricts RESP2 subscribers before handing them to the table.
//!
//! # Blocking commands
//!
//! BZPOPMIN, BZPOPMAX and BZMPOP (and later BLPOP, BLMOVE, XREAD BLOCK...) wait for a
//! key to be written. Handlers stay synchronous; the waiting happens in the connection
//! task. The protocol, for a handler that finds nothing to serve:
//!
//! 1. Parse and validate everything (the timeout with [`blocking::timeout_arg`]), look
//!    at the keys under `let mut st = ctx.store()` and serve at once if possible.
//! 2. Otherwise, if [`Ctx::can_block`] is false (inside EXEC, where Redis never blocks)
//!    return the timeout reply at once.
//! 3. Otherwise call [`Ctx::block`] with the SAME store guard (`&mut st`), the keys, the
//!    timeout and the reply to send when it expires, and return `Ok(anything)` (it is
//!    not sent). `Ctx::block` registers the client in the store's registry
//!    ([`crate::store::Blocking`]) in the critical section in which it found nothing,
//!    so no write is missed, and sets [`Action::Block`].
//!
//! The connection then flushes the replies before it, and waits for a wake-up from
//! the registry, the deadline, CLIENT KILL / shutdown, or the socket closing (it keeps
//! reading, bounded by the query buffer limit, to notice a disconnection; pipelined
//! commands after the blocking one wait, as in Redis). On a wake-up it re-runs the
//! handler with a retry context ([`Ctx::is_retry`]): the handler does exactly the same
//! as the first time, so when it calls `Ctx::block` again the client keeps its place in
//! the queue and waits on; when it returns without blocking its reply is sent and the
//! registration is dropped. The store wakes waiters from `Store::apply_key_tracked`,
//! the one place every delta passes (local writes, deltas replicated from other
//! regions, FLUSHDB/FLUSHALL, expiry deletions): a push replicated from another region
//! serves a client blocked here. Fairness is FIFO per key (see `store/blocking.rs`).
//! A blocked command counts once in INFO commandstats; blocked clients show in INFO
//! `blocked_clients` and with flag `b` in CLIENT LIST.
//!
//! For a later blocking command: BLPOP/BLMOVE/BLMPOP follow the same three steps
//! ([`crate::store::Wake::Fifo`]); XREAD/XREADGROUP BLOCK, whose readiness differs per
//! waiter, block with [`crate::store::Wake::All`]. WAIT waits for replication acks, not
//! keys: it would register with no keys and be woken by the ack path through the same
//! `Notify` (a small extension of the registry).

pub(crate) mod access;
mod acl;
pub mod args;
pub mod blocking;
mod client;
mod command;
mod config;
mod connection;
mod debug;
mod geo;
mod geohash;
mod hash;
mod hll;
mod info;
mod keys;
mod latency;
mod list;
mod multi;
mod persist;
mod pubsub;
pub mod replication;
mod script;
mod server;
mod set;
mod slowlog;
mod spec;
mod stream;
mod stream_group;
mod stream_info;
mod stream_read;
mod string;
mod table;
mod touch;
mod util;
mod zset;

pub use multi::{dispatch, on_disconnect};
pub use spec::{CommandSpec, Flag, Group, Handler};
pub use table::{CommandEntry, CommandTable};

use crate::{
    resp::Reply,
    server::{ClientState, ServerState},
    store::Store,
};

/// What a handler returns: `Err` carries an error reply.
pub type CmdResult = Result<Reply, Reply>;

/// Every command family. Adding a family is one line here.
pub static FAMILIES: &[&[CommandSpec]] = &[
    connection::COMMANDS,
    acl::COMMANDS,
    client::COMMANDS,
    config::COMMANDS,
    info::COMMANDS,
    server::COMMANDS,
    command::COMMANDS,
    keys::COMMANDS,
    string::COMMANDS,
    pubsub::COMMANDS,
    multi::COMMANDS,
    script::COMMANDS,
    hash::COMMANDS,
    set::COMMANDS,
    zset::COMMANDS,
    list::COMMANDS,
    hll::COMMANDS,
    stream::COMMANDS,
    stream_read::COMMANDS,
    stream_group::COMMANDS,
    stream_info::COMMANDS,
    geo::COMMANDS,
    replication::COMMANDS,
    persist::COMMANDS,
    debug::COMMANDS,
    slowlog::COMMANDS,
    latency::COMMANDS,
];

/// What the connection must do after sending (or instead of sending) a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Send the reply, then close (QUIT).
    Close,
    /// Send nothing; shut the server down (SHUTDOWN).
    Shutdown,
    /// Send nothing yet: the client blocks (see "Blocking commands" above; the details
    /// are in [`Ctx::blocked`]).
    Block,
}

/// Context of one command execution.
pub struct Ctx<'a> {
    /// Server-wide state.
    pub server: &'a ServerState,
    /// The calling client.
    pub client: &'a mut ClientState,
    /// Set by a handler to close the connection or stop the server.
    pub action: Option<Action>,
    /// The store, when the caller (EXEC) already holds its lock.
    held: Option<&'a dyn HeldStore>,
    /// Set by [`Ctx::block`] on a first run: what the connection waits for.
    pub blocked: Option<blocking::Blocked>,
    /// The registration of the blocked command this run retries.
    retry: Option<crate::store::WaiterId>,
    /// Set by [`Ctx::block`] on a retry: the timeout reply as of this run (WAIT's count
    /// changes while it waits).
    pub retry_timeout_reply: Option<Reply>,
}

/// Access to a store whose lock the caller already holds (see the module docs).
pub trait HeldStore {
    /// Borrows the store for one command.
    fn borrow_store(&self) -> std::cell::RefMut<'_, Store>;
}

impl HeldStore for std::cell::RefCell<&mut Store> {
    fn borrow_store(&self) -> std::cell::RefMut<'_, Store> {
        std::cell::RefMut::map(self.borrow_mut(), |s| &mut **s)
    }
}

/// The store for one command: either its own lock or a borrow of the lock EXEC holds.
pub enum StoreGuard<'a> {
    /// Locked for this command.
    Locked(parking_lot::MutexGuard<'a, Store>),
    /// Borrowed from the transaction that holds the lock.
    Held(std::cell::RefMut<'a, Store>),
}

impl std::ops::Deref for StoreGuard<'_> {
    type Target = Store;
    fn deref(&self) -> &Store {
        match self {
            StoreGuard::Locked(g) => g,
            StoreGuard::Held(g) => g,
        }
    }
}

impl std::ops::DerefMut for StoreGuard<'_> {
    fn deref_mut(&mut self) -> &mut Store {
        match self {
            StoreGuard::Locked(g) => &mut *g,
            StoreGuard::Held(g) => &mut *g,
        }
    }
}

impl Drop for StoreGuard<'_> {
    fn drop(&mut self) {
        // Consumer-group changes are logged when the command lets go of the store.
        self.flush_groups_log();
    }
}

impl<'a> Ctx<'a> {
    /// The region's store, locked for the rest of the command (see the module docs).
    pub fn store(&self) -> StoreGuard<'a> {
        match self.held {
            Some(h) => StoreGuard::Held(h.borrow_store()),
            None => StoreGuard::Locked(self.server.store.lock()),
        }
    }

    /// The client's selected database.
    pub fn db(&self) -> u8 {
        self.client.db() as u8
    }

    /// A context for one command.
    pub fn new(server: &'a ServerState, client: &'a mut ClientState) -> Self {
        Ctx {
            server,
            client,
            action: None,
            held: None,
            blocked: None,
            retry: None,
            retry_timeout_reply: None,
        }
    }

    /// A context for re-running a blocked command (see "Blocking commands").
    pub fn retry(
        server: &'a ServerState,
        client: &'a mut ClientState,
        id: crate::store::WaiterId,
    ) -> Self {
        let mut ctx = Ctx::new(server, client);
        ctx.retry = Some(id);
        ctx
    }

    /// The store the caller (EXEC) already holds, if any: a script run inside EXEC
    /// joins that transaction's batch instead of locking the store again.
    pub fn held(&self) -> Option<&'a dyn HeldStore> {
        self.held
    }

    /// Whether the command may block: not inside EXEC (Redis never blocks there).
    pub fn can_block(&self) -> bool {
        self.held.is_none()
    }

    /// Whether this run re-runs a blocked command after a wake-up.
    pub fn is_retry(&self) -> bool {
        self.retry.is_some()
    }

    /// Blocks the client on `keys` (of the selected db) for `timeout` (`None`: forever);
    /// `on_timeout` is the reply when it expires. `st` must be the guard under which the
    /// handler found nothing to serve. On a retry the client keeps its registration
    /// (and its place). The handler returns right after; its reply is not sent.
    pub fn block(
        &mut self,
        st: &mut Store,
        keys: &[&[u8]],
        wake: crate::store::Wake,
        timeout: Option<std::time::Duration>,
        on_timeout: Reply,
    ) {
        debug_assert!(self.can_block());
        self.action = Some(Action::Block);
        if let Some(id) = self.retry {
            st.blocking().stay(id);
            self.retry_timeout_reply = Some(on_timeout);
            return;
        }
        let notify = std::sync::Arc::new(tokio::sync::Notify::new());
        let id = st
            .blocking()
            .register(self.db(), keys, wake, notify.clone());
        self.blocked = Some(blocking::Blocked {
            id,
            notify,
            deadline: timeout.and_then(|t| std::time::Instant::now().checked_add(t)),
            on_timeout,
        });
    }

    /// A context for one command run while the caller holds the store (EXEC).
    pub fn with_store(
        server: &'a ServerState,
        client: &'a mut ClientState,
        held: &'a dyn HeldStore,
    ) -> Self {
        Ctx {
            server,
            client,
            action: None,
            held: Some(held),
            blocked: None,
            retry: None,
            retry_timeout_reply: None,
        }
    }
}
