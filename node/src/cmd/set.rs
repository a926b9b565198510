//! Set commands: SADD SREM SCARD SISMEMBER SMISMEMBER SMEMBERS SRANDMEMBER SPOP SMOVE
//! SINTER SINTERCARD SINTERSTORE SUNION SUNIONSTORE SDIFF SDIFFSTORE SSCAN.
//!
//! A set is an add-wins observed-remove set ([`ORSet`]): SADD adds the member under a
//! fresh dot (re-adding an existing member refreshes it, so it survives a concurrent SREM
//! that did not see this add); SREM, SPOP and SMOVE remove only the adds they observed.
//! The `*STORE` forms overwrite the destination: they delete everything the region had
//! observed under it (any type, and its TTL) and write a freshly created set — or leave
//! the key deleted when the result is empty, as Redis does. SMOVE is one op touching both
//! keys, so every region applies the removal and the addition together.
//!
//! Random picks (SPOP, SRANDMEMBER) are uniform but cost O(N) in the set size: the CRDT
//! map has no indexed access.

use std::collections::HashSet;

use bytes::Bytes;
use crdt::dotset::DotFun;
use crdt::key::Coll;
use crdt::set::ORSet;
use crdt::{CausalContext, DotStore, Hlc, Kind, Value};
use rand::seq::{IteratorRandom, SliceRandom};

use super::args::{int, syntax_error};
use super::util::{bulk, get_kind, scan_opts, scan_reply, scan_step};
use super::{CmdResult, CommandSpec, Ctx, Flag, Group};
use crate::resp::{parse_i64, Reply};
use crate::store::{Store, Write, WrongType};

const W: &[Flag] = &[Flag::Write, Flag::Denyoom];
const WF: &[Flag] = &[Flag::Write, Flag::Fast];
const WDF: &[Flag] = &[Flag::Write, Flag::Denyoom, Flag::Fast];
const R: &[Flag] = &[Flag::Readonly];
const RF: &[Flag] = &[Flag::Readonly, Flag::Fast];
const RM: &[Flag] = &[Flag::Readonly, Flag::MovableKeys];

/// Largest |count| SRANDMEMBER/HRANDFIELD answer with repetitions (a negative count):
/// Redis has no bound and would build a reply of any size; we refuse above this.
pub(super) const MAX_RANDOM_COUNT: u64 = 1 << 24;

macro_rules! spec {
    ($name:literal, $arity:expr, $f:ident, $flags:expr, $k:expr, $since:literal, $sum:literal, $cx:expr) => {
        CommandSpec::new($name, $arity, $f)
            .flags($flags)
            .keys($k.0, $k.1, $k.2)
            .group(Group::Set)
            .since($since)
            .summary($sum)
            .complexity($cx)
    };
}

const SCAN_CX: &str = "O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection..";

/// Set command family.
pub static COMMANDS: &[CommandSpec] = &[
    spec!("sadd", -3, sadd, WDF, (1, 1, 1), "1.0.0", "Add one or more members to a set", "O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments."),
    spec!("srem", -3, srem, WF, (1, 1, 1), "1.0.0", "Remove one or more members from a set", "O(N) where N is the number of members to be removed."),
    spec!("scard", 2, scard, RF, (1, 1, 1), "1.0.0", "Get the number of members in a set", "O(1)"),
    spec!("sismember", 3, sismember, RF, (1, 1, 1), "1.0.0", "Determine if a given value is a member of a set", "O(1)"),
    spec!("smismember", -3, smismember, RF, (1, 1, 1), "6.2.0", "Returns the membership associated with the given elements for a set", "O(N) where N is the number of elements being checked for membership"),
    spec!("smembers", 2, smembers, R, (1, 1, 1), "1.0.0", "Get all the members in a set", "O(N) where N is the set cardinality."),
    spec!("srandmember", -2, srandmember, R, (1, 1, 1), "1.0.0", "Get one or multiple random members from a set", "Without the count argument O(1), otherwise O(N) where N is the absolute value of the passed count."),
    spec!("spop", -2, spop, WF, (1, 1, 1), "1.0.0", "Remove and return one or multiple random members from a set", "Without the count argument O(1), otherwise O(N) where N is the value of the passed count."),
    spec!("smove", 4, smove, WF, (1, 2, 1), "1.0.0", "Move a member from one set to another", "O(1)"),
    spec!("sinter", -2, sinter, R, (1, -1, 1), "1.0.0", "Intersect multiple sets", "O(N*M) worst case where N is the cardinality of the smallest set and M is the number of sets."),
    spec!("sintercard", -3, sintercard, RM, (0, 0, 0), "7.0.0", "Intersect multiple sets and return the cardinality of the result", "O(N*M) worst case where N is the cardinality of the smallest set and M is the number of sets."),
    spec!("sinterstore", -3, sinterstore, W, (1, -1, 1), "1.0.0", "Intersect multiple sets and store the resulting set in a key", "O(N*M) worst case where N is the cardinality of the smallest set and M is the number of sets."),
    spec!("sunion", -2, sunion, R, (1, -1, 1), "1.0.0", "Add multiple sets", "O(N) where N is the total number of elements in all given sets."),
    spec!("sunionstore", -3, sunionstore, W, (1, -1, 1), "1.0.0", "Add multiple sets and store the resulting set in a key", "O(N) where N is the total number of elements in all given sets."),
    spec!("sdiff", -2, sdiff, R, (1, -1, 1), "1.0.0", "Subtract multiple sets", "O(N) where N is the total number of elements in all given sets."),
    spec!("sdiffstore", -3, sdiffstore, W, (1, -1, 1), "1.0.0", "Subtract multiple sets and store the resulting set in a key", "O(N) where N is the total number of elements in all given sets."),
    spec!("sscan", -3, sscan, R, (1, 1, 1), "2.8.0", "Incrementally iterate Set elements", SCAN_CX),
];

// ---------------------------------------------------------------------------------------
// Shared helpers (also used by the hash family).

/// Creation stamps for a write to an existing collection whose creation stamps are
/// `created`, once the element deltas have filled `ctx`: when `ctx` covers a stamp, it is
/// re-issued under a fresh dot of `w` ([`Coll::carry_created`]) so the collection keeps
/// its creation HLC; otherwise nothing is needed (no dot is taken).
pub(super) fn carry_created(
    w: &mut Write<'_>,
    created: DotFun<Hlc>,
    ctx: &mut CausalContext,
) -> DotFun<Hlc> {
    if !created.entries().iter().any(|e| ctx.contains(e.0)) {
        return DotFun::default();
    }
    let (dot, _) = w.stamp();
    let c: Coll<ORSet> = Coll {
        created,
        data: ORSet::default(),
    };
    c.carry_created(dot, ctx)
}

/// A parsed count argument in `[-i64::MAX, i64::MAX]`, with Redis' messages
/// (`getRangeLongFromObjectOrReply(-LONG_MAX, LONG_MAX)`).
pub(super) fn ranged_count(arg: &[u8]) -> Result<i64, Reply> {
    let v = int(arg)?;
    if v == i64::MIN {
        return Err(Reply::err(
            "value is out of range, value must between -9223372036854775807 and 9223372036854775807",
        ));
    }
    Ok(v)
}

/// Picks `count` random indexes of `0..n` for SRANDMEMBER/HRANDFIELD with a count
/// (`n > 0`): distinct indexes when `count >= 0` (all of them when `count >= n`), with
/// repetitions when negative.
pub(super) fn random_indexes(n: usize, count: i64) -> Result<Vec<usize>, Reply> {
    let mut rng = rand::thread_rng();
    if count >= 0 {
        let k = count as u64;
        if k >= n as u64 {
            return Ok((0..n).collect());
        }
        let mut v = rand::seq::index::sample(&mut rng, n, k as usize).into_vec();
        v.shuffle(&mut rng);
        Ok(v)
    } else {
        let k = count.unsigned_abs();
        if k > MAX_RANDOM_COUNT {
            return Err(Reply::err("value is out of range"));
        }
        use rand::Rng;
        Ok((0..k).map(|_| rng.gen_range(0..n)).collect())
    }
}

// ---------------------------------------------------------------------------------------
// Reads and writes of one set.

/// The set stored at `key`, `Err(WRONGTYPE)` for another type.
fn read_set<'s>(st: &'s Store, db: u8, key: &[u8]) -> Result<Option<&'s ORSet>, Reply> {
    Ok(match get_kind(st, db, key, Kind::Set)? {
        Some(Value::Set(c)) => Some(&c.data),
        _ => None,
    })
}

/// Adds `members` to the set at `key` (creating it); returns how many were new.
fn add_members<'m>(
    w: &mut Write<'_>,
    key: &[u8],
    members: impl IntoIterator<Item = &'m [u8]>,
) -> Result<i64, WrongType> {
    let fresh = w.prepare(key, Kind::Set)?;
    let (dot, _) = w.stamp();
    let creation = if fresh { Some(w.stamp()) } else { None };
    let empty = ORSet::default();
    let mut ctx = CausalContext::new();
    let mut delta = ORSet::default();
    let mut added = 0;
    let created = {
        let cur = match w.get(key) {
            Some(Value::Set(c)) => Some(&**c),
            _ => None,
        };
        let data = cur.map(|c| &c.data).unwrap_or(&empty);
        for m in members {
            // The delta already holds the members handled earlier in this command.
            if !data.contains(m) && !delta.contains(m) {
                added += 1;
            }
            data.add_into(&mut delta, m, dot, &mut ctx);
        }
        cur.map(|c| c.created.clone())
    };
    let created = match created {
        Some(c) if !fresh => carry_created(w, c, &mut ctx),
        _ => DotFun::default(),
    };
    w.emit_coll(
        key,
        creation,
        Value::Set(Box::new(Coll {
            created,
            data: delta,
        })),
        ctx,
    );
    Ok(added)
}

/// Removes `members` from the set at `key` (observed-remove); deletes the key when it
/// becomes empty. Returns how many were members. Writes nothing when none was.
fn remove_members<'m>(
    w: &mut Write<'_>,
    key: &[u8],
    members: impl IntoIterator<Item = &'m [u8]>,
) -> i64 {
    let mut ctx = CausalContext::new();
    let mut delta = ORSet::default();
    let mut removed = 0;
    let created = match w.get(key) {
        Some(Value::Set(c)) => {
            for m in members {
                // The delta already holds the members removed earlier in this command.
                if c.data.contains(m) && !delta.contains(m) {
                    removed += 1;
                    c.data.rem_into(&mut delta, m, &mut ctx);
                }
            }
            c.created.clone()
        }
        _ => return 0,
    };
    if removed == 0 {
        return 0;
    }
    let created = carry_created(w, created, &mut ctx);
    w.emit_coll(
        key,
        None,
        Value::Set(Box::new(Coll {
            created,
            data: delta,
        })),
        ctx,
    );
    if w.get(key).is_none() {
        w.delete_raw(key);
    }
    removed
}

/// Overwrites `dst` with a fresh set of `members` (deletes it when empty).
fn store_set(w: &mut Write<'_>, dst: &[u8], members: &[crdt::Bytes]) {
    w.delete_raw(dst);
    if members.is_empty() {
        return;
    }
    let (dot, _) = w.stamp();
    let creation = Some(w.stamp());
    let empty = ORSet::default();
    let mut data = ORSet::default();
    data.reserve(members.len());
    let mut ctx = CausalContext::new();
    for m in members {
        empty.add_into(&mut data, m, dot, &mut ctx);
    }
    debug_assert!(!data.is_bottom());
    w.emit_coll(
        dst,
        creation,
        Value::Set(Box::new(Coll {
            created: DotFun::default(),
            data,
        })),
        ctx,
    );
}

// ---------------------------------------------------------------------------------------
// Commands.

fn sadd(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let db = ctx.db();
    let mut st = ctx.store();
    let mut w = st.write(db);
    let n = add_members(&mut w, &args[1], args[2..].iter().map(|m| &m[..]))?;
    Ok(Reply::Integer(n))
}

fn srem(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let db = ctx.db();
    let mut st = ctx.store();
    if read_set(&st, db, &args[1])?.is_none() {
        return Ok(Reply::Integer(0));
    }
    let mut w = st.write(db);
    let n = remove_members(&mut w, &args[1], args[2..].iter().map(|m| &m[..]));
    Ok(Reply::Integer(n))
}

fn scard(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let st = ctx.store();
    let n = read_set(&st, ctx.db(), &args[1])?.map_or(0, |s| s.len());
    Ok(Reply::Integer(n as i64))
}

fn sismember(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let st = ctx.store();
    let s = read_set(&st, ctx.db(), &args[1])?;
    Ok(Reply::Integer(
        s.is_some_and(|s| s.contains(&args[2])) as i64
    ))
}

fn smismember(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let st = ctx.store();
    let s = read_set(&st, ctx.db(), &args[1])?;
    Ok(Reply::Array(
        args[2..]
            .iter()
            .map(|m| Reply::Integer(s.is_some_and(|s| s.contains(m)) as i64))
            .collect(),
    ))
}

fn smembers(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let st = ctx.store();
    let s = read_set(&st, ctx.db(), &args[1])?;
    Ok(Reply::Set(
        s.map(|s| s.members().map(|m| bulk(m)).collect())
            .unwrap_or_default(),
    ))
}

fn srandmember(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    if args.len() > 3 {
        return Err(syntax_error());
    }
    let count = match args.get(2) {
        Some(a) => Some(ranged_count(a)?),
        None => None,
    };
    let st = ctx.store();
    let s = read_set(&st, ctx.db(), &args[1])?;
    let Some(count) = count else {
        let mut rng = rand::thread_rng();
        return Ok(s
            .and_then(|s| s.members().choose(&mut rng))
            .map_or(Reply::Null, |m| bulk(m)));
    };
    let s = match s {
        Some(s) if count != 0 => s,
        _ => return Ok(Reply::Array(Vec::new())),
    };
    let members: Vec<&crdt::Bytes> = s.members().collect();
    let idx = random_indexes(members.len(), count)?;
    // One buffer per distinct member, shared by its repetitions.
    let shared: Vec<Bytes> = if count < 0 {
        members.iter().map(|m| Bytes::copy_from_slice(m)).collect()
    } else {
        Vec::new()
    };
    Ok(Reply::Array(
        idx.into_iter()
            .map(|i| match shared.get(i) {
                Some(b) => Reply::Bulk(b.clone()),
                None => bulk(members[i]),
            })
            .collect(),
    ))
}

fn spop(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    if args.len() > 3 {
        return Err(syntax_error());
    }
    let count = match args.get(2) {
        Some(a) => {
            // Redis' getPositiveLongFromObjectOrReply: one message for both cases.
            match parse_i64(a) {
                Some(v) if v >= 0 => Some(v as u64),
                _ => return Err(Reply::err("value is out of range, must be positive")),
            }
        }
        None => None,
    };
    let db = ctx.db();
    let mut st = ctx.store();
    let picked: Vec<crdt::Bytes> = {
        let Some(s) = read_set(&st, db, &args[1])? else {
            return Ok(match count {
                Some(_) => Reply::Set(Vec::new()),
                None => Reply::Null,
            });
        };
        let mut rng = rand::thread_rng();
        match count {
            None => s.members().choose(&mut rng).into_iter().cloned().collect(),
            Some(0) => return Ok(Reply::Set(Vec::new())),
            Some(k) if k >= s.len() as u64 => s.members().cloned().collect(),
            Some(k) => s
                .members()
                .choose_multiple(&mut rng, k as usize)
                .into_iter()
                .cloned()
                .collect(),
        }
    };
    let mut w = st.write(db);
    remove_members(&mut w, &args[1], picked.iter().map(|m| &m[..]));
    drop(w);
    Ok(match count {
        None => picked.first().map_or(Reply::Null, |m| bulk(m)),
        Some(_) => Reply::Set(picked.iter().map(|m| bulk(m)).collect()),
    })
}

fn smove(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let (src, dst, m) = (&args[1], &args[2], &args[3]);
    let db = ctx.db();
    let mut st = ctx.store();
    // Redis: a missing source answers 0 before any type check.
    if st.get(db, src).is_none() {
        return Ok(Reply::Integer(0));
    }
    let s = read_set(&st, db, src)?.expect("source exists");
    read_set(&st, db, dst)?;
    if !s.contains(m) {
        return Ok(Reply::Integer(0));
    }
    if src == dst {
        return Ok(Reply::Integer(1));
    }
    let mut w = st.write(db);
    remove_members(&mut w, src, [&m[..]]);
    add_members(&mut w, dst, [&m[..]])?;
    Ok(Reply::Integer(1))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum SetOp {
    Inter,
    Union,
    Diff,
}

/// The sets stored at `keys` (`None` for a missing key); every key is type-checked, as in
/// Redis.
fn sets<'s>(st: &'s Store, db: u8, keys: &[Bytes]) -> Result<Vec<Option<&'s ORSet>>, Reply> {
    keys.iter().map(|k| read_set(st, db, k)).collect()
}

/// Members of the intersection, stopping after `limit` (0 = no limit).
fn inter<'s>(sets: &[Option<&'s ORSet>], limit: usize) -> Vec<&'s [u8]> {
    let Some(mut sets) = sets.iter().copied().collect::<Option<Vec<&ORSet>>>() else {
        return Vec::new();
    };
    sets.sort_by_key(|s| s.len());
    let mut out = Vec::new();
    for m in sets[0].members() {
        if sets[1..].iter().all(|s| s.contains(m)) {
            out.push(&m[..]);
            if limit != 0 && out.len() >= limit {
                break;
            }
        }
    }
    out
}

fn algebra<'s>(op: SetOp, sets: &[Option<&'s ORSet>]) -> Vec<&'s [u8]> {
    match op {
        SetOp::Inter => inter(sets, 0),
        SetOp::Union => {
            let mut seen = HashSet::new();
            let mut out = Vec::new();
            for m in sets.iter().flatten().flat_map(|s| s.members()) {
                if seen.insert(&m[..]) {
                    out.push(&m[..]);
                }
            }
            out
        }
        SetOp::Diff => match sets.first().copied().flatten() {
            None => Vec::new(),
            Some(first) => first
                .members()
                .filter(|m| !sets[1..].iter().flatten().any(|s| s.contains(m)))
                .map(|m| &m[..])
                .collect(),
        },
    }
}

fn set_op(ctx: &mut Ctx<'_>, args: &[Bytes], op: SetOp) -> CmdResult {
    let st = ctx.store();
    let sets = sets(&st, ctx.db(), &args[1..])?;
    Ok(Reply::Set(
        algebra(op, &sets).into_iter().map(bulk).collect(),
    ))
}

fn set_op_store(ctx: &mut Ctx<'_>, args: &[Bytes], op: SetOp) -> CmdResult {
    let db = ctx.db();
    let mut st = ctx.store();
    let result: Vec<crdt::Bytes> = {
        let sets = sets(&st, db, &args[2..])?;
        algebra(op, &sets).into_iter().map(Into::into).collect()
    };
    let mut w = st.write(db);
    store_set(&mut w, &args[1], &result);
    Ok(Reply::Integer(result.len() as i64))
}

fn sinter(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    set_op(ctx, args, SetOp::Inter)
}

fn sunion(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    set_op(ctx, args, SetOp::Union)
}

fn sdiff(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    set_op(ctx, args, SetOp::Diff)
}

fn sinterstore(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    set_op_store(ctx, args, SetOp::Inter)
}

fn sunionstore(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    set_op_store(ctx, args, SetOp::Union)
}

fn sdiffstore(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    set_op_store(ctx, args, SetOp::Diff)
}

fn sintercard(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let numkeys = match parse_i64(&args[1]) {
        Some(n) if n >= 1 => n as u64,
        _ => return Err(Reply::err("numkeys should be greater than 0")),
    };
    if numkeys > (args.len() - 2) as u64 {
        return Err(Reply::err(
            "Number of keys can't be greater than number of args",
        ));
    }
    let keys = &args[2..2 + numkeys as usize];
    let mut limit = 0usize;
    let mut i = 2 + numkeys as usize;
    while i < args.len() {
        if super::args::is(&args[i], "limit") && i + 1 < args.len() {
            match parse_i64(&args[i + 1]) {
                Some(n) if n >= 0 => limit = usize::try_from(n).unwrap_or(usize::MAX),
                _ => return Err(Reply::err("LIMIT can't be negative")),
            }
            i += 2;
        } else {
            return Err(syntax_error());
        }
    }
    let st = ctx.store();
    let sets = sets(&st, ctx.db(), keys)?;
    Ok(Reply::Integer(inter(&sets, limit).len() as i64))
}

fn sscan(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let o = scan_opts(&args[2..], false, false)?;
    let st = ctx.store();
    let Some(s) = read_set(&st, ctx.db(), &args[1])? else {
        return Ok(scan_reply(0, Vec::new()));
    };
    let (next, items) = scan_step(s.members().map(|m| (&m[..], ())), &o);
    Ok(scan_reply(
        next,
        items.into_iter().map(|(m, _)| bulk(m)).collect(),
    ))
}

/// Command-level tests against the store: how many ops a command ships, and what another
/// region converges to when it applies them. Shared with the hash family's tests.
#[cfg(test)]
pub(super) mod tests {
    use std::sync::{Arc, Mutex};

    use bytes::Bytes;
    use crdt::OpDelta;

    use crate::cmd::{CmdResult, Ctx, FAMILIES};
    use crate::config::Config;
    use crate::resp::Reply;
    use crate::server::{ClientHandle, ClientState, ServerState};
    use crate::store::DeltaSink;

    /// A sink that records every op.
    #[derive(Clone, Default)]
    struct Record(Arc<Mutex<Vec<OpDelta>>>);

    impl DeltaSink for Record {
        fn emit(&mut self, op: &OpDelta, _first_seq: u64) {
            self.0.lock().unwrap().push(op.clone());
        }
    }

    /// One region: a server state with a recording sink and one client.
    pub(in crate::cmd) struct Region {
        state: ServerState,
        client: ClientState,
        ops: Record,
        /// How many of each peer's ops this region has applied.
        applied: Vec<usize>,
    }

    impl Region {
        pub(in crate::cmd) fn new(region_id: u64) -> Region {
            let config = Config {
                region_id,
                ..Config::default()
            };
            let state = ServerState::new(config, None);
            let ops = Record::default();
            state.store.lock().set_sink(Box::new(ops.clone()));
            let addr = "127.0.0.1:1".parse().unwrap();
            let client = ClientState::new(Arc::new(ClientHandle::new(1, addr, addr, -1)));
            Region {
                state,
                client,
                ops,
                applied: vec![0; 8],
            }
        }

        /// Runs one command (no arity check: the table does that).
        pub(in crate::cmd) fn run(&mut self, args: &[&str]) -> CmdResult {
            let name = args[0].to_ascii_lowercase();
            let spec = FAMILIES
                .iter()
                .flat_map(|f| f.iter())
                .find(|s| s.name == name)
                .unwrap_or_else(|| panic!("no command {name}"));
            let argv: Vec<Bytes> = args.iter().map(|a| Bytes::from(a.to_string())).collect();
            let mut ctx = Ctx::new(&self.state, &mut self.client);
            (spec.handler.expect("handler"))(&mut ctx, &argv)
        }

        /// Runs a command that must succeed.
        pub(in crate::cmd) fn ok(&mut self, args: &[&str]) -> Reply {
            self.run(args)
                .unwrap_or_else(|e| panic!("{args:?} failed: {e:?}"))
        }

        /// Ops shipped so far.
        pub(in crate::cmd) fn op_count(&self) -> usize {
            self.ops.0.lock().unwrap().len()
        }

        /// Applies the ops of `other` this region has not applied yet.
        pub(in crate::cmd) fn pull(&mut self, other: &Region, other_id: usize) {
            let ops = other.ops.0.lock().unwrap().clone();
            let mut st = self.state.store.lock();
            for op in &ops[self.applied[other_id]..] {
                st.apply_remote(op);
            }
            self.applied[other_id] = ops.len();
        }
    }

    /// The bulk strings of an array or set reply, sorted.
    pub(in crate::cmd) fn sorted(r: Reply) -> Vec<String> {
        let items = match r {
            Reply::Array(v) | Reply::Set(v) => v,
            other => panic!("not a collection: {other:?}"),
        };
        let mut out: Vec<String> = items
            .into_iter()
            .map(|r| match r {
                Reply::Bulk(b) => String::from_utf8(b.to_vec()).unwrap(),
                other => panic!("not a bulk: {other:?}"),
            })
            .collect();
        out.sort();
        out
    }

    #[test]
    fn failing_and_noop_commands_ship_nothing() {
        let mut a = Region::new(1);
        a.ok(&["SET", "str", "x"]);
        a.ok(&["SADD", "s", "m"]);
        let n = a.op_count();
        for args in [
            &["SADD", "str", "m"][..],
            &["SPOP", "s", "-1"],
            &["SMOVE", "s", "str", "m"],
            &["SINTERSTORE", "d", "s", "str"],
            &["SDIFFSTORE", "d", "str"],
        ] {
            assert!(a.run(args).is_err(), "{args:?}");
        }
        for args in [
            &["SREM", "s", "zz"][..],
            &["SREM", "nope", "m"],
            &["SPOP", "nope"],
            &["SPOP", "s", "0"],
            &["SMOVE", "s", "t", "zz"],
            &["SMOVE", "s", "s", "m"],
            &["SINTERSTORE", "nope2", "nope"],
            &["SMEMBERS", "s"],
            &["SRANDMEMBER", "s", "-5"],
        ] {
            a.ok(args);
        }
        assert_eq!(a.op_count(), n, "nothing shipped");
    }

    #[test]
    fn regions_converge_and_adds_win() {
        let (mut a, mut b) = (Region::new(1), Region::new(2));
        a.ok(&["SADD", "s", "x", "y", "z"]);
        b.pull(&a, 1);
        assert_eq!(sorted(b.ok(&["SMEMBERS", "s"])), ["x", "y", "z"]);
        // Concurrently: A removes x and pops everything else; B re-adds x and adds w.
        a.ok(&["SREM", "s", "x"]);
        a.ok(&["SPOP", "s", "10"]);
        assert_eq!(a.ok(&["EXISTS", "s"]), Reply::Integer(0));
        b.ok(&["SADD", "s", "x", "w"]);
        a.pull(&b, 2);
        b.pull(&a, 1);
        // B's adds were not observed by A's removals: they survive everywhere.
        for r in [&mut a, &mut b] {
            assert_eq!(sorted(r.ok(&["SMEMBERS", "s"])), ["w", "x"]);
        }
    }

    #[test]
    fn smove_is_one_op_and_store_forms_replicate() {
        let (mut a, mut b) = (Region::new(1), Region::new(2));
        a.ok(&["SADD", "src", "m", "n"]);
        a.ok(&["SADD", "other", "n", "o"]);
        let n = a.op_count();
        assert_eq!(a.ok(&["SMOVE", "src", "dst", "m"]), Reply::Integer(1));
        assert_eq!(a.op_count(), n + 1, "SMOVE ships one op");
        let op = a.ops.0.lock().unwrap().last().unwrap().clone();
        let keys: Vec<&[u8]> = op.keys.iter().map(|k| &k.key[..]).collect();
        assert!(
            keys.contains(&&b"src"[..]) && keys.contains(&&b"dst"[..]),
            "{keys:?}"
        );
        a.ok(&["SET", "u", "string"]);
        assert_eq!(
            a.ok(&["SUNIONSTORE", "u", "src", "other"]),
            Reply::Integer(2)
        );
        assert_eq!(
            a.ok(&["SINTERSTORE", "i", "src", "other"]),
            Reply::Integer(1)
        );
        b.pull(&a, 1);
        for r in [&mut a, &mut b] {
            assert_eq!(sorted(r.ok(&["SMEMBERS", "src"])), ["n"]);
            assert_eq!(sorted(r.ok(&["SMEMBERS", "dst"])), ["m"]);
            assert_eq!(sorted(r.ok(&["SMEMBERS", "u"])), ["n", "o"]);
            assert_eq!(sorted(r.ok(&["SMEMBERS", "i"])), ["n"]);
        }
        // Emptying a store destination deletes it everywhere.
        a.ok(&["SDIFFSTORE", "u", "src", "src"]);
        b.pull(&a, 1);
        assert_eq!(b.ok(&["EXISTS", "u"]), Reply::Integer(0));
    }

    #[test]
    fn a_set_keeps_its_type_stamp_through_removals() {
        // A set created in A, then a concurrent SET on the same key in B with a lower
        // HLC: the set must still win after A removes members (its creation stamp is
        // kept), as the type-conflict rule says.
        let (mut a, mut b) = (Region::new(1), Region::new(2));
        b.state.store.lock().set_clock_offset_ms(-60_000);
        b.ok(&["SET", "k", "string"]);
        a.ok(&["SADD", "k", "x", "y"]);
        a.ok(&["SREM", "k", "x"]);
        a.ok(&["SADD", "k", "x"]);
        a.ok(&["SREM", "k", "y"]);
        a.pull(&b, 2);
        b.pull(&a, 1);
        for r in [&mut a, &mut b] {
            assert_eq!(sorted(r.ok(&["SMEMBERS", "k"])), ["x"]);
        }
    }
}
