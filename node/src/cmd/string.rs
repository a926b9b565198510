//! String commands: GET SET SETNX SETEX PSETEX GETSET GETDEL GETEX MGET MSET MSETNX
//! APPEND STRLEN GETRANGE SETRANGE INCR INCRBY DECR DECRBY INCRBYFLOAT SETBIT GETBIT
//! BITCOUNT BITPOS BITOP.
//!
//! Whole-value writes (SET, APPEND, SETRANGE, SETBIT, ...) are last-writer-wins register
//! writes; the INCR family adds counter contributions that are summed across regions.

use bytes::Bytes;

use super::args::{int, is, syntax_error, NOT_FLOAT, NOT_INTEGER};
use super::util::{bulk, expire_arg, invalid_expire, owned, read_str};
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

enum Expiry {
    None,
    Keep,
    At(i64),
}

fn set(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let db = ctx.db();
    let mut st = ctx.store();
    let now = st.now_ms();
    let (mut nx, mut xx, mut want_get) = (false, false, false);
    let mut exp = Expiry::None;
    let mut i = 3;
    while i < args.len() {
        let a = &args[i];
        let has_next = i + 1 < args.len();
        let set_exp = |e: &Expiry| matches!(e, Expiry::None);
        if is(a, "nx") && !xx {
            nx = true;
        } else if is(a, "xx") && !nx {
            xx = true;
        } else if is(a, "get") {
            want_get = true;
        } else if is(a, "keepttl") && set_exp(&exp) {
            exp = Expiry::Keep;
        } else if (is(a, "ex") || is(a, "px") || is(a, "exat") || is(a, "pxat"))
            && has_next
            && set_exp(&exp)
        {
            let unit = if is(a, "ex") || is(a, "exat") {
                1000
            } else {
                1
            };
            let abs = is(a, "exat") || is(a, "pxat");
            let v = crate::resp::parse_i64(&args[i + 1]).ok_or_else(|| Reply::err(NOT_INTEGER))?;
            if v <= 0 {
                return Err(invalid_expire("set"));
            }
            exp = Expiry::At(expire_arg(&args[i + 1], unit, abs, now, "set")?);
            i += 1;
        } else {
            return Err(syntax_error());
        }
        i += 1;
    }
    let key = &args[1];
    let old = if want_get {
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
    if (nx && exists) || (xx && !exists) {
        return Ok(match old {
            Some(_) => reply_old(old),
            None => Reply::Null,
        });
    }
    let mut w = st.write(db);
    w.put_string(key, owned(&args[2]), matches!(exp, Expiry::Keep));
    if let Expiry::At(at) = exp {
        w.expire_at(key, at.max(1) as u64);
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
    let db = ctx.db();
    let mut st = ctx.store();
    let now = st.now_ms();
    let mut exp: Option<Option<i64>> = None; // Some(None) = PERSIST
    let mut i = 2;
    while i < args.len() {
        let a = &args[i];
        if exp.is_none() && is(a, "persist") {
            exp = Some(None);
        } else if exp.is_none()
            && (is(a, "ex") || is(a, "px") || is(a, "exat") || is(a, "pxat"))
            && i + 1 < args.len()
        {
            let unit = if is(a, "ex") || is(a, "exat") {
                1000
            } else {
                1
            };
            let abs = is(a, "exat") || is(a, "pxat");
            let v = int(&args[i + 1])?;
            if v <= 0 {
                return Err(invalid_expire("getex"));
            }
            exp = Some(Some(expire_arg(&args[i + 1], unit, abs, now, "getex")?));
            i += 1;
        } else {
            return Err(syntax_error());
        }
        i += 1;
    }
    let old = read_str(&st, db, &args[1])?.map(|v| v.into_owned());
    if old.is_some() {
        match exp {
            Some(Some(at)) => {
                st.write(db).expire_at(&args[1], at.max(1) as u64);
            }
            Some(None) => {
                st.write(db).persist(&args[1]);
            }
            None => {}
        }
    }
    Ok(old
        .map(|v| Reply::Bulk(Bytes::from(v)))
        .unwrap_or(Reply::Null))
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
    let by = crdt::string::parse_f64(&args[2]).ok_or_else(|| Reply::err(NOT_FLOAT))?;
    let db = ctx.db();
    let mut st = ctx.store();
    let cur = match read_str(&st, db, &args[1])? {
        Some(v) => crdt::string::parse_f64(&v).ok_or_else(|| Reply::err(NOT_FLOAT))?,
        None => 0.0,
    };
    let new = cur + by;
    if !new.is_finite() {
        return Err(Reply::err("increment would produce NaN or Infinity"));
    }
    st.write(db).incr_string(&args[1], 0, by)?;
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

/// Parses `[start end [BYTE|BIT]]` at `args[i..]`; returns (start, end, bit_mode).
fn range_args(args: &[Bytes], i: usize) -> Result<Option<(i64, i64, bool)>, Reply> {
    match args.len() - i {
        0 => Ok(None),
        2 => Ok(Some((int(&args[i])?, int(&args[i + 1])?, false))),
        3 => {
            let bit = if is(&args[i + 2], "bit") {
                true
            } else if is(&args[i + 2], "byte") {
                false
            } else {
                return Err(syntax_error());
            };
            Ok(Some((int(&args[i])?, int(&args[i + 1])?, bit)))
        }
        _ => Err(syntax_error()),
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
    let want = match &args[2][..] {
        b"1" => true,
        b"0" => false,
        _ => return Err(Reply::err("The bit argument must be 1 or 0.")),
    };
    let (start, end, bit, end_given) = match args.len() {
        3 => (0, -1, false, false),
        4 => (int(&args[3])?, -1, false, false),
        5 => (int(&args[3])?, int(&args[4])?, false, true),
        6 => {
            let bit = if is(&args[5], "bit") {
                true
            } else if is(&args[5], "byte") {
                false
            } else {
                return Err(syntax_error());
            };
            (int(&args[3])?, int(&args[4])?, bit, true)
        }
        _ => return Err(syntax_error()),
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
