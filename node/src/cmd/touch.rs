//! Access tracking for LRU/LFU eviction: before a command runs, the existing keys it
//! names are touched (their node-local access words updated, see `store::access`), as
//! Redis' key lookups at the start of a command do; a key the command creates starts
//! with its initial word (LFU counter 5, as Redis' new objects). Commands that only inspect metadata (OBJECT, TYPE, TTL, EXISTS...)
//! do not touch, as in Redis.

use bytes::Bytes;

use super::{table::CommandEntry, Ctx, Flag};
use crate::acl::keys::{command_keys, Keys};

/// Commands whose lookups do not count as accesses (Redis' `LOOKUP_NOTOUCH`).
const NO_TOUCH: &[&str] = &[
    "object",
    "type",
    "ttl",
    "pttl",
    "expiretime",
    "pexpiretime",
    "exists",
];

/// Touches the keys of `args` (one store lock for all of them).
pub(super) fn touch_keys(ctx: &Ctx<'_>, entry: &CommandEntry, args: &[Bytes]) {
    let spec = entry.spec;
    if spec.first_key <= 0 && !spec.has_flag(Flag::MovableKeys) {
        return;
    }
    if NO_TOUCH.contains(&entry.fullname.as_str()) {
        return;
    }
    let db = ctx.db();
    if spec.has_flag(Flag::MovableKeys) {
        if let Keys::Args(positions) = command_keys(entry, args) {
            let mut st = ctx.store();
            for (i, _) in positions {
                st.touch(db, &args[i]);
            }
        }
        return;
    }
    let argc = args.len() as i64;
    let last = match i64::from(spec.last_key) {
        l if l < 0 => argc + l,
        l => l,
    };
    let step = i64::from(spec.key_step.max(1));
    let mut i = i64::from(spec.first_key);
    let mut st = ctx.store();
    while i <= last && i < argc {
        st.touch(db, &args[i as usize]);
        i += step;
    }
}
