//! LATENCY LATEST / HISTORY / RESET / HELP (see `observe/latency.rs`). DOCTOR, GRAPH
//! and HISTOGRAM are not implemented (per-command latency histograms are on
//! `/metrics` and in INFO latencystats).

use bytes::Bytes;

use super::{args::text, table::container_help, CmdResult, CommandSpec, Ctx, Flag, Group};
use crate::resp::Reply;

const ADMIN: &[Flag] = &[Flag::Admin, Flag::Noscript, Flag::Loading, Flag::Stale];

static SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec::new("latest", 2, latest)
        .flags(ADMIN)
        .since("2.8.13")
        .summary("Returns the latest latency samples for all events."),
    CommandSpec::new("history", 3, history)
        .flags(ADMIN)
        .since("2.8.13")
        .summary("Returns timestamp-latency samples for an event."),
    CommandSpec::new("reset", -2, reset)
        .flags(ADMIN)
        .since("2.8.13")
        .summary("Resets the latency data for one or more events."),
    CommandSpec::new("help", 2, container_help)
        .flags(&[Flag::Loading, Flag::Stale])
        .since("2.8.13")
        .summary("Returns helpful text about the different subcommands."),
];

/// LATENCY command family.
pub static COMMANDS: &[CommandSpec] = &[CommandSpec::container("latency", SUBCOMMANDS)
    .group(Group::Server)
    .since("2.8.13")
    .summary("A container for latency diagnostics commands.")];

fn latest(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    let events = ctx.server.observe.latency.latest();
    Ok(Reply::Array(
        events
            .into_iter()
            .filter_map(|(name, rec)| {
                let (at, ms) = rec.latest()?;
                Some(Reply::Array(vec![
                    Reply::bulk_str(name),
                    Reply::Integer(at as i64),
                    Reply::Integer(ms as i64),
                    Reply::Integer(rec.max_ms as i64),
                ]))
            })
            .collect(),
    ))
}

fn history(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let event = text(&args[2]).to_ascii_lowercase();
    let samples = ctx
        .server
        .observe
        .latency
        .history(&event)
        .map(|r| r.history)
        .unwrap_or_default();
    Ok(Reply::Array(
        samples
            .into_iter()
            .map(|(at, ms)| {
                Reply::Array(vec![Reply::Integer(at as i64), Reply::Integer(ms as i64)])
            })
            .collect(),
    ))
}

fn reset(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let names: Vec<String> = args[2..].iter().map(|a| text(a).into_owned()).collect();
    Ok(Reply::Integer(
        ctx.server.observe.latency.reset(&names) as i64
    ))
}
