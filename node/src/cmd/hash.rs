//! Hash commands: HSET HSETNX HGET HMSET HMGET HDEL HLEN HSTRLEN HEXISTS HKEYS HVALS
//! HGETALL HINCRBY HINCRBYFLOAT HRANDFIELD HSCAN.
//!
//! A hash is an add-wins observed-remove map ([`ORHash`]) whose fields are LWW registers
//! combined with counters: HSET/HSETNX/HMSET write the register (replacing what the
//! region observed); HINCRBY/HINCRBYFLOAT add counter contributions, so concurrent
//! increments from different regions are summed; HDEL removes what it observed.
//!
//! HINCRBYFLOAT works on `f64` (Redis uses `long double`): its reply is the stored value
//! read back, and field values print exactly as string values do
//! ([`crate::store::str_value_bytes`]: 15 significant digits, plain decimal notation).

use std::collections::HashMap;

use bytes::Bytes;
use crdt::dotset::DotFun;
use crdt::hash::ORHash;
use crdt::key::Coll;
use crdt::string::StrValue;
use crdt::{CausalContext, Dot, Hlc, Kind, Value};

use super::args::{int, is, syntax_error, NOT_FLOAT};
use super::set::{carry_created, random_indexes, ranged_count};
use super::util::{bulk, get_kind, parse_ld, scan_opts, scan_reply, scan_step};
use super::{CmdResult, CommandSpec, Ctx, Flag, Group};
use crate::resp::{Protocol, Reply};
use crate::store::{Store, Write, WrongType};

const WDF: &[Flag] = &[Flag::Write, Flag::Denyoom, Flag::Fast];
const WF: &[Flag] = &[Flag::Write, Flag::Fast];
const R: &[Flag] = &[Flag::Readonly];
const RF: &[Flag] = &[Flag::Readonly, Flag::Fast];

macro_rules! spec {
    ($name:literal, $arity:expr, $f:ident, $flags:expr, $since:literal, $sum:literal, $cx:expr) => {
        CommandSpec::new($name, $arity, $f)
            .flags($flags)
            .keys(1, 1, 1)
            .group(Group::Hash)
            .since($since)
            .summary($sum)
            .complexity($cx)
    };
}

const SCAN_CX: &str = "O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection..";

/// Hash command family.
pub static COMMANDS: &[CommandSpec] = &[
    spec!("hset", -4, hset, WDF, "2.0.0", "Set the string value of a hash field", "O(1) for each field/value pair added, so O(N) to add N field/value pairs when the command is called with multiple field/value pairs."),
    spec!("hsetnx", 4, hsetnx, WDF, "2.0.0", "Set the value of a hash field, only if the field does not exist", "O(1)"),
    spec!("hget", 3, hget, RF, "2.0.0", "Get the value of a hash field", "O(1)"),
    spec!("hmset", -4, hmset, WDF, "2.0.0", "Set multiple hash fields to multiple values", "O(N) where N is the number of fields being set."),
    spec!("hmget", -3, hmget, RF, "2.0.0", "Get the values of all the given hash fields", "O(N) where N is the number of fields being requested."),
    spec!("hdel", -3, hdel, WF, "2.0.0", "Delete one or more hash fields", "O(N) where N is the number of fields to be removed."),
    spec!("hlen", 2, hlen, RF, "2.0.0", "Get the number of fields in a hash", "O(1)"),
    spec!("hstrlen", 3, hstrlen, RF, "3.2.0", "Get the length of the value of a hash field", "O(1)"),
    spec!("hexists", 3, hexists, RF, "2.0.0", "Determine if a hash field exists", "O(1)"),
    spec!("hkeys", 2, hkeys, R, "2.0.0", "Get all the fields in a hash", "O(N) where N is the size of the hash."),
    spec!("hvals", 2, hvals, R, "2.0.0", "Get all the values in a hash", "O(N) where N is the size of the hash."),
    spec!("hgetall", 2, hgetall, R, "2.0.0", "Get all the fields and values in a hash", "O(N) where N is the size of the hash."),
    spec!("hincrby", 4, hincrby, WDF, "2.0.0", "Increment the integer value of a hash field by the given number", "O(1)"),
    spec!("hincrbyfloat", 4, hincrbyfloat, WDF, "2.6.0", "Increment the float value of a hash field by the given amount", "O(1)"),
    spec!("hrandfield", -2, hrandfield, R, "6.2.0", "Get one or multiple random fields from a hash", "O(N) where N is the number of fields returned"),
    spec!("hscan", -3, hscan, R, "2.8.0", "Incrementally iterate hash fields and associated values", SCAN_CX),
];

// ---------------------------------------------------------------------------------------
// Reads and writes of one hash.

/// The hash stored at `key`, `Err(WRONGTYPE)` for another type.
fn read_hash<'s>(st: &'s Store, db: u8, key: &[u8]) -> Result<Option<&'s ORHash>, Reply> {
    Ok(match get_kind(st, db, key, Kind::Hash)? {
        Some(Value::Hash(c)) => Some(&c.data),
        _ => None,
    })
}

/// One write to the hash at `key` (creating it): `build(current, delta, dot, hlc, ctx)`
/// fills the delta, using the fresh `dot` for every entry it adds.
fn write_hash(
    w: &mut Write<'_>,
    key: &[u8],
    build: impl FnOnce(&ORHash, &mut ORHash, Dot, Hlc, &mut CausalContext),
) -> Result<(), WrongType> {
    let fresh = w.prepare(key, Kind::Hash)?;
    let (dot, hlc) = w.stamp();
    let creation = if fresh { Some(w.stamp()) } else { None };
    let empty = ORHash::default();
    let mut ctx = CausalContext::new();
    let mut delta = ORHash::default();
    let created = {
        let cur = match w.get(key) {
            Some(Value::Hash(c)) => Some(&**c),
            _ => None,
        };
        build(
            cur.map(|c| &c.data).unwrap_or(&empty),
            &mut delta,
            dot,
            hlc,
            &mut ctx,
        );
        cur.map(|c| c.created.clone())
    };
    let created = match created {
        Some(c) if !fresh => carry_created(w, c, &mut ctx),
        _ => DotFun::default(),
    };
    w.emit_coll(
        key,
        creation,
        Value::Hash(Box::new(Coll {
            created,
            data: delta,
        })),
        ctx,
    );
    Ok(())
}

/// HSET/HMSET: writes the field/value pairs in `args` (a later duplicate field wins, as
/// in Redis); returns how many fields were new.
fn set_fields(w: &mut Write<'_>, key: &[u8], args: &[Bytes]) -> Result<i64, WrongType> {
    // Last value per field, in first-seen order: one op never writes a field twice.
    let mut index: HashMap<&[u8], usize> = HashMap::new();
    let mut pairs: Vec<(&[u8], &[u8])> = Vec::with_capacity(args.len() / 2);
    if args.len() == 2 {
        pairs.push((&args[0], &args[1]));
    }
    for kv in args.chunks(2).filter(|_| args.len() > 2) {
        match index.get(&kv[0][..]) {
            Some(&i) => pairs[i].1 = &kv[1],
            None => {
                index.insert(&kv[0], pairs.len());
                pairs.push((&kv[0], &kv[1]));
            }
        }
    }
    let mut new = 0;
    write_hash(w, key, |cur, delta, dot, hlc, ctx| {
        for (f, v) in pairs {
            if cur.get(f).is_none() {
                new += 1;
            }
            cur.set_into(delta, f, dot, hlc, v.into(), ctx);
        }
    })?;
    Ok(new)
}

/// The bytes a reader sees for a field value: formatted as string values are (integers
/// as integers, HINCRBYFLOAT results in plain decimal).
fn show(v: StrValue<'_>) -> std::borrow::Cow<'_, [u8]> {
    crate::store::str_value_bytes(&v)
}

fn wrong_args(cmd: &str) -> Reply {
    Reply::err(format!("wrong number of arguments for '{cmd}' command"))
}

// ---------------------------------------------------------------------------------------
// Commands.

fn hset(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    if args.len() % 2 != 0 {
        return Err(wrong_args("hset"));
    }
    let db = ctx.db();
    let mut st = ctx.store();
    let mut w = st.write(db);
    Ok(Reply::Integer(set_fields(&mut w, &args[1], &args[2..])?))
}

fn hmset(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    if args.len() % 2 != 0 {
        return Err(wrong_args("hmset"));
    }
    let db = ctx.db();
    let mut st = ctx.store();
    let mut w = st.write(db);
    set_fields(&mut w, &args[1], &args[2..])?;
    Ok(Reply::ok())
}

fn hsetnx(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let db = ctx.db();
    let mut st = ctx.store();
    if read_hash(&st, db, &args[1])?.is_some_and(|h| h.get(&args[2]).is_some()) {
        return Ok(Reply::Integer(0));
    }
    let mut w = st.write(db);
    set_fields(&mut w, &args[1], &args[2..4])?;
    Ok(Reply::Integer(1))
}

fn hget(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let st = ctx.store();
    let h = read_hash(&st, ctx.db(), &args[1])?;
    Ok(h.and_then(|h| h.get(&args[2]))
        .map_or(Reply::Null, |v| bulk(&show(v))))
}

fn hmget(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let st = ctx.store();
    let h = read_hash(&st, ctx.db(), &args[1])?;
    Ok(Reply::Array(
        args[2..]
            .iter()
            .map(|f| {
                h.and_then(|h| h.get(f))
                    .map_or(Reply::Null, |v| bulk(&show(v)))
            })
            .collect(),
    ))
}

fn hdel(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let db = ctx.db();
    let mut st = ctx.store();
    if read_hash(&st, db, &args[1])?.is_none() {
        return Ok(Reply::Integer(0));
    }
    let key = &args[1];
    let mut w = st.write(db);
    let mut dctx = CausalContext::new();
    let mut delta = ORHash::default();
    let mut removed = 0;
    let created = match w.get(key) {
        Some(Value::Hash(c)) => {
            for f in &args[2..] {
                // The delta already holds the fields removed earlier in this command.
                if c.data.get(f).is_some() && delta.field(f).is_none() {
                    removed += 1;
                    c.data.del_into(&mut delta, f, &mut dctx);
                }
            }
            c.created.clone()
        }
        _ => return Ok(Reply::Integer(0)),
    };
    if removed > 0 {
        let created = carry_created(&mut w, created, &mut dctx);
        w.emit_coll(
            key,
            None,
            Value::Hash(Box::new(Coll {
                created,
                data: delta,
            })),
            dctx,
        );
        if w.get(key).is_none() {
            w.delete_raw(key);
        }
    }
    Ok(Reply::Integer(removed))
}

fn hlen(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let st = ctx.store();
    let n = read_hash(&st, ctx.db(), &args[1])?.map_or(0, |h| h.len());
    Ok(Reply::Integer(n as i64))
}

fn hstrlen(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let st = ctx.store();
    let h = read_hash(&st, ctx.db(), &args[1])?;
    let n = h.and_then(|h| h.get(&args[2])).map_or(0, |v| show(v).len());
    Ok(Reply::Integer(n as i64))
}

fn hexists(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let st = ctx.store();
    let h = read_hash(&st, ctx.db(), &args[1])?;
    Ok(Reply::Integer(
        h.is_some_and(|h| h.get(&args[2]).is_some()) as i64
    ))
}

fn hkeys(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let st = ctx.store();
    let h = read_hash(&st, ctx.db(), &args[1])?;
    Ok(Reply::Array(
        h.map(|h| h.iter().map(|(f, _)| bulk(f)).collect())
            .unwrap_or_default(),
    ))
}

fn hvals(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let st = ctx.store();
    let h = read_hash(&st, ctx.db(), &args[1])?;
    Ok(Reply::Array(
        h.map(|h| h.iter().map(|(_, v)| bulk(&show(v))).collect())
            .unwrap_or_default(),
    ))
}

fn hgetall(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let st = ctx.store();
    let h = read_hash(&st, ctx.db(), &args[1])?;
    Ok(Reply::Map(
        h.map(|h| h.iter().map(|(f, v)| (bulk(f), bulk(&show(v)))).collect())
            .unwrap_or_default(),
    ))
}

/// The current value of a hash field as bytes (for the HINCRBY family).
fn field_bytes(st: &Store, db: u8, key: &[u8], f: &[u8]) -> Result<Option<Vec<u8>>, Reply> {
    Ok(read_hash(st, db, key)?
        .and_then(|h| h.get(f))
        .map(|v| show(v).into_owned()))
}

fn hincrby(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let by = int(&args[3])?;
    let db = ctx.db();
    let mut st = ctx.store();
    let cur = match field_bytes(&st, db, &args[1], &args[2])? {
        Some(v) => {
            crate::resp::parse_i64(&v).ok_or_else(|| Reply::err("hash value is not an integer"))?
        }
        None => 0,
    };
    let new = cur
        .checked_add(by)
        .ok_or_else(|| Reply::err("increment or decrement would overflow"))?;
    let mut w = st.write(db);
    let f = &args[2][..];
    write_hash(&mut w, &args[1], |cur, delta, dot, _, ctx| {
        cur.incr_into(delta, f, dot, by, 0.0, ctx)
    })?;
    Ok(Reply::Integer(new))
}

fn hincrbyfloat(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    // As Redis: the increment is checked first, then the stored value.
    let by = parse_ld(&args[3]).ok_or_else(|| Reply::err(NOT_FLOAT))?;
    if by.is_infinite() {
        return Err(Reply::err("value is NaN or Infinity"));
    }
    let db = ctx.db();
    let mut st = ctx.store();
    let (cur, canonical) = match field_bytes(&st, db, &args[1], &args[2])? {
        Some(v) => (
            parse_ld(&v).ok_or_else(|| Reply::err("hash value is not a float"))?,
            crdt::string::parse_f64(&v).is_some(),
        ),
        None => (0.0, true),
    };
    if !(cur + by).is_finite() {
        return Err(Reply::err("increment would produce NaN or Infinity"));
    }
    let mut w = st.write(db);
    let f = &args[2][..];
    if !canonical {
        // A number only Redis' strtold reads (hex notation): rewrite it in decimal so the
        // counter can add to it (as the string family's INCRBYFLOAT does).
        let dec: crdt::Bytes = crate::store::format_ld(cur).into_bytes().into();
        write_hash(&mut w, &args[1], |cur, delta, dot, hlc, ctx| {
            cur.set_into(delta, f, dot, hlc, dec, ctx)
        })?;
    }
    write_hash(&mut w, &args[1], |cur, delta, dot, _, ctx| {
        cur.incr_into(delta, f, dot, 0, by, ctx)
    })?;
    drop(w);
    let v = field_bytes(&st, db, &args[1], &args[2])?.unwrap_or_default();
    Ok(Reply::Bulk(Bytes::from(v)))
}

fn hrandfield(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let mut count = None;
    let mut withvalues = false;
    if args.len() >= 3 {
        let l = ranged_count(&args[2])?;
        if args.len() > 4 || (args.len() == 4 && !is(&args[3], "withvalues")) {
            return Err(syntax_error());
        }
        if args.len() == 4 {
            withvalues = true;
            if !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&l) {
                return Err(Reply::err("value is out of range"));
            }
        }
        count = Some(l);
    }
    let resp3 = ctx.client.protocol() == Protocol::Resp3;
    let st = ctx.store();
    let h = read_hash(&st, ctx.db(), &args[1])?;
    let Some(count) = count else {
        let mut rng = rand::thread_rng();
        use rand::seq::IteratorRandom;
        return Ok(h
            .and_then(|h| h.iter().choose(&mut rng))
            .map_or(Reply::Null, |(f, _)| bulk(f)));
    };
    let h = match h {
        Some(h) if count != 0 => h,
        _ => return Ok(Reply::Array(Vec::new())),
    };
    let entries: Vec<(&crdt::Bytes, StrValue<'_>)> = h.iter().collect();
    let idx = random_indexes(entries.len(), count)?;
    // One buffer per distinct entry, shared by its repetitions.
    let shared: Vec<(Bytes, Bytes)> = entries
        .iter()
        .map(|(f, v)| {
            (
                Bytes::copy_from_slice(f),
                if withvalues {
                    Bytes::copy_from_slice(&show(v.clone()))
                } else {
                    Bytes::new()
                },
            )
        })
        .collect();
    let mut out = Vec::with_capacity(idx.len() * if withvalues && !resp3 { 2 } else { 1 });
    for i in idx {
        let (f, v) = &shared[i];
        let f = Reply::Bulk(f.clone());
        if !withvalues {
            out.push(f);
        } else if resp3 {
            out.push(Reply::Array(vec![f, Reply::Bulk(v.clone())]));
        } else {
            out.push(f);
            out.push(Reply::Bulk(v.clone()));
        }
    }
    Ok(Reply::Array(out))
}

fn hscan(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let o = scan_opts(&args[2..], false, true)?;
    let st = ctx.store();
    let Some(h) = read_hash(&st, ctx.db(), &args[1])? else {
        return Ok(scan_reply(0, Vec::new()));
    };
    let (next, items) = scan_step(h.iter().map(|(f, v)| (&f[..], v)), &o);
    let mut out = Vec::with_capacity(items.len() * 2);
    for (f, v) in items {
        out.push(bulk(f));
        if !o.novalues {
            out.push(bulk(&show(v)));
        }
    }
    Ok(scan_reply(next, out))
}

#[cfg(test)]
mod tests {
    use super::super::set::tests::{sorted, Region};
    use crate::resp::Reply;

    fn bulk(s: &str) -> Reply {
        Reply::Bulk(bytes::Bytes::from(s.to_string()))
    }

    #[test]
    fn failing_and_noop_commands_ship_nothing() {
        let mut a = Region::new(1);
        a.ok(&["SET", "str", "x"]);
        a.ok(&[
            "HSET",
            "h",
            "n",
            "1",
            "s",
            "abc",
            "big",
            "9223372036854775807",
        ]);
        let n = a.op_count();
        for args in [
            &["HSET", "str", "f", "v"][..],
            &["HSET", "h", "f"],
            &["HINCRBY", "h", "s", "1"],
            &["HINCRBY", "h", "big", "1"],
            &["HINCRBY", "h", "n", "x"],
            &["HINCRBYFLOAT", "h", "s", "1"],
            &["HINCRBYFLOAT", "h", "n", "inf"],
            &["HINCRBYFLOAT", "new", "n", "nan"],
            &["HDEL", "str", "f"],
        ] {
            assert!(a.run(args).is_err(), "{args:?}");
        }
        for args in [
            &["HSETNX", "h", "n", "2"][..],
            &["HDEL", "h", "zz"],
            &["HDEL", "nope", "zz"],
            &["HGETALL", "h"],
            &["HRANDFIELD", "h", "-5", "WITHVALUES"],
            &["HSCAN", "h", "0"],
        ] {
            a.ok(args);
        }
        assert_eq!(a.op_count(), n, "nothing shipped");
        assert_eq!(a.ok(&["EXISTS", "new"]), Reply::Integer(0));
    }

    #[test]
    fn concurrent_increments_are_summed() {
        let (mut a, mut b) = (Region::new(1), Region::new(2));
        a.ok(&["HSET", "h", "n", "10"]);
        b.pull(&a, 1);
        assert_eq!(a.ok(&["HINCRBY", "h", "n", "5"]), Reply::Integer(15));
        assert_eq!(b.ok(&["HINCRBY", "h", "n", "3"]), Reply::Integer(13));
        assert_eq!(b.ok(&["HINCRBYFLOAT", "h", "f", "0.5"]), bulk("0.5"));
        assert_eq!(a.ok(&["HINCRBYFLOAT", "h", "f", "1.25"]), bulk("1.25"));
        a.pull(&b, 2);
        b.pull(&a, 1);
        for r in [&mut a, &mut b] {
            assert_eq!(r.ok(&["HGET", "h", "n"]), bulk("18"));
            assert_eq!(r.ok(&["HGET", "h", "f"]), bulk("1.75"));
        }
        // HSET replaces what it observed; an increment it did not observe stays on top.
        a.ok(&["HSET", "h", "n", "100"]);
        b.ok(&["HINCRBY", "h", "n", "1"]);
        a.pull(&b, 2);
        b.pull(&a, 1);
        for r in [&mut a, &mut b] {
            assert_eq!(r.ok(&["HGET", "h", "n"]), bulk("101"));
        }
    }

    #[test]
    fn field_adds_win_over_concurrent_deletes() {
        let (mut a, mut b) = (Region::new(1), Region::new(2));
        a.ok(&["HSET", "h", "x", "1", "y", "2"]);
        b.pull(&a, 1);
        a.ok(&["HDEL", "h", "x", "y"]);
        assert_eq!(a.ok(&["EXISTS", "h"]), Reply::Integer(0));
        b.ok(&["HSET", "h", "x", "new"]);
        a.pull(&b, 2);
        b.pull(&a, 1);
        for r in [&mut a, &mut b] {
            assert_eq!(sorted(r.ok(&["HKEYS", "h"])), ["x"]);
            assert_eq!(r.ok(&["HGET", "h", "x"]), bulk("new"));
        }
    }
}
