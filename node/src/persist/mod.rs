//! Persistence: a RocksDB write-ahead log of every change the region applies, periodic
//! fuzzy snapshots, and start-up recovery.
//!
//! # Configuration
//!
//! - `appendonly yes|no` (default `no` for now: turning it on changes what a restart
//!   means, so it is opt-in until the crash tests have run in CI for a while). With `no`
//!   nothing is written, a restarted region rejoins as one that lost its history, and
//!   SAVE / BGSAVE answer `-ERR persistence is off (appendonly no)`.
//! - `appendfsync always|everysec|no`, as Redis (see [`writer`]). Changeable at run time.
//! - `data-dir`: the store lives in `<data-dir>/region-<id>.db` (one region per store;
//!   the store records its region id and refuses another).
//! - `snapshot-interval-secs` (default 300) and `wal-max-bytes` (default 256mb): a
//!   snapshot starts when either is exceeded, and trims the WAL up to its start — but
//!   never past the oldest entry of the replication backlog ([`oplog`]).
//! - `repl-backlog-size` (1gb), `repl-backlog-max-age` (6 h), `repl-backlog-memory`
//!   (256mb): the backlog's retention (on disk, in the WAL) and how much of it stays in
//!   memory. Full-resync snapshots for peers are streamed from the in-memory dataset in
//!   bounded chunks (the dataset is fully in memory; RocksDB is its durable copy), not
//!   read from a RocksDB snapshot.
//!
//! # Layout (column families)
//!
//! - `wal`: `index` → [`wal::Record`]: every local op, every remote op, every key and
//!   context of a peer's full-resync snapshot, in application order (a causal order).
//!   Records before the current snapshot's start are kept while the replication
//!   backlog holds them (recovery indexes them into the backlog without applying them).
//! - `snapshot`: `id ++ db ++ key` → `crdt::codec::encode_key` (see [`snapshot`]).
//! - `meta`: format, region id, replication id, `recovering`, the largest written HLC
//!   (updated with every batch), the current snapshot, the last trimmed WAL index and
//!   the backlog floor at that trim.
//!
//! # Write path
//!
//! The store calls [`wal::WalHook`] under its lock for every applied change (local ops
//! before the replication sink sees them). The hook encodes the record, gives it the next
//! index and queues it on a bounded channel (blocking when full) to ONE writer thread
//! ([`writer`]) that group-commits batches. Progress is published as three indexes:
//! `appended` (queued), `written` (in the OS) and `durable` (on stable storage).
//!
//! With `appendfsync always` a connection, before flushing the replies of a pipeline
//! batch, waits until `durable` reaches the highest index appended when its commands
//! ran ([`Persist::wait_durable`]): one wait per batch, and one fsync for every client
//! waiting at that moment (group commit). Replies of reads wait too when writes were
//! pending, so no reply ever reveals a change that a crash could take back.
//!
//! # Replication
//!
//! The replicator is told what is durable ([`Persist::durable_vv`], called by the
//! replication step under the store lock): it acks only durable ops and never ships an
//! own op before it is durable, so a crash never makes the region reuse a sequence
//! number another region has seen. The price: with `everysec` this region's own ops
//! reach other regions up to a second later (after the sync); `always` adds one fsync;
//! `no` counts data handed to the OS as durable (a machine crash, unlike a process
//! crash, can then lose ops that peers hold). A restart reports `Start::Restored` with the same
//! replication id and the recovered applied vector, and the op log is rebuilt from the
//! WAL (including records from before the snapshot that the backlog kept), so peers and
//! the restarted region both resume with a partial resync.
//!
//! # Failures
//!
//! A failed write (disk full, I/O error) stops persistence: durability no longer
//! advances, clients waiting for it get `-MISCONF` and their connection closes (their
//! writes are not acknowledged), and write commands are refused with `-MISCONF` until
//! restart, as Redis does after a failed save. Corrupt or truncated files refuse to
//! start with an error naming the directory ([`PersistError`]); never a silent start
//! with data missing.
//!
//! Not logged: tombstone garbage collection (recovery may bring back tombstones that a
//! later GC drops again; visible state is the same).

pub mod oplog;
pub mod recover;
pub mod snapshot;
pub mod storage;
pub mod wal;
pub mod writer;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::mpsc::SyncSender;
use std::sync::Arc;
use std::time::Duration;

use crdt::VersionVector;
use replication::core::Start;
use thiserror::Error;
use tokio::sync::watch;
use tracing::{error, info, warn};

use self::oplog::{BacklogStats, ColdEntry, DiskLog, LogKeep};
use self::recover::{META_FORMAT, META_RECOVERING, META_REGION, META_REPLID};
use self::snapshot::SnapMeta;
use self::storage::{Batch, Cf, RocksStorage, Storage};
use self::writer::Job;
use crate::store::{wall_ms, Store};

pub(crate) const ORD: Ordering = Ordering::SeqCst;

/// How long a client waits for durability before its connection is closed unacknowledged.
pub const DURABLE_WAIT_MAX: Duration = Duration::from_secs(30);
/// Bound on durability checkpoints kept for the replicator.
const CHECKPOINTS_MAX: usize = 4096;

/// Persistence errors.
#[derive(Debug, Error)]
pub enum PersistError {
    /// The disk refused an operation.
    #[error("{what} in {path}: {message}")]
    Storage {
        /// Store directory.
        path: PathBuf,
        /// What failed.
        what: String,
        /// The storage's message.
        message: String,
    },
    /// The persisted data is inconsistent.
    #[error("persisted data in {path} is corrupt: {what}. Meridian will not start with data missing: restore the directory from a backup, or move it away to let the region rejoin its peers with a full resync (data only this region had is lost)")]
    Corrupt {
        /// Store directory.
        path: PathBuf,
        /// What is wrong.
        what: String,
    },
    /// The directory belongs to another region.
    #[error("{path} holds region {found}'s data, not region {region}'s")]
    WrongRegion {
        /// Store directory.
        path: PathBuf,
        /// Region id found.
        found: u8,
        /// This region.
        region: u8,
    },
    /// Persisted data exists but persistence is off.
    #[error("{0} holds persisted data but appendonly is no: set appendonly yes, or move the directory away to start without it")]
    Unused(PathBuf),
    /// The writer thread is gone.
    #[error("the WAL writer stopped")]
    WriterGone,
    /// Persistence failed earlier.
    #[error("{0}")]
    Failed(String),
    /// A snapshot is already running.
    #[error("Background save already in progress")]
    SnapshotRunning,
}

/// `appendfsync`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fsync {
    /// Sync every batch before acknowledging it.
    Always,
    /// Sync once a second.
    EverySec,
    /// Never sync explicitly.
    No,
}

impl Fsync {
    /// Parses the config value (unknown values mean `everysec`).
    pub fn parse(s: &str) -> Fsync {
        match s {
            "always" => Fsync::Always,
            "no" => Fsync::No,
            _ => Fsync::EverySec,
        }
    }

    /// The config spelling.
    pub fn name(self) -> &'static str {
        match self {
            Fsync::Always => "always",
            Fsync::EverySec => "everysec",
            Fsync::No => "no",
        }
    }
}

/// Writer counters.
#[derive(Debug, Default)]
pub struct WriterStats {
    /// Batches written.
    pub batches: AtomicU64,
    /// Records written.
    pub records: AtomicU64,
    /// Record bytes written.
    pub record_bytes: AtomicU64,
    /// Syncs.
    pub syncs: AtomicU64,
    /// Time spent syncing (µs).
    pub sync_us: AtomicU64,
    /// Times the write path waited for a full queue.
    pub backpressure: AtomicU64,
}

/// State shared by the write path, the writer, snapshots and connections.
#[derive(Debug)]
pub struct Shared {
    appended: AtomicU64,
    appended_bytes: AtomicU64,
    written: AtomicU64,
    synced: AtomicU64,
    durable: AtomicU64,
    durable_tx: watch::Sender<u64>,
    /// First retained WAL index minus one (the last snapshot's start).
    trimmed_index: AtomicU64,
    trimmed_bytes: AtomicU64,
    fsync: AtomicU8,
    failed: AtomicBool,
    failure: parking_lot::Mutex<Option<String>>,
    relog_ctx: AtomicBool,
    /// Writer counters.
    pub stats: WriterStats,
}

impl Shared {
    fn new(fsync: Fsync, last_index: u64, wal_bytes: u64, trimmed: u64) -> Shared {
        Shared {
            appended: AtomicU64::new(last_index),
            appended_bytes: AtomicU64::new(wal_bytes),
            written: AtomicU64::new(last_index),
            synced: AtomicU64::new(last_index),
            durable: AtomicU64::new(last_index),
            durable_tx: watch::channel(last_index).0,
            trimmed_index: AtomicU64::new(trimmed),
            trimmed_bytes: AtomicU64::new(0),
            fsync: AtomicU8::new(fsync as u8),
            failed: AtomicBool::new(false),
            failure: parking_lot::Mutex::new(None),
            relog_ctx: AtomicBool::new(false),
            stats: WriterStats::default(),
        }
    }

    fn fsync(&self) -> Fsync {
        match self.fsync.load(ORD) {
            0 => Fsync::Always,
            1 => Fsync::EverySec,
            _ => Fsync::No,
        }
    }

    fn note_appended(&self, index: u64, bytes: u64) {
        self.appended.store(index, ORD);
        self.appended_bytes.fetch_add(bytes, ORD);
    }

    fn take_relog_ctx(&self) -> bool {
        self.relog_ctx.swap(false, ORD)
    }

    fn publish_durable(&self, index: u64) {
        if index > self.durable.load(ORD) {
            self.durable.store(index, ORD);
            self.durable_tx.send_replace(index);
        }
    }

    fn trimmed(&self, index: u64, bytes: u64) {
        self.trimmed_index.store(index, ORD);
        self.trimmed_bytes.store(bytes, ORD);
    }

    fn is_failed(&self) -> bool {
        self.failed.load(ORD)
    }

    fn failure(&self) -> Option<String> {
        self.failure.lock().clone()
    }

    fn fail(&self, e: PersistError) {
        let mut f = self.failure.lock();
        if f.is_none() {
            error!(error = %e, "persistence failed: writes are refused until restart");
            *f = Some(e.to_string());
        }
        drop(f);
        self.failed.store(true, ORD);
        self.durable_tx.send_modify(|_| {}); // wake waiters: they see the failure
    }
}

/// What persistence settings a server starts with.
#[derive(Clone, Debug)]
pub struct Options {
    /// Store directory.
    pub dir: PathBuf,
    /// `appendfsync`.
    pub fsync: Fsync,
    /// Replication backlog retention by size (`repl-backlog-size`).
    pub backlog_bytes_max: u64,
    /// Backlog op bytes kept in memory (`repl-backlog-memory`).
    pub backlog_memory_max: u64,
}

/// The snapshot bookkeeping.
#[derive(Debug, Default)]
struct SnapState {
    current: Option<SnapMeta>,
    running: bool,
    last_ok: bool,
    last_error: Option<String>,
    completed: u64,
}

/// Persistence of one region (see the module docs).
pub struct Persist {
    shared: Arc<Shared>,
    storage: Arc<dyn Storage>,
    tx: SyncSender<Job>,
    writer: parking_lot::Mutex<Option<std::thread::JoinHandle<()>>>,
    replication_id: u64,
    restored: bool,
    recovering: AtomicBool,
    repl_log: parking_lot::Mutex<Option<(Vec<ColdEntry>, VersionVector)>>,
    keep: Arc<parking_lot::Mutex<LogKeep>>,
    backlog_memory_max: u64,
    applied_at_open: VersionVector,
    /// Durability checkpoints `(WAL index, applied vector)` and the last index pushed.
    checkpoints: parking_lot::Mutex<(std::collections::VecDeque<(u64, VersionVector)>, u64)>,
    snap: parking_lot::Mutex<SnapState>,
    snap_done: watch::Sender<u64>,
    snap_requested: tokio::sync::Notify,
    started_ms: u64,
    recovery: String,
}

impl std::fmt::Debug for Persist {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Persist")
            .field("path", &self.storage.path())
            .field("durable", &self.durable_index())
            .finish()
    }
}

/// The store directory of `region` in `data_dir`.
pub fn store_dir(data_dir: &Path, region: u8) -> PathBuf {
    data_dir.join(format!("region-{region}.db"))
}

impl Persist {
    /// Opens the RocksDB store, recovers `store` from it and installs the WAL hook.
    pub fn open(store: &mut Store, opts: &Options) -> Result<Arc<Persist>, PersistError> {
        std::fs::create_dir_all(&opts.dir).map_err(|e| PersistError::Storage {
            path: opts.dir.clone(),
            what: "cannot create the directory".into(),
            message: e.to_string(),
        })?;
        let storage = Arc::new(RocksStorage::open(&opts.dir)?);
        Persist::open_with(storage, store, opts)
    }

    /// [`Persist::open`] over any [`Storage`] (tests inject failures).
    pub fn open_with(
        storage: Arc<dyn Storage>,
        store: &mut Store,
        opts: &Options,
    ) -> Result<Arc<Persist>, PersistError> {
        store.set_log(None);
        let rec = recover::recover(&*storage, store, opts.backlog_bytes_max)?;
        let restored = rec.replication_id.is_some();
        let replication_id = rec
            .replication_id
            .unwrap_or_else(|| rand::random::<u64>() | 1);
        // Identity first, synced: from here on the directory is this region's.
        let mut b = Batch::default();
        b.put(Cf::Meta, META_FORMAT.to_vec(), vec![recover::FORMAT]);
        b.put(Cf::Meta, META_REGION.to_vec(), vec![store.region()]);
        b.put(
            Cf::Meta,
            META_REPLID.to_vec(),
            replication_id.to_be_bytes().to_vec(),
        );
        storage.write(b, true)?;
        let trimmed = rec.wal_trimmed;
        let keep = Arc::new(parking_lot::Mutex::new(LogKeep::active()));
        let shared = Arc::new(Shared::new(
            opts.fsync,
            rec.last_index,
            rec.wal_bytes,
            trimmed,
        ));
        let (tx, rx) = std::sync::mpsc::sync_channel(writer::QUEUE_RECORDS_MAX);
        let writer = {
            let (storage, shared) = (storage.clone(), shared.clone());
            std::thread::Builder::new()
                .name("meridian-wal".into())
                .spawn(move || writer::run(storage, shared, rx))
                .map_err(|e| PersistError::Storage {
                    path: opts.dir.clone(),
                    what: "cannot start the WAL writer".into(),
                    message: e.to_string(),
                })?
        };
        store.set_log(Some(Box::new(wal::WalHook::new(
            shared.clone(),
            tx.clone(),
            rec.last_index + 1,
            keep.clone(),
        ))));
        let recovery = format!(
            "snapshot keys {} + {} WAL records ({} bytes) in {} ms; backlog {} entries ({} WAL records kept from before the snapshot)",
            rec.snapshot.as_ref().map_or(0, |s| s.keys),
            rec.wal_entries,
            rec.wal_bytes,
            rec.duration_ms,
            rec.log.len(),
            rec.wal_kept,
        );
        info!(
            path = %storage.path().display(),
            restored,
            keys = store.keyspace().stored_keys(),
            "{}",
            recovery
        );
        Ok(Arc::new(Persist {
            shared,
            storage,
            tx,
            writer: parking_lot::Mutex::new(Some(writer)),
            replication_id,
            restored,
            recovering: AtomicBool::new(rec.recovering),
            repl_log: parking_lot::Mutex::new(Some((rec.log.into(), rec.log_floor))),
            keep,
            backlog_memory_max: opts.backlog_memory_max,
            applied_at_open: rec.applied,
            checkpoints: parking_lot::Mutex::new(Default::default()),
            snap: parking_lot::Mutex::new(SnapState {
                current: rec.snapshot,
                last_ok: true,
                ..SnapState::default()
            }),
            snap_done: watch::channel(0).0,
            snap_requested: tokio::sync::Notify::new(),
            started_ms: wall_ms(),
            recovery,
        }))
    }

    /// The persisted replication id (generated on the first start).
    pub fn replication_id(&self) -> u64 {
        self.replication_id
    }

    /// How the replicator starts: `Restored` when this directory had persisted state,
    /// else `None` (the caller decides between a fresh start and lost history), and the
    /// disk-backed op log rebuilt from the WAL (see [`oplog`]).
    pub fn replication_start(&self) -> (Option<Start>, DiskLog) {
        let (cold, floor) = self.repl_log.lock().take().unwrap_or_default();
        let log = DiskLog::new(
            cold,
            floor,
            wall_ms(),
            self.backlog_memory_max,
            self.keep.clone(),
            self.storage.clone(),
            self.shared.clone(),
        );
        let start = self.restored.then(|| Start::Restored {
            durable: self.applied_at_open.clone(),
            recovering: self.recovering.load(ORD),
        });
        (start, log)
    }

    /// Replication is off: no backlog holds WAL records back.
    pub fn no_replication(&self) {
        self.keep.lock().deactivate();
    }

    /// Records whether the replicator is recovering a lost history (written in order
    /// with the WAL, so it is never persisted ahead of the data that ends recovery).
    pub fn note_recovering(&self, recovering: bool) {
        if self.recovering.swap(recovering, ORD) != recovering {
            let _ = self.tx.send(Job::Meta {
                key: "recovering",
                value: vec![recovering as u8],
            });
        }
    }

    /// Records `recovering` synchronously (start-up of a region that lost its history).
    pub fn set_recovering_now(&self, recovering: bool) -> Result<(), PersistError> {
        self.recovering.store(recovering, ORD);
        let mut b = Batch::default();
        b.put(Cf::Meta, META_RECOVERING.to_vec(), vec![recovering as u8]);
        self.storage.write(b, true)
    }

    /// Called by the replication step under the store lock: returns the newest applied
    /// vector that is now durable, if it moved.
    pub fn durable_vv(&self, applied: &VersionVector) -> Option<VersionVector> {
        let appended = self.appended_index();
        let durable = self.durable_index();
        let mut guard = self.checkpoints.lock();
        let (q, pushed) = &mut *guard;
        if *pushed < appended {
            if q.len() >= CHECKPOINTS_MAX {
                q.pop_back(); // a later checkpoint covers it (only reported later)
            }
            q.push_back((appended, applied.clone()));
            *pushed = appended;
        }
        let mut out = None;
        while q.front().is_some_and(|(i, _)| *i <= durable) {
            out = q.pop_front().map(|(_, vv)| vv);
        }
        out
    }

    /// Last appended WAL index.
    pub fn appended_index(&self) -> u64 {
        self.shared.appended.load(ORD)
    }

    /// Last durable WAL index.
    pub fn durable_index(&self) -> u64 {
        self.shared.durable.load(ORD)
    }

    /// The current `appendfsync`.
    pub fn fsync(&self) -> Fsync {
        self.shared.fsync()
    }

    /// Changes `appendfsync` (CONFIG SET).
    pub fn set_fsync(&self, f: Fsync) {
        self.shared.fsync.store(f as u8, ORD);
    }

    /// Why persistence failed, if it did (writes are refused).
    pub fn failure(&self) -> Option<String> {
        if self.shared.is_failed() {
            self.shared.failure()
        } else {
            None
        }
    }

    /// Waits until `index` is durable; `Err` when persistence failed or the wait took
    /// longer than [`DURABLE_WAIT_MAX`].
    pub async fn wait_durable(&self, index: u64) -> Result<(), String> {
        let mut rx = self.shared.durable_tx.subscribe();
        let shared = &self.shared;
        let r = tokio::time::timeout(DURABLE_WAIT_MAX, async {
            rx.wait_for(|d| *d >= index || shared.is_failed())
                .await
                .map(|_| ())
        })
        .await;
        match r {
            Ok(Ok(())) if self.durable_index() >= index => Ok(()),
            Ok(_) => Err(self
                .failure()
                .unwrap_or_else(|| "the WAL writer stopped".into())),
            Err(_) => Err(format!(
                "write not durable after {} s",
                DURABLE_WAIT_MAX.as_secs()
            )),
        }
    }

    /// Takes a snapshot now (blocking; see [`snapshot`]).
    pub fn snapshot(&self, store: &parking_lot::Mutex<Store>) -> Result<SnapMeta, PersistError> {
        let prev = {
            let mut s = self.snap.lock();
            if s.running {
                return Err(PersistError::SnapshotRunning);
            }
            s.running = true;
            s.current.clone()
        };
        let r = snapshot::take(
            &*self.storage,
            &self.shared,
            store,
            prev.as_ref(),
            &self.keep,
        );
        let mut s = self.snap.lock();
        s.running = false;
        s.completed += 1;
        match &r {
            Ok(m) => {
                s.current = Some(m.clone());
                s.last_ok = true;
                s.last_error = None;
                info!(
                    keys = m.keys,
                    ms = m.duration_ms,
                    start_index = m.start_index,
                    "snapshot complete"
                );
            }
            Err(e) => {
                s.last_ok = false;
                s.last_error = Some(e.to_string());
                warn!(error = %e, "snapshot failed");
            }
        }
        let n = s.completed;
        drop(s);
        self.snap_done.send_replace(n);
        if r.is_ok() {
            if let Err(e) = self.storage.compact() {
                warn!(error = %e, "compaction after the snapshot failed");
            }
        }
        r
    }

    /// Asks the background task to start a snapshot (BGSAVE).
    pub fn request_snapshot(&self) -> Result<(), PersistError> {
        if self.snapshot_running() {
            return Err(PersistError::SnapshotRunning);
        }
        self.snap_requested.notify_one();
        Ok(())
    }

    /// A receiver of the number of snapshots finished (successful or not).
    pub fn snapshots_finished(&self) -> watch::Receiver<u64> {
        self.snap_done.subscribe()
    }

    /// Whether a snapshot is running.
    pub fn snapshot_running(&self) -> bool {
        self.snap.lock().running
    }

    /// Unix seconds of the last successful snapshot (or of the start when none).
    pub fn last_save_secs(&self) -> u64 {
        self.snap
            .lock()
            .current
            .as_ref()
            .map_or(self.started_ms, |m| m.time_ms)
            / 1000
    }

    /// WAL bytes retained (since the last snapshot's start).
    pub fn wal_bytes(&self) -> u64 {
        self.shared
            .appended_bytes
            .load(ORD)
            .saturating_sub(self.shared.trimmed_bytes.load(ORD))
    }

    /// Unix ms of the last snapshot (or of the start).
    pub fn last_snapshot_ms(&self) -> u64 {
        self.snap
            .lock()
            .current
            .as_ref()
            .map_or(self.started_ms, |m| m.time_ms)
    }

    /// The replication backlog's span (entries, bytes, memory, age).
    pub fn backlog(&self) -> BacklogStats {
        self.keep.lock().stats()
    }

    /// Writes the `INFO persistence` lines.
    pub fn info(&self, out: &mut String) {
        let mut line = |k: &str, v: &dyn std::fmt::Display| {
            let _ = write!(out, "{k}:{v}\r\n");
        };
        let sh = &self.shared;
        let snap = self.snap.lock();
        let failed = sh.is_failed();
        line("rdb_bgsave_in_progress", &(snap.running as u8));
        let last_save_ms = snap.current.as_ref().map_or(self.started_ms, |m| m.time_ms);
        line("rdb_last_save_time", &(last_save_ms / 1000));
        line(
            "rdb_last_bgsave_status",
            &if snap.last_ok { "ok" } else { "err" },
        );
        line(
            "rdb_last_bgsave_time_sec",
            &snap
                .current
                .as_ref()
                .map_or(-1, |m| (m.duration_ms / 1000) as i64),
        );
        line("aof_enabled", &1);
        line("aof_rewrite_in_progress", &0);
        line("aof_last_write_status", &if failed { "err" } else { "ok" });
        line("appendfsync", &self.fsync().name());
        line("wal_path", &self.storage.path().display());
        let oldest = sh.trimmed_index.load(ORD) + 1;
        let newest = sh.appended.load(ORD);
        line("wal_oldest_index", &oldest);
        line("wal_newest_index", &newest);
        line("wal_entries", &(newest + 1).saturating_sub(oldest));
        line("wal_bytes", &self.wal_bytes());
        line("wal_written_index", &sh.written.load(ORD));
        line("wal_durable_index", &sh.durable.load(ORD));
        line("wal_batches", &sh.stats.batches.load(ORD));
        line("wal_fsyncs", &sh.stats.syncs.load(ORD));
        line(
            "wal_fsync_avg_us",
            &(sh.stats.sync_us.load(ORD) / sh.stats.syncs.load(ORD).max(1)),
        );
        line("wal_backpressure_waits", &sh.stats.backpressure.load(ORD));
        let b = self.backlog();
        line("repl_backlog_entries", &b.entries);
        line("repl_backlog_bytes", &b.bytes);
        line("repl_backlog_memory_bytes", &b.memory_bytes);
        line(
            "repl_backlog_oldest_age_sec",
            &b.oldest_ms
                .map_or(-1, |t| (wall_ms().saturating_sub(t) / 1000) as i64),
        );
        line("repl_backlog_first_wal_index", &b.first_wal_index);
        match &snap.current {
            Some(m) => {
                line("snapshot_last_time", &(m.time_ms / 1000));
                line("snapshot_last_duration_ms", &m.duration_ms);
                line("snapshot_last_keys", &m.keys);
                line("snapshot_last_bytes", &m.bytes);
            }
            None => line("snapshot_last_time", &-1),
        }
        if let Some(e) = &snap.last_error {
            line("snapshot_last_error", &e.replace(['\r', '\n'], " "));
        }
        line("snapshots_completed", &snap.completed);
        line("disk_bytes", &self.storage.disk_bytes());
        line("recovery", &self.recovery);
        if let Some(e) = self.failure() {
            line("persistence_error", &e.replace(['\r', '\n'], " "));
        }
    }

    /// Waits for the writer to write and sync everything queued, then stops it.
    pub fn shutdown(&self) {
        let _ = self.tx.send(Job::Stop);
        if let Some(h) = self.writer.lock().take() {
            let _ = h.join();
        }
    }
}

/// Opens persistence for a server (`appendonly yes`), recovering the store, or checks
/// that no persisted data would be ignored (`appendonly no`). Runs before the region
/// link and the listeners start.
pub fn start(
    state: &Arc<crate::server::ServerState>,
) -> Result<Option<Arc<Persist>>, PersistError> {
    let (on, opts) = {
        let c = state.config();
        let dir = store_dir(Path::new(&c.data_dir), c.region_id as u8);
        (
            c.appendonly,
            Options {
                dir,
                fsync: Fsync::parse(&c.appendfsync),
                backlog_bytes_max: c.repl_backlog_size.bytes(),
                backlog_memory_max: c.repl_backlog_memory.bytes(),
            },
        )
    };
    if !on {
        if opts.dir.exists() {
            return Err(PersistError::Unused(opts.dir));
        }
        return Ok(None);
    }
    let p = {
        let mut st = state.store.lock();
        Persist::open(&mut st, &opts)?
    };
    let _ = state.persist.set(p.clone());
    tokio::spawn(background(state.clone(), p.clone()));
    Ok(Some(p))
}

/// Keeps `appendfsync` in step with CONFIG SET and starts snapshots when due.
async fn background(state: Arc<crate::server::ServerState>, p: Arc<Persist>) {
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let mut shutdown = state.shutdown_signal();
    loop {
        let requested = tokio::select! {
            _ = tick.tick() => false,
            _ = p.snap_requested.notified() => true,
            _ = shutdown.changed() => return,
        };
        let (fsync, interval_ms, wal_max) = {
            let c = state.config();
            (
                Fsync::parse(&c.appendfsync),
                c.snapshot_interval_secs.saturating_mul(1000),
                c.wal_max_bytes.bytes(),
            )
        };
        p.set_fsync(fsync);
        if p.snapshot_running() || p.failure().is_some() {
            continue;
        }
        let age = wall_ms().saturating_sub(p.last_snapshot_ms());
        let due = (interval_ms > 0 && age >= interval_ms) || p.wal_bytes() > wal_max;
        if requested || (due && p.wal_bytes() > 0) {
            let job = {
                let (state, p) = (state.clone(), p.clone());
                tokio::task::spawn_blocking(move || {
                    let _ = p.snapshot(&state.store);
                })
            };
            // One at a time; the tick keeps CONFIG SET appendfsync in step meanwhile.
            tokio::pin!(job);
            loop {
                tokio::select! {
                    _ = &mut job => break,
                    _ = tick.tick() => {
                        p.set_fsync(Fsync::parse(&state.config().appendfsync));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
