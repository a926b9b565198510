//! The keyspace seam. **To be wired to the `crdt` crate.**
//!
//! Phase 1 of the node has no data types: this struct answers as an empty
//! keyspace with `databases` logical databases, so that DBSIZE, FLUSHDB,
//! FLUSHALL and the `# Keyspace` section of INFO already have their final
//! call sites. The CRDT-backed implementation replaces the bodies below (and
//! adds the state and the write path: command → CRDT deltas → apply → sink
//! for replication and persistence); the command handlers reach it through
//! `ServerState::keyspace` (see `server::ServerState`).

/// Per-database counts for `INFO keyspace`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DbStats {
    /// Number of keys.
    pub keys: u64,
    /// Keys with an expiry.
    pub expires: u64,
    /// Average remaining TTL of keys with an expiry, in milliseconds.
    pub avg_ttl_ms: u64,
}

/// All logical databases of this region. SEAM: to be wired to the crdt crate.
#[derive(Debug)]
pub struct Keyspace {
    databases: usize,
}

impl Keyspace {
    /// An empty keyspace with `databases` logical databases.
    pub fn new(databases: usize) -> Self {
        Keyspace { databases }
    }

    /// Number of logical databases (SELECT accepts `0..databases`).
    pub fn databases(&self) -> usize {
        self.databases
    }

    /// Number of keys in `db`. SEAM: always 0 until the CRDT keyspace exists.
    pub fn dbsize(&self, db: usize) -> u64 {
        debug_assert!(db < self.databases);
        0
    }

    /// Counts for every database (index = db). SEAM: all zero for now.
    pub fn stats(&self) -> Vec<DbStats> {
        vec![DbStats::default(); self.databases]
    }

    /// Removes every key of `db` (observed-remove once replicated).
    /// SEAM: nothing to remove yet.
    pub fn flush_db(&self, db: usize) {
        debug_assert!(db < self.databases);
    }

    /// Removes every key of every database. SEAM: nothing to remove yet.
    pub fn flush_all(&self) {
        for db in 0..self.databases {
            self.flush_db(db);
        }
    }
}
