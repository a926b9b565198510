//! Scripting commands: EVAL EVALSHA EVAL_RO EVALSHA_RO SCRIPT (see `crate::script`).

use bytes::Bytes;

use super::{args::is, table::container_help, CmdResult, CommandSpec, Ctx, Flag, Group};
use crate::{
    resp::Reply,
    script::run::{check_body, engine, eval as run_eval, Source},
};

const EVAL_FLAGS: &[Flag] = &[
    Flag::Noscript,
    Flag::Stale,
    Flag::SkipMonitor,
    Flag::MayReplicate,
    Flag::MovableKeys,
];
const EVAL_RO_FLAGS: &[Flag] = &[
    Flag::Noscript,
    Flag::Stale,
    Flag::SkipMonitor,
    Flag::MovableKeys,
    Flag::Readonly,
];

/// Scripting command family.
pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("eval", -3, eval)
        .flags(EVAL_FLAGS)
        .group(Group::Scripting)
        .since("2.6.0")
        .complexity("Depends on the script that is executed.")
        .summary("Executes a server-side Lua script."),
    CommandSpec::new("evalsha", -3, evalsha)
        .flags(EVAL_FLAGS)
        .group(Group::Scripting)
        .since("2.6.0")
        .complexity("Depends on the script that is executed.")
        .summary("Executes a server-side Lua script by SHA1 digest."),
    CommandSpec::new("eval_ro", -3, eval_ro)
        .flags(EVAL_RO_FLAGS)
        .group(Group::Scripting)
        .since("7.0.0")
        .complexity("Depends on the script that is executed.")
        .summary("Executes a read-only server-side Lua script."),
    CommandSpec::new("evalsha_ro", -3, evalsha_ro)
        .flags(EVAL_RO_FLAGS)
        .group(Group::Scripting)
        .since("7.0.0")
        .complexity("Depends on the script that is executed.")
        .summary("Executes a read-only server-side Lua script by SHA1 digest."),
    CommandSpec::container("script", SCRIPT)
        .group(Group::Scripting)
        .since("2.6.0")
        .summary("A container for Lua scripts management commands."),
];

static SCRIPT: &[CommandSpec] = &[
    CommandSpec::new("exists", -3, script_exists)
        .flags(&[Flag::Noscript])
        .group(Group::Scripting)
        .since("2.6.0")
        .complexity("O(N) with N being the number of scripts to check.")
        .summary("Determines whether server-side Lua scripts exist in the script cache."),
    CommandSpec::new("flush", -2, script_flush)
        .flags(&[Flag::Noscript])
        .group(Group::Scripting)
        .since("2.6.0")
        .complexity("O(N) with N being the number of scripts in cache")
        .summary("Removes all server-side Lua scripts from the script cache."),
    CommandSpec::new("kill", 2, script_kill)
        .flags(&[Flag::Noscript, Flag::AllowBusy])
        .group(Group::Scripting)
        .since("2.6.0")
        .summary("Terminates a server-side Lua script during execution."),
    CommandSpec::new("load", 3, script_load)
        .flags(&[Flag::Noscript, Flag::Stale])
        .group(Group::Scripting)
        .since("2.6.0")
        .complexity("O(N) with N being the length in bytes of the script body.")
        .summary("Loads a server-side Lua script to the script cache."),
    CommandSpec::new("help", 2, container_help)
        .flags(&[Flag::Loading, Flag::Stale])
        .group(Group::Scripting)
        .since("5.0.0")
        .summary("Returns helpful text about the different subcommands."),
];

fn eval(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    run_eval(ctx, args, Source::Body, false)
}

fn evalsha(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    run_eval(ctx, args, Source::Sha, false)
}

fn eval_ro(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    run_eval(ctx, args, Source::Body, true)
}

fn evalsha_ro(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    run_eval(ctx, args, Source::Sha, true)
}

fn script_load(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let body = &args[2];
    check_body(body)?;
    let sha = crate::script::sha1_hex(body);
    let mut slot = ctx.server.scripts.engine.lock();
    engine(ctx.server, &mut slot)?.load(&sha, body)?;
    Ok(Reply::bulk(sha))
}

fn script_exists(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let slot = ctx.server.scripts.engine.lock();
    let found = |a: &Bytes| {
        let sha = String::from_utf8_lossy(a).to_ascii_lowercase();
        slot.as_ref().is_some_and(|e| e.cache.contains(&sha))
    };
    Ok(Reply::Array(
        args[2..]
            .iter()
            .map(|a| Reply::Integer(i64::from(found(a))))
            .collect(),
    ))
}

/// SCRIPT FLUSH [ASYNC|SYNC]: drops the cache and the Lua state (a fresh one is made
/// on the next use). Both modes free at once.
fn script_flush(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    match &args[2..] {
        [] => {}
        [m] if is(m, "async") || is(m, "sync") => {}
        _ => return Err(Reply::err("SCRIPT FLUSH only support SYNC|ASYNC option")),
    }
    let old = ctx.server.scripts.engine.lock().take();
    drop(old);
    Ok(Reply::ok())
}

fn script_kill(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    let run = &ctx.server.scripts.run;
    if !run.is_running() {
        return Err(Reply::error_code(
            "NOTBUSY No scripts in execution right now.",
        ));
    }
    if run.wrote() {
        return Err(Reply::error_code(
            "UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command.",
        ));
    }
    run.request_kill();
    Ok(Reply::ok())
}
