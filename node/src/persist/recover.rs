//! Start-up recovery: the current snapshot, then every WAL record after its start, applied
//! through the store's own paths (so the expiry index, the HLC and the causal context are
//! rebuilt exactly as when the changes first happened).
//!
//! The WAL may also hold records from before the snapshot's start, kept for the
//! replication backlog ([`super::oplog`]): their ops are indexed into the rebuilt backlog
//! and not applied (the snapshot holds their effects).
//!
//! Every inconsistency is an error naming the data directory: a snapshot whose key
//! count differs from its meta, a WAL that does not start right after the snapshot or
//! has a gap, a record that does not decode, metadata of another region. Recovery
//! never starts a region with data silently missing.

use std::time::Instant;

use std::collections::VecDeque;

use crdt::{Hlc, VersionVector};
use replication::core::ENTRY_OVERHEAD_BYTES;

use super::oplog::ColdEntry;
use super::snapshot::{
    decode_floor, SnapMeta, GROUPS_TAG, META_LOG_FLOOR, META_SNAPSHOT, META_WAL_TRIMMED,
};
use super::storage::{Cf, Storage};
use super::wal::{wal_key, Record};
use super::PersistError;
use crate::store::Store;

/// Meta keys.
pub const META_FORMAT: &[u8] = b"format";
/// Region id (a data directory belongs to one region).
pub const META_REGION: &[u8] = b"region";
/// Replication id.
pub const META_REPLID: &[u8] = b"replid";
/// Whether the replicator was still recovering a lost history.
pub const META_RECOVERING: &[u8] = b"recovering";
/// Largest HLC of the written ops.
pub const META_HLC: &[u8] = b"hlc";
/// Current on-disk format.
pub const FORMAT: u8 = 1;

/// What recovery found.
#[derive(Debug)]
pub struct Recovered {
    /// The persisted replication id (`None`: nothing was ever persisted here).
    pub replication_id: Option<u64>,
    /// Whether the replicator was recovering a lost history.
    pub recovering: bool,
    /// The current snapshot.
    pub snapshot: Option<SnapMeta>,
    /// Last WAL index (0 if none).
    pub last_index: u64,
    /// WAL records replayed (applied).
    pub wal_entries: u64,
    /// Their bytes.
    pub wal_bytes: u64,
    /// WAL records before the snapshot's start kept for the backlog (not applied).
    pub wal_kept: u64,
    /// The replication backlog rebuilt from the WAL's op records, oldest first (bounded
    /// by `log_bytes_max` accounted bytes).
    pub log: VecDeque<ColdEntry>,
    /// The backlog's floor.
    pub log_floor: VersionVector,
    /// Last trimmed WAL index (the WAL starts right after it).
    pub wal_trimmed: u64,
    /// Applied vector after recovery.
    pub applied: VersionVector,
    /// How long recovery took.
    pub duration_ms: u64,
}

fn corrupt(storage: &dyn Storage, what: String) -> PersistError {
    PersistError::Corrupt {
        path: storage.path().to_path_buf(),
        what,
    }
}

fn u64_of(storage: &dyn Storage, name: &str, v: &[u8]) -> Result<u64, PersistError> {
    let b: [u8; 8] = v
        .try_into()
        .map_err(|_| corrupt(storage, format!("meta {name} has {} bytes", v.len())))?;
    Ok(u64::from_be_bytes(b))
}

/// Recovers `store` (empty, no log hook installed) from `storage`.
pub fn recover(
    storage: &dyn Storage,
    store: &mut Store,
    log_bytes_max: u64,
) -> Result<Recovered, PersistError> {
    let t0 = Instant::now();
    let region = store.region();
    if let Some(f) = storage.get(Cf::Meta, META_FORMAT)? {
        if f != [FORMAT] {
            return Err(corrupt(
                storage,
                format!("unsupported format {f:?} (this build reads {FORMAT})"),
            ));
        }
    }
    if let Some(r) = storage.get(Cf::Meta, META_REGION)? {
        if r != [region] {
            return Err(PersistError::WrongRegion {
                path: storage.path().to_path_buf(),
                found: r.first().copied().unwrap_or(0),
                region,
            });
        }
    }
    let replication_id = match storage.get(Cf::Meta, META_REPLID)? {
        Some(v) => Some(u64_of(storage, "replid", &v)?),
        None => None,
    };
    let recovering = storage
        .get(Cf::Meta, META_RECOVERING)?
        .is_some_and(|v| v == [1]);
    let snapshot = match storage.get(Cf::Meta, META_SNAPSHOT)? {
        Some(v) => Some(
            SnapMeta::decode(&v).map_err(|e| corrupt(storage, format!("snapshot meta: {e}")))?,
        ),
        None => None,
    };
    let mut log: VecDeque<ColdEntry> = VecDeque::new();
    let mut log_bytes = 0u64;
    let mut log_floor = match storage.get(Cf::Meta, META_LOG_FLOOR)? {
        Some(v) => decode_floor(&v).map_err(|e| corrupt(storage, format!("backlog floor: {e}")))?,
        // Written before the backlog kept WAL records: the WAL starts after the snapshot.
        None => snapshot
            .as_ref()
            .map_or_else(VersionVector::new, |s| s.ctx.vv().clone()),
    };
    let snap_start = snapshot.as_ref().map_or(0, |s| s.start_index);
    let wal_trimmed = match storage.get(Cf::Meta, META_WAL_TRIMMED)? {
        Some(v) => u64_of(storage, "wal_trimmed", &v)?,
        None => snap_start,
    };
    if wal_trimmed > snap_start {
        return Err(corrupt(
            storage,
            format!(
                "the WAL was trimmed to record {wal_trimmed}, past the snapshot's start {snap_start}"
            ),
        ));
    }
    if let Some(s) = &snapshot {
        let prefix = s.id.to_be_bytes();
        let mut n = 0u64;
        let mut groups = 0u64;
        storage.scan(Cf::Snap, &prefix, &mut |k, v| {
            if k.len() < 9 || k[..8] != prefix {
                return Ok(false);
            }
            if k[8] == GROUPS_TAG {
                // Consumer groups of one stream: `GROUPS_TAG ++ db ++ key`.
                let (db, key) = k[9..].split_first().ok_or_else(|| {
                    corrupt(
                        storage,
                        format!("snapshot {} groups entry without a key", s.id),
                    )
                })?;
                store.groups_mut().restore(*db, key, v).map_err(|e| {
                    corrupt(
                        storage,
                        format!(
                            "snapshot {} groups of {:?}: {e}",
                            s.id,
                            String::from_utf8_lossy(key)
                        ),
                    )
                })?;
                groups += 1;
                return Ok(true);
            }
            let state = crdt::codec::decode_key(v).map_err(|e| {
                corrupt(
                    storage,
                    format!(
                        "snapshot {} key {:?}: {e}",
                        s.id,
                        String::from_utf8_lossy(&k[9..])
                    ),
                )
            })?;
            store.merge_snapshot_key(k[8], &k[9..], &state, &s.ctx);
            n += 1;
            Ok(true)
        })?;
        if n != s.keys || groups != s.groups {
            return Err(corrupt(
                storage,
                format!(
                    "snapshot {} holds {n} keys and {groups} streams' consumer groups, its meta says {} and {}",
                    s.id, s.keys, s.groups
                ),
            ));
        }
        store.merge_snapshot_ctx(&s.ctx);
        store.observe_hlc(Hlc::from_u64(s.hlc));
    }
    let first = wal_trimmed + 1;
    let mut expect = first;
    let mut wal_bytes = 0u64;
    let mut wal_kept = 0u64;
    let mut merge_ctx: Option<crdt::CausalContext> = None;
    storage.scan(Cf::Wal, &wal_key(first), &mut |k, v| {
        let index = u64::from_be_bytes(
            k.try_into()
                .map_err(|_| corrupt(storage, format!("WAL key of {} bytes", k.len())))?,
        );
        if index != expect {
            return Err(corrupt(
                storage,
                format!("WAL record {expect} is missing (next is {index})"),
            ));
        }
        let rec =
            Record::decode(v).map_err(|e| corrupt(storage, format!("WAL record {index}: {e}")))?;
        let replay = index > snap_start;
        match rec {
            Record::Op { .. } => {
                let entry = rec.into_log_entry().expect("an op");
                if replay {
                    let op = crdt::codec::decode_op(&entry.op)
                        .map_err(|e| corrupt(storage, format!("WAL record {index}: {e}")))?;
                    store.apply_remote(&op);
                }
                log_bytes += entry.op.len() as u64 + ENTRY_OVERHEAD_BYTES;
                log.push_back(ColdEntry {
                    origin: entry.origin,
                    first_seq: entry.first_seq,
                    last_seq: entry.last_seq,
                    op_len: entry.op.len().min(u32::MAX as usize) as u32,
                    wal: index,
                });
                while log_bytes > log_bytes_max {
                    let Some(c) = log.pop_front() else { break };
                    log_bytes -= c.op_len as u64 + ENTRY_OVERHEAD_BYTES;
                    log_floor.raise(c.origin, c.last_seq);
                }
            }
            Record::SnapCtx(ctx) => merge_ctx = Some(ctx),
            Record::MergeKey { db, key, state } => {
                if replay {
                    // (A local snapshot's start re-logs the context before the next key.)
                    let Some(ctx) = &merge_ctx else {
                        return Err(corrupt(
                            storage,
                            format!("WAL record {index}: snapshot key without its context"),
                        ));
                    };
                    let state = crdt::codec::decode_key(&state)
                        .map_err(|e| corrupt(storage, format!("WAL record {index}: {e}")))?;
                    store.merge_snapshot_key(db, &key, &state, ctx);
                }
            }
            Record::MergeCtx(ctx) => {
                if replay {
                    store.merge_snapshot_ctx(&ctx);
                }
                log_floor.join(ctx.vv());
                merge_ctx = None;
            }
            Record::Groups { db, key, state } => {
                if replay {
                    store
                        .groups_mut()
                        .restore(db, &key, &state)
                        .map_err(|e| corrupt(storage, format!("WAL record {index}: {e}")))?;
                }
            }
        }
        if replay {
            wal_bytes += v.len() as u64;
        } else {
            wal_kept += 1;
        }
        expect += 1;
        Ok(true)
    })?;
    if expect <= snap_start {
        return Err(corrupt(
            storage,
            format!(
                "WAL record {expect} is missing (the snapshot starts after record {snap_start})"
            ),
        ));
    }
    if let Some(h) = storage.get(Cf::Meta, META_HLC)? {
        store.observe_hlc(Hlc::from_u64(u64_of(storage, "hlc", &h)?));
    }
    Ok(Recovered {
        replication_id,
        recovering,
        snapshot,
        last_index: expect - 1,
        wal_entries: expect - first - wal_kept,
        wal_bytes,
        wal_kept,
        log,
        log_floor,
        wal_trimmed,
        applied: store.keyspace().applied().clone(),
        duration_ms: t0.elapsed().as_millis() as u64,
    })
}
