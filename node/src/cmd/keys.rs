//! Generic key commands: DEL UNLINK EXISTS TYPE KEYS SCAN RANDOMKEY RENAME RENAMENX COPY
//! MOVE EXPIRE PEXPIRE EXPIREAT PEXPIREAT TTL PTTL EXPIRETIME PEXPIRETIME PERSIST TOUCH
//! OBJECT.
//!
//! DEL is an observed-remove delete: it removes what this region has seen of the key;
//! writes from other regions it had not seen survive. RENAME/COPY/MOVE write the source's
//! current value as a new value at the destination (one op, atomic in every region).

use bytes::Bytes;

use super::args::{int, is, syntax_error};
use super::util::{expire_arg, scan_opts, scan_reply, scan_step};
use super::{CmdResult, CommandSpec, Ctx, Flag, Group};
use crate::glob::glob_match;
use crate::resp::Reply;

const W: &[Flag] = &[Flag::Write];
const WF: &[Flag] = &[Flag::Write, Flag::Fast];
const R: &[Flag] = &[Flag::Readonly];
const RF: &[Flag] = &[Flag::Readonly, Flag::Fast];

macro_rules! spec {
    ($name:literal, $arity:expr, $f:ident, $flags:expr, $k:expr, $sum:literal) => {
        CommandSpec::new($name, $arity, $f)
            .flags($flags)
            .keys($k.0, $k.1, $k.2)
            .group(Group::Generic)
            .summary($sum)
    };
}

/// Generic key command family.
pub static COMMANDS: &[CommandSpec] = &[
    spec!("del", -2, del, W, (1, -1, 1), "Deletes one or more keys."),
    spec!("unlink", -2, del, WF, (1, -1, 1), "Asynchronously deletes one or more keys."),
    spec!("exists", -2, exists, RF, (1, -1, 1), "Determines whether one or more keys exist."),
    spec!("type", 2, type_, RF, (1, 1, 1), "Determines the type of value stored at a key."),
    spec!("keys", 2, keys, R, (0, 0, 0), "Returns all key names that match a pattern.").acl(&["dangerous"]),
    spec!("scan", -2, scan, R, (0, 0, 0), "Iterates over the key names in the database."),
    spec!("randomkey", 1, randomkey, R, (0, 0, 0), "Returns a random key name from the database."),
    spec!("rename", 3, rename, W, (1, 2, 1), "Renames a key and overwrites the destination."),
    spec!("renamenx", 3, renamenx, WF, (1, 2, 1), "Renames a key only when the target key name doesn't exist."),
    spec!("copy", -3, copy, W, (1, 2, 1), "Copies the value of a key to a new key."),
    spec!("move", 3, move_, WF, (1, 1, 1), "Moves a key to another database."),
    spec!("expire", -3, expire, WF, (1, 1, 1), "Sets the expiration time of a key in seconds."),
    spec!("pexpire", -3, pexpire, WF, (1, 1, 1), "Sets the expiration time of a key in milliseconds."),
    spec!("expireat", -3, expireat, WF, (1, 1, 1), "Sets the expiration time of a key to a Unix timestamp."),
    spec!("pexpireat", -3, pexpireat, WF, (1, 1, 1), "Sets the expiration time of a key to a Unix milliseconds timestamp."),
    spec!("ttl", 2, ttl, RF, (1, 1, 1), "Returns the expiration time in seconds of a key."),
    spec!("pttl", 2, pttl, RF, (1, 1, 1), "Returns the expiration time in milliseconds of a key."),
    spec!("expiretime", 2, expiretime, RF, (1, 1, 1), "Returns the expiration time of a key as a Unix timestamp."),
    spec!("pexpiretime", 2, pexpiretime, RF, (1, 1, 1), "Returns the expiration time of a key as a Unix milliseconds timestamp."),
    spec!("persist", 2, persist, WF, (1, 1, 1), "Removes the expiration time of a key."),
    spec!("touch", -2, exists, RF, (1, -1, 1), "Returns the number of existing keys out of those specified after updating the time they were last accessed."),
    spec!("object", -2, object, R, (2, 2, 1), "A container for object introspection commands."),
];

fn del(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let db = ctx.db();
    let mut st = ctx.store();
    let mut w = st.write(db);
    let mut n = 0;
    for k in &args[1..] {
        if w.delete_raw(k) {
            n += 1;
        }
    }
    Ok(Reply::Integer(n))
}

fn exists(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let db = ctx.db();
    let st = ctx.store();
    Ok(Reply::Integer(
        args[1..].iter().filter(|k| st.get(db, k).is_some()).count() as i64,
    ))
}

fn type_(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let st = ctx.store();
    Ok(Reply::simple(
        st.kind(ctx.db(), &args[1])
            .map(|k| k.name())
            .unwrap_or("none"),
    ))
}

fn keys(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let st = ctx.store();
    let pat = &args[1];
    let all = &pat[..] == b"*";
    Ok(Reply::Array(
        st.keys(ctx.db())
            .filter(|(k, _)| all || glob_match(pat, k, false))
            .map(|(k, _)| Reply::Bulk(Bytes::copy_from_slice(k)))
            .collect(),
    ))
}

fn scan(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let o = scan_opts(&args[1..], true, false)?;
    let st = ctx.store();
    let (next, items) = scan_step(st.keys(ctx.db()).map(|(k, v)| (&k[..], v.kind())), &o);
    let items = items
        .into_iter()
        .filter(|(_, kind)| match &o.kind {
            Some(t) => is(t, kind.name()),
            None => true,
        })
        .map(|(k, _)| Reply::Bulk(Bytes::copy_from_slice(k)))
        .collect();
    Ok(scan_reply(next, items))
}

fn randomkey(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    let st = ctx.store();
    let n = st.dbsize(ctx.db());
    if n == 0 {
        return Ok(Reply::Null);
    }
    let pick = (crate::store::wall_ms() as usize ^ (std::process::id() as usize)) % n;
    let r = st
        .keys(ctx.db())
        .nth(pick)
        .map(|(k, _)| Reply::Bulk(Bytes::copy_from_slice(k)))
        .unwrap_or(Reply::Null);
    Ok(r)
}

fn rename_common(ctx: &mut Ctx<'_>, args: &[Bytes], nx: bool) -> CmdResult {
    let db = ctx.db();
    let mut st = ctx.store();
    if st.get(db, &args[1]).is_none() {
        return Err(Reply::err("no such key"));
    }
    if nx && st.get(db, &args[2]).is_some() {
        return Ok(Reply::Integer(0));
    }
    if args[1] == args[2] {
        return Ok(if nx { Reply::Integer(0) } else { Reply::ok() });
    }
    let mut w = st.write(db);
    w.copy_value(db, &args[1], &args[2]);
    w.delete_raw(&args[1]);
    Ok(if nx { Reply::Integer(1) } else { Reply::ok() })
}

fn rename(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    rename_common(ctx, args, false)
}

fn renamenx(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    rename_common(ctx, args, true)
}

fn db_arg(ctx: &Ctx<'_>, arg: &[u8]) -> Result<u8, Reply> {
    let n = int(arg)?;
    if n < 0 || n as usize >= ctx.server.databases() {
        return Err(Reply::err("DB index is out of range"));
    }
    Ok(n as u8)
}

fn copy(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let src_db = ctx.db();
    let mut dst_db = src_db;
    let mut replace = false;
    let mut i = 3;
    while i < args.len() {
        if is(&args[i], "replace") {
            replace = true;
        } else if is(&args[i], "db") && i + 1 < args.len() {
            dst_db = db_arg(ctx, &args[i + 1])?;
            i += 1;
        } else {
            return Err(syntax_error());
        }
        i += 1;
    }
    let mut st = ctx.store();
    if src_db == dst_db && args[1] == args[2] {
        return Err(Reply::err("source and destination objects are the same"));
    }
    if st.get(src_db, &args[1]).is_none() {
        return Ok(Reply::Integer(0));
    }
    if !replace && st.get(dst_db, &args[2]).is_some() {
        return Ok(Reply::Integer(0));
    }
    let mut w = st.write(dst_db);
    w.copy_value(src_db, &args[1], &args[2]);
    Ok(Reply::Integer(1))
}

fn move_(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let src_db = ctx.db();
    let dst_db = db_arg(ctx, &args[2])?;
    if src_db == dst_db {
        return Err(Reply::err("source and destination objects are the same"));
    }
    let mut st = ctx.store();
    if st.get(src_db, &args[1]).is_none() || st.get(dst_db, &args[1]).is_some() {
        return Ok(Reply::Integer(0));
    }
    let mut w = st.write(dst_db);
    w.copy_value(src_db, &args[1], &args[1]);
    w.set_db(src_db);
    w.delete_raw(&args[1]);
    Ok(Reply::Integer(1))
}

fn expire_common(
    ctx: &mut Ctx<'_>,
    args: &[Bytes],
    unit: i64,
    absolute: bool,
    cmd: &str,
) -> CmdResult {
    let (mut nx, mut xx, mut gt, mut lt) = (false, false, false, false);
    for a in &args[3..] {
        if is(a, "nx") {
            nx = true
        } else if is(a, "xx") {
            xx = true
        } else if is(a, "gt") {
            gt = true
        } else if is(a, "lt") {
            lt = true
        } else {
            return Err(Reply::err(format!(
                "Unsupported option {}",
                String::from_utf8_lossy(a)
            )));
        }
    }
    if nx && (xx || gt || lt) {
        return Err(Reply::err(
            "NX and XX, GT or LT options at the same time are not compatible",
        ));
    }
    if gt && lt {
        return Err(Reply::err(
            "GT and LT options at the same time are not compatible",
        ));
    }
    let db = ctx.db();
    let mut st = ctx.store();
    let now = st.now_ms();
    let at = expire_arg(&args[2], unit, absolute, now, cmd)?;
    if st.get(db, &args[1]).is_none() {
        return Ok(Reply::Integer(0));
    }
    let cur = st.expire_at(db, &args[1]);
    let ok = match cur {
        None => !(xx || gt),
        Some(c) => !nx && (!gt || at > c as i64) && (!lt || at < c as i64),
    };
    if !ok {
        return Ok(Reply::Integer(0));
    }
    let at = if at <= 0 { 1 } else { at as u64 };
    st.write(db).expire_at(&args[1], at);
    Ok(Reply::Integer(1))
}

fn expire(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    expire_common(ctx, args, 1000, false, "expire")
}

fn pexpire(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    expire_common(ctx, args, 1, false, "pexpire")
}

fn expireat(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    expire_common(ctx, args, 1000, true, "expireat")
}

fn pexpireat(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    expire_common(ctx, args, 1, true, "pexpireat")
}

/// TTL-family answer: -2 missing, -1 no TTL, else f(expire_at, now).
fn ttl_common(ctx: &mut Ctx<'_>, key: &[u8], f: impl Fn(u64, u64) -> i64) -> CmdResult {
    let db = ctx.db();
    let st = ctx.store();
    if st.get(db, key).is_none() {
        return Ok(Reply::Integer(-2));
    }
    Ok(Reply::Integer(match st.expire_at(db, key) {
        None => -1,
        Some(at) => f(at, st.now_ms()),
    }))
}

fn ttl(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    ttl_common(ctx, &args[1], |at, now| {
        ((at.saturating_sub(now) + 500) / 1000) as i64
    })
}

fn pttl(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    ttl_common(ctx, &args[1], |at, now| at.saturating_sub(now) as i64)
}

fn expiretime(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    // Redis rounds to the nearest second, as TTL does.
    ttl_common(ctx, &args[1], |at, _| ((at + 500) / 1000) as i64)
}

fn pexpiretime(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    ttl_common(ctx, &args[1], |at, _| at as i64)
}

fn persist(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let db = ctx.db();
    let mut st = ctx.store();
    let done = st.write(db).persist(&args[1]);
    Ok(Reply::Integer(done as i64))
}

fn object(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let sub = &args[1];
    // Subcommand arity errors name the subcommand as Redis' command table does.
    let arity = if is(sub, "help") {
        Some(2)
    } else if ["encoding", "freq", "idletime", "refcount"]
        .iter()
        .any(|s| is(sub, s))
    {
        Some(3)
    } else {
        None
    };
    if let Some(n) = arity {
        if args.len() != n {
            return Err(Reply::err(format!(
                "wrong number of arguments for 'object|{}' command",
                String::from_utf8_lossy(sub).to_ascii_lowercase()
            )));
        }
    }
    if is(sub, "help") {
        return Ok(Reply::Array(
            [
                "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "ENCODING <key>",
                "    Return the kind of internal representation used in order to store the value",
                "    associated with a <key>.",
                "FREQ <key>",
                "    Return the access frequency index of the <key>. The returned integer is",
                "    proportional to the logarithm of the recent access frequency of the key.",
                "IDLETIME <key>",
                "    Return the idle time of the <key>, that is the approximated number of",
                "    seconds elapsed since the last access to the key.",
                "REFCOUNT <key>",
                "    Return the number of references of the value associated with the specified",
                "    <key>.",
                "HELP",
                "    Prints this help.",
            ]
            .iter()
            .map(|s| Reply::Simple(std::borrow::Cow::Borrowed(*s)))
            .collect(),
        ));
    }
    if arity.is_none() {
        return Err(Reply::err(format!(
            "unknown subcommand '{}'. Try OBJECT HELP.",
            String::from_utf8_lossy(sub)
        )));
    }
    let st = ctx.store();
    let v = match st.get(ctx.db(), &args[2]) {
        Some(v) => v,
        None => return Ok(Reply::Null),
    };
    if is(sub, "encoding") {
        // Meridian stores every value as a CRDT; report the closest Redis encoding so
        // clients that branch on it keep working.
        let enc = match v {
            crdt::Value::Str(f) => match crdt::string::read(f) {
                Some(crdt::string::StrValue::Int(_)) => "int",
                Some(crdt::string::StrValue::Bytes(b)) if crdt::string::parse_i64(b).is_some() => {
                    "int"
                }
                Some(crdt::string::StrValue::Bytes(b)) if b.len() <= 44 => "embstr",
                _ => "raw",
            },
            crdt::Value::Set(_) => "hashtable",
            crdt::Value::Hash(_) => "hashtable",
            crdt::Value::ZSet(_) => "skiplist",
            crdt::Value::List(_) => "quicklist",
            crdt::Value::Hll(_) => "raw",
            crdt::Value::Stream(_) => "stream",
        };
        Ok(Reply::bulk_str(enc))
    } else if is(sub, "refcount") {
        Ok(Reply::Integer(1))
    } else if is(sub, "idletime") {
        // The node-local access word (see `store::access`); OBJECT does not touch it.
        let mode = st.access_mode();
        if mode.lfu {
            return Err(Reply::err(
                "An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.",
            ));
        }
        let word = st.access_word(ctx.db(), &args[2]).unwrap_or(0);
        Ok(Reply::Integer((crate::store::idle_ms(word) / 1000) as i64))
    } else if is(sub, "freq") {
        let mode = st.access_mode();
        if !mode.lfu {
            return Err(Reply::err(
                "An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.",
            ));
        }
        let word = st.access_word(ctx.db(), &args[2]).unwrap_or(0);
        Ok(Reply::Integer(i64::from(crate::store::lfu_counter(
            word, mode,
        ))))
    } else {
        Err(Reply::err(format!(
            "unknown subcommand '{}'. Try OBJECT HELP.",
            String::from_utf8_lossy(sub)
        )))
    }
}
