//! The replicator's view of the region's data: the [`Data`] trait.
//!
//! The core never owns the data: every handler that reads or writes it takes
//! `&mut dyn Data` (the trait is object safe, so the node passes its `Store` and the tests
//! a `crdt::Keyspace` through the same calls). An implementation for [`Keyspace`] is
//! provided here.

use crdt::keyspace::DATABASES;
use crdt::{CausalContext, DotStore, Key, Keyspace, OpDelta, VersionVector};

/// Where a streamed snapshot resumes: the next key of database `db` strictly after
/// `after` (in byte order), or the database's first key when `after` is `None`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SnapshotCursor {
    /// Database.
    pub db: u8,
    /// Last key already sent in `db`.
    pub after: Option<Vec<u8>>,
}

/// One key of a snapshot: `(db, key, crdt::codec::encode_key(state))`.
pub type SnapshotKey = (u8, Vec<u8>, Vec<u8>);

/// The region's data as the replicator needs it.
///
/// Contract: `apply` is only called with an op whose first dot directly follows what
/// [`Data::applied`] reports for its origin (causal delivery); after it, `applied` covers
/// the whole op. Remote ops are applied through `apply` (the implementation observes the
/// op's HLC in the region's clock). Local ops are applied by the node itself and only
/// *reported* to the replicator.
pub trait Data {
    /// Version vector of applied ops per origin (the context's contiguous prefix).
    fn applied(&self) -> VersionVector;
    /// The whole causal context.
    fn ctx(&self) -> CausalContext;
    /// Applies a remote op atomically.
    fn apply(&mut self, op: &OpDelta);
    /// Up to `keys_max` keys from `from` in cursor order (each key read atomically), and
    /// where to resume (`None`: done). Keys need not be read at one instant: see the
    /// full-resync notes in [`crate::core`].
    fn snapshot_chunk(
        &self,
        from: &SnapshotCursor,
        keys_max: usize,
    ) -> (Vec<SnapshotKey>, Option<SnapshotCursor>);
    /// This region's keys in cursor order strictly after `after` and up to `upto`
    /// inclusive (`None`: to the end), at most `keys_max`, and where to continue when the
    /// range holds more (`None`: done).
    fn keys_in_range(
        &self,
        after: &SnapshotCursor,
        upto: Option<(u8, &[u8])>,
        keys_max: usize,
    ) -> (Vec<(u8, Vec<u8>)>, Option<SnapshotCursor>);
    /// Merges one key of a peer's snapshot whose context was `ctx` at its beginning
    /// (`Keyspace::merge_key`; a key the snapshot lacks is merged as `Key::default()`).
    fn merge_key(&mut self, db: u8, key: &[u8], state: &Key, ctx: &CausalContext);
    /// Joins a peer snapshot's context once every key is merged (`Keyspace::merge_ctx`).
    fn merge_ctx(&mut self, ctx: &CausalContext);
    /// Tombstone garbage collection at causal stability (`Keyspace::gc`).
    fn gc(&mut self, stable: &VersionVector);
    /// Per origin, the highest dot any key holds (only read after a restart from state
    /// saved while merged snapshot state was ahead of the applied vector). The provided
    /// implementation reads every key through [`Data::snapshot_chunk`].
    fn max_dots(&self) -> VersionVector {
        let mut out = VersionVector::new();
        let mut from = SnapshotCursor::default();
        loop {
            let (keys, next) = self.snapshot_chunk(&from, 1024);
            for (_, _, state) in &keys {
                if let Ok(k) = crdt::codec::decode_key(state) {
                    k.for_each_dot(&mut |d| out.raise(d.region(), d.seq()));
                }
            }
            match next {
                Some(n) => from = n,
                None => return out,
            }
        }
    }
}

/// Snapshot chunk of a [`Keyspace`] (shared with wrappers in tests): keys in byte order
/// per database, selected with a partial sort (O(n) per chunk for a database of n keys;
/// the node's store answers from its ordered index instead).
pub fn keyspace_chunk(
    ks: &Keyspace,
    from: &SnapshotCursor,
    keys_max: usize,
) -> (Vec<SnapshotKey>, Option<SnapshotCursor>) {
    let mut out: Vec<SnapshotKey> = Vec::new();
    let mut db = from.db as usize;
    let mut after = from.after.clone();
    while db < DATABASES {
        let room = keys_max.saturating_sub(out.len());
        if room == 0 {
            return (
                out,
                Some(SnapshotCursor {
                    db: db as u8,
                    after,
                }),
            );
        }
        let map = ks.db(db as u8);
        let mut keys: Vec<&crdt::Bytes> = map
            .keys()
            .filter(|k| after.as_deref().is_none_or(|a| k[..] > *a))
            .collect();
        let more = keys.len() > room;
        if more {
            keys.select_nth_unstable(room);
            keys.truncate(room);
        }
        keys.sort_unstable();
        for k in &keys {
            out.push((db as u8, k.to_vec(), crdt::codec::encode_key(&map[*k])));
        }
        if more {
            let last = keys.last().map(|k| k.to_vec());
            return (
                out,
                Some(SnapshotCursor {
                    db: db as u8,
                    after: last,
                }),
            );
        }
        db += 1;
        after = None;
    }
    (out, None)
}

/// [`Data::keys_in_range`] for a [`Keyspace`] (shared with wrappers in tests).
pub fn keyspace_keys_in_range(
    ks: &Keyspace,
    after: &SnapshotCursor,
    upto: Option<(u8, &[u8])>,
    keys_max: usize,
) -> (Vec<(u8, Vec<u8>)>, Option<SnapshotCursor>) {
    let mut out = Vec::new();
    let last_db = upto.map_or(DATABASES - 1, |(d, _)| (d as usize).min(DATABASES - 1));
    let mut db = after.db as usize;
    let mut from = after.after.clone();
    while db <= last_db {
        let limit = upto.filter(|(d, _)| *d as usize == db).map(|(_, k)| k);
        let mut keys: Vec<&crdt::Bytes> = ks
            .db(db as u8)
            .keys()
            .filter(|k| from.as_deref().is_none_or(|a| k[..] > *a))
            .filter(|k| limit.is_none_or(|l| k[..] <= *l))
            .collect();
        let room = keys_max.saturating_sub(out.len()).max(1);
        let more = keys.len() > room;
        if more {
            keys.select_nth_unstable(room);
            keys.truncate(room);
        }
        keys.sort_unstable();
        out.extend(keys.iter().map(|k| (db as u8, k.to_vec())));
        if more {
            let next = SnapshotCursor {
                db: db as u8,
                after: keys.last().map(|k| k.to_vec()),
            };
            return (out, Some(next));
        }
        db += 1;
        from = None;
    }
    (out, None)
}

impl Data for Keyspace {
    fn applied(&self) -> VersionVector {
        Keyspace::applied(self).clone()
    }
    fn ctx(&self) -> CausalContext {
        Keyspace::ctx(self).clone()
    }
    fn apply(&mut self, op: &OpDelta) {
        Keyspace::apply(self, op)
    }
    fn snapshot_chunk(
        &self,
        from: &SnapshotCursor,
        keys_max: usize,
    ) -> (Vec<SnapshotKey>, Option<SnapshotCursor>) {
        keyspace_chunk(self, from, keys_max)
    }
    fn keys_in_range(
        &self,
        after: &SnapshotCursor,
        upto: Option<(u8, &[u8])>,
        keys_max: usize,
    ) -> (Vec<(u8, Vec<u8>)>, Option<SnapshotCursor>) {
        keyspace_keys_in_range(self, after, upto, keys_max)
    }
    fn merge_key(&mut self, db: u8, key: &[u8], state: &Key, ctx: &CausalContext) {
        Keyspace::merge_key(self, db, key, state, ctx)
    }
    fn merge_ctx(&mut self, ctx: &CausalContext) {
        Keyspace::merge_ctx(self, ctx)
    }
    fn gc(&mut self, stable: &VersionVector) {
        Keyspace::gc(self, stable)
    }
    fn max_dots(&self) -> VersionVector {
        keyspace_max_dots(self)
    }
}

/// [`Data::max_dots`] for a [`Keyspace`] (shared with wrappers in tests).
pub fn keyspace_max_dots(ks: &Keyspace) -> VersionVector {
    let mut out = VersionVector::new();
    for db in 0..DATABASES {
        for k in ks.db(db as u8).values() {
            k.for_each_dot(&mut |d| out.raise(d.region(), d.seq()));
        }
    }
    out
}
