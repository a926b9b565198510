//! HyperLogLog commands: PFADD PFCOUNT PFMERGE.
//!
//! The registers and the estimate are exactly Redis' (see [`crdt::hll`]): PFCOUNT gives
//! the same number as redis-server for the same elements. Concurrent PFADDs and PFMERGEs
//! merge register-wise (max); a DEL wins over a PFADD made concurrently to the value it
//! deleted (the PFADD's increments are discarded everywhere).
//!
//! Intended differences from Redis: a HyperLogLog is its own value type, not a string
//! holding Redis' binary encoding, so GET/SETRANGE/APPEND on it answer WRONGTYPE and a
//! string copied from another server's HLL is not a HyperLogLog here. TYPE still says
//! "string" and OBJECT ENCODING "raw", as in Redis.

use bytes::Bytes;
use crdt::hll::{Hll, Registers};
use crdt::key::Coll;
use crdt::{CausalContext, Kind, Value};

use super::args::wrong_type;
use super::{CmdResult, CommandSpec, Ctx, Flag, Group};
use crate::resp::Reply;
use crate::store::{Store, Write};

const WDF: &[Flag] = &[Flag::Write, Flag::Denyoom, Flag::Fast];
const W: &[Flag] = &[Flag::Write, Flag::Denyoom];
const R: &[Flag] = &[Flag::Readonly];

macro_rules! spec {
    ($name:literal, $arity:expr, $f:ident, $flags:expr, $k:expr, $since:literal, $sum:literal, $cx:expr) => {
        CommandSpec::new($name, $arity, $f)
            .flags($flags)
            .keys($k.0, $k.1, $k.2)
            .group(Group::Hyperloglog)
            .since($since)
            .summary($sum)
            .complexity($cx)
    };
}

/// HyperLogLog command family.
pub static COMMANDS: &[CommandSpec] = &[
    spec!("pfadd", -2, pfadd, WDF, (1, 1, 1), "2.8.9", "Adds the specified elements to the specified HyperLogLog.", "O(1) to add every element."),
    spec!("pfcount", -2, pfcount, R, (1, -1, 1), "2.8.9", "Return the approximated cardinality of the set(s) observed by the HyperLogLog at key(s).", "O(1) with a very small average constant time when called with a single key. O(N) with N being the number of keys, and much bigger constant times, when called with multiple keys."),
    spec!("pfmerge", -2, pfmerge, W, (1, -1, 1), "2.8.9", "Merge N different HyperLogLogs into a single one.", "O(N) to merge N HyperLogLogs, but with high constant times."),
];

/// The HyperLogLog at `key`; a string answers Redis' "not a valid HyperLogLog" error,
/// another type the usual WRONGTYPE.
fn hll_of<'s>(st: &'s Store, db: u8, key: &[u8]) -> Result<Option<&'s Hll>, Reply> {
    match st.get(db, key) {
        Some(Value::Hll(c)) => Ok(Some(&c.data)),
        Some(Value::Str(_)) => Err(Reply::error_code(
            "WRONGTYPE Key is not a valid HyperLogLog string value.",
        )),
        Some(_) => Err(wrong_type()),
        None => Ok(None),
    }
}

/// Raises the registers of `key` by `add` in the op `w` (creating the key when needed).
/// Returns whether anything changed (a created key counts as a change).
fn raise(w: &mut Write<'_>, key: &[u8], add: &Registers) -> Result<bool, Reply> {
    let changes = match w.get(key) {
        Some(Value::Hll(c)) => c.data.raises(add),
        _ => true,
    };
    if !changes {
        return Ok(false);
    }
    let fresh = w.prepare(key, Kind::Hll)?;
    let creation = if fresh { Some(w.stamp()) } else { None };
    let (dot, _) = w.stamp();
    let empty = Coll::<Hll>::default();
    let (value, cc) = {
        let coll: &Coll<Hll> = match w.get(key) {
            Some(Value::Hll(c)) if !fresh => c,
            _ => &empty,
        };
        let mut cc = CausalContext::new();
        let Some(delta) = coll.data.raise_delta(add, dot, &mut cc) else {
            return Ok(false);
        };
        (coll.write_delta(fresh, dot, delta, &mut cc), cc)
    };
    w.emit_coll(key, creation, Value::Hll(Box::new(value)), cc);
    Ok(true)
}

fn pfadd(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let key = &args[1];
    let db = ctx.db();
    let mut st = ctx.store();
    hll_of(&st, db, key)?;
    let mut add = Registers::default();
    for e in &args[2..] {
        add.add(e);
    }
    let mut w = st.write(db);
    Ok(Reply::Integer(raise(&mut w, key, &add)? as i64))
}

fn pfcount(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let db = ctx.db();
    let st = ctx.store();
    if args.len() == 2 {
        return Ok(Reply::Integer(
            hll_of(&st, db, &args[1])?.map_or(0, |h| h.count()) as i64,
        ));
    }
    let mut all = Registers::default();
    for k in &args[1..] {
        if let Some(h) = hll_of(&st, db, k)? {
            all.merge(&h.registers());
        }
    }
    Ok(Reply::Integer(all.count() as i64))
}

fn pfmerge(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let db = ctx.db();
    let mut st = ctx.store();
    let mut all = Registers::default();
    for k in &args[1..] {
        if let Some(h) = hll_of(&st, db, k)? {
            all.merge(&h.registers());
        }
    }
    let mut w = st.write(db);
    raise(&mut w, &args[1], &all)?;
    Ok(Reply::ok())
}
