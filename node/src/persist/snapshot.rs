//! Snapshots: the keyspace written to the `snapshot` column family so the write-ahead
//! log can be trimmed.
//!
//! # Fuzzy snapshots
//!
//! A snapshot does not stop the world. Under the store lock it records its *start*: the
//! last WAL index applied so far (`start_index`), the causal context and the HLC. Then it
//! copies the keys in chunks of [`CHUNK_KEYS`], each chunk under the store lock (writes
//! go on between chunks), so a key may be copied with effects of ops applied after the
//! start. That is safe because every change is a join of a delta, idempotent and
//! order-insensitive: recovery merges the snapshot's keys with the start context, then
//! re-applies every WAL record after `start_index`. A record whose effect a chunk already
//! holds joins again to the same state; one a chunk missed is applied; a key deleted
//! after the start is deleted again by its record. The result is exactly the state after
//! the last WAL record.
//!
//! Two conditions make it sound, and both are enforced before the snapshot counts:
//! - every key present at the start is copied (keys are listed per database after the
//!   start; a key created later is also in the WAL);
//! - every op whose effects a chunk may hold is in the WAL on disk: the snapshot waits
//!   until the writer has written everything applied up to its last chunk, and the
//!   switch batch is written with `sync`, which makes everything before it durable too.
//!   Otherwise a crash could leave half an op in the snapshot and none of it in the log.
//!
//! The switch is one atomic batch: meta `snapshot` points at the new snapshot, the
//! previous snapshot's keys and the WAL up to `start_index` are deleted. A crash before
//! it leaves the previous snapshot and the full WAL (the unfinished snapshot's keys are
//! deleted when the next one starts, under the same id).
//!
//! Memory: the key names of one database at a time plus one chunk of encoded keys.

use std::time::Instant;

use crdt::keyspace::DATABASES;
use crdt::CausalContext;
use serde::{Deserialize, Serialize};

use super::oplog::LogKeep;
use super::storage::{Batch, Cf, Storage};
use super::wal::wal_key;
use super::{PersistError, Shared, ORD};
use crate::store::{wall_ms, Store};

/// Keys copied per chunk (one store lock hold).
pub const CHUNK_KEYS: usize = 1024;
/// How long a snapshot waits for the writer to catch up with its last chunk.
const WRITER_WAIT_MS_MAX: u64 = 60_000;

/// Meta key of the current snapshot.
pub const META_SNAPSHOT: &[u8] = b"snapshot";
/// Meta key of the last trimmed WAL index (`u64` BE): the WAL starts right after it.
pub const META_WAL_TRIMMED: &[u8] = b"wal_trimmed";
/// Meta key of the backlog floor at the last trim (format byte 1 + postcard
/// `VersionVector`): it covers every op the trims removed from the WAL.
pub const META_LOG_FLOOR: &[u8] = b"log_floor";

/// Encodes the backlog floor for [`META_LOG_FLOOR`].
pub fn encode_floor(vv: &crdt::VersionVector) -> Vec<u8> {
    postcard::to_extend(vv, vec![1u8]).expect("encoding to a Vec cannot fail")
}

/// Decodes [`META_LOG_FLOOR`].
pub fn decode_floor(b: &[u8]) -> Result<crdt::VersionVector, String> {
    match b.first() {
        Some(1) => postcard::from_bytes(&b[1..]).map_err(|e| e.to_string()),
        Some(v) => Err(format!("unknown backlog floor format {v}")),
        None => Err("empty backlog floor".into()),
    }
}

/// A complete snapshot (meta `snapshot`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SnapMeta {
    /// Snapshot id (key prefix in the `snapshot` column family).
    pub id: u64,
    /// Last WAL index applied at the start; recovery replays the records after it.
    pub start_index: u64,
    /// Causal context at the start.
    pub ctx: CausalContext,
    /// HLC at the start.
    pub hlc: u64,
    /// Keys written.
    pub keys: u64,
    /// Streams whose consumer groups were written (entries tagged [`GROUPS_TAG`]).
    pub groups: u64,
    /// Encoded key bytes written.
    pub bytes: u64,
    /// When it completed (Unix ms).
    pub time_ms: u64,
    /// How long it took.
    pub duration_ms: u64,
}

/// Format 1 of [`SnapMeta`] (before consumer groups were persisted).
#[derive(Deserialize)]
struct SnapMetaV1 {
    id: u64,
    start_index: u64,
    ctx: CausalContext,
    hlc: u64,
    keys: u64,
    bytes: u64,
    time_ms: u64,
    duration_ms: u64,
}

impl SnapMeta {
    /// Encodes for the meta column family (format 2).
    pub fn encode(&self) -> Vec<u8> {
        let out = vec![2u8];
        postcard::to_extend(self, out).expect("encoding to a Vec cannot fail")
    }

    /// Decodes the meta value (formats 1 and 2).
    pub fn decode(b: &[u8]) -> Result<SnapMeta, String> {
        match b.first() {
            Some(2) => postcard::from_bytes(&b[1..]).map_err(|e| e.to_string()),
            Some(1) => {
                let v: SnapMetaV1 = postcard::from_bytes(&b[1..]).map_err(|e| e.to_string())?;
                Ok(SnapMeta {
                    id: v.id,
                    start_index: v.start_index,
                    ctx: v.ctx,
                    hlc: v.hlc,
                    keys: v.keys,
                    groups: 0,
                    bytes: v.bytes,
                    time_ms: v.time_ms,
                    duration_ms: v.duration_ms,
                })
            }
            Some(v) => Err(format!("unknown snapshot meta format {v}")),
            None => Err("empty snapshot meta".into()),
        }
    }
}

/// The "database" byte of snapshot entries that hold one stream's consumer groups
/// (`id ++ GROUPS_TAG ++ db ++ key` → `Groups::encode`); sorts after every database.
pub const GROUPS_TAG: u8 = 0xff;

/// The `snapshot` column family key of `(id, db, key)`.
pub fn snap_key(id: u64, db: u8, key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(9 + key.len());
    k.extend_from_slice(&id.to_be_bytes());
    k.push(db);
    k.extend_from_slice(key);
    k
}

/// Takes a snapshot of `store` (see the module docs). `prev` is the current snapshot.
/// The WAL is trimmed up to the snapshot's start, but never past the oldest record the
/// replication backlog (`keep`) still holds.
pub fn take(
    storage: &dyn Storage,
    shared: &Shared,
    store: &parking_lot::Mutex<Store>,
    prev: Option<&SnapMeta>,
    keep: &parking_lot::Mutex<LogKeep>,
) -> Result<SnapMeta, PersistError> {
    let t0 = Instant::now();
    let id = prev.map_or(1, |p| p.id + 1);
    // Leftovers of an unfinished snapshot with this id.
    let mut clear = Batch::default();
    clear.delete_range(Cf::Snap, snap_key(id, 0, b""), snap_key(id + 1, 0, b""));
    storage.write(clear, false)?;
    let (start_index, start_bytes, ctx, hlc) = {
        let st = store.lock();
        // The next peer-snapshot key logged re-logs its context after this start.
        shared.relog_ctx.store(true, ORD);
        (
            shared.appended.load(ORD),
            shared.appended_bytes.load(ORD),
            st.keyspace().ctx().clone(),
            st.hlc_last().to_u64(),
        )
    };
    let (mut keys, mut bytes) = (0u64, 0u64);
    for db in 0..DATABASES as u8 {
        let names: Vec<crdt::Bytes> = {
            let st = store.lock();
            st.keyspace().db(db).keys().cloned().collect()
        };
        for chunk in names.chunks(CHUNK_KEYS) {
            let mut batch = Batch::default();
            {
                let st = store.lock();
                for k in chunk {
                    if let Some(state) = st.keyspace().get(db, k) {
                        let v = crdt::codec::encode_key(state);
                        bytes += v.len() as u64;
                        batch.put(Cf::Snap, snap_key(id, db, k), v);
                        keys += 1;
                    }
                }
            }
            if !batch.is_empty() {
                storage.write(batch, false)?;
            }
        }
    }
    // Consumer groups (node-local state) of every stream, one chunk at a time.
    let mut groups = 0u64;
    let streams: Vec<(u8, crdt::Bytes)> = store.lock().groups().keys();
    for chunk in streams.chunks(CHUNK_KEYS) {
        let mut batch = Batch::default();
        {
            let st = store.lock();
            for (db, key) in chunk {
                if st.groups().of(*db, key).is_some() {
                    let mut k = snap_key(id, GROUPS_TAG, &[*db]);
                    k.extend_from_slice(key);
                    let v = st.groups().encode(*db, key);
                    bytes += v.len() as u64;
                    batch.put(Cf::Snap, k, v);
                    groups += 1;
                }
            }
        }
        if !batch.is_empty() {
            storage.write(batch, false)?;
        }
    }
    // Every op whose effects the chunks may hold must be in the WAL first.
    let end_index = shared.appended.load(ORD);
    let waited = Instant::now();
    while shared.written.load(ORD) < end_index {
        if let Some(e) = shared.failure() {
            return Err(PersistError::Failed(e));
        }
        if waited.elapsed().as_millis() as u64 > WRITER_WAIT_MS_MAX {
            return Err(PersistError::Failed(
                "the WAL writer did not catch up with the snapshot".into(),
            ));
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    let meta = SnapMeta {
        id,
        start_index,
        ctx,
        hlc,
        keys,
        groups,
        bytes,
        time_ms: wall_ms(),
        duration_ms: t0.elapsed().as_millis() as u64,
    };
    let mut switch = Batch::default();
    switch.put(Cf::Meta, META_SNAPSHOT.to_vec(), meta.encode());
    if let Some(p) = prev {
        switch.delete_range(Cf::Snap, snap_key(p.id, 0, b""), snap_key(p.id + 1, 0, b""));
    }
    let (keep_from, floor) = {
        let k = keep.lock();
        if k.is_active() {
            (k.keep_from(), k.floor())
        } else {
            // No backlog: the trimmed ops are covered by the snapshot's context only.
            let mut f = k.floor();
            f.join(meta.ctx.vv());
            (u64::MAX, f)
        }
    };
    let trim_to = start_index.min(keep_from.saturating_sub(1));
    let already = shared.trimmed_index.load(ORD);
    let trim_to = trim_to.max(already);
    switch.put(Cf::Meta, META_LOG_FLOOR.to_vec(), encode_floor(&floor));
    switch.put(
        Cf::Meta,
        META_WAL_TRIMMED.to_vec(),
        trim_to.to_be_bytes().to_vec(),
    );
    switch.delete_range(Cf::Wal, wal_key(0).to_vec(), wal_key(trim_to + 1).to_vec());
    storage.write(switch, true)?;
    shared.trimmed(trim_to, start_bytes);
    Ok(meta)
}
