//! The gates every command passes before it is queued or run, in one place
//! ([`super::dispatch`] calls [`check`] for every command, EXEC calls
//! [`recheck_queued`] for each queued one): authentication (`-NOAUTH`), the
//! user's ACL permissions for the command, its keys and its channels
//! (`-NOPERM`, recorded in ACL LOG), and `maxmemory` for commands that may
//! grow memory (`-OOM`). Deltas from other regions never pass here: replication
//! keeps applying them over `maxmemory`, so regions still converge.

use std::sync::atomic::Ordering::Relaxed;

use bytes::Bytes;

use super::{CommandEntry, Flag};
use crate::{
    acl::{
        check::{check as acl_check, Denied},
        log::{Context, Denial},
        Session,
    },
    resp::Reply,
    server::{ClientState, ServerState},
};

/// `-NOAUTH` reply.
pub const NOAUTH: &str = "NOAUTH Authentication required.";

/// `-OOM` reply.
pub const OOM: &str = "OOM command not allowed when used memory > 'maxmemory'.";

/// Commands run inside MULTI that are never refused for memory (Redis' list).
const MULTI_OOM_EXEMPT: &[&str] = &["exec", "discard", "quit", "reset"];

/// The client's session, brought up to date with the current ACLs.
pub fn session<'c>(server: &ServerState, client: &'c mut ClientState) -> &'c mut Session {
    let s = client
        .session
        .get_or_insert_with(|| server.acl.new_session());
    server.acl.refresh(s);
    s
}

/// Records a denial in ACL LOG.
pub fn log_denial(
    server: &ServerState,
    client: &ClientState,
    reason: crate::acl::log::Reason,
    context: Context,
    object: String,
    username: String,
) {
    let max = server.config().acllog_max_len as usize;
    let client_info = super::client::describe(server, &client.handle);
    server.acl.log().add(
        Denial {
            reason,
            context,
            object,
            username,
            client_info,
        },
        max,
    );
}

fn denied(
    server: &ServerState,
    client: &mut ClientState,
    entry: &CommandEntry,
    args: &[Bytes],
    context: Context,
    verbose: bool,
) -> Option<(Denied, String)> {
    let user = session(server, client).user.clone();
    let d = acl_check(&user, entry, args).err()?;
    client.handle.last_cmd.store(entry.id + 1, Relaxed);
    log_denial(
        server,
        client,
        d.reason(),
        context,
        d.object(entry, args),
        user.name.clone(),
    );
    Some((d, d.message(&user, entry, args, verbose)))
}

/// The gates of one command sent by the client (queued or run at once).
pub fn check(
    server: &ServerState,
    client: &mut ClientState,
    entry: &CommandEntry,
    args: &[Bytes],
) -> Result<(), Reply> {
    if entry.spec.has_flag(Flag::NoAuth) {
        return Ok(());
    }
    if !session(server, client).authenticated {
        return Err(Reply::error_code(NOAUTH));
    }
    let context = if client.multi.is_some() {
        Context::Multi
    } else {
        Context::Toplevel
    };
    if let Some((_, msg)) = denied(server, client, entry, args, context, false) {
        entry.stats.rejected_calls.fetch_add(1, Relaxed);
        return Err(Reply::error_code(format!("NOPERM {msg}")));
    }
    if may_grow_memory(server, client, entry) {
        let (maxmemory, policy, samples) = {
            let c = server.config();
            (
                c.maxmemory.bytes(),
                c.maxmemory_policy.clone(),
                c.maxmemory_samples as usize,
            )
        };
        if crate::memory::over_limit(maxmemory) && !evict(server, maxmemory, &policy, samples) {
            entry.stats.rejected_calls.fetch_add(1, Relaxed);
            return Err(Reply::error_code(OOM));
        }
    }
    Ok(())
}

/// Keys evicted per command at most (bounds the time under the store lock).
const EVICT_PER_COMMAND: usize = 256;

/// Deletes keys by `policy` until memory is under `maxmemory`; false if it stays over
/// (noeviction, no candidate left, or the per-command bound reached).
fn evict(server: &ServerState, maxmemory: u64, policy: &str, samples: usize) -> bool {
    let policy = crate::store::Policy::parse(policy).unwrap_or(crate::store::Policy::NoEviction);
    if policy == crate::store::Policy::NoEviction {
        return false;
    }
    let mut st = server.store.lock();
    for _ in 0..EVICT_PER_COMMAND {
        if !crate::memory::over_limit(maxmemory) {
            return true;
        }
        if !st.evict_one(policy, samples) {
            return false;
        }
        crate::server::Stats::add(&server.stats.evicted_keys, 1);
    }
    !crate::memory::over_limit(maxmemory)
}

/// Whether `maxmemory` applies to the command, as in Redis: `denyoom` commands, EXEC
/// of a transaction holding one, and anything queued inside MULTI (the queue grows).
fn may_grow_memory(server: &ServerState, client: &ClientState, entry: &CommandEntry) -> bool {
    if entry.spec.has_flag(Flag::Denyoom) {
        return true;
    }
    let Some(multi) = client.multi.as_ref() else {
        return false;
    };
    if entry.fullname == "exec" {
        return multi.queue.iter().any(|args| {
            server
                .commands
                .lookup(args)
                .is_ok_and(|e| e.spec.has_flag(Flag::Denyoom))
        });
    }
    !MULTI_OOM_EXEMPT.contains(&entry.fullname.as_str())
}

/// EXEC's re-check of a queued command: the ACLs may have changed since it was
/// queued. `None` when it may run.
pub fn recheck_queued(
    server: &ServerState,
    client: &mut ClientState,
    args: &[Bytes],
) -> Option<Reply> {
    let entry = server.commands.lookup(args).ok()?;
    if entry.spec.has_flag(Flag::NoAuth) {
        return None;
    }
    let (_, msg) = denied(server, client, entry, args, Context::Multi, true)?;
    Some(Reply::error_code(format!(
        "NOPERM ACLs rules changed between the moment the transaction was accumulated \
         and the EXEC call. This command is no longer allowed for the following reason: {msg}"
    )))
}

/// The ACL gate of a command a script calls (`redis.call`): Redis' script error
/// messages, and the denial recorded in ACL LOG with context `lua`.
pub fn check_script_call(
    server: &ServerState,
    client: &mut ClientState,
    entry: &CommandEntry,
    args: &[Bytes],
) -> Result<(), Reply> {
    use crate::acl::log::Reason;
    let user = session(server, client).user.clone();
    let Err(d) = acl_check(&user, entry, args) else {
        return Ok(());
    };
    log_denial(
        server,
        client,
        d.reason(),
        Context::Lua,
        d.object(entry, args),
        user.name.clone(),
    );
    Err(Reply::err(match d.reason() {
        Reason::Key => {
            "The user executing the script can't access at least one of the keys mentioned in the command arguments"
        }
        Reason::Channel => {
            "The user executing the script can't publish to the channel mentioned in the command"
        }
        Reason::Command | Reason::Auth => {
            "The user executing the script can't run this command or subcommand"
        }
    }))
}
