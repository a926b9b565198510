//! Transactions: MULTI EXEC DISCARD WATCH UNWATCH, and [`dispatch`], the entry point
//! of every command, which queues commands inside MULTI and restricts RESP2
//! subscribers.
//!
//! # Atomicity
//!
//! EXEC locks the store once, checks the WATCHed keys, opens a batch
//! (`Store::begin_batch`), runs every queued command against the held store (see
//! "The store lock and transactions" in `cmd/mod.rs`) and closes the batch
//! (`Store::end_batch`): no other client's command runs in between, and all the
//! transaction's writes form ONE op, applied atomically in every other region.
//! A command that fails inside EXEC writes nothing and the others still run (Redis).
//!
//! # WATCH
//!
//! WATCH registers the key in the store (`Store::watch`), which bumps a per-key
//! version on every delta applied to it: local writes, writes from other regions,
//! FLUSHDB/FLUSHALL and expiry deletions. EXEC aborts (null array) when a version
//! changed or when a key that was live with a TTL at WATCH time has expired since
//! (lazy expiry writes nothing, so the deadline is checked separately). Like Redis,
//! a write that leaves the value unchanged still aborts, and so do the watcher's own
//! writes before EXEC.
//!
//! # Deviation from Redis
//!
//! The queued arguments of one transaction are bounded by `client-query-buffer-limit`
//! (Redis does not bound them): past it, the command is refused and EXEC fails with
//! EXECABORT.

use std::sync::atomic::Ordering::Relaxed;

use bytes::Bytes;

use super::{args::is, CmdResult, CommandEntry, CommandSpec, Ctx, Flag, Group};
use crate::{
    resp::Reply,
    server::{ClientState, MultiState, ServerState, WatchedKey},
};

const TX: &[Flag] = &[
    Flag::Noscript,
    Flag::Loading,
    Flag::Stale,
    Flag::Fast,
    Flag::AllowBusy,
];

/// Transaction command family.
pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("multi", 1, multi)
        .flags(TX)
        .group(Group::Transactions)
        .since("1.2.0")
        .summary("Starts a transaction."),
    CommandSpec::new("exec", 1, exec)
        .flags(&[
            Flag::Noscript,
            Flag::Loading,
            Flag::Stale,
            Flag::SkipSlowlog,
        ])
        .group(Group::Transactions)
        .since("1.2.0")
        .complexity("Depends on commands in the transaction")
        .summary("Executes all commands in a transaction."),
    CommandSpec::new("discard", 1, discard)
        .flags(TX)
        .group(Group::Transactions)
        .since("2.0.0")
        .complexity("O(N), when N is the number of queued commands")
        .summary("Discards a transaction."),
    CommandSpec::new("watch", -2, watch)
        .flags(TX)
        .keys(1, -1, 1)
        .group(Group::Transactions)
        .since("2.2.0")
        .complexity("O(1) for every key.")
        .summary("Monitors changes to keys to determine the execution of a transaction."),
    CommandSpec::new("unwatch", 1, unwatch)
        .flags(TX)
        .group(Group::Transactions)
        .since("2.2.0")
        .summary("Forgets about watched keys of a transaction."),
];

/// Commands that run at once inside MULTI instead of being queued.
const NOT_QUEUED: &[&str] = &["exec", "discard", "multi", "watch", "quit", "reset"];

/// Commands a RESP2 client in pub/sub mode may send.
const PUBSUB_ALLOWED: &[&str] = &[
    "ping",
    "subscribe",
    "ssubscribe",
    "unsubscribe",
    "sunsubscribe",
    "psubscribe",
    "punsubscribe",
    "quit",
    "reset",
];

const EXECABORT: &str = "EXECABORT Transaction discarded because of previous errors.";

/// Runs one command from a client: the table's lookup, arity check and handler,
/// preceded, inside MULTI, by queueing, and in RESP2 pub/sub mode by the allowed-command
/// check, as Redis' `processCommand` does.
pub fn dispatch(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Reply {
    let table = &ctx.server.commands;
    let in_multi = ctx.client.multi.is_some();
    let entry = match table.resolve(args) {
        Ok(e) => e,
        Err(err) => return reject(ctx, args, err),
    };
    // Authentication, ACL and memory gates (see `cmd/access.rs`).
    if let Err(err) = super::access::check(ctx.server, ctx.client, entry, args) {
        return reject(ctx, args, err);
    }
    if !in_multi && !ctx.client.in_resp2_pubsub() {
        return table.run(ctx, entry, args);
    }
    let top = top_name(ctx.server, entry);
    if in_multi {
        if NOT_QUEUED.contains(&top) {
            return table.run(ctx, entry, args);
        }
        let multi = ctx.client.multi.as_mut().expect("in MULTI");
        if entry.spec.has_flag(Flag::NoMulti) {
            multi.dirty = true;
            return Reply::err("Command not allowed inside a transaction");
        }
        let size: usize = args.iter().map(|a| a.len() + 16).sum();
        let limit = ctx.server.config().client_query_buffer_limit.bytes() as usize;
        if multi.bytes + size > limit {
            multi.dirty = true;
            return Reply::err("Transaction queue exceeds client-query-buffer-limit");
        }
        multi.bytes += size;
        multi
            .queue
            .push(args.iter().map(|a| Bytes::copy_from_slice(a)).collect());
        let queued = multi.queue.len() as i64;
        ctx.client.handle.multi.store(queued, Relaxed);
        return Reply::simple("QUEUED");
    }
    if !PUBSUB_ALLOWED.contains(&top) {
        return Reply::err(format!(
            "Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / \
             RESET are allowed in this context",
            entry.fullname
        ));
    }
    table.run(ctx, entry, args)
}

/// A command refused before it ran: inside MULTI the transaction is flagged, and a
/// refused EXEC discards it (Redis' `rejectCommand`).
fn reject(ctx: &mut Ctx<'_>, args: &[Bytes], err: Reply) -> Reply {
    if let Some(m) = ctx.client.multi.as_mut() {
        m.dirty = true;
    }
    if args.first().is_some_and(|a| is(a, "exec")) {
        return exec_arity_abort(ctx, err);
    }
    err
}

/// The top-level command name of an entry (`client` for `client|id`).
fn top_name(server: &ServerState, entry: &CommandEntry) -> &'static str {
    match entry.parent {
        Some(p) => server.commands.entry(p).spec.name,
        None => entry.spec.name,
    }
}

/// Redis answers an EXEC with arguments with EXECABORT (and drops any transaction).
fn exec_arity_abort(ctx: &mut Ctx<'_>, err: Reply) -> Reply {
    discard_state(ctx.server, ctx.client);
    let msg = match &err {
        Reply::Error(text) => text.strip_prefix("ERR ").unwrap_or(text).to_string(),
        _ => String::new(),
    };
    Reply::error_code(format!("EXECABORT Transaction discarded because of: {msg}"))
}

/// Leaves MULTI and releases the watched keys.
fn discard_state(server: &ServerState, client: &mut ClientState) {
    client.multi = None;
    client.handle.multi.store(-1, Relaxed);
    unwatch_all(server, client);
}

/// Releases every WATCH of the client. Must not run inside EXEC's held store.
fn unwatch_all(server: &ServerState, client: &mut ClientState) {
    if client.watched.is_empty() {
        return;
    }
    let mut st = server.store.lock();
    for w in client.watched.drain(..) {
        st.unwatch(w.db, &w.key);
    }
}

/// RESET: leaves MULTI and drops the watches.
pub(super) fn reset(ctx: &mut Ctx<'_>) {
    if ctx.client.multi.is_some() || !ctx.client.watched.is_empty() {
        let w = std::mem::take(&mut ctx.client.watched);
        ctx.client.multi = None;
        ctx.client.handle.multi.store(-1, Relaxed);
        let mut st = ctx.store();
        for k in w {
            st.unwatch(k.db, &k.key);
        }
    }
}

/// Releases what a disconnecting client holds: its watches and its subscriptions.
pub fn on_disconnect(server: &ServerState, client: &mut ClientState) {
    discard_state(server, client);
    super::pubsub::unsubscribe_all(server, client);
}

fn multi(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    if ctx.client.multi.is_some() {
        return Err(Reply::err("MULTI calls can not be nested"));
    }
    ctx.client.multi = Some(Box::default());
    ctx.client.handle.multi.store(0, Relaxed);
    Ok(Reply::ok())
}

fn discard(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    if ctx.client.multi.is_none() {
        return Err(Reply::err("DISCARD without MULTI"));
    }
    discard_state(ctx.server, ctx.client);
    Ok(Reply::ok())
}

fn exec(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    let Some(multi) = ctx.client.multi.take() else {
        return Err(Reply::err("EXEC without MULTI"));
    };
    ctx.client.handle.multi.store(-1, Relaxed);
    let MultiState { queue, dirty, .. } = *multi;
    let server = ctx.server;
    let watched = std::mem::take(&mut ctx.client.watched);
    // The one lock acquisition of the whole transaction.
    let mut guard = server.store.lock();
    let now = guard.now_ms();
    let mut touched = false;
    for w in &watched {
        touched |= guard.watch_version(w.db, &w.key) != Some(w.version)
            || w.deadline.is_some_and(|at| at <= now);
        guard.unwatch(w.db, &w.key);
    }
    if dirty {
        return Err(Reply::error_code(EXECABORT));
    }
    if touched {
        return Ok(Reply::NullArray);
    }
    guard.begin_batch();
    let mut replies = Vec::with_capacity(queue.len());
    {
        let held = std::cell::RefCell::new(&mut *guard);
        for args in &queue {
            // The ACLs may have changed since the command was queued.
            if let Some(denied) = super::access::recheck_queued(server, ctx.client, args) {
                replies.push(denied);
                continue;
            }
            let mut sub = Ctx::with_store(server, ctx.client, &held);
            replies.push(server.commands.execute(&mut sub, args));
            if let Some(action) = sub.action {
                ctx.action = Some(action);
            }
        }
    }
    guard.end_batch();
    Ok(Reply::Array(replies))
}

fn watch(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    if ctx.client.multi.is_some() {
        return Err(Reply::err("WATCH inside MULTI is not allowed"));
    }
    let db = ctx.db();
    let mut st = ctx.store();
    for key in &args[1..] {
        let version = st.watch(db, key);
        let deadline = st.expire_at(db, key);
        ctx.client.watched.push(WatchedKey {
            db,
            key: key[..].into(),
            version,
            deadline,
        });
    }
    Ok(Reply::ok())
}

fn unwatch(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    let w = std::mem::take(&mut ctx.client.watched);
    if !w.is_empty() {
        let mut st = ctx.store();
        for k in w {
            st.unwatch(k.db, &k.key);
        }
    }
    Ok(Reply::ok())
}
