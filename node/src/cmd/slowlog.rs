//! SLOWLOG GET [count] / LEN / RESET / HELP (see `observe/slowlog.rs`).

use bytes::Bytes;

use super::{table::container_help, CmdResult, CommandSpec, Ctx, Flag, Group};
use crate::resp::Reply;

const ADMIN: &[Flag] = &[Flag::Admin, Flag::Loading, Flag::Stale];

static SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec::new("get", -2, get)
        .flags(ADMIN)
        .since("2.2.12")
        .complexity("O(N) where N is the number of entries returned")
        .summary("Returns the slow log's entries."),
    CommandSpec::new("len", 2, len)
        .flags(ADMIN)
        .since("2.2.12")
        .summary("Returns the number of entries in the slow log."),
    CommandSpec::new("reset", 2, reset)
        .flags(ADMIN)
        .since("2.2.12")
        .complexity("O(N) where N is the number of entries in the slowlog")
        .summary("Clears all entries from the slow log."),
    CommandSpec::new("help", 2, container_help)
        .flags(&[Flag::Loading, Flag::Stale])
        .since("6.2.0")
        .summary("Show helpful text about the different subcommands"),
];

/// SLOWLOG command family.
pub static COMMANDS: &[CommandSpec] = &[CommandSpec::container("slowlog", SUBCOMMANDS)
    .group(Group::Server)
    .since("2.2.12")
    .summary("A container for slow log commands.")];

const COUNT_ERR: &str = "count should be greater than or equal to -1";

fn get(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    if args.len() > 3 {
        return Err(Reply::err(format!(
            "unknown subcommand or wrong number of arguments for '{}'. Try SLOWLOG HELP.",
            String::from_utf8_lossy(&args[1])
        )));
    }
    let count = match args.get(2) {
        None => Some(10),
        Some(a) => {
            let n: i64 = std::str::from_utf8(a)
                .ok()
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| Reply::err(COUNT_ERR))?;
            match n {
                -1 => None,
                n if n < -1 => return Err(Reply::err(COUNT_ERR)),
                n => Some(n as usize),
            }
        }
    };
    let entries = ctx.server.observe.slowlog.get(count);
    Ok(Reply::Array(
        entries
            .into_iter()
            .map(|e| {
                Reply::Array(vec![
                    Reply::Integer(e.id as i64),
                    Reply::Integer(e.timestamp as i64),
                    Reply::Integer(e.duration_us as i64),
                    Reply::Array(e.args.into_iter().map(Reply::bulk).collect()),
                    Reply::bulk(e.addr),
                    Reply::bulk(e.name),
                ])
            })
            .collect(),
    ))
}

fn len(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    Ok(Reply::Integer(ctx.server.observe.slowlog.len() as i64))
}

fn reset(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    ctx.server.observe.slowlog.reset();
    Ok(Reply::ok())
}
