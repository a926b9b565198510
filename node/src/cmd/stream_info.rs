//! XINFO STREAM [FULL [COUNT n]], XINFO GROUPS, XINFO CONSUMERS: a stream's bookkeeping
//! and this region's consumer groups (groups are per region: see
//! [`crate::store::groups`]).

use bytes::Bytes;
use crdt::stream::{Stream, StreamId};

use super::args::{int, is};
use super::stream::{entries_read_at, entry_reply, has_tombstones_from, id_reply, stream_of};
use super::stream_group::nogroup_xgroup;
use super::util::bulk;
use super::{CmdResult, CommandSpec, Ctx, Flag, Group};
use crate::resp::Reply;
use crate::store::groups::Group as CGroup;

const R: &[Flag] = &[Flag::Readonly];

macro_rules! spec {
    ($name:literal, $arity:expr, $f:ident, $flags:expr, $k:expr, $since:literal, $sum:literal, $cx:expr) => {
        CommandSpec::new($name, $arity, $f)
            .flags($flags)
            .keys($k.0, $k.1, $k.2)
            .group(Group::Stream)
            .since($since)
            .summary($sum)
            .complexity($cx)
    };
}

static XINFO_SUBCOMMANDS: &[CommandSpec] = &[
    spec!(
        "stream",
        -3,
        xinfo_stream,
        R,
        (2, 2, 1),
        "5.0.0",
        "Get information about a stream",
        "O(1)"
    ),
    spec!(
        "groups",
        3,
        xinfo_groups,
        R,
        (2, 2, 1),
        "5.0.0",
        "List the consumer groups of a stream",
        "O(1)"
    ),
    spec!(
        "consumers",
        4,
        xinfo_consumers,
        R,
        (2, 2, 1),
        "5.0.0",
        "List the consumers in a consumer group",
        "O(1)"
    ),
];

/// Stream introspection commands.
pub static COMMANDS: &[CommandSpec] = &[CommandSpec::container("xinfo", XINFO_SUBCOMMANDS)
    .group(Group::Stream)
    .since("5.0.0")
    .summary("A container for stream introspection commands")];

fn kv(k: &'static str, v: Reply) -> (Reply, Reply) {
    (Reply::bulk_str(k), v)
}

fn xinfo_stream(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    // FULL [COUNT n] (n = 0: every entry; default 10).
    let mut full = None;
    match args.len() {
        3 => {}
        4 if is(&args[3], "full") => full = Some(10usize),
        6 if is(&args[3], "full") && is(&args[4], "count") => {
            let n = int(&args[5])?;
            full = Some(if n <= 0 { usize::MAX } else { n as usize });
        }
        _ => {
            return Err(Reply::err(
                "unknown subcommand or wrong number of arguments for 'STREAM'. Try XINFO HELP.",
            ))
        }
    }
    let key = &args[2];
    let db = ctx.db();
    let st = ctx.store();
    let Some(s) = stream_of(&st, db, key)? else {
        return Err(Reply::err("no such key"));
    };
    let m = s.meta();
    let ngroups = st.groups().of(db, key).map_or(0, |g| g.len());
    let first = s.first();
    let nodes = s.len().div_ceil(100) as i64;
    if let Some(count) = full {
        let groups = st
            .groups()
            .of(db, key)
            .into_iter()
            .flatten()
            .map(|(name, g)| {
                let pel = g
                    .pel
                    .iter()
                    .take(count)
                    .map(|(id, p)| {
                        Reply::Array(vec![
                            id_reply(*id),
                            bulk(&p.consumer),
                            Reply::Integer(p.delivered_ms as i64),
                            Reply::Integer(p.count as i64),
                        ])
                    })
                    .collect();
                let consumers = g
                    .consumers
                    .iter()
                    .map(|(cname, c)| {
                        let pending = c
                            .pel
                            .iter()
                            .take(count)
                            .filter_map(|id| g.pel.get(id).map(|p| (id, p)))
                            .map(|(id, p)| {
                                Reply::Array(vec![
                                    id_reply(*id),
                                    Reply::Integer(p.delivered_ms as i64),
                                    Reply::Integer(p.count as i64),
                                ])
                            })
                            .collect();
                        Reply::Map(vec![
                            kv("name", bulk(cname)),
                            kv("seen-time", Reply::Integer(c.seen_ms as i64)),
                            kv(
                                "active-time",
                                Reply::Integer(c.active_ms.map_or(-1, |a| a as i64)),
                            ),
                            kv("pel-count", Reply::Integer(c.pel.len() as i64)),
                            kv("pending", Reply::Array(pending)),
                        ])
                    })
                    .collect();
                Reply::Map(vec![
                    kv("name", bulk(name)),
                    kv("last-delivered-id", id_reply(g.last_id)),
                    kv(
                        "entries-read",
                        g.entries_read
                            .map_or(Reply::Null, |n| Reply::Integer(n as i64)),
                    ),
                    kv("lag", lag_reply(g, s)),
                    kv("pel-count", Reply::Integer(g.pel.len() as i64)),
                    kv("pending", Reply::Array(pel)),
                    kv("consumers", Reply::Array(consumers)),
                ])
            })
            .collect();
        return Ok(Reply::Map(vec![
            kv("length", Reply::Integer(s.len() as i64)),
            kv("radix-tree-keys", Reply::Integer(nodes)),
            kv("radix-tree-nodes", Reply::Integer(nodes.max(1))),
            kv("last-generated-id", id_reply(m.last)),
            kv("max-deleted-entry-id", id_reply(m.max_deleted)),
            kv("entries-added", Reply::Integer(m.added as i64)),
            kv(
                "recorded-first-entry-id",
                id_reply(first.map_or(StreamId::MIN, |e| e.id)),
            ),
            kv(
                "entries",
                Reply::Array(s.entries().take(count).map(entry_reply).collect()),
            ),
            kv("groups", Reply::Array(groups)),
        ]));
    }
    Ok(Reply::Map(vec![
        kv("length", Reply::Integer(s.len() as i64)),
        kv("radix-tree-keys", Reply::Integer(nodes)),
        kv("radix-tree-nodes", Reply::Integer(nodes.max(1))),
        kv("last-generated-id", id_reply(m.last)),
        kv("max-deleted-entry-id", id_reply(m.max_deleted)),
        kv("entries-added", Reply::Integer(m.added as i64)),
        kv(
            "recorded-first-entry-id",
            id_reply(first.map_or(StreamId::MIN, |e| e.id)),
        ),
        kv("groups", Reply::Integer(ngroups as i64)),
        kv("first-entry", first.map_or(Reply::Null, entry_reply)),
        kv("last-entry", s.last().map_or(Reply::Null, entry_reply)),
    ]))
}

/// A group's lag, as Redis computes it: entries added minus the group's entries-read
/// counter when that is valid, else estimated from its last delivered ID; nil when it
/// cannot be known (deleted entries ahead of the group).
fn lag_reply(g: &CGroup, s: &Stream) -> Reply {
    let added = s.meta().added;
    if added == 0 {
        return Reply::Integer(0);
    }
    let read = match g.entries_read {
        Some(n) if !has_tombstones_from(s, g.last_id) => Some(n),
        _ => entries_read_at(s, g.last_id),
    };
    read.map_or(Reply::Null, |n| {
        Reply::Integer(added.saturating_sub(n) as i64)
    })
}

fn xinfo_groups(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let key = &args[2];
    let db = ctx.db();
    let st = ctx.store();
    let Some(s) = stream_of(&st, db, key)? else {
        return Err(Reply::err("no such key"));
    };
    let Some(groups) = st.groups().of(db, key) else {
        return Ok(Reply::Array(Vec::new()));
    };
    let out = groups
        .iter()
        .map(|(name, g)| {
            let lag = lag_reply(g, s);
            Reply::Map(vec![
                kv("name", bulk(name)),
                kv("consumers", Reply::Integer(g.consumers.len() as i64)),
                kv("pending", Reply::Integer(g.pel.len() as i64)),
                kv("last-delivered-id", id_reply(g.last_id)),
                kv(
                    "entries-read",
                    g.entries_read
                        .map_or(Reply::Null, |n| Reply::Integer(n as i64)),
                ),
                kv("lag", lag),
            ])
        })
        .collect();
    Ok(Reply::Array(out))
}

fn xinfo_consumers(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let (key, gname) = (&args[2], &args[3]);
    let db = ctx.db();
    let st = ctx.store();
    let now = st.now_ms();
    if stream_of(&st, db, key)?.is_none() {
        return Err(Reply::err("no such key"));
    }
    let Some(g) = st.groups().of(db, key).and_then(|g| g.get(&gname[..])) else {
        return Err(nogroup_xgroup(key, gname));
    };
    let out = g
        .consumers
        .iter()
        .map(|(name, c)| {
            Reply::Map(vec![
                kv("name", bulk(name)),
                kv("pending", Reply::Integer(c.pel.len() as i64)),
                kv("idle", Reply::Integer(now.saturating_sub(c.seen_ms) as i64)),
                kv(
                    "inactive",
                    Reply::Integer(c.active_ms.map_or(-1, |a| now.saturating_sub(a) as i64)),
                ),
            ])
        })
        .collect();
    Ok(Reply::Array(out))
}
