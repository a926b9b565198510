//! Sorted-set commands: ZADD ZINCRBY ZREM ZSCORE ZMSCORE ZRANK ZREVRANK ZRANGE
//! ZRANGEBYSCORE ZREVRANGEBYSCORE ZRANGEBYLEX ZREVRANGEBYLEX ZREVRANGE ZRANGESTORE ZCOUNT
//! ZLEXCOUNT ZCARD ZPOPMIN ZPOPMAX ZMPOP BZPOPMIN BZPOPMAX BZMPOP ZUNION ZINTER ZDIFF ZUNIONSTORE ZINTERSTORE ZDIFFSTORE
//! ZINTERCARD ZREMRANGEBYRANK ZREMRANGEBYSCORE ZREMRANGEBYLEX ZRANDMEMBER ZSCAN.
//!
//! Semantics across regions (see the `crdt::zset` docs): membership is add-wins, a ZADD
//! score is a last-writer-wins register, ZINCRBY (and ZADD INCR) adds a counter
//! contribution summed across regions, and ZREM / ZPOP* / ZREMRANGEBY* remove only what
//! the issuing region had observed.
//!
//! Ordering is Redis': by score, then by member bytes. Replies follow Redis 7: scores are
//! RESP3 doubles (bulk strings in RESP2), WITHSCORES lists are `[member, score]` pairs in
//! RESP3 and flat arrays in RESP2.
//!
//! Known limitation (to optimise later): the CRDT sorted set has no ordered index yet, so
//! every range or rank command builds a sorted vector of the whole set on demand
//! ([`sorted`], O(n log n) per call) and ZCARD counts members (O(n)).
//!
//! Deviations from Redis:
//! - a score of `-0` is stored as `0` (Redis keeps the sign only in its large-set
//!   encoding);
//! - an increment is a counter contribution added to the member's base score, so a run of
//!   ZINCRBYs may round differently in the last bit from Redis' sequential additions
//!   (`0.1 + 0.2 + 0.3`); ZINCRBY and ZADD INCR reply with the stored score;
//! - an infinite increment (or one whose result is infinite) is written as a plain score
//!   (LWW) instead of a counter contribution: counter floors cannot subtract infinities.
//! - ZRANK/ZREVRANK accept Redis 7.2's `WITHSCORE`.
//! - a blocked BZPOP*/BZMPOP woken by a write is served from the first of its keys (in
//!   argument order) that holds members, as Redis 7.2's re-execution does; 7.0 serves
//!   from the key that was written.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};

use bytes::Bytes;
use crdt::key::Coll;
use crdt::zset::ZSet;
use crdt::{CausalContext, Kind, Value};

use super::args::{int, is, syntax_error, NOT_FLOAT, NOT_INTEGER};
use super::blocking::timeout_arg;
use super::util::{bulk, get_kind, parse_ld, scan_opts, scan_reply, scan_step};
use super::{CmdResult, CommandSpec, Ctx, Flag, Group};
use crate::resp::{Protocol, Reply};
use crate::store::{Store, Wake, Write};

const W: &[Flag] = &[Flag::Write, Flag::Denyoom];
const WF: &[Flag] = &[Flag::Write, Flag::Denyoom, Flag::Fast];
const WD: &[Flag] = &[Flag::Write];
const WDF: &[Flag] = &[Flag::Write, Flag::Fast];
const WM: &[Flag] = &[Flag::Write, Flag::Denyoom, Flag::MovableKeys];
const WDM: &[Flag] = &[Flag::Write, Flag::MovableKeys];
const BLOCKING: &[Flag] = &[Flag::Write, Flag::Noscript, Flag::Blocking, Flag::Fast];
const BLOCKING_M: &[Flag] = &[Flag::Write, Flag::Blocking, Flag::MovableKeys];
const R: &[Flag] = &[Flag::Readonly];
const RF: &[Flag] = &[Flag::Readonly, Flag::Fast];
const RM: &[Flag] = &[Flag::Readonly, Flag::MovableKeys];

macro_rules! spec {
    ($name:literal, $arity:expr, $f:ident, $flags:expr, $k:expr, $since:literal, $sum:literal) => {
        CommandSpec::new($name, $arity, $f)
            .flags($flags)
            .keys($k.0, $k.1, $k.2)
            .group(Group::SortedSet)
            .since($since)
            .summary($sum)
    };
}

/// Sorted-set command family.
pub static COMMANDS: &[CommandSpec] = &[
    spec!("zadd", -4, zadd, WF, (1, 1, 1), "1.2.0", "Adds one or more members to a sorted set, or updates their scores. Creates the key if it doesn't exist."),
    spec!("zincrby", 4, zincrby, WF, (1, 1, 1), "1.2.0", "Increments the score of a member in a sorted set."),
    spec!("zrem", -3, zrem, WDF, (1, 1, 1), "1.2.0", "Removes one or more members from a sorted set. Deletes the sorted set if all members were removed."),
    spec!("zscore", 3, zscore, RF, (1, 1, 1), "1.2.0", "Returns the score of a member in a sorted set."),
    spec!("zmscore", -3, zmscore, RF, (1, 1, 1), "6.2.0", "Returns the score of one or more members in a sorted set."),
    spec!("zrank", -3, zrank, RF, (1, 1, 1), "2.0.0", "Returns the index of a member in a sorted set ordered by ascending scores."),
    spec!("zrevrank", -3, zrevrank, RF, (1, 1, 1), "2.0.0", "Returns the index of a member in a sorted set ordered by descending scores."),
    spec!("zcard", 2, zcard, RF, (1, 1, 1), "1.2.0", "Returns the number of members in a sorted set."),
    spec!("zcount", 4, zcount, RF, (1, 1, 1), "2.0.0", "Returns the count of members in a sorted set that have scores within a range."),
    spec!("zlexcount", 4, zlexcount, RF, (1, 1, 1), "2.8.9", "Returns the number of members in a sorted set within a lexicographical range."),
    spec!("zrange", -4, zrange, R, (1, 1, 1), "1.2.0", "Returns members in a sorted set within a range of indexes."),
    spec!("zrangestore", -5, zrangestore, W, (1, 2, 1), "6.2.0", "Stores a range of members from sorted set in a key."),
    spec!("zrangebyscore", -4, zrangebyscore, R, (1, 1, 1), "1.0.5", "Returns members in a sorted set within a range of scores."),
    spec!("zrevrangebyscore", -4, zrevrangebyscore, R, (1, 1, 1), "2.2.0", "Returns members in a sorted set within a range of scores in reverse order."),
    spec!("zrangebylex", -4, zrangebylex, R, (1, 1, 1), "2.8.9", "Returns members in a sorted set within a lexicographical range."),
    spec!("zrevrangebylex", -4, zrevrangebylex, R, (1, 1, 1), "2.8.9", "Returns members in a sorted set within a lexicographical range in reverse order."),
    spec!("zrevrange", -4, zrevrange, R, (1, 1, 1), "1.2.0", "Returns members in a sorted set within a range of indexes in reverse order."),
    spec!("zpopmin", -2, zpopmin, WDF, (1, 1, 1), "5.0.0", "Returns the lowest-scoring members from a sorted set after removing them. Deletes the sorted set if the last member was popped."),
    spec!("zpopmax", -2, zpopmax, WDF, (1, 1, 1), "5.0.0", "Returns the highest-scoring members from a sorted set after removing them. Deletes the sorted set if the last member was popped."),
    spec!("bzpopmin", -3, bzpopmin, BLOCKING, (1, -2, 1), "5.0.0", "Removes and returns the member with the lowest score from one or more sorted sets. Blocks until a member is available otherwise. Deletes the sorted set if the last element was popped."),
    spec!("bzpopmax", -3, bzpopmax, BLOCKING, (1, -2, 1), "5.0.0", "Removes and returns the member with the highest score from one or more sorted sets. Blocks until a member available otherwise.  Deletes the sorted set if the last element was popped."),
    spec!("zmpop", -4, zmpop, WDM, (0, 0, 0), "7.0.0", "Returns the highest- or lowest-scoring members from one or more sorted sets after removing them. Deletes the sorted set if the last member was popped."),
    spec!("bzmpop", -5, bzmpop, BLOCKING_M, (0, 0, 0), "7.0.0", "Removes and returns a member by score from one or more sorted sets. Blocks until a member is available otherwise. Deletes the sorted set if the last element was popped."),
    spec!("zunion", -3, zunion, RM, (0, 0, 0), "6.2.0", "Returns the union of multiple sorted sets."),
    spec!("zinter", -3, zinter, RM, (0, 0, 0), "6.2.0", "Returns the intersect of multiple sorted sets."),
    spec!("zdiff", -3, zdiff, RM, (0, 0, 0), "6.2.0", "Returns the difference between multiple sorted sets."),
    spec!("zunionstore", -4, zunionstore, WM, (1, 1, 1), "2.0.0", "Stores the union of multiple sorted sets in a key."),
    spec!("zinterstore", -4, zinterstore, WM, (1, 1, 1), "2.0.0", "Stores the intersect of multiple sorted sets in a key."),
    spec!("zdiffstore", -4, zdiffstore, WM, (1, 1, 1), "6.2.0", "Stores the difference of multiple sorted sets in a key."),
    spec!("zintercard", -3, zintercard, RM, (0, 0, 0), "7.0.0", "Returns the number of members of the intersect of multiple sorted sets."),
    spec!("zremrangebyrank", 4, zremrangebyrank, WD, (1, 1, 1), "2.0.0", "Removes members in a sorted set within a range of indexes. Deletes the sorted set if all members were removed."),
    spec!("zremrangebyscore", 4, zremrangebyscore, WD, (1, 1, 1), "1.2.0", "Removes members in a sorted set within a range of scores. Deletes the sorted set if all members were removed."),
    spec!("zremrangebylex", 4, zremrangebylex, WD, (1, 1, 1), "2.8.9", "Removes members in a sorted set within a lexicographical range. Deletes the sorted set if all members were removed."),
    spec!("zrandmember", -2, zrandmember, R, (1, 1, 1), "6.2.0", "Returns one or more random members from a sorted set."),
    spec!("zscan", -3, zscan, R, (1, 1, 1), "2.8.0", "Iterates over members and scores of a sorted set."),
];

// ---------------------------------------------------------------------------------------
// Parsing

/// Parses a float the way Redis' `getDoubleFromObject` does: the whole argument, no
/// leading space, `inf`/`-inf`/`+inf` allowed, NaN and overflow refused.
pub(super) fn parse_float(b: &[u8]) -> Option<f64> {
    let s = std::str::from_utf8(b).ok()?;
    if s.is_empty() || s.starts_with(|c: char| c.is_ascii_whitespace()) {
        return None;
    }
    if is_hex(s) {
        // strtod's hexadecimal form; overflow to infinity is ERANGE.
        return parse_ld(b).filter(|v| v.is_finite()).map(|v| v + 0.0);
    }
    let v: f64 = s.parse().ok()?;
    if v.is_nan() {
        return None;
    }
    let lower = s.to_ascii_lowercase();
    // strtod reports ERANGE on overflow to infinity and on underflow to zero.
    if v.is_infinite() && !lower.contains("inf") {
        return None;
    }
    if v == 0.0 {
        let mantissa = lower.split('e').next().unwrap_or("");
        if mantissa.bytes().any(|c| (b'1'..=b'9').contains(&c)) {
            return None;
        }
    }
    // `-0` is stored and printed as `0`, as Redis does for its (listpack) sorted sets.
    Some(v + 0.0)
}

/// Whether a number is written in hexadecimal (`0x10`, `-0x1p3`), which `strtod` reads.
fn is_hex(s: &str) -> bool {
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    body.len() > 2 && body[..2].eq_ignore_ascii_case("0x")
}

/// A float argument, or `-ERR value is not a valid float`.
pub(super) fn float_arg(b: &[u8]) -> Result<f64, Reply> {
    parse_float(b).ok_or_else(|| Reply::err(NOT_FLOAT))
}

/// A score interval (`1`, `(1`, `-inf`, `+inf`).
#[derive(Debug, Clone, Copy)]
struct ScoreRange {
    min: f64,
    minex: bool,
    max: f64,
    maxex: bool,
}

fn parse_range_item(b: &[u8]) -> Option<(f64, bool)> {
    let (ex, rest) = match b.first() {
        Some(b'(') => (true, &b[1..]),
        _ => (false, b),
    };
    // Redis uses plain strtod here: leading spaces are skipped and "" parses as 0.
    let s = std::str::from_utf8(rest).ok()?;
    let s = s.trim_start_matches(|c: char| c.is_ascii_whitespace());
    let v: f64 = if s.is_empty() {
        0.0
    } else if is_hex(s) {
        parse_ld(s.as_bytes())?
    } else {
        s.parse().ok()?
    };
    if v.is_nan() {
        return None;
    }
    Some((v, ex))
}

impl ScoreRange {
    fn parse(min: &[u8], max: &[u8]) -> Result<ScoreRange, Reply> {
        let err = || Reply::err("min or max is not a float");
        let (min, minex) = parse_range_item(min).ok_or_else(err)?;
        let (max, maxex) = parse_range_item(max).ok_or_else(err)?;
        Ok(ScoreRange {
            min,
            minex,
            max,
            maxex,
        })
    }
    fn gte_min(&self, s: f64) -> bool {
        if self.minex {
            s > self.min
        } else {
            s >= self.min
        }
    }
    fn lte_max(&self, s: f64) -> bool {
        if self.maxex {
            s < self.max
        } else {
            s <= self.max
        }
    }
}

/// One end of a lexicographical range.
#[derive(Debug, Clone)]
enum LexItem {
    Min,
    Max,
    Incl(Vec<u8>),
    Excl(Vec<u8>),
}

#[derive(Debug, Clone)]
struct LexRange {
    min: LexItem,
    max: LexItem,
}

fn parse_lex_item(b: &[u8]) -> Option<LexItem> {
    match b.first()? {
        b'+' if b.len() == 1 => Some(LexItem::Max),
        b'-' if b.len() == 1 => Some(LexItem::Min),
        b'(' => Some(LexItem::Excl(b[1..].to_vec())),
        b'[' => Some(LexItem::Incl(b[1..].to_vec())),
        _ => None,
    }
}

impl LexRange {
    fn parse(min: &[u8], max: &[u8]) -> Result<LexRange, Reply> {
        let err = || Reply::err("min or max not valid string range item");
        Ok(LexRange {
            min: parse_lex_item(min).ok_or_else(err)?,
            max: parse_lex_item(max).ok_or_else(err)?,
        })
    }
    fn gte_min(&self, m: &[u8]) -> bool {
        match &self.min {
            LexItem::Min => true,
            LexItem::Max => false,
            LexItem::Incl(v) => m >= &v[..],
            LexItem::Excl(v) => m > &v[..],
        }
    }
    fn lte_max(&self, m: &[u8]) -> bool {
        match &self.max {
            LexItem::Min => false,
            LexItem::Max => true,
            LexItem::Incl(v) => m <= &v[..],
            LexItem::Excl(v) => m < &v[..],
        }
    }
}

// ---------------------------------------------------------------------------------------
// Reading

/// A member and its score.
pub(super) type Entry<'a> = (&'a [u8], f64);

/// The sorted set stored at `key`, `Err(WRONGTYPE)` for another type.
pub(super) fn zset_of<'s>(st: &'s Store, db: u8, key: &[u8]) -> Result<Option<&'s ZSet>, Reply> {
    match get_kind(st, db, key, Kind::ZSet)? {
        Some(Value::ZSet(c)) => Ok(Some(&c.data)),
        _ => Ok(None),
    }
}

/// Redis' order: by score, then member bytes.
pub(super) fn cmp_entry(a: &Entry<'_>, b: &Entry<'_>) -> Ordering {
    a.1.partial_cmp(&b.1)
        .unwrap_or(Ordering::Equal)
        .then_with(|| a.0.cmp(b.0))
}

/// Every member of `z` in Redis order. O(n log n): the CRDT has no ordered index yet
/// (see the module docs); every range command goes through here.
pub(super) fn sorted(z: &ZSet) -> Vec<Entry<'_>> {
    let mut v: Vec<Entry<'_>> = z.iter().map(|(m, s)| (&m[..], s)).collect();
    v.sort_unstable_by(cmp_entry);
    v
}

// ---------------------------------------------------------------------------------------
// Writing

/// One member change of a write.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum ZOp {
    /// ZADD: set the score (LWW).
    Set(f64),
    /// ZINCRBY: add to the score (summed across regions).
    Incr(f64),
    /// ZREM: remove what was observed.
    Rem,
}

/// Applies member changes (distinct members) to the sorted set at `key` in the op `w`,
/// creating the key if needed and deleting it when it ends empty. `Err(WRONGTYPE)` when
/// the key holds another type (nothing is written then).
pub(super) fn write_ops<M: AsRef<[u8]>>(
    w: &mut Write<'_>,
    key: &[u8],
    ops: &[(M, ZOp)],
) -> Result<(), Reply> {
    if ops.is_empty() {
        return Ok(());
    }
    let fresh = w.prepare(key, Kind::ZSet)?;
    let creation = if fresh { Some(w.stamp()) } else { None };
    let (dot, hlc) = w.stamp();
    let empty = Coll::<ZSet>::default();
    let (value, cc) = {
        let coll: &Coll<ZSet> = match w.get(key) {
            Some(Value::ZSet(c)) => c,
            _ => &empty,
        };
        let mut delta = ZSet::default();
        let mut cc = CausalContext::new();
        for (m, op) in ops {
            let m = m.as_ref();
            match *op {
                ZOp::Set(s) => coll.data.add_into(&mut delta, m, dot, hlc, s, &mut cc),
                ZOp::Incr(by) => coll.data.incr_into(&mut delta, m, dot, by, &mut cc),
                ZOp::Rem => coll.data.rem_into(&mut delta, m, &mut cc),
            }
        }
        (coll.write_delta(fresh, dot, delta, &mut cc), cc)
    };
    w.emit_coll(key, creation, Value::ZSet(Box::new(value)), cc);
    if w.get(key).is_none() {
        w.delete_raw(key);
    }
    Ok(())
}

/// Replaces whatever `dst` holds with a sorted set of `items` (distinct members); an
/// empty result deletes `dst` (the *STORE commands).
pub(super) fn store_zset<M: AsRef<[u8]>>(w: &mut Write<'_>, dst: &[u8], items: &[(M, f64)]) {
    w.delete_raw(dst);
    let ops: Vec<(&[u8], ZOp)> = items
        .iter()
        .map(|(m, s)| (m.as_ref(), ZOp::Set(*s)))
        .collect();
    // `dst` was just deleted, so it cannot hold another type.
    let _ = write_ops(w, dst, &ops);
}

/// Owned copies of entries (to outlive the store borrow before a write).
fn owned_entries(items: &[Entry<'_>]) -> Vec<(Vec<u8>, f64)> {
    items.iter().map(|(m, s)| (m.to_vec(), *s)).collect()
}

// ---------------------------------------------------------------------------------------
// Replies

/// A score reply: RESP3 double, RESP2 bulk string.
pub(super) fn score_reply(s: f64) -> Reply {
    Reply::Double(s)
}

fn resp3(ctx: &Ctx<'_>) -> bool {
    ctx.client.protocol() == Protocol::Resp3
}

/// Members, or member/score pairs (RESP3 nested, RESP2 flat).
fn entries_reply(resp3: bool, items: &[Entry<'_>], withscores: bool) -> Reply {
    if !withscores {
        return Reply::Array(items.iter().map(|(m, _)| bulk(m)).collect());
    }
    if resp3 {
        Reply::Array(
            items
                .iter()
                .map(|(m, s)| Reply::Array(vec![bulk(m), score_reply(*s)]))
                .collect(),
        )
    } else {
        let mut out = Vec::with_capacity(items.len() * 2);
        for (m, s) in items {
            out.push(bulk(m));
            out.push(score_reply(*s));
        }
        Reply::Array(out)
    }
}

// ---------------------------------------------------------------------------------------
// ZADD ZINCRBY ZREM

pub(super) fn zadd(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let (mut nx, mut xx, mut ch, mut incr, mut gt, mut lt) =
        (false, false, false, false, false, false);
    let mut i = 2;
    while i < args.len() {
        let a = &args[i];
        if is(a, "nx") {
            nx = true;
        } else if is(a, "xx") {
            xx = true;
        } else if is(a, "ch") {
            ch = true;
        } else if is(a, "incr") {
            incr = true;
        } else if is(a, "gt") {
            gt = true;
        } else if is(a, "lt") {
            lt = true;
        } else {
            break;
        }
        i += 1;
    }
    let rest = &args[i..];
    if rest.is_empty() || rest.len() % 2 != 0 {
        return Err(syntax_error());
    }
    if nx && xx {
        return Err(Reply::err(
            "XX and NX options at the same time are not compatible",
        ));
    }
    if (nx && (gt || lt)) || (gt && lt) {
        return Err(Reply::err(
            "GT, LT, and/or NX options at the same time are not compatible",
        ));
    }
    if incr && rest.len() > 2 {
        return Err(Reply::err(
            "INCR option supports a single increment-element pair",
        ));
    }
    let mut pairs = Vec::with_capacity(rest.len() / 2);
    for p in rest.chunks(2) {
        pairs.push((float_arg(&p[0])?, &p[1][..]));
    }
    let key = &args[1];
    let db = ctx.db();
    let mut st = ctx.store();
    let z = zset_of(&st, db, key)?;
    let nothing = if incr { Reply::Null } else { Reply::Integer(0) };
    if z.is_none() && xx {
        return Ok(nothing);
    }
    // Apply the pairs in order on a view of the current scores.
    let mut pending: HashMap<&[u8], (usize, f64)> = HashMap::new();
    let mut ops: Vec<(&[u8], ZOp)> = Vec::new();
    let (mut added, mut updated) = (0i64, 0i64);
    let mut result: Option<f64> = None;
    for (score, m) in pairs {
        let cur = match pending.get(m) {
            Some(&(_, s)) => Some(s),
            None => z.and_then(|z| z.score(m)),
        };
        let (new, op) = match cur {
            Some(cur) => {
                if nx {
                    continue;
                }
                let new = if incr { score + cur } else { score };
                if new.is_nan() {
                    return Err(Reply::err("resulting score is not a number (NaN)"));
                }
                if (lt && new >= cur) || (gt && new <= cur) {
                    continue;
                }
                result = Some(new);
                if new == cur {
                    continue;
                }
                updated += 1;
                (
                    new,
                    if incr {
                        incr_op(score, new)
                    } else {
                        ZOp::Set(new)
                    },
                )
            }
            None => {
                if xx {
                    continue;
                }
                result = Some(score);
                added += 1;
                (
                    score,
                    if incr {
                        incr_op(score, score)
                    } else {
                        ZOp::Set(score)
                    },
                )
            }
        };
        match pending.get_mut(m) {
            Some(e) => {
                e.1 = new;
                ops[e.0].1 = op;
            }
            None => {
                pending.insert(m, (ops.len(), new));
                ops.push((m, op));
            }
        }
    }
    if !ops.is_empty() {
        let mut w = st.write(db);
        write_ops(&mut w, key, &ops)?;
    }
    if incr {
        // Reply with the stored score (the counter may round differently).
        let stored = match (result, ops.first()) {
            (Some(r), Some((m, _))) => zset_of(&st, db, key)?.and_then(|z| z.score(m)).or(Some(r)),
            (r, _) => r,
        };
        Ok(stored.map_or(Reply::Null, score_reply))
    } else {
        Ok(Reply::Integer(if ch { added + updated } else { added }))
    }
}

fn zincrby(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let by = float_arg(&args[2])?;
    let (key, m) = (&args[1], &args[3][..]);
    let db = ctx.db();
    let mut st = ctx.store();
    let cur = zset_of(&st, db, key)?.and_then(|z| z.score(m));
    let new = cur.unwrap_or(0.0) + by;
    if new.is_nan() {
        return Err(Reply::err("resulting score is not a number (NaN)"));
    }
    if cur.is_none() || by != 0.0 {
        let mut w = st.write(db);
        write_ops(&mut w, key, &[(m, incr_op(by, new))])?;
    }
    // Reply with the stored score (the counter may round differently).
    let stored = zset_of(&st, db, key)?.and_then(|z| z.score(m));
    Ok(score_reply(stored.unwrap_or(new)))
}

/// The op of an increment by `by` giving `new`: a counter contribution while both are
/// finite; an infinite increment or result is written as a plain score instead, because
/// counter floors cannot subtract infinities (inf - inf = NaN).
fn incr_op(by: f64, new: f64) -> ZOp {
    if by.is_finite() && new.is_finite() {
        ZOp::Incr(by)
    } else {
        ZOp::Set(new)
    }
}

fn zrem(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let key = &args[1];
    let db = ctx.db();
    let mut st = ctx.store();
    let Some(z) = zset_of(&st, db, key)? else {
        return Ok(Reply::Integer(0));
    };
    let mut seen: Vec<&[u8]> = Vec::new();
    for m in &args[2..] {
        if z.score(m).is_some() && !seen.contains(&&m[..]) {
            seen.push(m);
        }
    }
    let ops: Vec<(&[u8], ZOp)> = seen.iter().map(|m| (*m, ZOp::Rem)).collect();
    if !ops.is_empty() {
        let mut w = st.write(db);
        write_ops(&mut w, key, &ops)?;
    }
    Ok(Reply::Integer(ops.len() as i64))
}

// ---------------------------------------------------------------------------------------
// Point reads

fn zscore(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let st = ctx.store();
    let s = zset_of(&st, ctx.db(), &args[1])?.and_then(|z| z.score(&args[2]));
    Ok(s.map_or(Reply::Null, score_reply))
}

fn zmscore(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let st = ctx.store();
    let z = zset_of(&st, ctx.db(), &args[1])?;
    Ok(Reply::Array(
        args[2..]
            .iter()
            .map(|m| z.and_then(|z| z.score(m)).map_or(Reply::Null, score_reply))
            .collect(),
    ))
}

fn zcard(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let st = ctx.store();
    let n = zset_of(&st, ctx.db(), &args[1])?.map_or(0, |z| z.len());
    Ok(Reply::Integer(n as i64))
}

fn rank_common(ctx: &mut Ctx<'_>, args: &[Bytes], rev: bool) -> CmdResult {
    // Redis 7.2: at most one option (more is an arity error), and only WITHSCORE.
    let withscore = match args.len() {
        3 => false,
        4 if is(&args[3], "withscore") => true,
        4 => return Err(syntax_error()),
        _ => {
            let name = if rev { "zrevrank" } else { "zrank" };
            return Err(Reply::err(format!(
                "wrong number of arguments for '{name}' command"
            )));
        }
    };
    let st = ctx.store();
    let z = zset_of(&st, ctx.db(), &args[1])?;
    let m = &args[2][..];
    let Some(score) = z.and_then(|z| z.score(m)) else {
        return Ok(if withscore {
            Reply::NullArray
        } else {
            Reply::Null
        });
    };
    let me: Entry<'_> = (m, score);
    let want = if rev {
        Ordering::Greater
    } else {
        Ordering::Less
    };
    let rank = z.map_or(0, |z| {
        z.iter()
            .filter(|(o, s)| cmp_entry(&(&o[..], *s), &me) == want)
            .count()
    }) as i64;
    Ok(if withscore {
        Reply::Array(vec![Reply::Integer(rank), score_reply(score)])
    } else {
        Reply::Integer(rank)
    })
}

fn zrank(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    rank_common(ctx, args, false)
}

fn zrevrank(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    rank_common(ctx, args, true)
}

fn zcount(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let r = ScoreRange::parse(&args[2], &args[3])?;
    let st = ctx.store();
    let n = zset_of(&st, ctx.db(), &args[1])?.map_or(0, |z| {
        z.iter()
            .filter(|(_, s)| r.gte_min(*s) && r.lte_max(*s))
            .count()
    });
    Ok(Reply::Integer(n as i64))
}

fn zlexcount(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let r = LexRange::parse(&args[2], &args[3])?;
    let st = ctx.store();
    let n = match zset_of(&st, ctx.db(), &args[1])? {
        Some(z) => select(&sorted(z), &RangeKind::Lex(r), false, None).len(),
        None => 0,
    };
    Ok(Reply::Integer(n as i64))
}

// ---------------------------------------------------------------------------------------
// Ranges

#[derive(Debug, Clone)]
enum RangeKind {
    Rank(i64, i64),
    Score(ScoreRange),
    Lex(LexRange),
}

/// The entries of `all` (sorted) in a range, in reply order.
fn select<'a>(
    all: &[Entry<'a>],
    kind: &RangeKind,
    rev: bool,
    limit: Option<(i64, i64)>,
) -> Vec<Entry<'a>> {
    let len = all.len() as i64;
    if let RangeKind::Rank(start, end) = *kind {
        let (mut s, mut e) = (start, end);
        if s < 0 {
            s += len;
        }
        if e < 0 {
            e += len;
        }
        if s < 0 {
            s = 0;
        }
        if s > e || s >= len {
            return Vec::new();
        }
        if e >= len {
            e = len - 1;
        }
        let (s, e) = (s as usize, e as usize);
        return if rev {
            (s..=e).map(|i| all[all.len() - 1 - i]).collect()
        } else {
            all[s..=e].to_vec()
        };
    }
    let (offset, count) = limit.unwrap_or((0, -1));
    if offset < 0 || (offset > 0 && offset >= len) {
        return Vec::new();
    }
    let gte = |e: &Entry<'_>| match kind {
        RangeKind::Score(r) => r.gte_min(e.1),
        RangeKind::Lex(r) => r.gte_min(e.0),
        RangeKind::Rank(..) => unreachable!(),
    };
    let lte = |e: &Entry<'_>| match kind {
        RangeKind::Score(r) => r.lte_max(e.1),
        RangeKind::Lex(r) => r.lte_max(e.0),
        RangeKind::Rank(..) => unreachable!(),
    };
    let take = if count < 0 {
        usize::MAX
    } else {
        count as usize
    };
    if rev {
        let end = all.partition_point(|e| lte(e));
        all[..end]
            .iter()
            .rev()
            .take_while(|e| gte(e))
            .skip(offset as usize)
            .take(take)
            .copied()
            .collect()
    } else {
        let start = all.partition_point(|e| !gte(e));
        all[start..]
            .iter()
            .take_while(|e| lte(e))
            .skip(offset as usize)
            .take(take)
            .copied()
            .collect()
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Dir {
    Auto,
    Fwd,
    Rev,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum RType {
    Auto,
    Rank,
    Score,
    Lex,
}

/// Redis' `zrangeGenericCommand`: `args[start]` is the source key; `store` for
/// ZRANGESTORE (destination `args[1]`).
fn zrange_generic(
    ctx: &mut Ctx<'_>,
    args: &[Bytes],
    start: usize,
    store: bool,
    mut rtype: RType,
    mut dir: Dir,
) -> CmdResult {
    let key = &args[start];
    let (mut minidx, mut maxidx) = (start + 1, start + 2);
    let mut withscores = false;
    let mut limit: Option<(i64, i64)> = None;
    let mut j = start + 3;
    while j < args.len() {
        let left = args.len() - j - 1;
        let a = &args[j];
        if !store && is(a, "withscores") {
            withscores = true;
        } else if is(a, "limit") && left >= 2 {
            let off = int(&args[j + 1])?;
            let cnt = int(&args[j + 2])?;
            limit = Some((off, cnt));
            j += 2;
        } else if dir == Dir::Auto && is(a, "rev") {
            dir = Dir::Rev;
        } else if rtype == RType::Auto && is(a, "bylex") {
            rtype = RType::Lex;
        } else if rtype == RType::Auto && is(a, "byscore") {
            rtype = RType::Score;
        } else {
            return Err(syntax_error());
        }
        j += 1;
    }
    if dir == Dir::Auto {
        dir = Dir::Fwd;
    }
    if rtype == RType::Auto {
        rtype = RType::Rank;
    }
    if limit.is_some() && rtype == RType::Rank {
        return Err(Reply::err(
            "syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        ));
    }
    if withscores && rtype == RType::Lex {
        return Err(Reply::err(
            "syntax error, WITHSCORES not supported in combination with BYLEX",
        ));
    }
    let rev = dir == Dir::Rev;
    if rev && rtype != RType::Rank {
        std::mem::swap(&mut minidx, &mut maxidx);
    }
    let kind = match rtype {
        RType::Rank => RangeKind::Rank(int(&args[minidx])?, int(&args[maxidx])?),
        RType::Score => RangeKind::Score(ScoreRange::parse(&args[minidx], &args[maxidx])?),
        _ => RangeKind::Lex(LexRange::parse(&args[minidx], &args[maxidx])?),
    };
    let resp3 = resp3(ctx);
    let db = ctx.db();
    let mut st = ctx.store();
    let z = zset_of(&st, db, key)?;
    let picked = match z {
        Some(z) => select(&sorted(z), &kind, rev, limit),
        None => Vec::new(),
    };
    if store {
        let items = owned_entries(&picked);
        let mut w = st.write(db);
        store_zset(&mut w, &args[1], &items);
        return Ok(Reply::Integer(items.len() as i64));
    }
    Ok(entries_reply(resp3, &picked, withscores))
}

fn zrange(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    zrange_generic(ctx, args, 1, false, RType::Auto, Dir::Auto)
}

fn zrangestore(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    zrange_generic(ctx, args, 2, true, RType::Auto, Dir::Auto)
}

fn zrangebyscore(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    zrange_generic(ctx, args, 1, false, RType::Score, Dir::Fwd)
}

fn zrevrangebyscore(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    zrange_generic(ctx, args, 1, false, RType::Score, Dir::Rev)
}

fn zrangebylex(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    zrange_generic(ctx, args, 1, false, RType::Lex, Dir::Fwd)
}

fn zrevrangebylex(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    zrange_generic(ctx, args, 1, false, RType::Lex, Dir::Rev)
}

fn zrevrange(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    zrange_generic(ctx, args, 1, false, RType::Rank, Dir::Rev)
}

fn zremrange_common(ctx: &mut Ctx<'_>, args: &[Bytes], kind: RangeKind) -> CmdResult {
    let key = &args[1];
    let db = ctx.db();
    let mut st = ctx.store();
    let Some(z) = zset_of(&st, db, key)? else {
        return Ok(Reply::Integer(0));
    };
    let ops: Vec<(Vec<u8>, ZOp)> = select(&sorted(z), &kind, false, None)
        .into_iter()
        .map(|(m, _)| (m.to_vec(), ZOp::Rem))
        .collect();
    if !ops.is_empty() {
        let mut w = st.write(db);
        write_ops(&mut w, key, &ops)?;
    }
    Ok(Reply::Integer(ops.len() as i64))
}

fn zremrangebyrank(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let kind = RangeKind::Rank(int(&args[2])?, int(&args[3])?);
    zremrange_common(ctx, args, kind)
}

fn zremrangebyscore(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let kind = RangeKind::Score(ScoreRange::parse(&args[2], &args[3])?);
    zremrange_common(ctx, args, kind)
}

fn zremrangebylex(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let kind = RangeKind::Lex(LexRange::parse(&args[2], &args[3])?);
    zremrange_common(ctx, args, kind)
}

// ---------------------------------------------------------------------------------------
// ZPOPMIN ZPOPMAX

fn positive_count(b: &[u8]) -> Result<i64, Reply> {
    match crate::resp::parse_i64(b) {
        Some(n) if n >= 0 => Ok(n),
        _ => Err(Reply::err("value is out of range, must be positive")),
    }
}

/// The `n` lowest (`max`: highest) entries of `z`, in pop order. O(len) to select, then
/// O(n log n) to order them.
fn extremes(z: &ZSet, max: bool, n: usize) -> Vec<Entry<'_>> {
    let mut all: Vec<Entry<'_>> = z.iter().map(|(m, s)| (&m[..], s)).collect();
    let n = n.min(all.len());
    let order = |a: &Entry<'_>, b: &Entry<'_>| {
        if max {
            cmp_entry(b, a)
        } else {
            cmp_entry(a, b)
        }
    };
    if n > 0 && n < all.len() {
        all.select_nth_unstable_by(n - 1, order);
        all.truncate(n);
    }
    all.sort_unstable_by(order);
    all
}

/// Members removed by a pop, with their scores, in pop order.
type Popped = Vec<(Vec<u8>, f64)>;

/// Removes the `n` lowest (`max`: highest) members of the sorted set at `key` in one op
/// and returns them in pop order; `Ok(None)` when the key holds no sorted set,
/// `Err(WRONGTYPE)` for another type.
fn pop_n(st: &mut Store, db: u8, key: &[u8], max: bool, n: usize) -> Result<Option<Popped>, Reply> {
    let Some(z) = zset_of(st, db, key)? else {
        return Ok(None);
    };
    let picked = owned_entries(&extremes(z, max, n));
    if !picked.is_empty() {
        let ops: Vec<(&[u8], ZOp)> = picked.iter().map(|(m, _)| (&m[..], ZOp::Rem)).collect();
        let mut w = st.write(db);
        write_ops(&mut w, key, &ops)?;
    }
    Ok(Some(picked))
}

/// Whether `key` holds a sorted set with members.
fn has_members(st: &Store, db: u8, key: &[u8]) -> Result<bool, Reply> {
    Ok(zset_of(st, db, key)?.is_some_and(|z| z.iter().next().is_some()))
}

fn zpop_common(ctx: &mut Ctx<'_>, args: &[Bytes], max: bool) -> CmdResult {
    if args.len() > 3 {
        return Err(syntax_error());
    }
    let count = match args.get(2) {
        Some(c) => Some(positive_count(c)?),
        None => None,
    };
    let resp3 = resp3(ctx);
    let key = &args[1];
    let db = ctx.db();
    let mut st = ctx.store();
    if zset_of(&st, db, key)?.is_none() || count == Some(0) {
        return Ok(Reply::Array(Vec::new()));
    }
    let n = usize::try_from(count.unwrap_or(1)).unwrap_or(usize::MAX);
    let picked = pop_n(&mut st, db, key, max, n)?.unwrap_or_default();
    let picked: Vec<Entry<'_>> = picked.iter().map(|(m, s)| (&m[..], *s)).collect();
    Ok(entries_reply(resp3 && count.is_some(), &picked, true))
}

fn zpopmin(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    zpop_common(ctx, args, false)
}

fn zpopmax(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    zpop_common(ctx, args, true)
}

// ---------------------------------------------------------------------------------------
// BZPOPMIN BZPOPMAX ZMPOP BZMPOP
//
// The blocking forms follow "Blocking commands" in `cmd/mod.rs`: serve from the first
// key (in argument order) holding a sorted set, else block on all the keys; inside EXEC
// they answer the timeout reply (a null array) at once. A woken client re-runs the
// command as Redis 7.2 does: it is served only when one of its keys holds a sorted set
// (a key turned into another type keeps it blocked), and then from the first such key
// in argument order (Redis 7.0 serves from the key that was written).

/// Serves a blocking pop from the first key holding members, or blocks on `keys`.
/// `serve` builds the reply from the key and the popped entries.
fn blocking_pop(
    ctx: &mut Ctx<'_>,
    keys: &[Bytes],
    max: bool,
    count: usize,
    timeout: Option<std::time::Duration>,
    serve: impl Fn(&[u8], &[(Vec<u8>, f64)]) -> Reply,
) -> CmdResult {
    let db = ctx.db();
    let mut st = ctx.store();
    let ready = !ctx.is_retry() || {
        let mut any = false;
        for k in keys {
            if matches!(st.get(db, k), Some(Value::ZSet(z)) if z.data.iter().next().is_some()) {
                any = true;
                break;
            }
        }
        any
    };
    if ready {
        for key in keys {
            if has_members(&st, db, key)? {
                let popped = pop_n(&mut st, db, key, max, count)?.unwrap_or_default();
                return Ok(serve(key, &popped));
            }
        }
    }
    if ctx.can_block() {
        let keys: Vec<&[u8]> = keys.iter().map(|k| &k[..]).collect();
        ctx.block(&mut st, &keys, Wake::Fifo, timeout, Reply::NullArray);
    }
    Ok(Reply::NullArray)
}

fn bzpop_common(ctx: &mut Ctx<'_>, args: &[Bytes], max: bool) -> CmdResult {
    let (keys, timeout) = args[1..].split_at(args.len() - 2);
    let timeout = timeout_arg(&timeout[0])?;
    blocking_pop(ctx, keys, max, 1, timeout, |key, popped| {
        match popped.first() {
            Some((m, s)) => Reply::Array(vec![bulk(key), bulk(m), score_reply(*s)]),
            None => Reply::NullArray,
        }
    })
}

fn bzpopmin(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    bzpop_common(ctx, args, false)
}

fn bzpopmax(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    bzpop_common(ctx, args, true)
}

/// `numkeys key [key ...] <MIN | MAX> [COUNT count]` from `args[at..]`: the keys, MAX,
/// the count. Errors as Redis' `zmpopGenericCommand`.
fn mpop_args(args: &[Bytes], at: usize) -> Result<(&[Bytes], bool, usize), Reply> {
    let numkeys = match crate::resp::parse_i64(&args[at]) {
        Some(n) if n > 0 => n as u64,
        _ => return Err(Reply::err("numkeys should be greater than 0")),
    };
    let where_at = (at as u64 + 1).saturating_add(numkeys);
    if where_at >= args.len() as u64 {
        return Err(syntax_error());
    }
    let where_at = where_at as usize;
    let max = if is(&args[where_at], "min") {
        false
    } else if is(&args[where_at], "max") {
        true
    } else {
        return Err(syntax_error());
    };
    let mut count = None;
    let mut i = where_at + 1;
    while i < args.len() {
        if count.is_none() && is(&args[i], "count") && i + 1 < args.len() {
            count = match crate::resp::parse_i64(&args[i + 1]) {
                Some(n) if n > 0 => Some(usize::try_from(n).unwrap_or(usize::MAX)),
                _ => return Err(Reply::err("count should be greater than 0")),
            };
            i += 2;
        } else {
            return Err(syntax_error());
        }
    }
    Ok((&args[at + 1..where_at], max, count.unwrap_or(1)))
}

/// `[key, [[member, score], ...]]` (ZMPOP, BZMPOP).
fn mpop_reply(key: &[u8], popped: &[(Vec<u8>, f64)]) -> Reply {
    Reply::Array(vec![
        bulk(key),
        Reply::Array(
            popped
                .iter()
                .map(|(m, s)| Reply::Array(vec![bulk(m), score_reply(*s)]))
                .collect(),
        ),
    ])
}

fn zmpop(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let (keys, max, count) = mpop_args(args, 1)?;
    let db = ctx.db();
    let mut st = ctx.store();
    for key in keys {
        if has_members(&st, db, key)? {
            let popped = pop_n(&mut st, db, key, max, count)?.unwrap_or_default();
            return Ok(mpop_reply(key, &popped));
        }
    }
    Ok(Reply::NullArray)
}

fn bzmpop(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let (keys, max, count) = mpop_args(args, 2)?;
    let timeout = timeout_arg(&args[1])?;
    blocking_pop(ctx, keys, max, count, timeout, mpop_reply)
}

// ---------------------------------------------------------------------------------------
// ZUNION ZINTER ZDIFF ZINTERCARD

#[derive(Debug, Clone, Copy, PartialEq)]
enum SetOp {
    Union,
    Inter,
    Diff,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Aggregate {
    Sum,
    Min,
    Max,
}

/// One input of a set operation: a sorted set, or a plain set (scores 1).
enum Src<'a> {
    Missing,
    Z(&'a ZSet),
    S(&'a crdt::set::ORSet),
}

impl Src<'_> {
    fn len(&self) -> usize {
        match self {
            Src::Missing => 0,
            Src::Z(z) => z.len(),
            Src::S(s) => s.len(),
        }
    }
    fn score(&self, m: &[u8]) -> Option<f64> {
        match self {
            Src::Missing => None,
            Src::Z(z) => z.score(m),
            Src::S(s) => s.contains(m).then_some(1.0),
        }
    }
    fn entries(&self) -> Vec<Entry<'_>> {
        match self {
            Src::Missing => Vec::new(),
            Src::Z(z) => z.iter().map(|(m, s)| (&m[..], s)).collect(),
            Src::S(s) => s.members().map(|m| (&m[..], 1.0)).collect(),
        }
    }
}

fn source<'s>(st: &'s Store, db: u8, key: &[u8]) -> Result<Src<'s>, Reply> {
    match st.get(db, key) {
        None => Ok(Src::Missing),
        Some(Value::ZSet(c)) => Ok(Src::Z(&c.data)),
        Some(Value::Set(c)) => Ok(Src::S(&c.data)),
        Some(_) => Err(super::args::wrong_type()),
    }
}

fn aggregate(agg: Aggregate, target: &mut f64, v: f64) {
    match agg {
        Aggregate::Sum => {
            *target += v;
            if target.is_nan() {
                *target = 0.0;
            }
        }
        Aggregate::Min => {
            if v < *target {
                *target = v;
            }
        }
        Aggregate::Max => {
            if v > *target {
                *target = v;
            }
        }
    }
}

fn weighted(w: f64, s: f64) -> f64 {
    let v = w * s;
    if v.is_nan() {
        0.0
    } else {
        v
    }
}

/// The result of a set operation over `srcs` (unsorted).
fn compute_setop<'a>(
    srcs: &'a [Src<'a>],
    weights: &[f64],
    op: SetOp,
    agg: Aggregate,
) -> Vec<Entry<'a>> {
    match op {
        SetOp::Diff => {
            let first = srcs[0].entries();
            first
                .into_iter()
                .filter(|(m, _)| srcs[1..].iter().all(|s| s.score(m).is_none()))
                .collect()
        }
        SetOp::Union => {
            let mut order: Vec<usize> = (0..srcs.len()).collect();
            order.sort_by_key(|&i| srcs[i].len());
            let mut acc: HashMap<&'a [u8], f64> = HashMap::new();
            for &i in &order {
                for (m, s) in srcs[i].entries() {
                    let v = weighted(weights[i], s);
                    match acc.get_mut(m) {
                        Some(t) => aggregate(agg, t, v),
                        None => {
                            acc.insert(m, v);
                        }
                    }
                }
            }
            acc.into_iter().collect()
        }
        SetOp::Inter => {
            let mut order: Vec<usize> = (0..srcs.len()).collect();
            order.sort_by_key(|&i| srcs[i].len());
            let first = order[0];
            let mut out = Vec::new();
            'members: for (m, s) in srcs[first].entries() {
                let mut t = weighted(weights[first], s);
                for &i in &order[1..] {
                    match srcs[i].score(m) {
                        Some(s) => aggregate(agg, &mut t, weighted(weights[i], s)),
                        None => continue 'members,
                    }
                }
                out.push((m, t));
            }
            out
        }
    }
}

fn zsetop_generic(ctx: &mut Ctx<'_>, args: &[Bytes], op: SetOp, store: bool) -> CmdResult {
    let numkeys_idx = if store { 2 } else { 1 };
    let setnum = int(&args[numkeys_idx])?;
    if setnum < 1 {
        return Err(Reply::err(format!(
            "at least 1 input key is needed for '{}' command",
            String::from_utf8_lossy(&args[0]).to_ascii_lowercase()
        )));
    }
    let first_key = numkeys_idx + 1;
    if setnum as u64 > (args.len() - first_key) as u64 {
        return Err(syntax_error());
    }
    let setnum = setnum as usize;
    let resp3 = resp3(ctx);
    let db = ctx.db();
    let mut st = ctx.store();
    let srcs: Vec<Src<'_>> = args[first_key..first_key + setnum]
        .iter()
        .map(|k| source(&st, db, k))
        .collect::<Result<_, _>>()?;
    let mut weights = vec![1.0; setnum];
    let mut agg = Aggregate::Sum;
    let mut withscores = false;
    let mut j = first_key + setnum;
    while j < args.len() {
        let remaining = args.len() - j;
        let a = &args[j];
        if op != SetOp::Diff && remaining > setnum && is(a, "weights") {
            for (i, w) in weights.iter_mut().enumerate() {
                *w = parse_float(&args[j + 1 + i])
                    .ok_or_else(|| Reply::err("weight value is not a float"))?;
            }
            j += 1 + setnum;
        } else if op != SetOp::Diff && remaining >= 2 && is(a, "aggregate") {
            let v = &args[j + 1];
            agg = if is(v, "sum") {
                Aggregate::Sum
            } else if is(v, "min") {
                Aggregate::Min
            } else if is(v, "max") {
                Aggregate::Max
            } else {
                return Err(syntax_error());
            };
            j += 2;
        } else if !store && is(a, "withscores") {
            withscores = true;
            j += 1;
        } else {
            return Err(syntax_error());
        }
    }
    let mut result = compute_setop(&srcs, &weights, op, agg);
    result.sort_unstable_by(cmp_entry);
    if store {
        let items = owned_entries(&result);
        let mut w = st.write(db);
        store_zset(&mut w, &args[1], &items);
        return Ok(Reply::Integer(items.len() as i64));
    }
    Ok(entries_reply(resp3, &result, withscores))
}

fn zunion(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    zsetop_generic(ctx, args, SetOp::Union, false)
}

fn zinter(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    zsetop_generic(ctx, args, SetOp::Inter, false)
}

fn zdiff(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    zsetop_generic(ctx, args, SetOp::Diff, false)
}

fn zunionstore(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    zsetop_generic(ctx, args, SetOp::Union, true)
}

fn zinterstore(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    zsetop_generic(ctx, args, SetOp::Inter, true)
}

fn zdiffstore(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    zsetop_generic(ctx, args, SetOp::Diff, true)
}

fn zintercard(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let setnum = int(&args[1])?;
    if setnum < 1 {
        return Err(Reply::err(
            "at least 1 input key is needed for 'zintercard' command",
        ));
    }
    if setnum as u64 > (args.len() - 2) as u64 {
        return Err(syntax_error());
    }
    let setnum = setnum as usize;
    let st = ctx.store();
    let srcs: Vec<Src<'_>> = args[2..2 + setnum]
        .iter()
        .map(|k| source(&st, ctx.db(), k))
        .collect::<Result<_, _>>()?;
    let mut limit = 0usize;
    let mut j = 2 + setnum;
    while j < args.len() {
        if args.len() - j >= 2 && is(&args[j], "limit") {
            limit = match crate::resp::parse_i64(&args[j + 1]) {
                Some(n) if n >= 0 => n as usize,
                _ => return Err(Reply::err("LIMIT can't be negative")),
            };
            j += 2;
        } else {
            return Err(syntax_error());
        }
    }
    let mut order: Vec<usize> = (0..setnum).collect();
    order.sort_by_key(|&i| srcs[i].len());
    let mut n = 0usize;
    for (m, _) in srcs[order[0]].entries() {
        if order[1..].iter().all(|&i| srcs[i].score(m).is_some()) {
            n += 1;
            if limit != 0 && n >= limit {
                break;
            }
        }
    }
    Ok(Reply::Integer(n as i64))
}

// ---------------------------------------------------------------------------------------
// ZRANDMEMBER ZSCAN

/// A small process-wide pseudo-random generator (splitmix64), seeded from the clock.
pub(super) fn random_u64() -> u64 {
    static STATE: AtomicU64 = AtomicU64::new(0);
    let mut s = STATE.load(AtomicOrdering::Relaxed);
    if s == 0 {
        s = crate::store::wall_ms() ^ ((std::process::id() as u64) << 32) | 1;
    }
    s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
    STATE.store(s, AtomicOrdering::Relaxed);
    let mut z = s;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn zrandmember(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let resp3 = resp3(ctx);
    if args.len() == 2 {
        let st = ctx.store();
        let Some(z) = zset_of(&st, ctx.db(), &args[1])? else {
            return Ok(Reply::Null);
        };
        let n = z.len();
        if n == 0 {
            return Ok(Reply::Null);
        }
        let pick = (random_u64() % n as u64) as usize;
        return Ok(z.iter().nth(pick).map_or(Reply::Null, |(m, _)| bulk(m)));
    }
    let count = match crate::resp::parse_i64(&args[2]) {
        Some(i64::MIN) => {
            return Err(Reply::err(
                "value is out of range, value must between -9223372036854775807 and 9223372036854775807",
            ))
        }
        Some(n) => n,
        None => return Err(Reply::err(NOT_INTEGER)),
    };
    let withscores = match args.len() {
        3 => false,
        4 if is(&args[3], "withscores") => true,
        _ => return Err(syntax_error()),
    };
    if withscores && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&count) {
        return Err(Reply::err("value is out of range"));
    }
    let st = ctx.store();
    let Some(z) = zset_of(&st, ctx.db(), &args[1])? else {
        return Ok(Reply::Array(Vec::new()));
    };
    if count == 0 {
        return Ok(Reply::Array(Vec::new()));
    }
    let all: Vec<Entry<'_>> = z.iter().map(|(m, s)| (&m[..], s)).collect();
    let picked: Vec<Entry<'_>> = if count < 0 {
        let n = count.unsigned_abs();
        (0..n)
            .map(|_| all[(random_u64() % all.len() as u64) as usize])
            .collect()
    } else {
        // Partial Fisher-Yates shuffle: `count` distinct members in random order.
        let mut v = all;
        let n = (count as usize).min(v.len());
        for i in 0..n {
            let j = i + (random_u64() % (v.len() - i) as u64) as usize;
            v.swap(i, j);
        }
        v.truncate(n);
        v
    };
    Ok(entries_reply(resp3, &picked, withscores))
}

fn zscan(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let o = scan_opts(&args[2..], false, false)?;
    let st = ctx.store();
    let Some(z) = zset_of(&st, ctx.db(), &args[1])? else {
        return Ok(scan_reply(0, Vec::new()));
    };
    let (next, items) = scan_step(z.iter().map(|(m, s)| (&m[..], s)), &o);
    let mut out = Vec::with_capacity(items.len() * 2);
    for (m, s) in items {
        out.push(bulk(m));
        out.push(Reply::bulk(crate::resp::format_double(s)));
    }
    Ok(scan_reply(next, out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_like_redis() {
        assert_eq!(parse_float(b"1.5"), Some(1.5));
        assert_eq!(parse_float(b"inf"), Some(f64::INFINITY));
        assert_eq!(parse_float(b"+inf"), Some(f64::INFINITY));
        assert_eq!(parse_float(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_float(b"1e3"), Some(1000.0));
        assert_eq!(parse_float(b"0"), Some(0.0));
        assert_eq!(parse_float(b"-0.0"), Some(0.0));
        assert!(parse_float(b"-0").unwrap().is_sign_positive());
        assert_eq!(parse_float(b"0x10"), Some(16.0));
        assert_eq!(parse_float(b"-0X1p3"), Some(-8.0));
        assert_eq!(parse_float(b"0x"), None);
        assert_eq!(parse_range_item(b"(0x10"), Some((16.0, true)));
        for bad in [&b""[..], b"nan", b" 1", b"1 ", b"abc", b"1e400", b"1e-400"] {
            assert_eq!(parse_float(bad), None, "{:?}", bad);
        }
    }

    #[test]
    fn range_items() {
        assert_eq!(parse_range_item(b"(1.5"), Some((1.5, true)));
        assert_eq!(parse_range_item(b"-inf"), Some((f64::NEG_INFINITY, false)));
        assert_eq!(parse_range_item(b""), Some((0.0, false)));
        assert_eq!(parse_range_item(b"nan"), None);
        assert!(parse_lex_item(b"a").is_none());
        assert!(parse_lex_item(b"+x").is_none());
        assert!(matches!(parse_lex_item(b"-"), Some(LexItem::Min)));
    }

    #[test]
    fn select_ranges() {
        let all: Vec<Entry<'_>> = vec![(&b"a"[..], 1.0), (b"b", 2.0), (b"c", 3.0), (b"d", 4.0)];
        let names = |v: Vec<Entry<'_>>| v.iter().map(|e| e.0[0] as char).collect::<String>();
        assert_eq!(
            names(select(&all, &RangeKind::Rank(0, -1), false, None)),
            "abcd"
        );
        assert_eq!(
            names(select(&all, &RangeKind::Rank(1, 2), true, None)),
            "cb"
        );
        assert_eq!(names(select(&all, &RangeKind::Rank(5, 9), false, None)), "");
        let r = ScoreRange::parse(b"(1", b"+inf").unwrap();
        assert_eq!(
            names(select(&all, &RangeKind::Score(r), false, None)),
            "bcd"
        );
        assert_eq!(
            names(select(&all, &RangeKind::Score(r), true, Some((1, 1)))),
            "c"
        );
        assert_eq!(
            names(select(&all, &RangeKind::Score(r), false, Some((-1, 2)))),
            ""
        );
        let l = LexRange::parse(b"[b", b"(d").unwrap();
        assert_eq!(names(select(&all, &RangeKind::Lex(l), false, None)), "bc");
    }
}
