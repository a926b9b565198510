//! String commands: GET SET SETNX SETEX PSETEX GETSET GETDEL GETEX MGET MSET MSETNX
//! APPEND STRLEN GETRANGE SETRANGE INCR INCRBY DECR DECRBY INCRBYFLOAT SETBIT GETBIT
//! BITCOUNT BITPOS BITOP.
//!
//! Whole-value writes (SET, APPEND, SETRANGE, SETBIT, ...) are last-writer-wins register
//! writes; the INCR family adds counter contributions that are summed across regions.

use bytes::Bytes;

use super::args::{int, is, syntax_error, NOT_FLOAT, NOT_INTEGER};
use super::util::{bulk, expire_arg, invalid_expire, owned, parse_ld, read_str};
use super::{CmdResult, CommandSpec, Ctx, Flag, Group};
use crate::resp::Reply;

/// Largest string value (Redis' proto-max-bulk-len default).
const MAX_STRING: usize = 512 * 1024 * 1024;

const W: &[Flag] = &[Flag::Write, Flag::Denyoom];
const WF: &[Flag] = &[Flag::Write, Flag::Denyoom, Flag::Fast];
const R: &[Flag] = &[Flag::Readonly];
const RF: &[Flag] = &[Flag::Readonly, Flag::Fast];

macro_rules! spec {
    ($name:literal, $arity:expr, $f:ident, $flags:expr, $k:expr, $sum:literal) => {
        CommandSpec::new($name, $arity, $f)
            .flags($flags)
            .keys($k.0, $k.1, $k.2)
            .group(Group::String)
            .summary($sum)
    };
}

/// String command family.
pub static COMMANDS: &[CommandSpec] = &[
    spec!(
        "get",
        2,
        get,
        RF,
        (1, 1, 1),
        "Returns the string value of a key."
    ),
    spec!(
        "set",
        -3,
        set,
        W,
        (1, 1, 1),
        "Sets the string value of a key, ignoring its type."
    ),
    spec!(
        "setnx",
        3,
        setnx,
        WF,
        (1, 1, 1),
        "Set the string value of a key only when the key doesn't exist."
    ),
    spec!(
        "setex",
        4,
        setex,
        W,
        (1, 1, 1),
        "Sets the string value and expiration time of a key."
    ),
    spec!(
        "psetex",
        4,
        psetex,
        W,
        (1, 1, 1),
        "Sets both string value and expiration time in milliseconds of a key."
    ),
    spec!(
        "getset",
        3,
        getset,
        WF,
        (1, 1, 1),
        "Returns the previous string value of a key after setting it to a new value."
    ),
    spec!(
        "getdel",
        2,
        getdel,
        WF,
        (1, 1, 1),
        "Returns the string value of a key after deleting the key."
    ),
    spec!(
        "getex",
        -2,
        getex,
        WF,
        (1, 1, 1),
        "Returns the string value of a key after setting its expiration time."
    ),
    spec!(
        "mget",
        -2,
        mget,
        RF,
        (1, -1, 1),
        "Atomically returns the string values of one or more keys."
    ),
    spec!(
        "mset",
        -3,
        mset,
        W,
        (1, -1, 2),
        "Atomically creates or modifies the string values of one or more keys."
    ),
    spec!(
        "msetnx",
        -3,
        msetnx,
        W,
        (1, -1, 2),
        "Atomically modifies the string values of one or more keys only when all keys don't exist."
    ),
    spec!(
        "append",
        3,
        append,
        WF,
        (1, 1, 1),
        "Appends a string to the value of a key. Creates the key if it doesn't exist."
    ),
    spec!(
        "strlen",
        2,
        strlen,
        RF,
        (1, 1, 1),
        "Returns the length of a string value."
    ),
    spec!(
        "getrange",
        4,
        getrange,
        R,
        (1, 1, 1),
        "Returns a substring of the string stored at a key."
    ),
    spec!(
        "substr",
        4,
        getrange,
        R,
        (1, 1, 1),
        "Returns a substring from a string value."
    ),
    spec!(
        "setrange",
        4,
        setrange,
        W,
        (1, 1, 1),
        "Overwrites a part of a string value with another by an offset."
    ),
    spec!(
        "incr",
        2,
        incr,
        WF,
        (1, 1, 1),
        "Increments the integer value of a key by one."
    ),
    spec!(
        "incrby",
        3,
        incrby,
        WF,
        (1, 1, 1),
        "Increments the integer value of a key by a number."
    ),
    spec!(
        "decr",
        2,
        decr,
        WF,
        (1, 1, 1),
        "Decrements the integer value of a key by one."
    ),
    spec!(
        "decrby",
        3,
        decrby,
        WF,
        (1, 1, 1),
        "Decrements a number from the integer value of a key."
    ),
    spec!(
        "incrbyfloat",
        3,
        incrbyfloat,
        WF,
        (1, 1, 1),
        "Increment the floating point value of a key by a number."
    ),
    spec!(
        "setbit",
        4,
        setbit,
        W,
        (1, 1, 1),
        "Sets or clears the bit at offset of the string value."
    ),
    spec!(
        "getbit",
        3,
        getbit,
        RF,
        (1, 1, 1),
        "Returns a bit value by offset."
    ),
    spec!(
        "bitcount",
        -2,
        bitcount,
        R,
        (1, 1, 1),
        "Counts the number of set bits (population counting) in a string."
    ),
    spec!(
        "bitpos",
        -3,
        bitpos,
        R,
        (1, 1, 1),
        "Finds the first set (1) or clear (0) bit in a string."
    ),
    spec!(
        "bitop",
        -4,
        bitop,
        W,
        (2, -1, 1),
        "Performs bitwise operations on multiple strings, and stores the result."
    ),
];

fn get(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let st = ctx.store();
    Ok(match read_str(&st, ctx.db(), &args[1])? {
        Some(v) => bulk(&v),
        None => Reply::Null,
    })
}

/// Options of SET / GETEX, parsed as Redis' `parseExtendedStringArgumentsOrReply`: an
/// option may repeat (the last expire value wins), conflicting options are a syntax
/// error, and the expire value is validated only after every option parsed.
#[derive(Default)]
struct ExtArgs {
    nx: bool,
    xx: bool,
    get: bool,
    keepttl: bool,
    persist: bool,
    /// (index of the value argument, unit in ms, absolute)
    expire: Option<(usize, i64, bool)>,
}

fn parse_ext(args: &[Bytes], is_set: bool) -> Result<ExtArgs, Reply> {
    let mut o = ExtArgs::default();
    // Which of EX PX EXAT PXAT was given (0..4).
    let mut unit: Option<usize> = None;
    let mut i = if is_set { 3 } else { 2 };
    while i < args.len() {
        let a = &args[i];
        let has_next = i + 1 < args.len();
        let other_unit = |u: usize| unit.is_some_and(|x| x != u);
        if is_set && is(a, "nx") && !o.xx {
            o.nx = true;
        } else if is_set && is(a, "xx") && !o.nx {
            o.xx = true;
        } else if is_set && is(a, "get") {
            o.get = true;
        } else if is_set && is(a, "keepttl") && !o.persist && unit.is_none() {
            o.keepttl = true;
        } else if !is_set && is(a, "persist") && unit.is_none() && !o.keepttl {
            o.persist = true;
        } else if let Some(u) = ["ex", "px", "exat", "pxat"].iter().position(|w| is(a, w)) {
            if o.keepttl || o.persist || other_unit(u) || !has_next {
                return Err(syntax_error());
            }
            unit = Some(u);
            let ms = if u % 2 == 0 { 1000 } else { 1 };
            o.expire = Some((i + 1, ms, u >= 2));
            i += 1;
        } else {
            return Err(syntax_error());
        }
        i += 1;
    }
    Ok(o)
}

/// Redis' `getExpireMillisecondsOrReply`: the absolute expiry in Unix ms of a SET/GETEX
/// expire argument (strictly positive; relative ones are added to `now`).
fn expire_ms(arg: &[u8], unit: i64, absolute: bool, now: u64, cmd: &str) -> Result<i64, Reply> {
    let v = int(arg)?;
    if v <= 0 || (unit == 1000 && v > i64::MAX / 1000) {
        return Err(invalid_expire(cmd));
    }
    let ms = v * unit;
    let ms = if absolute {
        ms
    } else {
        ms.checked_add(now as i64)
            .ok_or_else(|| invalid_expire(cmd))?
    };
    if ms <= 0 {
        return Err(invalid_expire(cmd));
    }
    Ok(ms)
}

fn set(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let o = parse_ext(args, true)?;
    let db = ctx.db();
    let mut st = ctx.store();
    let now = st.now_ms();
    let at = match o.expire {
        Some((i, unit, abs)) => Some(expire_ms(&args[i], unit, abs, now, "set")?),
        None => None,
    };
    let key = &args[1];
    // With GET the old value is the reply, and a key of another type is WRONGTYPE
    // before anything else is decided.
    let old = if o.get {
        Some(read_str(&st, db, key)?.map(|v| v.into_owned()))
    } else {
        None
    };
    let exists = st.get(db, key).is_some();
    let reply_old = |old: Option<Option<Vec<u8>>>| match old {
        Some(Some(v)) => Reply::Bulk(Bytes::from(v)),
        Some(None) => Reply::Null,
        None => Reply::ok(),
    };
    if (o.nx && exists) || (o.xx && !exists) {
        return Ok(match old {
            Some(_) => reply_old(old),
            None => Reply::Null,
        });
    }
    let mut w = st.write(db);
    w.put_string(key, owned(&args[2]), o.keepttl);
    if let Some(at) = at {
        w.expire_at(key, at as u64);
    }
    Ok(reply_old(old))
}

fn setnx(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let db = ctx.db();
    let mut st = ctx.store();
    if st.get(db, &args[1]).is_some() {
        return Ok(Reply::Integer(0));
    }
    st.write(db).put_string(&args[1], owned(&args[2]), false);
    Ok(Reply::Integer(1))
}

fn setex_common(ctx: &mut Ctx<'_>, args: &[Bytes], unit: i64, cmd: &str) -> CmdResult {
    let db = ctx.db();
    let mut st = ctx.store();
    let now = st.now_ms();
    let v = int(&args[2])?;
    if v <= 0 {
        return Err(invalid_expire(cmd));
    }
    let at = expire_arg(&args[2], unit, false, now, cmd)?;
    let mut w = st.write(db);
    w.put_string(&args[1], owned(&args[3]), false);
    w.expire_at(&args[1], at as u64);
    Ok(Reply::ok())
}

fn setex(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    setex_common(ctx, args, 1000, "setex")
}

fn psetex(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    setex_common(ctx, args, 1, "psetex")
}

fn getset(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let db = ctx.db();
    let mut st = ctx.store();
    let old = read_str(&st, db, &args[1])?.map(|v| v.into_owned());
    st.write(db).put_string(&args[1], owned(&args[2]), false);
    Ok(old
        .map(|v| Reply::Bulk(Bytes::from(v)))
        .unwrap_or(Reply::Null))
}

fn getdel(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let db = ctx.db();
    let mut st = ctx.store();
    let old = read_str(&st, db, &args[1])?.map(|v| v.into_owned());
    if old.is_some() {
        st.write(db).delete_raw(&args[1]);
    }
    Ok(old
        .map(|v| Reply::Bulk(Bytes::from(v)))
        .unwrap_or(Reply::Null))
}

fn getex(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let o = parse_ext(args, false)?;
    let db = ctx.db();
    let mut st = ctx.store();
    let now = st.now_ms();
    let old = match read_str(&st, db, &args[1])? {
        Some(v) => v.into_owned(),
        None => return Ok(Reply::Null),
    };
    let at = match o.expire {
        Some((i, unit, abs)) => Some(expire_ms(&args[i], unit, abs, now, "getex")?),
        None => None,
    };
    if let Some(at) = at {
        // A time in the past deletes the key (Redis: only reachable with EXAT/PXAT).
        st.write(db).expire_at(&args[1], at as u64);
    } else if o.persist {
        st.write(db).persist(&args[1]);
    }
    Ok(Reply::Bulk(Bytes::from(old)))
}

fn mget(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let db = ctx.db();
    let st = ctx.store();
    let out = args[1..]
        .iter()
        .map(|k| match read_str(&st, db, k) {
            Ok(Some(v)) => bulk(&v),
            _ => Reply::Null,
        })
        .collect();
    Ok(Reply::Array(out))
}

fn mset(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    if args.len() % 2 != 1 {
        return Err(Reply::err("wrong number of arguments for 'mset' command"));
    }
    let db = ctx.db();
    let mut st = ctx.store();
    let mut w = st.write(db);
    for kv in args[1..].chunks(2) {
        w.put_string(&kv[0], owned(&kv[1]), false);
    }
    Ok(Reply::ok())
}

fn msetnx(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    if args.len() % 2 != 1 {
        return Err(Reply::err("wrong number of arguments for 'msetnx' command"));
    }
    let db = ctx.db();
    let mut st = ctx.store();
    if args[1..].chunks(2).any(|kv| st.get(db, &kv[0]).is_some()) {
        return Ok(Reply::Integer(0));
    }
    let mut w = st.write(db);
    for kv in args[1..].chunks(2) {
        w.put_string(&kv[0], owned(&kv[1]), false);
    }
    Ok(Reply::Integer(1))
}

fn append(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let db = ctx.db();
    let mut st = ctx.store();
    let mut v = read_str(&st, db, &args[1])?
        .map(|v| v.into_owned())
        .unwrap_or_default();
    if v.len() + args[2].len() > MAX_STRING {
        return Err(Reply::err(
            "string exceeds maximum allowed size (proto-max-bulk-len)",
        ));
    }
    v.extend_from_slice(&args[2]);
    let n = v.len();
    st.write(db)
        .put_string(&args[1], v.into_boxed_slice(), true);
    Ok(Reply::Integer(n as i64))
}

fn strlen(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let st = ctx.store();
    Ok(Reply::Integer(
        read_str(&st, ctx.db(), &args[1])?
            .map(|v| v.len())
            .unwrap_or(0) as i64,
    ))
}

/// Redis' start/end normalisation for GETRANGE/BITCOUNT/BITPOS (inclusive end).
fn range(start: i64, end: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let mut s = if start < 0 { len + start } else { start };
    let mut e = if end < 0 { len + end } else { end };
    if s < 0 {
        s = 0;
    }
    if e < 0 {
        e = 0;
    }
    if e >= len {
        e = len - 1;
    }
    if s > e || len == 0 {
        None
    } else {
        Some((s as usize, e as usize))
    }
}

fn getrange(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let (s, e) = (int(&args[2])?, int(&args[3])?);
    let st = ctx.store();
    let v = read_str(&st, ctx.db(), &args[1])?.unwrap_or_default();
    if s < 0 && e < 0 && s > e {
        return Ok(Reply::bulk(Bytes::new()));
    }
    Ok(match range(s, e, v.len()) {
        Some((s, e)) => bulk(&v[s..=e]),
        None => Reply::bulk(Bytes::new()),
    })
}

fn setrange(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let off = int(&args[2])?;
    if off < 0 {
        return Err(Reply::err("offset is out of range"));
    }
    let off = off as usize;
    let db = ctx.db();
    let mut st = ctx.store();
    let cur = read_str(&st, db, &args[1])?.map(|v| v.into_owned());
    let val = &args[3];
    if val.is_empty() {
        return Ok(Reply::Integer(cur.map(|v| v.len()).unwrap_or(0) as i64));
    }
    if off + val.len() > MAX_STRING {
        return Err(Reply::err(
            "string exceeds maximum allowed size (proto-max-bulk-len)",
        ));
    }
    let mut v = cur.unwrap_or_default();
    if v.len() < off + val.len() {
        v.resize(off + val.len(), 0);
    }
    v[off..off + val.len()].copy_from_slice(val);
    let n = v.len();
    st.write(db)
        .put_string(&args[1], v.into_boxed_slice(), true);
    Ok(Reply::Integer(n as i64))
}

fn incr_by(ctx: &mut Ctx<'_>, key: &Bytes, by: i64) -> CmdResult {
    let db = ctx.db();
    let mut st = ctx.store();
    let cur = match read_str(&st, db, key)? {
        Some(v) => crdt::string::parse_i64(&v).ok_or_else(|| Reply::err(NOT_INTEGER))?,
        None => 0,
    };
    let new = cur
        .checked_add(by)
        .ok_or_else(|| Reply::err("increment or decrement would overflow"))?;
    st.write(db).incr_string(key, by, 0.0)?;
    Ok(Reply::Integer(new))
}

fn incr(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    incr_by(ctx, &args[1], 1)
}

fn decr(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    incr_by(ctx, &args[1], -1)
}

fn incrby(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let by = int(&args[2])?;
    incr_by(ctx, &args[1], by)
}

fn decrby(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let by = int(&args[2])?;
    if by == i64::MIN {
        return Err(Reply::err("decrement would overflow"));
    }
    incr_by(ctx, &args[1], -by)
}

fn incrbyfloat(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let db = ctx.db();
    let mut st = ctx.store();
    // As Redis: the stored value is checked (type, then number) before the increment.
    let (cur, canonical) = match read_str(&st, db, &args[1])? {
        Some(v) => (
            parse_ld(&v).ok_or_else(|| Reply::err(NOT_FLOAT))?,
            crdt::string::parse_f64(&v).is_some(),
        ),
        None => (0.0, true),
    };
    let by = parse_ld(&args[2]).ok_or_else(|| Reply::err(NOT_FLOAT))?;
    let new = cur + by;
    if !new.is_finite() {
        return Err(Reply::err("increment would produce NaN or Infinity"));
    }
    let mut w = st.write(db);
    if !canonical {
        // A number only Redis' strtold reads (hex notation): rewrite it in decimal so the
        // counter can add to it.
        let dec = crate::store::format_ld(cur).into_bytes().into_boxed_slice();
        w.put_string(&args[1], dec, true);
    }
    w.incr_string(&args[1], 0, by)?;
    drop(w);
    let v = read_str(&st, db, &args[1])?
        .map(|v| v.into_owned())
        .unwrap_or_default();
    Ok(Reply::Bulk(Bytes::from(v)))
}

fn bit_offset(arg: &[u8]) -> Result<usize, Reply> {
    match crate::resp::parse_i64(arg) {
        Some(v) if (0..(MAX_STRING as i64) * 8).contains(&v) => Ok(v as usize),
        _ => Err(Reply::err("bit offset is not an integer or out of range")),
    }
}

fn setbit(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let off = bit_offset(&args[2])?;
    let on = match &args[3][..] {
        b"1" => true,
        b"0" => false,
        _ => return Err(Reply::err("bit is not an integer or out of range")),
    };
    let db = ctx.db();
    let mut st = ctx.store();
    let mut v = read_str(&st, db, &args[1])?
        .map(|v| v.into_owned())
        .unwrap_or_default();
    let byte = off / 8;
    if v.len() <= byte {
        v.resize(byte + 1, 0);
    }
    let mask = 0x80u8 >> (off % 8);
    let old = v[byte] & mask != 0;
    if on {
        v[byte] |= mask
    } else {
        v[byte] &= !mask
    }
    st.write(db)
        .put_string(&args[1], v.into_boxed_slice(), true);
    Ok(Reply::Integer(old as i64))
}

fn getbit(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let off = bit_offset(&args[2])?;
    let st = ctx.store();
    let v = read_str(&st, ctx.db(), &args[1])?.unwrap_or_default();
    let byte = off / 8;
    let bit = v
        .get(byte)
        .map(|b| b & (0x80 >> (off % 8)) != 0)
        .unwrap_or(false);
    Ok(Reply::Integer(bit as i64))
}

/// Parses `[start end [BYTE|BIT]]` at `args[i..]` in Redis 7.2's order (start, end, then
/// the unit); returns (start, end, bit_mode).
fn range_args(args: &[Bytes], i: usize) -> Result<Option<(i64, i64, bool)>, Reply> {
    match args.len() - i {
        0 => Ok(None),
        2 | 3 => {
            let (s, e) = (int(&args[i])?, int(&args[i + 1])?);
            let bit = match args.get(i + 2) {
                None => false,
                Some(u) => unit_arg(u)?,
            };
            Ok(Some((s, e, bit)))
        }
        _ => Err(syntax_error()),
    }
}

/// `BIT` (true) or `BYTE` (false), else a syntax error.
fn unit_arg(u: &[u8]) -> Result<bool, Reply> {
    if is(u, "bit") {
        Ok(true)
    } else if is(u, "byte") {
        Ok(false)
    } else {
        Err(syntax_error())
    }
}

fn bit_at(v: &[u8], i: usize) -> bool {
    v[i / 8] & (0x80 >> (i % 8)) != 0
}

fn bitcount(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let r = range_args(args, 2)?;
    let st = ctx.store();
    let v = read_str(&st, ctx.db(), &args[1])?.unwrap_or_default();
    let n = match r {
        None => v.iter().map(|b| b.count_ones() as i64).sum(),
        Some((s, e, false)) => match range(s, e, v.len()) {
            Some((s, e)) => v[s..=e].iter().map(|b| b.count_ones() as i64).sum(),
            None => 0,
        },
        Some((s, e, true)) => match range(s, e, v.len() * 8) {
            Some((s, e)) => (s..=e).filter(|&i| bit_at(&v, i)).count() as i64,
            None => 0,
        },
    };
    Ok(Reply::Integer(n))
}

fn bitpos(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let want = match int(&args[2])? {
        1 => true,
        0 => false,
        _ => return Err(Reply::err("The bit argument must be 1 or 0.")),
    };
    if args.len() > 6 {
        return Err(syntax_error());
    }
    let start = match args.get(3) {
        Some(a) => int(a)?,
        None => 0,
    };
    let bit = match args.get(5) {
        Some(u) => unit_arg(u)?,
        None => false,
    };
    let (end, end_given) = match args.get(4) {
        Some(a) => (int(a)?, true),
        None => (-1, false),
    };
    let st = ctx.store();
    let v = match read_str(&st, ctx.db(), &args[1])? {
        Some(v) => v,
        None => return Ok(Reply::Integer(if want { -1 } else { 0 })),
    };
    let (lo, hi) = if bit {
        match range(start, end, v.len() * 8) {
            Some(r) => r,
            None => return Ok(Reply::Integer(-1)),
        }
    } else {
        match range(start, end, v.len()) {
            Some((s, e)) => (s * 8, e * 8 + 7),
            None => return Ok(Reply::Integer(-1)),
        }
    };
    for i in lo..=hi {
        if bit_at(&v, i) == want {
            return Ok(Reply::Integer(i as i64));
        }
    }
    // Looking for a clear bit past the end of the string without an explicit end: the
    // string is considered padded with zeros on the right.
    if !want && !end_given {
        return Ok(Reply::Integer((hi + 1) as i64));
    }
    Ok(Reply::Integer(-1))
}

fn bitop(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let op = &args[1];
    let is_not = is(op, "not");
    if !(is_not || is(op, "and") || is(op, "or") || is(op, "xor")) {
        return Err(syntax_error());
    }
    if is_not && args.len() != 4 {
        return Err(Reply::err(
            "BITOP NOT must be called with a single source key.",
        ));
    }
    let db = ctx.db();
    let mut st = ctx.store();
    let mut srcs = Vec::new();
    for k in &args[3..] {
        srcs.push(
            read_str(&st, db, k)?
                .map(|v| v.into_owned())
                .unwrap_or_default(),
        );
    }
    let len = srcs.iter().map(|s| s.len()).max().unwrap_or(0);
    let mut out = vec![0u8; len];
    for (i, o) in out.iter_mut().enumerate() {
        let byte = |s: &Vec<u8>| s.get(i).copied().unwrap_or(0);
        *o = if is_not {
            !byte(&srcs[0])
        } else {
            let mut acc = byte(&srcs[0]);
            for s in &srcs[1..] {
                let b = byte(s);
                if is(op, "and") {
                    acc &= b
                } else if is(op, "or") {
                    acc |= b
                } else {
                    acc ^= b
                }
            }
            acc
        };
    }
    let mut w = st.write(db);
    if out.is_empty() {
        w.delete_raw(&args[2]);
    } else {
        w.put_string(&args[2], out.into_boxed_slice(), false);
    }
    Ok(Reply::Integer(len as i64))
}
