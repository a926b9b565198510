//! Consumer groups: XGROUP, XACK, XPENDING, XCLAIM, XAUTOCLAIM (XINFO in
//! `stream_info.rs`).
//!
//! Groups are per region and not replicated (see [`crate::store::groups`]): these
//! commands change only this region's node-local state, never the replicated stream
//! (except XGROUP CREATE ... MKSTREAM, which creates an empty stream like XADD would).

use bytes::Bytes;
use crdt::stream::{Stream, StreamId};

use super::args::{int, is, syntax_error};
use super::stream::{entry_reply, id_reply, parse_bound, parse_id, stream_of, stream_write};
use super::util::bulk;
use super::{CmdResult, CommandSpec, Ctx, Flag, Group};
use crate::resp::Reply;
use crate::store::groups::{Group as CGroup, MAX_GROUPS};
use crate::store::Store;

const WDF: &[Flag] = &[Flag::Write, Flag::Denyoom];
const WF: &[Flag] = &[Flag::Write, Flag::Fast];
const W: &[Flag] = &[Flag::Write];
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

static XGROUP_SUBCOMMANDS: &[CommandSpec] = &[
    spec!(
        "create",
        -5,
        xgroup_create,
        WDF,
        (2, 2, 1),
        "5.0.0",
        "Create a consumer group.",
        "O(1)"
    ),
    spec!(
        "setid",
        -5,
        xgroup_setid,
        W,
        (2, 2, 1),
        "5.0.0",
        "Set a consumer group to an arbitrary last delivered ID value.",
        "O(1)"
    ),
    spec!(
        "destroy",
        4,
        xgroup_destroy,
        W,
        (2, 2, 1),
        "5.0.0",
        "Destroy a consumer group.",
        "O(N) where N is the number of entries in the group's pending entries list (PEL)."
    ),
    spec!(
        "createconsumer",
        5,
        xgroup_createconsumer,
        WDF,
        (2, 2, 1),
        "6.2.0",
        "Create a consumer in a consumer group.",
        "O(1)"
    ),
    spec!(
        "delconsumer",
        5,
        xgroup_delconsumer,
        W,
        (2, 2, 1),
        "5.0.0",
        "Delete a consumer from a consumer group.",
        "O(1)"
    ),
];

/// Consumer-group commands of the stream family.
pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::container("xgroup", XGROUP_SUBCOMMANDS)
        .group(Group::Stream)
        .since("5.0.0")
        .summary("A container for consumer groups commands"),
    spec!("xack", -4, xack, WF, (1, 1, 1), "5.0.0", "Marks a pending message as correctly processed, effectively removing it from the pending entries list of the consumer group. Return value of the command is the number of messages successfully acknowledged, that is, the IDs we were actually able to resolve in the PEL.", "O(1) for each message ID processed."),
    spec!("xpending", -3, xpending, R, (1, 1, 1), "5.0.0", "Return information and entries from a stream consumer group pending entries list, that are messages fetched but never acknowledged.", "O(N) with N being the number of elements returned, so asking for a small fixed number of entries per call is O(1). O(M), where M is the total number of entries scanned when used with the IDLE filter. When the command returns just the summary and the list of consumers is small, it runs in O(1) time; otherwise, an additional O(N) time for iterating every consumer."),
    spec!("xclaim", -6, xclaim, WF, (1, 1, 1), "5.0.0", "Changes (or acquires) ownership of a message in a consumer group, as if the message was delivered to the specified consumer.", "O(log N) with N being the number of messages in the PEL of the consumer group."),
    spec!("xautoclaim", -6, xautoclaim, WF, (1, 1, 1), "6.2.0", "Changes (or acquires) ownership of messages in a consumer group, as if the messages were delivered to the specified consumer.", "O(1) if COUNT is small."),
];

const NEED_KEY: &str = "The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.";

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `NOGROUP No such key 'k' or consumer group 'g'` (XPENDING, XCLAIM, ...).
fn nogroup(key: &[u8], group: &[u8]) -> Reply {
    Reply::error_code(format!(
        "NOGROUP No such key '{}' or consumer group '{}'",
        lossy(key),
        lossy(group)
    ))
}

/// `NOGROUP No such consumer group 'g' for key name 'k'` (XGROUP subcommands).
pub(super) fn nogroup_xgroup(key: &[u8], group: &[u8]) -> Reply {
    Reply::error_code(format!(
        "NOGROUP No such consumer group '{}' for key name '{}'",
        lossy(group),
        lossy(key)
    ))
}

/// The stream and the group `(key, group)`, or the NOGROUP error `err`.
fn group_of<'s>(
    st: &'s Store,
    db: u8,
    key: &[u8],
    group: &[u8],
    err: impl Fn() -> Reply,
) -> Result<(&'s Stream, &'s CGroup), Reply> {
    let Some(s) = stream_of(st, db, key)? else {
        return Err(err());
    };
    st.groups()
        .of(db, key)
        .and_then(|g| g.get(group))
        .map(|g| (s, g))
        .ok_or_else(err)
}

/// Like [`group_of`] but only checks existence (for writers that then take `groups_mut`).
fn check_group(
    st: &Store,
    db: u8,
    key: &[u8],
    group: &[u8],
    err: impl Fn() -> Reply,
) -> Result<(), Reply> {
    match stream_of(st, db, key)? {
        None => Err(err()),
        Some(_) => st
            .groups()
            .of(db, key)
            .filter(|g| g.contains_key(group))
            .map(|_| ())
            .ok_or_else(err),
    }
}

fn group_mut<'s>(st: &'s mut Store, db: u8, key: &[u8], group: &[u8]) -> &'s mut CGroup {
    st.groups_mut()
        .of_mut(db, key)
        .get_mut(group)
        .expect("checked by check_group")
}

/// `id|$` of XGROUP CREATE / SETID, resolved against the stream.
fn group_id(arg: &[u8], s: Option<&Stream>) -> Result<StreamId, Reply> {
    if arg == b"$" {
        return Ok(s.map_or(StreamId::MIN, |s| s.meta().last));
    }
    parse_id(arg, 0)
}

fn entries_read_arg(args: &[Bytes], i: &mut usize) -> Result<Option<u64>, Reply> {
    let n = int(args.get(*i + 1).ok_or_else(syntax_error)?)?;
    if n < 0 && n != -1 {
        return Err(Reply::err("value for ENTRIESREAD must be positive or -1"));
    }
    *i += 2;
    Ok((n >= 0).then_some(n as u64))
}

fn xgroup_create(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let (key, gname) = (&args[2], &args[3]);
    let mut mkstream = false;
    let mut entries_read = None;
    let mut i = 5;
    while i < args.len() {
        if is(&args[i], "mkstream") {
            mkstream = true;
            i += 1;
        } else if is(&args[i], "entriesread") {
            entries_read = Some(entries_read_arg(args, &mut i)?);
        } else {
            return Err(syntax_error());
        }
    }
    let db = ctx.db();
    let mut st = ctx.store();
    let s = stream_of(&st, db, key)?;
    let id = group_id(&args[4], s)?;
    if s.is_none() {
        if !mkstream {
            return Err(Reply::err(NEED_KEY));
        }
        let region = st.region();
        let mut w = st.write(db);
        stream_write(&mut w, key, |s, d, t, cc| {
            s.meta_into(d, region, t.mdot, |_| {}, cc)
        })?;
    }
    if st
        .groups()
        .of(db, key)
        .is_some_and(|g| g.contains_key(&gname[..]))
    {
        return Err(Reply::error_code(
            "BUSYGROUP Consumer Group name already exists",
        ));
    }
    if st.groups().of(db, key).map_or(0, |g| g.len()) >= MAX_GROUPS {
        return Err(Reply::err("too many consumer groups for this stream"));
    }
    let er = entries_read.flatten();
    st.groups_mut().of_mut(db, key).insert(
        gname[..].into(),
        CGroup {
            last_id: id,
            entries_read: er,
            ..CGroup::default()
        },
    );
    Ok(Reply::ok())
}

fn xgroup_setid(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let (key, gname) = (&args[2], &args[3]);
    let mut entries_read = None;
    let mut i = 5;
    while i < args.len() {
        if is(&args[i], "entriesread") {
            entries_read = Some(entries_read_arg(args, &mut i)?);
        } else {
            return Err(syntax_error());
        }
    }
    let db = ctx.db();
    let mut st = ctx.store();
    let Some(s) = stream_of(&st, db, key)? else {
        return Err(Reply::err(NEED_KEY));
    };
    let id = group_id(&args[4], Some(s))?;
    check_group(&st, db, key, gname, || nogroup_xgroup(key, gname))?;
    let g = group_mut(&mut st, db, key, gname);
    g.last_id = id;
    g.entries_read = entries_read.flatten();
    // Repositioned: entries above the new ID come again through `>`; late ones below
    // it are forgotten, as everything else below it is.
    g.late.clear();
    Ok(Reply::ok())
}

fn xgroup_destroy(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let (key, gname) = (&args[2], &args[3]);
    let db = ctx.db();
    let mut st = ctx.store();
    if stream_of(&st, db, key)?.is_none() {
        return Err(Reply::err(NEED_KEY));
    }
    let removed = st.groups_mut().of_mut(db, key).remove(&gname[..]).is_some();
    st.groups_mut().tidy(db, key);
    Ok(Reply::Integer(removed as i64))
}

fn xgroup_createconsumer(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let (key, gname, cname) = (&args[2], &args[3], &args[4]);
    let db = ctx.db();
    let mut st = ctx.store();
    if stream_of(&st, db, key)?.is_none() {
        return Err(Reply::err(NEED_KEY));
    }
    check_group(&st, db, key, gname, || nogroup_xgroup(key, gname))?;
    let now = st.now_ms();
    let g = group_mut(&mut st, db, key, gname);
    if g.consumers.contains_key(&cname[..]) {
        return Ok(Reply::Integer(0));
    }
    if g.consumer(cname, now).is_none() {
        return Err(Reply::err("too many consumers in the group"));
    }
    Ok(Reply::Integer(1))
}

fn xgroup_delconsumer(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let (key, gname, cname) = (&args[2], &args[3], &args[4]);
    let db = ctx.db();
    let mut st = ctx.store();
    if stream_of(&st, db, key)?.is_none() {
        return Err(Reply::err(NEED_KEY));
    }
    check_group(&st, db, key, gname, || nogroup_xgroup(key, gname))?;
    let g = group_mut(&mut st, db, key, gname);
    let Some(c) = g.consumers.remove(&cname[..]) else {
        return Ok(Reply::Integer(0));
    };
    for id in &c.pel {
        g.pel.remove(id);
    }
    Ok(Reply::Integer(c.pel.len() as i64))
}

fn xack(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let (key, gname) = (&args[1], &args[2]);
    let mut ids = Vec::with_capacity(args.len() - 3);
    for a in &args[3..] {
        ids.push(parse_id(a, 0)?);
    }
    let db = ctx.db();
    let mut st = ctx.store();
    if check_group(&st, db, key, gname, || Reply::Integer(0)).is_err() {
        stream_of(&st, db, key)?;
        return Ok(Reply::Integer(0));
    }
    let g = group_mut(&mut st, db, key, gname);
    let n = ids.into_iter().filter(|id| g.ack(*id)).count();
    Ok(Reply::Integer(n as i64))
}

fn xpending(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let (key, gname) = (&args[1], &args[2]);
    // Extended form: [IDLE min-idle] start end count [consumer].
    let mut i = 3;
    let mut min_idle = None;
    if args.len() > 3 && is(&args[3], "idle") {
        let ms = int(args.get(4).ok_or_else(syntax_error)?)?;
        min_idle = Some(ms.max(0) as u64);
        i = 5;
    }
    let extended = args.len() > 3;
    let rest = &args[i.min(args.len())..];
    if extended && !(rest.len() == 3 || rest.len() == 4) {
        return Err(syntax_error());
    }
    let db = ctx.db();
    let st = ctx.store();
    let now = st.now_ms();
    let (_, g) = group_of(&st, db, key, gname, || nogroup(key, gname))?;
    if !extended {
        if g.pel.is_empty() {
            return Ok(Reply::Array(vec![
                Reply::Integer(0),
                Reply::Null,
                Reply::Null,
                Reply::NullArray,
            ]));
        }
        let first = *g.pel.keys().next().expect("not empty");
        let last = *g.pel.keys().next_back().expect("not empty");
        let per: Vec<Reply> = g
            .consumers
            .iter()
            .filter(|(_, c)| !c.pel.is_empty())
            .map(|(n, c)| {
                Reply::Array(vec![
                    bulk(n),
                    Reply::bulk(Bytes::from(c.pel.len().to_string())),
                ])
            })
            .collect();
        return Ok(Reply::Array(vec![
            Reply::Integer(g.pel.len() as i64),
            id_reply(first),
            id_reply(last),
            Reply::Array(per),
        ]));
    }
    let lo = parse_bound(&rest[0], true)?;
    let hi = parse_bound(&rest[1], false)?;
    let count = int(&rest[2])?.max(0) as usize;
    let consumer = rest.get(3);
    let (Some(lo), Some(hi)) = (lo, hi) else {
        return Ok(Reply::Array(Vec::new()));
    };
    if lo > hi {
        return Ok(Reply::Array(Vec::new()));
    }
    let out = g
        .pel
        .range(lo..=hi)
        .filter(|(_, p)| consumer.map_or(true, |c| p.consumer[..] == c[..]))
        .filter(|(_, p)| min_idle.map_or(true, |m| now.saturating_sub(p.delivered_ms) >= m))
        .take(count)
        .map(|(id, p)| {
            Reply::Array(vec![
                id_reply(*id),
                bulk(&p.consumer),
                Reply::Integer(now.saturating_sub(p.delivered_ms) as i64),
                Reply::Integer(p.count as i64),
            ])
        })
        .collect();
    Ok(Reply::Array(out))
}

fn min_idle_arg(b: &[u8]) -> Result<u64, Reply> {
    let v = int(b).map_err(|_| Reply::err("Invalid min-idle-time argument for XCLAIM"))?;
    Ok(v.max(0) as u64)
}

fn xclaim(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let (key, gname, cname) = (&args[1], &args[2], &args[3]);
    let min_idle = min_idle_arg(&args[4])?;
    let mut ids = Vec::new();
    let mut i = 5;
    while i < args.len() {
        match parse_id(&args[i], 0) {
            Ok(id) => ids.push(id),
            Err(_) => break,
        }
        i += 1;
    }
    let db = ctx.db();
    let mut st = ctx.store();
    let now = st.now_ms();
    let (mut idle, mut time, mut retry, mut force, mut justid) = (None, None, None, false, false);
    let mut lastid = None;
    while i < args.len() {
        let a = &args[i];
        let val = args.get(i + 1);
        let num = |v: &Bytes| int(v).map(|n| n.max(0) as u64);
        if is(a, "force") {
            force = true;
            i += 1;
        } else if is(a, "justid") {
            justid = true;
            i += 1;
        } else if let (true, Some(v)) = (is(a, "idle"), val) {
            idle = Some(num(v)?);
            i += 2;
        } else if let (true, Some(v)) = (is(a, "time"), val) {
            time = Some(num(v)?);
            i += 2;
        } else if let (true, Some(v)) = (is(a, "retrycount"), val) {
            retry = Some(num(v)?);
            i += 2;
        } else if let (true, Some(v)) = (is(a, "lastid"), val) {
            lastid = Some(parse_id(v, 0)?);
            i += 2;
        } else {
            return Err(Reply::err(format!(
                "Unrecognized XCLAIM option '{}'",
                lossy(a)
            )));
        }
    }
    let delivered = match (time, idle) {
        (Some(t), _) => t,
        (None, Some(idle)) => now.saturating_sub(idle),
        (None, None) => now,
    };
    check_group(&st, db, key, gname, || nogroup(key, gname))?;
    // Which IDs exist in the stream (claimed entries must; deleted ones leave the PEL).
    let (exists, entries): (Vec<bool>, Vec<Option<Reply>>) = {
        let s = stream_of(&st, db, key)?.expect("checked");
        ids.iter()
            .map(|id| {
                let j = s.lower_bound(*id);
                let e = s.get(j).filter(|e| e.id == *id);
                (e.is_some(), e.map(entry_reply))
            })
            .unzip()
    };
    let g = group_mut(&mut st, db, key, gname);
    if g.consumer(cname, now).is_none() {
        return Err(Reply::err("too many consumers in the group"));
    }
    if let Some(l) = lastid.filter(|l| *l > g.last_id) {
        g.last_id = l;
    }
    let mut out = Vec::new();
    for (k, id) in ids.iter().enumerate() {
        if !exists[k] {
            g.ack(*id);
            continue;
        }
        let pending = g.pel.get(id).map(|p| now.saturating_sub(p.delivered_ms));
        match pending {
            None if !force => continue,
            Some(idle_now) if idle_now < min_idle => continue,
            _ => {}
        }
        g.deliver(*id, cname, delivered, !justid);
        if let Some(r) = retry {
            if let Some(p) = g.pel.get_mut(id) {
                p.count = r;
            }
        }
        if !justid {
            if let Some(c) = g.consumers.get_mut(&cname[..]) {
                c.active_ms = Some(now);
            }
        }
        out.push(if justid {
            id_reply(*id)
        } else {
            entries[k].clone().expect("exists")
        });
    }
    Ok(Reply::Array(out))
}

fn xautoclaim(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let (key, gname, cname) = (&args[1], &args[2], &args[3]);
    let min_idle = min_idle_arg(&args[4])?;
    let start = parse_bound(&args[5], true)?.unwrap_or(StreamId::MAX);
    let mut count = 100usize;
    let mut justid = false;
    let mut i = 6;
    while i < args.len() {
        if is(&args[i], "count") && i + 1 < args.len() {
            let c = int(&args[i + 1])?;
            if !(1..=i64::MAX / 10).contains(&c) {
                return Err(Reply::err("COUNT must be > 0"));
            }
            count = c.min(1 << 20) as usize;
            i += 2;
        } else if is(&args[i], "justid") {
            justid = true;
            i += 1;
        } else {
            return Err(syntax_error());
        }
    }
    let db = ctx.db();
    let mut st = ctx.store();
    let now = st.now_ms();
    check_group(&st, db, key, gname, || nogroup(key, gname))?;
    // Candidates: up to count * 10 PEL entries from `start` (Redis' attempts bound).
    let (cands, next): (Vec<(StreamId, bool, Option<Reply>)>, StreamId) = {
        let s = stream_of(&st, db, key)?.expect("checked");
        let g = &st.groups().of(db, key).expect("checked")[&gname[..]];
        let mut it = g.pel.range(start..);
        let mut attempts = count.saturating_mul(10);
        let mut claimed = 0;
        let mut cands = Vec::new();
        let mut next = StreamId::MIN;
        for (id, p) in it.by_ref() {
            if attempts == 0 || claimed == count {
                next = *id;
                break;
            }
            attempts -= 1;
            let j = s.lower_bound(*id);
            let e = s.get(j).filter(|e| e.id == *id);
            if e.is_none() {
                cands.push((*id, false, None));
                continue;
            }
            if now.saturating_sub(p.delivered_ms) < min_idle {
                continue;
            }
            claimed += 1;
            cands.push((*id, true, e.map(entry_reply)));
        }
        (cands, next)
    };
    let g = group_mut(&mut st, db, key, gname);
    if g.consumer(cname, now).is_none() {
        return Err(Reply::err("too many consumers in the group"));
    }
    let mut claimed = Vec::new();
    let mut deleted = Vec::new();
    for (id, exists, e) in cands {
        if !exists {
            g.ack(id);
            deleted.push(id_reply(id));
            continue;
        }
        g.deliver(id, cname, now, !justid);
        claimed.push(if justid {
            id_reply(id)
        } else {
            e.expect("exists")
        });
    }
    if !justid && !claimed.is_empty() {
        if let Some(c) = g.consumers.get_mut(&cname[..]) {
            c.active_ms = Some(now);
        }
    }
    Ok(Reply::Array(vec![
        id_reply(next),
        Reply::Array(claimed),
        Reply::Array(deleted),
    ]))
}
