//! SAVE, BGSAVE, LASTSAVE over Meridian's persistence (see `crate::persist`).
//!
//! - SAVE takes a snapshot now and answers when it is complete (the server keeps
//!   serving other clients meanwhile: the snapshot copies keys in chunks).
//! - BGSAVE starts one in the background (`SCHEDULE` is accepted and does the same).
//! - LASTSAVE: Unix time of the last completed snapshot (of the start when none).
//!
//! With `appendonly no`, SAVE and BGSAVE answer `-ERR persistence is off (appendonly
//! no)`: there is nothing to save to, and pretending would mislead a tool that relies on
//! it. LASTSAVE answers the server's start time, as Redis does before its first save.

use std::time::UNIX_EPOCH;

use bytes::Bytes;

use super::{
    args::{is, syntax_error},
    CmdResult, CommandSpec, Ctx, Flag, Group,
};
use crate::persist::PersistError;
use crate::resp::Reply;

/// Persistence command family.
pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("save", 1, save)
        .flags(&[Flag::Admin, Flag::Noscript, Flag::NoMulti])
        .group(Group::Server)
        .acl(&["dangerous"])
        .complexity("O(N) where N is the total number of keys in all databases")
        .summary("Synchronously saves the database(s) to disk."),
    CommandSpec::new("bgsave", -1, bgsave)
        .flags(&[Flag::Admin, Flag::Noscript])
        .group(Group::Server)
        .acl(&["dangerous"])
        .complexity("O(1)")
        .summary("Asynchronously saves the database(s) to disk."),
    CommandSpec::new("lastsave", 1, lastsave)
        .flags(&[Flag::Loading, Flag::Stale, Flag::Fast])
        .group(Group::Server)
        .acl(&["fast", "dangerous"])
        .complexity("O(1)")
        .summary("Returns the Unix timestamp of the last successful save to disk."),
];

const OFF: &str = "persistence is off (appendonly no)";

fn save(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    let Some(p) = ctx.server.persist.get() else {
        return Err(Reply::err(OFF));
    };
    let store = &ctx.server.store;
    let run = || p.snapshot(store);
    let multi_thread = tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
    let r = if multi_thread {
        tokio::task::block_in_place(run)
    } else {
        run()
    };
    match r {
        Ok(_) => Ok(Reply::ok()),
        Err(PersistError::SnapshotRunning) => {
            Err(Reply::err("Background save already in progress"))
        }
        Err(e) => Err(Reply::err(format!("snapshot failed: {e}"))),
    }
}

fn bgsave(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    match args.len() {
        1 => {}
        2 if is(&args[1], "schedule") => {}
        _ => return Err(syntax_error()),
    }
    let Some(p) = ctx.server.persist.get() else {
        return Err(Reply::err(OFF));
    };
    match p.request_snapshot() {
        Ok(()) => Ok(Reply::simple("Background saving started")),
        Err(e) => Err(Reply::err(e.to_string())),
    }
}

fn lastsave(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    let secs = match ctx.server.persist.get() {
        Some(p) => p.last_save_secs(),
        None => ctx
            .server
            .started_at
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    };
    Ok(Reply::Integer(secs as i64))
}
