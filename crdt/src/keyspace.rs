//! A replica's whole CRDT state: 16 logical databases of [`Key`]s, one causal context,
//! and the deltas that move it ([`OpDelta`]).
//!
//! Every write command (or MULTI/EXEC transaction) issues exactly one [`Dot`] of its
//! region, so a region's dots are its op-log sequence numbers and the replica's context
//! version vector is exactly "what has been applied from each origin". An [`OpDelta`]
//! holds one small delta per touched key; applying it is a keyed join (cost proportional
//! to the delta) and is idempotent and order-insensitive.

use crate::context::{Causal, CausalContext, DotStore};
use crate::dot::{Dot, RegionId};
use crate::hlc::Hlc;
use crate::key::Key;
use crate::vv::VersionVector;
use crate::Bytes;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Number of logical databases (SELECT 0..15).
pub const DATABASES: usize = 16;

/// The delta of one key.
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
pub struct KeyDelta {
    /// Logical database.
    pub db: u8,
    /// The key.
    #[serde(with = "serde_bytes")]
    pub key: Bytes,
    /// Its delta, with the dots it adds and removes.
    pub delta: Causal<Key>,
}

/// The deltas of one write command or transaction, applied atomically.
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
pub struct OpDelta {
    /// The op's dot (origin region, origin sequence number).
    pub dot: Dot,
    /// The op's HLC (receivers observe it so later local writes order after it).
    pub hlc: Hlc,
    /// Per-key deltas (possibly several for one key, applied in order).
    pub keys: Vec<KeyDelta>,
}

/// One replica's full state.
#[derive(Clone, Debug)]
pub struct Keyspace {
    dbs: Vec<HashMap<Bytes, Key>>,
    ctx: CausalContext,
    /// Contexts of the key deltas of the op being applied.
    pending: CausalContext,
}

impl Default for Keyspace {
    fn default() -> Self {
        Keyspace {
            dbs: (0..DATABASES).map(|_| HashMap::new()).collect(),
            ctx: CausalContext::new(),
            pending: CausalContext::new(),
        }
    }
}

impl PartialEq for Keyspace {
    fn eq(&self, o: &Self) -> bool {
        self.dbs == o.dbs && self.ctx == o.ctx
    }
}

impl Keyspace {
    /// An empty keyspace.
    pub fn new() -> Keyspace {
        Keyspace::default()
    }

    /// The replica's causal context (everything applied).
    pub fn ctx(&self) -> &CausalContext {
        &self.ctx
    }

    /// The version vector of applied ops per origin.
    pub fn applied(&self) -> &VersionVector {
        self.ctx.vv()
    }

    /// The next dot `region` issues (does not mark it applied).
    pub fn peek_dot(&self, region: RegionId) -> Dot {
        Dot::new(region, self.ctx.vv().get(region) + 1)
    }

    /// A key's state (visible or not).
    pub fn get(&self, db: u8, key: &[u8]) -> Option<&Key> {
        self.dbs.get(db as usize)?.get(key)
    }

    /// A database's keys.
    pub fn db(&self, db: u8) -> &HashMap<Bytes, Key> {
        &self.dbs[db as usize]
    }

    /// Mutable access to a database (for local maintenance such as expiry indexes).
    pub fn db_mut(&mut self, db: u8) -> &mut HashMap<Bytes, Key> {
        &mut self.dbs[db as usize]
    }

    /// Whether an op has already been applied (duplicates are harmless anyway).
    pub fn has_applied(&self, dot: Dot) -> bool {
        self.ctx.contains(dot)
    }

    /// Applies one key delta of the op being applied. The key's store is joined against
    /// the context as it was *before* the op (so several keys, or several deltas of one
    /// key, may carry entries with the op's dot); the delta's context is joined into the
    /// replica's context by [`Keyspace::finish_op`].
    pub fn apply_key(&mut self, kd: &KeyDelta) {
        let db = &mut self.dbs[kd.db as usize % DATABASES];
        match db.get_mut(&kd.key[..]) {
            Some(k) => {
                k.join_delta(&self.ctx, &kd.delta.store, &kd.delta.ctx);
                if k.is_bottom() {
                    db.remove(&kd.key[..]);
                }
            }
            None => {
                let mut k = Key::default();
                k.join_delta(&self.ctx, &kd.delta.store, &kd.delta.ctx);
                if !k.is_bottom() {
                    db.insert(kd.key.clone(), k);
                }
            }
        }
        self.pending.join(&kd.delta.ctx);
    }

    /// Ends the op whose key deltas were applied with [`Keyspace::apply_key`]: marks its
    /// dot and every dot its deltas saw as applied.
    pub fn finish_op(&mut self, dot: Dot) {
        let p = std::mem::take(&mut self.pending);
        self.ctx.join(&p);
        self.ctx.insert(dot);
    }

    /// Applies a whole op atomically: every key delta, then [`Keyspace::finish_op`].
    pub fn apply(&mut self, op: &OpDelta) {
        for kd in &op.keys {
            self.apply_key(kd);
        }
        self.finish_op(op.dot);
    }

    /// Merges another replica's full state (full resync).
    pub fn merge(&mut self, other: &Keyspace) {
        for (i, db) in self.dbs.iter_mut().enumerate() {
            let odb = &other.dbs[i];
            let bottom = Key::default();
            db.retain(|k, v| {
                v.join(&self.ctx, odb.get(k).unwrap_or(&bottom), &other.ctx);
                !v.is_bottom()
            });
            for (k, ov) in odb {
                if !db.contains_key(k) {
                    let mut n = Key::default();
                    n.join(&self.ctx, ov, &other.ctx);
                    if !n.is_bottom() {
                        db.insert(k.clone(), n);
                    }
                }
            }
        }
        self.ctx.join(&other.ctx);
    }

    /// Merges one key of another replica's full state (streamed full resync: the sender's
    /// context must be merged once at the end with [`Keyspace::merge_ctx`]).
    pub fn merge_key(&mut self, db: u8, key: &[u8], other: &Key, other_ctx: &CausalContext) {
        let d = &mut self.dbs[db as usize % DATABASES];
        let mut k = d.remove(key).unwrap_or_default();
        k.join(&self.ctx, other, other_ctx);
        if !k.is_bottom() {
            d.insert(key.into(), k);
        }
    }

    /// Joins a context into the replica's (end of a full resync).
    pub fn merge_ctx(&mut self, other: &CausalContext) {
        self.ctx.join(other);
    }

    /// Garbage collection at causal stability (see [`Key::gc`]).
    pub fn gc(&mut self, stable: &VersionVector) {
        for db in self.dbs.iter_mut() {
            db.retain(|_, k| {
                k.gc(stable);
                !k.is_bottom()
            });
        }
    }

    /// Number of stored keys (visible or not) over all databases.
    pub fn stored_keys(&self) -> usize {
        self.dbs.iter().map(|d| d.len()).sum()
    }
}
