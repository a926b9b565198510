//! Stream consumer groups: node-local, never replicated.
//!
//! DESIGN.md makes consumer groups per region: each region keeps its own groups, last
//! delivered IDs, pending entries lists (PEL) and consumers for its streams, and none of
//! it travels to other regions (a group created in region A does not exist in region B;
//! an XACK in B does not acknowledge a delivery made in A). The stream entries themselves
//! are replicated, so a group in each region can consume the whole, merged stream.
//!
//! Groups live next to the keyspace, keyed by `(db, key)`, and follow the key's life:
//! when the key stops being a visible stream (DEL, expiry, FLUSHDB, a type change, a
//! delete replicated from another region) its groups are dropped (see
//! `Store::apply_key_tracked`); a read of an expired key drops them too.
//!
//! Groups are not persisted: after a restart a region's streams are recovered but its
//! consumer groups are gone (XGROUP CREATE again). Bounds: at most [`MAX_GROUPS`] groups
//! per stream and [`MAX_CONSUMERS`] consumers per group.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crdt::stream::StreamId;

/// Most groups one stream may have.
pub const MAX_GROUPS: usize = 1024;
/// Most consumers one group may have.
pub const MAX_CONSUMERS: usize = 10_000;

/// One pending (delivered, not acknowledged) entry.
#[derive(Debug, Clone)]
pub struct Pending {
    /// Owning consumer.
    pub consumer: crdt::Bytes,
    /// Last delivery time (Unix ms).
    pub delivered_ms: u64,
    /// Number of deliveries.
    pub count: u64,
}

/// One consumer.
#[derive(Debug, Clone, Default)]
pub struct Consumer {
    /// Last time it was seen (any interaction), Unix ms.
    pub seen_ms: u64,
    /// Last time it read entries successfully, Unix ms (`None`: never).
    pub active_ms: Option<u64>,
    /// Its pending entries.
    pub pel: BTreeSet<StreamId>,
}

/// One consumer group.
#[derive(Debug, Clone, Default)]
pub struct Group {
    /// Last delivered ID.
    pub last_id: StreamId,
    /// Entries read (`None`: unknown).
    pub entries_read: Option<u64>,
    /// Pending entries, by ID.
    pub pel: BTreeMap<StreamId, Pending>,
    /// Consumers, by name.
    pub consumers: BTreeMap<crdt::Bytes, Consumer>,
}

impl Group {
    /// The consumer `name`, created if needed (`None` when the group is full).
    pub fn consumer(&mut self, name: &[u8], now: u64) -> Option<&mut Consumer> {
        if !self.consumers.contains_key(name) {
            if self.consumers.len() >= MAX_CONSUMERS {
                return None;
            }
            self.consumers.insert(
                name.into(),
                Consumer {
                    seen_ms: now,
                    active_ms: None,
                    pel: BTreeSet::new(),
                },
            );
        }
        let c = self.consumers.get_mut(name).expect("just inserted");
        c.seen_ms = now;
        Some(c)
    }

    /// Removes `id` from the PEL (and its consumer's). Returns whether it was pending.
    pub fn ack(&mut self, id: StreamId) -> bool {
        match self.pel.remove(&id) {
            Some(p) => {
                if let Some(c) = self.consumers.get_mut(&p.consumer) {
                    c.pel.remove(&id);
                }
                true
            }
            None => false,
        }
    }

    /// Records the delivery of `id` to `consumer` at `now` (moving ownership if needed).
    pub fn deliver(&mut self, id: StreamId, consumer: &[u8], now: u64, bump: bool) {
        let prev = self.pel.get(&id).map(|p| p.consumer.clone());
        if let Some(prev) = prev {
            if prev[..] != consumer[..] {
                if let Some(c) = self.consumers.get_mut(&prev) {
                    c.pel.remove(&id);
                }
            }
        }
        let p = self.pel.entry(id).or_insert_with(|| Pending {
            consumer: consumer.into(),
            delivered_ms: now,
            count: 0,
        });
        p.consumer = consumer.into();
        p.delivered_ms = now;
        if bump {
            p.count += 1;
        }
        if let Some(c) = self.consumers.get_mut(consumer) {
            c.pel.insert(id);
        }
    }
}

/// The groups of every stream of the region.
#[derive(Debug, Default)]
pub struct Groups {
    by_key: HashMap<(u8, crdt::Bytes), BTreeMap<crdt::Bytes, Group>>,
}

impl Groups {
    /// Whether no stream has a group (the write path's cheap check).
    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    /// The groups of a stream.
    pub fn of(&self, db: u8, key: &[u8]) -> Option<&BTreeMap<crdt::Bytes, Group>> {
        self.by_key.get(&(db, key.into()))
    }

    /// The groups of a stream, for changes (created empty).
    pub fn of_mut(&mut self, db: u8, key: &[u8]) -> &mut BTreeMap<crdt::Bytes, Group> {
        self.by_key.entry((db, key.into())).or_default()
    }

    /// Drops the entry of a stream left without groups.
    pub fn tidy(&mut self, db: u8, key: &[u8]) {
        let k = (db, crdt::Bytes::from(key));
        if self.by_key.get(&k).is_some_and(|g| g.is_empty()) {
            self.by_key.remove(&k);
        }
    }

    /// Drops every group of a stream.
    pub fn drop_key(&mut self, db: u8, key: &[u8]) {
        self.by_key.remove(&(db, key.into()));
    }

    /// Number of streams with groups.
    pub fn streams(&self) -> usize {
        self.by_key.len()
    }
}
