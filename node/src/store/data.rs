//! The replication core's view of the store ([`replication::core::Data`]).
//!
//! Remote ops go through [`Store::apply_remote`] (HLC observed, expiry index, watch
//! versions and blocked clients kept up to date), snapshot keys through
//! [`Store::merge_snapshot_key`].

use super::Store;
use crdt::{CausalContext, Key, OpDelta, VersionVector};
use replication::core::data::{keyspace_chunk, keyspace_keys_in_range};
use replication::core::{Data, SnapshotCursor, SnapshotKey};

impl Data for Store {
    fn applied(&self) -> VersionVector {
        self.keyspace().applied().clone()
    }
    fn ctx(&self) -> CausalContext {
        self.keyspace().ctx().clone()
    }
    fn apply(&mut self, op: &OpDelta) {
        self.apply_remote(op)
    }
    fn snapshot_chunk(
        &self,
        from: &SnapshotCursor,
        keys_max: usize,
    ) -> (Vec<SnapshotKey>, Option<SnapshotCursor>) {
        keyspace_chunk(self.keyspace(), from, keys_max)
    }
    fn keys_in_range(
        &self,
        after: &SnapshotCursor,
        upto: Option<(u8, &[u8])>,
        keys_max: usize,
    ) -> (Vec<(u8, Vec<u8>)>, Option<SnapshotCursor>) {
        keyspace_keys_in_range(self.keyspace(), after, upto, keys_max)
    }
    fn merge_key(&mut self, db: u8, key: &[u8], state: &Key, ctx: &CausalContext) {
        self.merge_snapshot_key(db, key, state, ctx)
    }
    fn merge_ctx(&mut self, ctx: &CausalContext) {
        self.merge_snapshot_ctx(ctx)
    }
    fn gc(&mut self, stable: &VersionVector) {
        Store::gc(self, stable)
    }
}
