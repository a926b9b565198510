//! XREAD and XREADGROUP, with BLOCK.
//!
//! A blocked read waits on its keys with [`Wake::All`] (each waiter has its own IDs), so
//! any entry applied to one of them wakes it: a local XADD or an entry replicated from
//! another region. `$` is resolved once, when the command first runs, and kept for the
//! retries in the client state, so an entry that arrives while it waits is not skipped.

use std::time::Duration;

use bytes::Bytes;
use crdt::stream::StreamId;

use super::args::{int, is, syntax_error};
use super::stream::{
    entries_read_at, entry_reply, has_tombstones_from, id_reply, parse_id, stream_of, INVALID_ID,
};
use super::util::bulk;
use super::{CmdResult, CommandSpec, Ctx, Flag, Group};
use crate::resp::{Protocol, Reply};
use crate::store::Wake;

const R_BLOCK: &[Flag] = &[Flag::Readonly, Flag::Blocking, Flag::MovableKeys];
const W_BLOCK: &[Flag] = &[Flag::Write, Flag::Blocking, Flag::MovableKeys];

/// Reading commands of the stream family.
pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("xread", -4, xread)
        .flags(R_BLOCK)
        .keys(0, 0, 0)
        .group(Group::Stream)
        .since("5.0.0")
        .summary("Return never seen elements in multiple streams, with IDs greater than the ones reported by the caller for each stream. Can block.")
        .complexity("For each stream mentioned: O(N) with N being the number of elements being returned, it means that XREAD-ing with a fixed COUNT is O(1). Note that when the BLOCK option is used, XADD will pay O(M) time in order to serve the M clients blocked on the stream getting new data."),
    CommandSpec::new("xreadgroup", -7, xreadgroup)
        .flags(W_BLOCK)
        .keys(0, 0, 0)
        .group(Group::Stream)
        .since("5.0.0")
        .summary("Return new entries from a stream using a consumer group, or access the history of the pending entries for a given consumer. Can block.")
        .complexity("For each stream mentioned: O(M) with M being the number of elements returned. If M is constant (e.g. always asking for the first 10 elements with COUNT), you can consider it O(1). On the other side when XREADGROUP blocks, XADD will pay the O(N) time in order to serve the N clients blocked on the stream getting new data."),
];

/// One stream's ID argument.
#[derive(Debug, Clone, Copy, PartialEq)]
enum ReadId {
    /// An ID: entries after it (XREAD), or the consumer's history after it (XREADGROUP).
    After(StreamId),
    /// `$`: entries added after the call.
    Dollar,
    /// `+`: the last entry (XREAD).
    Last,
    /// `>`: never delivered entries (XREADGROUP).
    New,
}

/// Parsed XREAD / XREADGROUP arguments.
struct ReadArgs<'a> {
    count: usize,
    block: Option<Option<Duration>>,
    noack: bool,
    keys: &'a [Bytes],
    ids: Vec<ReadId>,
}

/// BLOCK's milliseconds (`Some(None)`: forever).
fn block_arg(b: &[u8]) -> Result<Option<Duration>, Reply> {
    let ms =
        super::args::int(b).map_err(|_| Reply::err("timeout is not an integer or out of range"))?;
    if ms < 0 {
        return Err(Reply::err("timeout is negative"));
    }
    Ok((ms > 0).then(|| Duration::from_millis(ms as u64)))
}

fn parse_read(args: &[Bytes], from: usize, group: bool) -> Result<ReadArgs<'_>, Reply> {
    let name = if group { "XREADGROUP" } else { "XREAD" };
    let mut r = ReadArgs {
        count: usize::MAX,
        block: None,
        noack: false,
        keys: &[],
        ids: Vec::new(),
    };
    let mut i = from;
    let mut streams = None;
    while i < args.len() {
        let a = &args[i];
        if is(a, "count") && i + 1 < args.len() {
            let c = int(&args[i + 1])?;
            r.count = if c <= 0 { usize::MAX } else { c as usize };
            i += 2;
        } else if is(a, "block") && i + 1 < args.len() {
            r.block = Some(block_arg(&args[i + 1])?);
            i += 2;
        } else if group && is(a, "noack") {
            r.noack = true;
            i += 1;
        } else if is(a, "streams") {
            streams = Some(i + 1);
            break;
        } else {
            return Err(syntax_error());
        }
    }
    let Some(s) = streams else {
        return Err(syntax_error());
    };
    let rest = &args[s..];
    if rest.is_empty() || rest.len() % 2 != 0 {
        let what = if group { "'>'" } else { "'$'" };
        return Err(Reply::err(format!(
            "Unbalanced {name} list of streams: for each stream key an ID or {what} must be specified."
        )));
    }
    let n = rest.len() / 2;
    r.keys = &rest[..n];
    for a in &rest[n..] {
        let id = match &a[..] {
            b"$" if group => {
                return Err(Reply::err(
                    "The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set.",
                ));
            }
            b"$" => ReadId::Dollar,
            b"+" if !group => ReadId::Last,
            b">" if group => ReadId::New,
            b">" => {
                return Err(Reply::err(
                    "The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option.",
                ));
            }
            _ => ReadId::After(parse_id(a, 0).map_err(|_| Reply::err(INVALID_ID))?),
        };
        r.ids.push(id);
    }
    Ok(r)
}

/// `key => entries` pairs as XREAD replies them: a map in RESP3, an array of pairs in
/// RESP2; null when empty.
fn streams_reply(proto: Protocol, out: Vec<(Reply, Reply)>) -> Reply {
    if out.is_empty() {
        return Reply::NullArray;
    }
    match proto {
        Protocol::Resp2 => Reply::Array(
            out.into_iter()
                .map(|(k, v)| Reply::Array(vec![k, v]))
                .collect(),
        ),
        _ => Reply::Map(out),
    }
}

fn xread(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let r = parse_read(args, 1, false)?;
    let db = ctx.db();
    let proto = ctx.client.protocol();
    let retry_ids = if ctx.is_retry() {
        ctx.client.stream_block_ids.take()
    } else {
        None
    };
    let mut st = ctx.store();
    // Resolve `$` (first run) or take the IDs the first run resolved.
    let mut after = Vec::with_capacity(r.keys.len());
    for (i, key) in r.keys.iter().enumerate() {
        let s = stream_of(&st, db, key)?;
        let id = match (&retry_ids, r.ids[i]) {
            (Some(ids), _) if ids.len() == r.keys.len() => Some(ids[i]),
            (_, ReadId::After(id)) => Some(id),
            (_, ReadId::Dollar) => Some(s.map_or(StreamId::MIN, |s| s.meta().last)),
            (_, ReadId::Last) => None,
            (_, ReadId::New) => unreachable!("refused by parse_read"),
        };
        after.push(id);
    }
    let mut out = Vec::new();
    for (i, key) in r.keys.iter().enumerate() {
        let Some(s) = stream_of(&st, db, key)? else {
            continue;
        };
        let entries: Vec<Reply> = match after[i] {
            Some(id) => match id.next() {
                Some(from) => s
                    .range(from, StreamId::MAX)
                    .take(r.count)
                    .map(entry_reply)
                    .collect(),
                None => Vec::new(),
            },
            None => s.last().map(entry_reply).into_iter().collect(),
        };
        if !entries.is_empty() {
            out.push((bulk(key), Reply::Array(entries)));
        }
    }
    if !out.is_empty() {
        return Ok(streams_reply(proto, out));
    }
    match r.block {
        Some(timeout) if ctx.can_block() => {
            // `+` waits like `$` (for the next entry).
            let resolved: Vec<StreamId> = after
                .iter()
                .enumerate()
                .map(|(i, a)| {
                    a.unwrap_or_else(|| {
                        stream_of(&st, db, &r.keys[i])
                            .ok()
                            .flatten()
                            .map_or(StreamId::MIN, |s| s.meta().last)
                    })
                })
                .collect();
            let keys: Vec<&[u8]> = r.keys.iter().map(|k| &k[..]).collect();
            ctx.block(&mut st, &keys, Wake::All, timeout, Reply::NullArray);
            drop(st);
            ctx.client.stream_block_ids = Some(resolved);
            Ok(Reply::NullArray)
        }
        _ => Ok(Reply::NullArray),
    }
}

fn nogroup(key: &[u8], group: &[u8], cmd: &str) -> Reply {
    Reply::error_code(format!(
        "NOGROUP No such key '{}' or consumer group '{}' in {cmd} with GROUP option",
        String::from_utf8_lossy(key),
        String::from_utf8_lossy(group)
    ))
}

fn xreadgroup(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    if !is(&args[1], "group") {
        return Err(syntax_error());
    }
    let (gname, cname) = (&args[2], &args[3]);
    let r = parse_read(args, 4, true)?;
    let db = ctx.db();
    let proto = ctx.client.protocol();
    let mut st = ctx.store();
    let now = st.now_ms();
    // Every key must hold the group (checked before anything is delivered).
    for key in r.keys {
        stream_of(&st, db, key)?;
        let exists = st.kind(db, key).is_some()
            && st
                .groups()
                .of(db, key)
                .is_some_and(|g| g.contains_key(&gname[..]));
        if !exists {
            return Err(nogroup(key, gname, "XREADGROUP"));
        }
    }
    let mut out = Vec::new();
    let mut all_new = true;
    for (i, key) in r.keys.iter().enumerate() {
        // Split borrows: the stream (keyspace) and the groups (node-local).
        let mut counters = Vec::new();
        // ReadId::New: the highest late entry served (late entries up to it leave the set).
        let mut late_seen: Vec<Option<StreamId>> = Vec::new();
        let entries: Vec<(StreamId, Option<Reply>)> = {
            let s = stream_of(&st, db, key)?.expect("checked");
            let g = &st.groups().of(db, key).expect("checked")[&gname[..]];
            match r.ids[i] {
                ReadId::New => match g.last_id.next() {
                    Some(from) => {
                        // Late entries from other regions first (all below `from`, so
                        // the reply stays in ID order); gone ones are skipped.
                        let mut out = Vec::new();
                        let mut examined = None;
                        for id in &g.late {
                            if out.len() >= r.count {
                                break;
                            }
                            examined = Some(*id);
                            if let Some(e) = s.get(s.lower_bound(*id)).filter(|e| e.id == *id) {
                                out.push((e.id, Some(entry_reply(e))));
                            }
                        }
                        late_seen.push(examined);
                        let n_late = out.len();
                        out.extend(
                            s.range(from, StreamId::MAX)
                                .take(r.count - n_late)
                                .map(|e| (e.id, Some(entry_reply(e)))),
                        );

                        // The group's entries-read counter after each delivery, as
                        // Redis keeps it.
                        let added = s.meta().added;
                        let mut read = g.entries_read;
                        for (id, _) in &out[n_late..] {
                            read = match read {
                                Some(n) if !has_tombstones_from(s, *id) => Some(n + 1),
                                other if added == 0 => other,
                                _ => entries_read_at(s, *id),
                            };
                        }
                        counters.push(read);
                        out
                    }
                    None => Vec::new(),
                },
                ReadId::After(id) => {
                    all_new = false;
                    let pel = g.consumers.get(&cname[..]).map(|c| &c.pel);
                    let from = id.next().unwrap_or(StreamId::MAX);
                    pel.into_iter()
                        .flat_map(|p| p.range(from..))
                        .take(r.count)
                        .map(|id| {
                            let j = s.lower_bound(*id);
                            let e = s.get(j).filter(|e| e.id == *id);
                            (*id, e.map(entry_reply))
                        })
                        .collect()
                }
                _ => unreachable!("refused by parse_read"),
            }
        };
        let groups = st.groups_mut().of_mut(db, key);
        let g = groups.get_mut(&gname[..]).expect("checked");
        if g.consumer(cname, now).is_none() {
            return Err(Reply::err("too many consumers in the group"));
        }
        if r.ids[i] == ReadId::New {
            if let Some(Some(upto)) = late_seen.pop() {
                // Served, or gone from the stream: no longer late.
                let rest = g.late.split_off(&upto.next().unwrap_or(StreamId::MAX));
                g.late = rest;
            }
            if let Some((last, _)) = entries.last() {
                g.last_id = g.last_id.max(*last);
                if let Some(read) = counters.pop() {
                    g.entries_read = read;
                }
                if let Some(c) = g.consumers.get_mut(&cname[..]) {
                    c.active_ms = Some(now);
                }
                if !r.noack {
                    for (id, _) in &entries {
                        g.deliver(*id, cname, now, true);
                    }
                }
            }
            if !entries.is_empty() {
                let list = entries.into_iter().filter_map(|e| e.1).collect();
                out.push((bulk(key), Reply::Array(list)));
            }
        } else {
            for (id, _) in &entries {
                if let Some(p) = g.pel.get_mut(id) {
                    p.delivered_ms = now;
                    p.count += 1;
                }
            }
            let list = entries
                .into_iter()
                .map(|(id, e)| {
                    e.unwrap_or_else(|| Reply::Array(vec![id_reply(id), Reply::NullArray]))
                })
                .collect();
            out.push((bulk(key), Reply::Array(list)));
        }
    }
    if !out.is_empty() || !all_new {
        return Ok(streams_reply(proto, out));
    }
    match r.block {
        Some(timeout) if ctx.can_block() => {
            let keys: Vec<&[u8]> = r.keys.iter().map(|k| &k[..]).collect();
            ctx.block(&mut st, &keys, Wake::All, timeout, Reply::NullArray);
            Ok(Reply::NullArray)
        }
        _ => Ok(Reply::NullArray),
    }
}
