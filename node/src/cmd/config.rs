//! CONFIG GET / SET / RESETSTAT.

use bytes::Bytes;

use super::{args::text, table::container_help, CmdResult, CommandSpec, Ctx, Flag, Group};
use crate::{
    config::{ConfigError, CONFIG_KEYS},
    glob::glob_match,
    resp::Reply,
};

const ADMIN: &[Flag] = &[Flag::Admin, Flag::Noscript, Flag::Loading, Flag::Stale];

static SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec::new("get", -3, get)
        .flags(ADMIN)
        .since("2.0.0")
        .complexity("O(N) when N is the number of configuration parameters provided")
        .summary("Returns the effective values of configuration parameters."),
    CommandSpec::new("set", -4, set)
        .flags(&[
            Flag::Admin,
            Flag::Noscript,
            Flag::Loading,
            Flag::Stale,
            Flag::MayReplicate,
        ])
        .since("2.0.0")
        .complexity("O(N) when N is the number of configuration parameters provided")
        .summary("Sets configuration parameters in-flight."),
    CommandSpec::new("resetstat", 2, resetstat)
        .flags(ADMIN)
        .since("2.0.0")
        .summary("Resets the server's statistics."),
    CommandSpec::new("help", 2, container_help)
        .flags(&[Flag::Loading, Flag::Stale])
        .since("5.0.0")
        .summary("Returns helpful text about the different subcommands."),
];

/// CONFIG command family.
pub static COMMANDS: &[CommandSpec] = &[CommandSpec::container("config", SUBCOMMANDS)
    .group(Group::Server)
    .summary("A container for server configuration commands.")];

fn get(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let config = ctx.server.config();
    let mut pairs = Vec::new();
    for key in CONFIG_KEYS {
        if args[2..]
            .iter()
            .any(|pattern| glob_match(pattern, key.name.as_bytes(), true))
        {
            let value = config.get(key.name).unwrap_or_default();
            pairs.push((Reply::bulk_str(key.name), Reply::bulk(value)));
        }
    }
    Ok(Reply::Map(pairs))
}

fn set(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    if args.len() % 2 != 0 {
        return Err(Reply::err(
            "wrong number of arguments for 'config|set' command",
        ));
    }
    let failed = |name: &str, why: &str| {
        Reply::err(format!(
            "CONFIG SET failed (possibly related to argument '{name}') - {why}"
        ))
    };
    // All or nothing: apply to a copy, then publish it.
    let mut candidate = ctx.server.config().clone();
    let mut seen: Vec<String> = Vec::new();
    for pair in args[2..].chunks(2) {
        let name = text(&pair[0]).to_ascii_lowercase();
        if seen.contains(&name) {
            return Err(failed(&name, "duplicate parameter"));
        }
        seen.push(name.clone());
        match candidate.set(&name, &text(&pair[1]), true) {
            Ok(()) => {}
            Err(ConfigError::UnknownKey(_)) => {
                return Err(Reply::err(format!(
                    "Unknown option or number of arguments for CONFIG SET - '{}'",
                    text(&pair[0])
                )))
            }
            Err(ConfigError::Immutable(_)) => {
                return Err(failed(&name, "can't set immutable config"))
            }
            Err(e) => return Err(failed(&name, &e.to_string())),
        }
    }
    ctx.server.observe.configure(&candidate);
    let password = candidate.requirepass.clone();
    let access_mode = candidate.access_mode();
    let password_changed = {
        let mut live = ctx.server.config_mut();
        let changed = live.requirepass != password;
        *live = candidate;
        changed
    };
    {
        let mut st = ctx.store();
        if st.access_mode() != access_mode {
            st.set_access_mode(access_mode);
        }
    }
    if password_changed {
        ctx.server
            .acl
            .set_default_password(&password, &ctx.server.commands);
    }
    Ok(Reply::ok())
}

fn resetstat(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    ctx.server.stats.reset();
    ctx.server.commands.reset_stats();
    Ok(Reply::ok())
}
