//! Server commands: DBSIZE TIME FLUSHDB FLUSHALL SHUTDOWN.

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use super::{
    args::{is, syntax_error},
    Action, CmdResult, CommandSpec, Ctx, Flag,
};
use crate::resp::Reply;

/// Server command family.
pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("dbsize", 1, dbsize)
        .flags(&[Flag::Readonly, Flag::Fast])
        .acl(&["keyspace"])
        .summary("Returns the number of keys in the database."),
    CommandSpec::new("time", 1, time)
        .flags(&[Flag::Loading, Flag::Stale, Flag::Fast])
        .since("2.6.0")
        .summary("Returns the server time."),
    CommandSpec::new("flushdb", -1, flushdb)
        .flags(&[Flag::Write])
        .acl(&["keyspace", "dangerous"])
        .complexity("O(N) where N is the number of keys in the selected database")
        .summary("Removes all keys from the current database."),
    CommandSpec::new("flushall", -1, flushall)
        .flags(&[Flag::Write])
        .acl(&["keyspace", "dangerous"])
        .complexity("O(N) where N is the total number of keys in all databases")
        .summary("Removes all keys from all databases."),
    CommandSpec::new("shutdown", -1, shutdown)
        .flags(&[
            Flag::Admin,
            Flag::Noscript,
            Flag::Loading,
            Flag::Stale,
            Flag::NoMulti,
            Flag::AllowBusy,
        ])
        .complexity("O(N) when saving, where N is the total number of keys in all databases")
        .summary("Synchronously saves the database(s) to disk and shuts down the Redis server."),
];

fn dbsize(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    Ok(Reply::Integer(ctx.store().dbsize(ctx.db()) as i64))
}

fn time(_ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    Ok(Reply::Array(vec![
        Reply::bulk(now.as_secs().to_string()),
        Reply::bulk(now.subsec_micros().to_string()),
    ]))
}

/// `[ASYNC|SYNC]`: both accepted; flushing is the same either way for now.
fn flush_mode(args: &[Bytes]) -> Result<(), Reply> {
    match args.len() {
        1 => Ok(()),
        2 if is(&args[1], "async") || is(&args[1], "sync") => Ok(()),
        _ => Err(syntax_error()),
    }
}

fn flushdb(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    flush_mode(args)?;
    let db = ctx.db();
    ctx.store().flush_db(db);
    Ok(Reply::ok())
}

fn flushall(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    flush_mode(args)?;
    let n = ctx.server.databases();
    let mut st = ctx.store();
    for db in 0..n {
        st.flush_db(db as u8);
    }
    Ok(Reply::ok())
}

fn shutdown(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    for a in &args[1..] {
        if is(a, "abort") {
            return Err(Reply::err("No shutdown in progress."));
        }
        if !(is(a, "nosave") || is(a, "save") || is(a, "now") || is(a, "force")) {
            return Err(syntax_error());
        }
    }
    // SAVE/NOSAVE: persistence will make state durable before exit.
    ctx.action = Some(Action::Shutdown);
    Ok(Reply::ok())
}
