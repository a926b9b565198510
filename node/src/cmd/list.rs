//! List commands: LPUSH RPUSH LPUSHX RPUSHX LPOP RPOP LLEN LRANGE LINDEX LSET LINSERT LREM
//! LTRIM LPOS LMOVE RPOPLPUSH LMPOP and the blocking BLPOP BRPOP BLMOVE BRPOPLPUSH BLMPOP.
//!
//! A list is the sequence CRDT of [`crdt::list`]: concurrent pushes and inserts from
//! several regions are all kept, in one order every region agrees on; pops, LREM and
//! LTRIM remove only the elements they observed, so an element popped concurrently in two
//! regions is removed once and returned by both pops (at-least-once delivery for queues).
//! LSET is remove + insert: two concurrent LSETs of one index both keep their value.
//! LMOVE / RPOPLPUSH are one op touching both keys, so every region applies the pop and the
//! push together. A list left empty is deleted, as in Redis.
//!
//! The blocking forms follow "Blocking commands" in `cmd/mod.rs` (the same registry as
//! BZPOPMIN): a client finding nothing blocks on its keys and is woken by any delta applied
//! to one of them, local or replicated from another region; it then re-runs the command
//! and is served from the first of its keys holding a list. Inside MULTI/EXEC they answer
//! at once as Redis does.
//!
//! Costs: pushes and pops at the ends O(1) (amortised); access by index O(1); LINSERT,
//! LSET, LREM, LTRIM O(N) in the worst case, as in Redis.

use bytes::Bytes;
use crdt::key::Coll;
use crdt::list::{List, ListError};
use crdt::{CausalContext, Dot, Kind, Value};

use super::args::{is, syntax_error};
use super::blocking::timeout_arg;
use super::util::{bulk, get_kind};
use super::{CmdResult, CommandSpec, Ctx, Flag, Group};
use crate::resp::{parse_i64, Reply};
use crate::store::{Store, Wake, Write};

const W: &[Flag] = &[Flag::Write, Flag::Denyoom];
const WF: &[Flag] = &[Flag::Write, Flag::Fast];
const WDF: &[Flag] = &[Flag::Write, Flag::Denyoom, Flag::Fast];
const R: &[Flag] = &[Flag::Readonly];
const RF: &[Flag] = &[Flag::Readonly, Flag::Fast];
const WM: &[Flag] = &[Flag::Write, Flag::MovableKeys];
const BLOCKING: &[Flag] = &[Flag::Write, Flag::Noscript, Flag::Blocking];
const BLOCKING_D: &[Flag] = &[Flag::Write, Flag::Denyoom, Flag::Noscript, Flag::Blocking];
const BLOCKING_M: &[Flag] = &[Flag::Write, Flag::Blocking, Flag::MovableKeys];

/// Most elements one LPUSH/RPUSH may add (bounds the delta of one op).
pub const MAX_PUSH: usize = 1 << 20;

macro_rules! spec {
    ($name:literal, $arity:expr, $f:ident, $flags:expr, $k:expr, $since:literal, $sum:literal, $cx:expr) => {
        CommandSpec::new($name, $arity, $f)
            .flags($flags)
            .keys($k.0, $k.1, $k.2)
            .group(Group::List)
            .since($since)
            .summary($sum)
            .complexity($cx)
    };
}

/// List command family.
pub static COMMANDS: &[CommandSpec] = &[
    spec!("lpush", -3, lpush, WDF, (1, 1, 1), "1.0.0", "Prepend one or multiple elements to a list", "O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments."),
    spec!("rpush", -3, rpush, WDF, (1, 1, 1), "1.0.0", "Append one or multiple elements to a list", "O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments."),
    spec!("lpushx", -3, lpushx, WDF, (1, 1, 1), "2.2.0", "Prepend an element to a list, only if the list exists", "O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments."),
    spec!("rpushx", -3, rpushx, WDF, (1, 1, 1), "2.2.0", "Append an element to a list, only if the list exists", "O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments."),
    spec!("lpop", -2, lpop, WF, (1, 1, 1), "1.0.0", "Remove and get the first elements in a list", "O(N) where N is the number of elements returned"),
    spec!("rpop", -2, rpop, WF, (1, 1, 1), "1.0.0", "Remove and get the last elements in a list", "O(N) where N is the number of elements returned"),
    spec!("llen", 2, llen, RF, (1, 1, 1), "1.0.0", "Get the length of a list", "O(1)"),
    spec!("lrange", 4, lrange, R, (1, 1, 1), "1.0.0", "Get a range of elements from a list", "O(S+N) where S is the distance of start offset from HEAD for small lists, from nearest end (HEAD or TAIL) for large lists; and N is the number of elements in the specified range."),
    spec!("lindex", 3, lindex, R, (1, 1, 1), "1.0.0", "Get an element from a list by its index", "O(N) where N is the number of elements to traverse to get to the element at index. This makes asking for the first or the last element of the list O(1)."),
    spec!("lset", 4, lset, W, (1, 1, 1), "1.0.0", "Set the value of an element in a list by its index", "O(N) where N is the length of the list. Setting either the first or the last element of the list is O(1)."),
    spec!("linsert", 5, linsert, W, (1, 1, 1), "2.2.0", "Insert an element before or after another element in a list", "O(N) where N is the number of elements to traverse before seeing the value pivot. This means that inserting somewhere on the left end on the list (head) can be considered O(1) and inserting somewhere on the right end (tail) is O(N)."),
    spec!("lrem", 4, lrem, WF, (1, 1, 1), "1.0.0", "Remove elements from a list", "O(N+M) where N is the length of the list and M is the number of elements removed."),
    spec!("ltrim", 4, ltrim, WF, (1, 1, 1), "1.0.0", "Trim a list to the specified range", "O(N) where N is the number of elements to be removed by the operation."),
    spec!("lpos", -3, lpos, R, (1, 1, 1), "6.0.6", "Return the index of matching elements on a list", "O(N) where N is the number of elements in the list, for the average case. When searching for elements near the head or the tail of the list, or when the MAXLEN option is provided, the command may run in constant time."),
    spec!("lmove", 5, lmove, W, (1, 2, 1), "6.2.0", "Pop an element from a list, push it to another list and return it", "O(1)"),
    spec!("rpoplpush", 3, rpoplpush, W, (1, 2, 1), "1.2.0", "Remove the last element in a list, prepend it to another list and return it", "O(1)"),
    spec!("lmpop", -4, lmpop, WM, (0, 0, 0), "7.0.0", "Pop elements from a list", "O(N+M) where N is the number of provided keys and M is the number of elements returned."),
    spec!("blpop", -3, blpop, BLOCKING, (1, -2, 1), "2.0.0", "Remove and get the first element in a list, or block until one is available", "O(N) where N is the number of provided keys."),
    spec!("brpop", -3, brpop, BLOCKING, (1, -2, 1), "2.0.0", "Remove and get the last element in a list, or block until one is available", "O(N) where N is the number of provided keys."),
    spec!("blmove", 6, blmove, BLOCKING_D, (1, 2, 1), "6.2.0", "Pop an element from a list, push it to another list and return it; or block until one is available", "O(1)"),
    spec!("brpoplpush", 4, brpoplpush, BLOCKING_D, (1, 2, 1), "2.2.0", "Pop an element from a list, push it to another list and return it; or block until one is available", "O(1)"),
    spec!("blmpop", -5, blmpop, BLOCKING_M, (0, 0, 0), "7.0.0", "Pop elements from a list, or block until one is available", "O(N+M) where N is the number of provided keys and M is the number of elements returned."),
];

// ---------------------------------------------------------------------------------------
// Reading and writing

/// The list stored at `key`, `Err(WRONGTYPE)` for another type.
pub(super) fn list_of<'s>(st: &'s Store, db: u8, key: &[u8]) -> Result<Option<&'s List>, Reply> {
    match get_kind(st, db, key, Kind::List)? {
        Some(Value::List(c)) => Ok(Some(&c.data)),
        _ => Ok(None),
    }
}

/// Applies one change to the list at `key` in the op `w`: `f` fills the delta from the
/// current list (empty when the key is created). Creates the key when needed and deletes
/// it when it ends empty. `Err(WRONGTYPE)` when the key holds another type; an error of
/// `f` (an insert at a place split by too many inserts) writes nothing to the list.
fn write_list(
    w: &mut Write<'_>,
    key: &[u8],
    f: impl FnOnce(&List, &mut List, Dot, &mut CausalContext) -> Result<(), ListError>,
) -> Result<(), Reply> {
    let fresh = w.prepare(key, Kind::List)?;
    let creation = if fresh { Some(w.stamp()) } else { None };
    let (dot, _) = w.stamp();
    let empty = Coll::<List>::default();
    let (value, cc) = {
        let coll: &Coll<List> = match w.get(key) {
            Some(Value::List(c)) => c,
            _ => &empty,
        };
        let mut delta = List::default();
        let mut cc = CausalContext::new();
        f(&coll.data, &mut delta, dot, &mut cc).map_err(|e| Reply::err(e.to_string()))?;
        (coll.write_delta(fresh, dot, delta, &mut cc), cc)
    };
    w.emit_coll(key, creation, Value::List(Box::new(value)), cc);
    if w.get(key).is_none() {
        w.delete_raw(key);
    }
    Ok(())
}

fn current_len(w: &Write<'_>, key: &[u8]) -> usize {
    match w.get(key) {
        Some(Value::List(c)) => c.data.len(),
        _ => 0,
    }
}

/// Pops up to `n` elements from one end of the list at `key` (which must be a list) in
/// the op `w`; returns them in pop order.
fn pop_in(w: &mut Write<'_>, key: &[u8], left: bool, n: usize) -> Result<Vec<Bytes>, Reply> {
    let len = current_len(w, key);
    let n = n.min(len);
    if n == 0 {
        return Ok(Vec::new());
    }
    let mut out = Vec::with_capacity(n);
    write_list(w, key, |l, d, _, _| {
        for k in 0..n {
            let i = if left { k } else { len - 1 - k };
            if let Some(v) = l.get(i) {
                out.push(Bytes::copy_from_slice(v));
            }
            l.remove_at_into(d, i);
        }
        Ok(())
    })?;
    Ok(out)
}

/// Pushes `values` at one end of the list at `key` (created if needed) in the op `w`.
fn push_in(w: &mut Write<'_>, key: &[u8], left: bool, values: &[Bytes]) -> Result<(), Reply> {
    write_list(w, key, |l, d, dot, cc| {
        l.push_into(d, left, values.iter().map(|v| v[..].into()), dot, cc)
    })
}

/// LMOVE's core: pops from `src` (`left`: head) and pushes onto `dst` (`to_left`: head)
/// in one op. `Ok(None)` when `src` has no element. Checks both types first.
fn move_one(
    st: &mut Store,
    db: u8,
    src: &[u8],
    dst: &[u8],
    left: bool,
    to_left: bool,
) -> Result<Option<Bytes>, Reply> {
    let Some(l) = list_of(st, db, src)? else {
        return Ok(None);
    };
    if l.is_empty() {
        return Ok(None);
    }
    list_of(st, db, dst)?;
    let mut w = st.write(db);
    if src == dst {
        // One delta: remove the end element and re-insert it at the other (or same) end.
        let mut moved = None;
        write_list(&mut w, src, |l, d, dot, cc| {
            let i = if left { 0 } else { l.len() - 1 };
            let v = l.get(i).cloned().unwrap_or_default();
            moved = Some(Bytes::copy_from_slice(&v));
            l.remove_at_into(d, i);
            l.push_into(d, to_left, [v], dot, cc)
        })?;
        return Ok(moved);
    }
    let v = pop_in(&mut w, src, left, 1)?;
    let Some(v) = v.into_iter().next() else {
        return Ok(None);
    };
    push_in(&mut w, dst, to_left, std::slice::from_ref(&v))?;
    Ok(Some(v))
}

fn side(arg: &[u8]) -> Result<bool, Reply> {
    if is(arg, "left") {
        Ok(true)
    } else if is(arg, "right") {
        Ok(false)
    } else {
        Err(syntax_error())
    }
}

fn int_arg(arg: &[u8]) -> Result<i64, Reply> {
    super::args::int(arg)
}

/// Redis' LRANGE normalisation: `Some((start, end))` inclusive, `None` when empty.
fn range(start: i64, end: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let mut s = if start < 0 {
        len.saturating_add(start)
    } else {
        start
    };
    let mut e = if end < 0 {
        len.saturating_add(end)
    } else {
        end
    };
    if s < 0 {
        s = 0;
    }
    if s > e || s >= len {
        return None;
    }
    if e >= len {
        e = len - 1;
    }
    Some((s as usize, e as usize))
}

fn index(i: i64, len: usize) -> Option<usize> {
    let len = len as i64;
    let i = if i < 0 { len.saturating_add(i) } else { i };
    (0..len).contains(&i).then_some(i as usize)
}

// ---------------------------------------------------------------------------------------
// Commands

fn push_common(ctx: &mut Ctx<'_>, args: &[Bytes], left: bool, only_existing: bool) -> CmdResult {
    let key = &args[1];
    let values = &args[2..];
    if values.len() > MAX_PUSH {
        return Err(Reply::err(format!(
            "too many elements in one push (at most {MAX_PUSH})"
        )));
    }
    let db = ctx.db();
    let mut st = ctx.store();
    let exists = list_of(&st, db, key)?.is_some();
    if only_existing && !exists {
        return Ok(Reply::Integer(0));
    }
    let mut w = st.write(db);
    push_in(&mut w, key, left, values)?;
    Ok(Reply::Integer(current_len(&w, key) as i64))
}

fn lpush(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    push_common(ctx, args, true, false)
}
fn rpush(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    push_common(ctx, args, false, false)
}
fn lpushx(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    push_common(ctx, args, true, true)
}
fn rpushx(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    push_common(ctx, args, false, true)
}

/// A non-negative count as Redis' `getPositiveLongFromObjectOrReply` (0 allowed): every
/// failure (negative or not an integer) answers `msg`, by default Redis' "must be
/// positive".
fn count_arg(arg: &[u8], msg: Option<&'static str>) -> Result<usize, Reply> {
    match parse_i64(arg) {
        Some(n) if n >= 0 => Ok(usize::try_from(n).unwrap_or(usize::MAX)),
        _ => Err(Reply::err(
            msg.unwrap_or("value is out of range, must be positive"),
        )),
    }
}

fn pop_common(ctx: &mut Ctx<'_>, args: &[Bytes], left: bool) -> CmdResult {
    if args.len() > 3 {
        return Err(Reply::err(format!(
            "wrong number of arguments for '{}' command",
            if left { "lpop" } else { "rpop" }
        )));
    }
    let count = match args.get(2) {
        Some(c) => Some(count_arg(c, None)?),
        None => None,
    };
    let key = &args[1];
    let db = ctx.db();
    let mut st = ctx.store();
    if list_of(&st, db, key)?.is_none() {
        return Ok(if count.is_some() {
            Reply::NullArray
        } else {
            Reply::Null
        });
    }
    if count == Some(0) {
        return Ok(Reply::Array(Vec::new()));
    }
    let mut w = st.write(db);
    let popped = pop_in(&mut w, key, left, count.unwrap_or(1))?;
    Ok(match count {
        None => popped.first().map_or(Reply::Null, |v| bulk(v)),
        Some(_) => Reply::Array(popped.iter().map(|v| bulk(v)).collect()),
    })
}

fn lpop(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    pop_common(ctx, args, true)
}
fn rpop(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    pop_common(ctx, args, false)
}

fn llen(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let st = ctx.store();
    let n = list_of(&st, ctx.db(), &args[1])?.map_or(0, |l| l.len());
    Ok(Reply::Integer(n as i64))
}

fn lrange(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let start = int_arg(&args[2])?;
    let end = int_arg(&args[3])?;
    let st = ctx.store();
    let Some(l) = list_of(&st, ctx.db(), &args[1])? else {
        return Ok(Reply::Array(Vec::new()));
    };
    Ok(Reply::Array(match range(start, end, l.len()) {
        Some((s, e)) => l.iter().skip(s).take(e - s + 1).map(|v| bulk(v)).collect(),
        None => Vec::new(),
    }))
}

fn lindex(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let i = int_arg(&args[2])?;
    let st = ctx.store();
    let Some(l) = list_of(&st, ctx.db(), &args[1])? else {
        return Ok(Reply::Null);
    };
    Ok(index(i, l.len())
        .and_then(|i| l.get(i))
        .map_or(Reply::Null, |v| bulk(v)))
}

fn lset(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let i = int_arg(&args[2])?;
    let key = &args[1];
    let db = ctx.db();
    let mut st = ctx.store();
    let Some(l) = list_of(&st, db, key)? else {
        return Err(Reply::err("no such key"));
    };
    let Some(i) = index(i, l.len()) else {
        return Err(Reply::err("index out of range"));
    };
    let mut w = st.write(db);
    let v = &args[3];
    write_list(&mut w, key, |l, d, dot, cc| {
        l.set_into(d, i, v[..].into(), dot, cc)
    })?;
    Ok(Reply::ok())
}

fn linsert(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let before = if is(&args[2], "before") {
        true
    } else if is(&args[2], "after") {
        false
    } else {
        return Err(syntax_error());
    };
    let key = &args[1];
    let db = ctx.db();
    let mut st = ctx.store();
    let Some(l) = list_of(&st, db, key)? else {
        return Ok(Reply::Integer(0));
    };
    let Some(p) = l.iter().position(|x| x[..] == args[3][..]) else {
        return Ok(Reply::Integer(-1));
    };
    let at = if before { p } else { p + 1 };
    let mut w = st.write(db);
    let v = &args[4];
    write_list(&mut w, key, |l, d, dot, cc| {
        l.insert_at_into(d, at, v[..].into(), dot, cc).map(|_| ())
    })?;
    Ok(Reply::Integer(current_len(&w, key) as i64))
}

fn lrem(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let count = int_arg(&args[2])?;
    let key = &args[1];
    let db = ctx.db();
    let mut st = ctx.store();
    let Some(l) = list_of(&st, db, key)? else {
        return Ok(Reply::Integer(0));
    };
    let want = &args[3][..];
    let limit = if count == 0 {
        usize::MAX
    } else {
        usize::try_from(count.unsigned_abs()).unwrap_or(usize::MAX)
    };
    let hits: Vec<usize> = if count >= 0 {
        l.iter()
            .enumerate()
            .filter(|(_, x)| x[..] == *want)
            .map(|(i, _)| i)
            .take(limit)
            .collect()
    } else {
        l.iter()
            .enumerate()
            .rev()
            .filter(|(_, x)| x[..] == *want)
            .map(|(i, _)| i)
            .take(limit)
            .collect()
    };
    if hits.is_empty() {
        return Ok(Reply::Integer(0));
    }
    let mut w = st.write(db);
    write_list(&mut w, key, |l, d, _, _| {
        for &i in &hits {
            l.remove_at_into(d, i);
        }
        Ok(())
    })?;
    Ok(Reply::Integer(hits.len() as i64))
}

fn ltrim(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let start = int_arg(&args[2])?;
    let end = int_arg(&args[3])?;
    let key = &args[1];
    let db = ctx.db();
    let mut st = ctx.store();
    let Some(l) = list_of(&st, db, key)? else {
        return Ok(Reply::ok());
    };
    let len = l.len();
    let keep = range(start, end, len);
    let (lo, hi) = match keep {
        Some((s, e)) => (s, e + 1),
        None => (0, 0),
    };
    if lo == 0 && hi == len {
        return Ok(Reply::ok());
    }
    let mut w = st.write(db);
    write_list(&mut w, key, |l, d, _, _| {
        for i in (0..lo).chain(hi..len) {
            l.remove_at_into(d, i);
        }
        Ok(())
    })?;
    Ok(Reply::ok())
}

fn lpos(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let mut rank: i64 = 1;
    let mut count: Option<usize> = None;
    let mut maxlen: usize = 0;
    let mut i = 3;
    while i < args.len() {
        let has_val = i + 1 < args.len();
        if is(&args[i], "rank") && has_val {
            rank = match parse_i64(&args[i + 1]) {
                Some(i64::MIN) => {
                    return Err(Reply::err(
                        "value is out of range, value must between -9223372036854775807 and 9223372036854775807",
                    ))
                }
                Some(r) => r,
                None => return Err(Reply::err("value is not an integer or out of range")),
            };
            if rank == 0 {
                return Err(Reply::err(
                    "RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list",
                ));
            }
        } else if is(&args[i], "count") && has_val {
            count = Some(count_arg(&args[i + 1], Some("COUNT can't be negative"))?);
        } else if is(&args[i], "maxlen") && has_val {
            maxlen = count_arg(&args[i + 1], Some("MAXLEN can't be negative"))?;
        } else {
            return Err(syntax_error());
        }
        i += 2;
    }
    let st = ctx.store();
    let Some(l) = list_of(&st, ctx.db(), &args[1])? else {
        return Ok(if count.is_some() {
            Reply::Array(Vec::new())
        } else {
            Reply::Null
        });
    };
    let want = &args[2][..];
    let len = l.len();
    let limit = if maxlen == 0 { len } else { maxlen.min(len) };
    let mut skip = rank.unsigned_abs() - 1;
    let max_hits = match count {
        Some(0) => usize::MAX,
        Some(n) => n,
        None => 1,
    };
    let mut found = Vec::new();
    for k in 0..limit {
        let idx = if rank > 0 { k } else { len - 1 - k };
        if l.get(idx).is_some_and(|x| x[..] == *want) {
            if skip > 0 {
                skip -= 1;
                continue;
            }
            found.push(Reply::Integer(idx as i64));
            if found.len() >= max_hits {
                break;
            }
        }
    }
    Ok(match count {
        Some(_) => Reply::Array(found),
        None => found.pop().unwrap_or(Reply::Null),
    })
}

fn lmove(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let from = side(&args[3])?;
    let to = side(&args[4])?;
    let db = ctx.db();
    let mut st = ctx.store();
    Ok(move_one(&mut st, db, &args[1], &args[2], from, to)?.map_or(Reply::Null, |v| bulk(&v)))
}

fn rpoplpush(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let db = ctx.db();
    let mut st = ctx.store();
    Ok(move_one(&mut st, db, &args[1], &args[2], false, true)?.map_or(Reply::Null, |v| bulk(&v)))
}

/// `numkeys key [key ...] <LEFT | RIGHT> [COUNT count]` from `args[at..]`.
fn mpop_args(args: &[Bytes], at: usize) -> Result<(&[Bytes], bool, usize), Reply> {
    let numkeys = match parse_i64(&args[at]) {
        Some(n) if n > 0 => n as u64,
        _ => return Err(Reply::err("numkeys should be greater than 0")),
    };
    let where_at = (at as u64 + 1).saturating_add(numkeys);
    if where_at >= args.len() as u64 {
        return Err(syntax_error());
    }
    let where_at = where_at as usize;
    let left = side(&args[where_at])?;
    let mut count = None;
    let mut i = where_at + 1;
    while i < args.len() {
        if count.is_none() && is(&args[i], "count") && i + 1 < args.len() {
            count = match parse_i64(&args[i + 1]) {
                Some(n) if n > 0 => Some(usize::try_from(n).unwrap_or(usize::MAX)),
                _ => return Err(Reply::err("count should be greater than 0")),
            };
            i += 2;
        } else {
            return Err(syntax_error());
        }
    }
    Ok((&args[at + 1..where_at], left, count.unwrap_or(1)))
}

fn mpop_reply(key: &[u8], popped: &[Bytes]) -> Reply {
    Reply::Array(vec![
        bulk(key),
        Reply::Array(popped.iter().map(|v| bulk(v)).collect()),
    ])
}

fn has_elements(st: &Store, db: u8, key: &[u8]) -> Result<bool, Reply> {
    Ok(list_of(st, db, key)?.is_some_and(|l| !l.is_empty()))
}

fn lmpop(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let (keys, left, count) = mpop_args(args, 1)?;
    let db = ctx.db();
    let mut st = ctx.store();
    for key in keys {
        if has_elements(&st, db, key)? {
            let mut w = st.write(db);
            let popped = pop_in(&mut w, key, left, count)?;
            return Ok(mpop_reply(key, &popped));
        }
    }
    Ok(Reply::NullArray)
}

// ---------------------------------------------------------------------------------------
// Blocking forms

/// Serves from the first key holding a non-empty list (`serve` does the pop and builds the
/// reply), else blocks on `keys` (or answers `immediate` when the client cannot block).
fn blocking(
    ctx: &mut Ctx<'_>,
    keys: &[Bytes],
    timeout: Option<std::time::Duration>,
    immediate: Reply,
    serve: impl FnOnce(&mut Store, u8, &Bytes) -> CmdResult,
) -> CmdResult {
    let db = ctx.db();
    let mut st = ctx.store();
    let ready = !ctx.is_retry()
        || keys
            .iter()
            .any(|k| matches!(st.get(db, k), Some(Value::List(l)) if !l.data.is_empty()));
    if ready {
        for key in keys {
            if has_elements(&st, db, key)? {
                return serve(&mut st, db, key);
            }
        }
    }
    if ctx.can_block() {
        let ks: Vec<&[u8]> = keys.iter().map(|k| &k[..]).collect();
        ctx.block(&mut st, &ks, Wake::Fifo, timeout, Reply::NullArray);
        return Ok(Reply::NullArray);
    }
    Ok(immediate)
}

fn bpop_common(ctx: &mut Ctx<'_>, args: &[Bytes], left: bool) -> CmdResult {
    let (keys, timeout) = args[1..].split_at(args.len() - 2);
    let timeout = timeout_arg(&timeout[0])?;
    blocking(ctx, keys, timeout, Reply::NullArray, |st, db, key| {
        let mut w = st.write(db);
        let popped = pop_in(&mut w, key, left, 1)?;
        Ok(match popped.first() {
            Some(v) => Reply::Array(vec![bulk(key), bulk(v)]),
            None => Reply::NullArray,
        })
    })
}

fn blpop(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    bpop_common(ctx, args, true)
}
fn brpop(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    bpop_common(ctx, args, false)
}

fn bmove_common(
    ctx: &mut Ctx<'_>,
    src: &Bytes,
    dst: &Bytes,
    from: bool,
    to: bool,
    timeout: &[u8],
) -> CmdResult {
    let timeout = timeout_arg(timeout)?;
    let dst = dst.clone();
    blocking(
        ctx,
        std::slice::from_ref(src),
        timeout,
        Reply::Null,
        |st, db, key| Ok(move_one(st, db, key, &dst, from, to)?.map_or(Reply::Null, |v| bulk(&v))),
    )
}

fn blmove(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let from = side(&args[3])?;
    let to = side(&args[4])?;
    bmove_common(ctx, &args[1], &args[2], from, to, &args[5])
}

fn brpoplpush(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    bmove_common(ctx, &args[1], &args[2], false, true, &args[3])
}

fn blmpop(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let timeout = timeout_arg(&args[1])?;
    let (keys, left, count) = mpop_args(args, 2)?;
    blocking(ctx, keys, timeout, Reply::NullArray, |st, db, key| {
        let mut w = st.write(db);
        let popped = pop_in(&mut w, key, left, count)?;
        Ok(mpop_reply(key, &popped))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::set::tests::Region;

    fn items(r: Reply) -> Vec<String> {
        match r {
            Reply::Array(v) => v
                .into_iter()
                .map(|x| match x {
                    Reply::Bulk(b) => String::from_utf8(b.to_vec()).unwrap(),
                    other => panic!("not a bulk: {other:?}"),
                })
                .collect(),
            other => panic!("not an array: {other:?}"),
        }
    }

    #[test]
    fn regions_agree_on_order_and_pop_once() {
        let (mut a, mut b) = (Region::new(1), Region::new(2));
        a.ok(&["RPUSH", "q", "j1", "j2", "j3"]);
        b.pull(&a, 1);
        // Concurrent pushes at both ends, and concurrent pops of the same head.
        a.ok(&["RPUSH", "q", "a1", "a2"]);
        b.ok(&["LPUSH", "q", "b1"]);
        b.ok(&["RPUSH", "q", "b2"]);
        assert_eq!(a.ok(&["LPOP", "q"]), Reply::Bulk("j1".into()));
        assert_eq!(b.ok(&["LPOP", "q"]), Reply::Bulk("b1".into()));
        assert_eq!(b.ok(&["LPOP", "q"]), Reply::Bulk("j1".into()));
        a.pull(&b, 2);
        b.pull(&a, 1);
        let ra = items(a.ok(&["LRANGE", "q", "0", "-1"]));
        let rb = items(b.ok(&["LRANGE", "q", "0", "-1"]));
        assert_eq!(ra, rb);
        // j1 popped by both regions is gone once; everything else is kept.
        let mut sorted = ra.clone();
        sorted.sort();
        assert_eq!(sorted, ["a1", "a2", "b2", "j2", "j3"]);
        assert_eq!(&ra[..2], ["j2", "j3"]);
    }

    #[test]
    fn failing_and_noop_commands_ship_nothing() {
        let mut a = Region::new(1);
        a.ok(&["SET", "str", "x"]);
        a.ok(&["RPUSH", "l", "a"]);
        let n = a.op_count();
        for args in [
            &["LPUSH", "str", "a"][..],
            &["LSET", "l", "5", "x"],
            &["LSET", "nokey", "0", "x"],
            &["LMOVE", "l", "str", "LEFT", "LEFT"],
            &["LPOP", "l", "-1"],
            &["LINSERT", "l", "NEAR", "a", "b"],
        ] {
            assert!(a.run(args).is_err(), "{args:?}");
        }
        for args in [
            &["LPUSHX", "nokey", "a"][..],
            &["LPOP", "nokey"],
            &["LPOP", "l", "0"],
            &["LREM", "l", "0", "zz"],
            &["LTRIM", "l", "0", "-1"],
            &["LINSERT", "l", "BEFORE", "zz", "b"],
            &["LMOVE", "nokey", "l", "LEFT", "LEFT"],
            &["LMPOP", "1", "nokey", "LEFT"],
        ] {
            a.ok(args);
        }
        assert_eq!(a.op_count(), n, "nothing shipped");
        // LMOVE between two keys is one op.
        a.ok(&["LMOVE", "l", "l2", "LEFT", "LEFT"]);
        assert_eq!(a.op_count(), n + 1);
    }

    #[test]
    fn ranges_as_redis() {
        assert_eq!(range(0, -1, 3), Some((0, 2)));
        assert_eq!(range(-100, 100, 3), Some((0, 2)));
        assert_eq!(range(2, 1, 3), None);
        assert_eq!(range(3, 5, 3), None);
        assert_eq!(range(-1, -1, 3), Some((2, 2)));
        assert_eq!(range(0, 0, 0), None);
        assert_eq!(range(i64::MIN, i64::MAX, 2), Some((0, 1)));
        assert_eq!(index(-1, 3), Some(2));
        assert_eq!(index(3, 3), None);
        assert_eq!(index(i64::MIN, 3), None);
    }
}
