//! Stream consumer groups: node-local, never replicated.
//!
//! DESIGN.md makes consumer groups per region: each region keeps its own groups, last
//! delivered IDs, pending entries lists (PEL) and consumers for its streams, and none of
//! it travels to other regions (a group created in region A does not exist in region B;
//! an XACK in B does not acknowledge a delivery made in A). The stream entries themselves
//! are replicated, so a group in each region can consume the whole, merged stream.
//!
//! Late entries: an entry from another region can arrive after the group delivered a
//! higher ID (the regions were partitioned, or the other region's clock is behind).
//! `>` alone (entries above the last delivered ID) would never deliver it here — a bug
//! the jepsen stream workload found. So when a replicated delta adds an entry at or
//! below a group's last delivered ID, the entry joins the group's *late* set
//! ([`Group::late`]), and `XREADGROUP ... >` delivers late entries first (they sort
//! below the new ones), then new ones. At most [`MAX_LATE`] per group: beyond that the
//! oldest are dropped with a warning (counted in `late_dropped`).
//!
//! Groups live next to the keyspace, keyed by `(db, key)`, and follow the key's life:
//! when the key stops being a visible stream (DEL, expiry, FLUSHDB, a type change, a
//! delete replicated from another region) its groups are dropped (see
//! `Store::apply_key_tracked`); a read of an expired key drops them too.
//!
//! Persistence: every command that changes a stream's groups marks the stream dirty
//! (`of_mut`); when the command releases the store, the store logs the stream's whole
//! group state as one WAL record ([`Groups::take_dirty`], [`Groups::encode`]), and
//! snapshots copy every stream's groups. Recovery restores them ([`Groups::restore`]),
//! so after a restart a region has its groups, last delivered IDs, consumers and PELs as
//! of the last acknowledged command. The cost is one record of the stream's whole group
//! state per changing command: small for job queues, whose PELs hold the jobs in flight
//! (~20 bytes + the consumer name per pending entry), but a group with a very long PEL
//! (100k pending entries: ~2.5 MB per XREADGROUP / XACK) makes every such command write
//! that much. Logging per-entry changes instead is the fix; not done yet.
//! Bounds: at most [`MAX_GROUPS`] groups per stream and [`MAX_CONSUMERS`] consumers per
//! group.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crdt::stream::StreamId;

/// Most groups one stream may have.
pub const MAX_GROUPS: usize = 1024;
/// Most consumers one group may have.
pub const MAX_CONSUMERS: usize = 10_000;
/// Most late entries one group holds for delivery.
pub const MAX_LATE: usize = 1_000_000;

/// One pending (delivered, not acknowledged) entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pending {
    /// Owning consumer.
    pub consumer: crdt::Bytes,
    /// Last delivery time (Unix ms).
    pub delivered_ms: u64,
    /// Number of deliveries.
    pub count: u64,
}

/// One consumer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Consumer {
    /// Last time it was seen (any interaction), Unix ms.
    pub seen_ms: u64,
    /// Last time it read entries successfully, Unix ms (`None`: never).
    pub active_ms: Option<u64>,
    /// Its pending entries.
    pub pel: BTreeSet<StreamId>,
}

/// One consumer group.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Group {
    /// Last delivered ID.
    pub last_id: StreamId,
    /// Entries read (`None`: unknown).
    pub entries_read: Option<u64>,
    /// Pending entries, by ID.
    pub pel: BTreeMap<StreamId, Pending>,
    /// Consumers, by name.
    pub consumers: BTreeMap<crdt::Bytes, Consumer>,
    /// Entries from other regions that arrived at or below `last_id` and are not
    /// delivered yet (see the module docs).
    pub late: BTreeSet<StreamId>,
    /// Late entries dropped at [`MAX_LATE`].
    pub late_dropped: u64,
}

impl Group {
    /// Notes an entry that arrived from another region: late when at or below the last
    /// delivered ID (and not delivered yet).
    pub fn arrived(&mut self, id: StreamId) -> bool {
        if id > self.last_id || self.pel.contains_key(&id) || self.late.contains(&id) {
            return false;
        }
        if self.late.len() >= MAX_LATE {
            self.late.pop_first();
            self.late_dropped += 1;
        }
        self.late.insert(id);
        true
    }

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
    /// Streams whose groups changed since the last [`Groups::take_dirty`].
    dirty: HashSet<(u8, crdt::Bytes)>,
}

/// Format byte of [`Groups::encode`].
const GROUPS_FORMAT: u8 = 1;

impl Groups {
    /// Whether no stream has a group (the write path's cheap check).
    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    /// The groups of a stream.
    pub fn of(&self, db: u8, key: &[u8]) -> Option<&BTreeMap<crdt::Bytes, Group>> {
        self.by_key.get(&(db, key.into()))
    }

    /// The groups of a stream, for changes (created empty). Marks the stream dirty.
    pub fn of_mut(&mut self, db: u8, key: &[u8]) -> &mut BTreeMap<crdt::Bytes, Group> {
        let k: (u8, crdt::Bytes) = (db, key.into());
        if !self.dirty.contains(&k) {
            self.dirty.insert(k.clone());
        }
        self.by_key.entry(k).or_default()
    }

    /// Drops the entry of a stream left without groups.
    pub fn tidy(&mut self, db: u8, key: &[u8]) {
        let k = (db, crdt::Bytes::from(key));
        if self.by_key.get(&k).is_some_and(|g| g.is_empty()) {
            self.by_key.remove(&k);
        }
    }

    /// Whether a command changed some stream's groups.
    pub fn has_dirty(&self) -> bool {
        !self.dirty.is_empty()
    }

    /// The streams whose groups changed, forgetting them.
    pub fn take_dirty(&mut self) -> Vec<(u8, crdt::Bytes)> {
        self.dirty.drain().collect()
    }

    /// The whole group state of a stream (no groups: an empty map), versioned.
    pub fn encode(&self, db: u8, key: &[u8]) -> Vec<u8> {
        let empty = BTreeMap::new();
        let g = self.by_key.get(&(db, key.into())).unwrap_or(&empty);
        postcard::to_extend(g, vec![GROUPS_FORMAT]).expect("encoding to a Vec cannot fail")
    }

    /// Replaces a stream's groups with an [`Groups::encode`]d state (recovery).
    pub fn restore(&mut self, db: u8, key: &[u8], state: &[u8]) -> Result<(), String> {
        let g: BTreeMap<crdt::Bytes, Group> = match state.first() {
            Some(&GROUPS_FORMAT) => postcard::from_bytes(&state[1..]).map_err(|e| e.to_string())?,
            Some(v) => return Err(format!("unknown consumer group format {v}")),
            None => return Err("empty consumer group state".into()),
        };
        if g.is_empty() {
            self.by_key.remove(&(db, key.into()));
        } else {
            self.by_key.insert((db, key.into()), g);
        }
        Ok(())
    }

    /// Notes entries that arrived from another region in every group of a stream (see
    /// [`Group::arrived`]); marks the stream dirty when one was late.
    pub fn arrived(&mut self, db: u8, key: &[u8], ids: &[StreamId]) {
        let k: (u8, crdt::Bytes) = (db, key.into());
        let Some(groups) = self.by_key.get_mut(&k) else {
            return;
        };
        let mut late = false;
        for g in groups.values_mut() {
            for &id in ids {
                late |= g.arrived(id);
            }
        }
        if late {
            self.dirty.insert(k);
        }
    }

    /// Every stream with groups: `(db, key)`.
    pub fn keys(&self) -> Vec<(u8, crdt::Bytes)> {
        self.by_key.keys().cloned().collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_restore_round_trip_and_dirty_tracking() {
        let mut gs = Groups::default();
        let g = gs.of_mut(2, b"s").entry(b"g1"[..].into()).or_default();
        g.last_id = StreamId::new(5, 1);
        g.consumer(b"alice", 10).unwrap();
        g.deliver(StreamId::new(5, 1), b"alice", 11, true);
        assert!(gs.has_dirty());
        assert_eq!(gs.take_dirty(), vec![(2, b"s"[..].into())]);
        assert!(!gs.has_dirty());
        let enc = gs.encode(2, b"s");
        let mut back = Groups::default();
        back.restore(2, b"s", &enc).unwrap();
        assert_eq!(back.of(2, b"s"), gs.of(2, b"s"));
        assert!(!back.has_dirty(), "a restore is not a change to log");
        // An empty state removes the stream's groups.
        back.restore(2, b"s", &Groups::default().encode(2, b"s"))
            .unwrap();
        assert!(back.of(2, b"s").is_none());
        assert!(back.restore(2, b"s", &[9, 0]).is_err());
        assert!(back.restore(2, b"s", &[]).is_err());
        assert!(back.restore(2, b"s", &[GROUPS_FORMAT, 0xff]).is_err());
    }

    #[test]
    fn entries_arriving_below_the_last_delivered_id_are_late() {
        let mut gs = Groups::default();
        let g = gs.of_mut(0, b"s").entry(b"g"[..].into()).or_default();
        g.last_id = StreamId::new(200, 0);
        g.consumer(b"c", 1).unwrap();
        g.deliver(StreamId::new(100, 0), b"c", 1, true);
        gs.take_dirty();
        gs.arrived(
            0,
            b"s",
            &[
                StreamId::new(150, 0), // late
                StreamId::new(100, 0), // delivered already (pending)
                StreamId::new(300, 0), // new: `>` serves it anyway
            ],
        );
        let g = &gs.of(0, b"s").unwrap()[&b"g"[..]];
        assert_eq!(
            g.late.iter().copied().collect::<Vec<_>>(),
            vec![StreamId::new(150, 0)]
        );
        assert!(gs.has_dirty(), "late entries are group state to persist");
        gs.take_dirty();
        gs.arrived(0, b"s", &[StreamId::new(150, 0)]);
        assert!(!gs.has_dirty(), "already late");
        gs.arrived(0, b"other", &[StreamId::new(1, 0)]);
        assert!(gs.of(0, b"other").is_none());
    }
}
