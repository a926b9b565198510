//! COMMAND: COUNT, INFO, DOCS, LIST, HELP — generated from the specs, in
//! Redis 7's reply shapes (redis-cli reads DOCS for its hints, cluster
//! clients read INFO for key positions).

use bytes::Bytes;

use super::{
    args::{is, syntax_error, text},
    table::container_help,
    CmdResult, CommandEntry, CommandSpec, Ctx, Flag, Group,
};
use crate::{glob::glob_match, resp::Reply};

const FLAGS: &[Flag] = &[Flag::Loading, Flag::Stale];

static SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec::new("count", 2, count)
        .flags(FLAGS)
        .since("2.8.13")
        .acl(&["connection"])
        .summary("Returns a count of commands."),
    CommandSpec::new("info", -2, info)
        .flags(FLAGS)
        .since("2.8.13")
        .acl(&["connection"])
        .complexity("O(N) where N is the number of commands to look up")
        .summary("Returns information about one, multiple or all commands."),
    CommandSpec::new("docs", -2, docs)
        .flags(FLAGS)
        .since("7.0.0")
        .acl(&["connection"])
        .complexity("O(N) where N is the number of commands to look up")
        .summary("Returns documentary information about one, multiple or all commands."),
    CommandSpec::new("list", -2, list)
        .flags(FLAGS)
        .since("7.0.0")
        .acl(&["connection"])
        .complexity("O(N) where N is the total number of Redis commands")
        .summary("Returns a list of command names."),
    CommandSpec::new("help", 2, container_help)
        .flags(FLAGS)
        .since("5.0.0")
        .acl(&["connection"])
        .summary("Returns helpful text about the different subcommands."),
];

/// COMMAND command family.
pub static COMMANDS: &[CommandSpec] = &[CommandSpec::new("command", -1, all)
    .with_subcommands(SUBCOMMANDS)
    .flags(FLAGS)
    .group(Group::Server)
    .since("2.8.13")
    .acl(&["connection"])
    .complexity("O(N) where N is the total number of Redis commands")
    .summary("Returns detailed information about all commands.")];

fn status(s: &str) -> Reply {
    Reply::Simple(s.to_string().into())
}

/// One COMMAND INFO entry (10 elements, Redis 7 layout).
fn info_entry(ctx: &Ctx<'_>, e: &CommandEntry) -> Reply {
    let spec = e.spec;
    let flags: Vec<Reply> = spec.flags.iter().map(|f| status(f.as_str())).collect();
    let acl = spec
        .acl_categories()
        .into_iter()
        .map(|c| status(&format!("@{c}")))
        .collect();
    let key_specs = if spec.first_key > 0 {
        let s = |v: &str| Reply::bulk_str(v);
        let lastkey = if spec.last_key >= 0 {
            i64::from(spec.last_key - spec.first_key)
        } else {
            i64::from(spec.last_key)
        };
        vec![Reply::Map(vec![
            (s("flags"), Reply::Set(vec![])),
            (
                s("begin_search"),
                Reply::Map(vec![
                    (s("type"), s("index")),
                    (
                        s("spec"),
                        Reply::Map(vec![(
                            s("index"),
                            Reply::Integer(i64::from(spec.first_key)),
                        )]),
                    ),
                ]),
            ),
            (
                s("find_keys"),
                Reply::Map(vec![
                    (s("type"), s("range")),
                    (
                        s("spec"),
                        Reply::Map(vec![
                            (s("lastkey"), Reply::Integer(lastkey)),
                            (s("keystep"), Reply::Integer(i64::from(spec.key_step))),
                            (s("limit"), Reply::Integer(0)),
                        ]),
                    ),
                ]),
            ),
        ])]
    } else {
        vec![]
    };
    let subs = e
        .subcommands
        .iter()
        .map(|&id| info_entry(ctx, ctx.server.commands.entry(id)))
        .collect();
    Reply::Array(vec![
        Reply::bulk_str(&e.fullname),
        Reply::Integer(i64::from(spec.arity)),
        Reply::Set(flags),
        Reply::Integer(i64::from(spec.first_key)),
        Reply::Integer(i64::from(spec.last_key)),
        Reply::Integer(i64::from(spec.key_step)),
        Reply::Set(acl),
        Reply::Array(vec![]),
        Reply::Array(key_specs),
        Reply::Array(subs),
    ])
}

/// One COMMAND DOCS entry (a map).
fn docs_entry(ctx: &Ctx<'_>, e: &CommandEntry) -> Reply {
    let s = |v: &str| Reply::bulk_str(v);
    let spec = e.spec;
    let mut fields = vec![
        (s("summary"), s(spec.summary)),
        (s("since"), s(spec.since)),
        (s("group"), s(spec.group.as_str())),
        (s("complexity"), s(spec.complexity)),
    ];
    if !e.subcommands.is_empty() {
        let subs = e
            .subcommands
            .iter()
            .map(|&id| {
                let sub = ctx.server.commands.entry(id);
                (s(&sub.fullname), docs_entry(ctx, sub))
            })
            .collect();
        fields.push((s("subcommands"), Reply::Map(subs)));
    }
    Reply::Map(fields)
}

fn all(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    let table = &ctx.server.commands;
    Ok(Reply::Array(
        table.top_level().map(|e| info_entry(ctx, e)).collect(),
    ))
}

fn count(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    Ok(Reply::Integer(ctx.server.commands.count() as i64))
}

fn info(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    if args.len() == 2 {
        return all(ctx, args);
    }
    let table = &ctx.server.commands;
    Ok(Reply::Array(
        args[2..]
            .iter()
            .map(|name| match table.get_full(name) {
                Some(e) => info_entry(ctx, e),
                None => Reply::NullArray,
            })
            .collect(),
    ))
}

fn docs(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let table = &ctx.server.commands;
    let entries: Vec<&CommandEntry> = if args.len() == 2 {
        table.top_level().collect()
    } else {
        args[2..].iter().filter_map(|n| table.get_full(n)).collect()
    };
    Ok(Reply::Map(
        entries
            .into_iter()
            .map(|e| (Reply::bulk_str(&e.fullname), docs_entry(ctx, e)))
            .collect(),
    ))
}

fn list(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let table = &ctx.server.commands;
    let filter: Box<dyn Fn(&CommandEntry) -> bool> = match args.len() {
        2 => Box::new(|_| true),
        5 if is(&args[2], "filterby") => {
            let value = args[4].clone();
            if is(&args[3], "pattern") {
                Box::new(move |e| glob_match(&value, e.fullname.as_bytes(), true))
            } else if is(&args[3], "aclcat") {
                let cat = text(&value).to_ascii_lowercase();
                Box::new(move |e| e.spec.acl_categories().contains(&cat.as_str()))
            } else if is(&args[3], "module") {
                Box::new(|_| false)
            } else {
                return Err(syntax_error());
            }
        }
        _ => return Err(syntax_error()),
    };
    Ok(Reply::Array(
        table
            .all()
            .filter(|e| filter(e))
            .map(|e| Reply::bulk_str(&e.fullname))
            .collect(),
    ))
}
