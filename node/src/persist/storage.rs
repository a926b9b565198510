//! The disk behind persistence: a small [`Storage`] trait (three column families,
//! atomic batches, an explicit sync) with the RocksDB implementation, and a wrapper that
//! injects I/O errors for tests ([`FailingStorage`]).
//!
//! RocksDB settings that matter for durability:
//! - `paranoid_checks`: a checksum mismatch in any file is an error at open and on reads.
//! - WAL recovery mode `TolerateCorruptedTailRecords`: an incomplete *last* record of
//!   RocksDB's own log (a write torn by a crash before it was synced, i.e. never
//!   acknowledged under `appendfsync always`) is dropped; corruption anywhere else
//!   refuses to open.
//! - Every batch goes through RocksDB's log; a batch written with `sync` makes every
//!   earlier batch durable too (one sequential log file).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::PersistError;

/// Column families.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cf {
    /// Write-ahead log: `index (u64 BE)` → record.
    Wal,
    /// Snapshots: `snapshot id (u64 BE) ++ db ++ key` → `crdt::codec::encode_key`.
    Snap,
    /// Metadata: small named values.
    Meta,
}

impl Cf {
    const ALL: [Cf; 3] = [Cf::Wal, Cf::Snap, Cf::Meta];

    fn name(self) -> &'static str {
        match self {
            Cf::Wal => "wal",
            Cf::Snap => "snapshot",
            Cf::Meta => "meta",
        }
    }
}

/// One change of a [`Batch`].
#[derive(Clone, Debug)]
pub enum BatchOp {
    /// Put a value.
    Put(Cf, Vec<u8>, Vec<u8>),
    /// Delete `[from, to)`.
    DeleteRange(Cf, Vec<u8>, Vec<u8>),
}

/// Changes written atomically.
#[derive(Clone, Debug, Default)]
pub struct Batch {
    /// The changes, in order.
    pub ops: Vec<BatchOp>,
    /// Bytes of keys and values (accounting).
    pub bytes: usize,
}

impl Batch {
    /// Adds a put.
    pub fn put(&mut self, cf: Cf, key: Vec<u8>, value: Vec<u8>) {
        self.bytes += key.len() + value.len();
        self.ops.push(BatchOp::Put(cf, key, value));
    }

    /// Adds a range delete `[from, to)`.
    pub fn delete_range(&mut self, cf: Cf, from: Vec<u8>, to: Vec<u8>) {
        self.ops.push(BatchOp::DeleteRange(cf, from, to));
    }

    /// Whether nothing was added.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
}

/// A [`Storage::scan`] visitor: gets each `(key, value)`, returns whether to go on.
pub type Visit<'a> = dyn FnMut(&[u8], &[u8]) -> Result<bool, PersistError> + 'a;

/// What persistence needs from a disk. Object safe; shared between threads.
pub trait Storage: Send + Sync {
    /// Writes a batch atomically; with `sync`, returns once it (and everything written
    /// before) is on stable storage.
    fn write(&self, batch: Batch, sync: bool) -> Result<(), PersistError>;
    /// Makes everything written so far durable.
    fn sync(&self) -> Result<(), PersistError>;
    /// Reads one value.
    fn get(&self, cf: Cf, key: &[u8]) -> Result<Option<Vec<u8>>, PersistError>;
    /// Visits the entries of `cf` from `from` on, in key order, while `f` returns
    /// `Ok(true)`.
    fn scan(&self, cf: Cf, from: &[u8], f: &mut Visit<'_>) -> Result<(), PersistError>;
    /// Moves buffered data into files and compacts away deleted ranges (after a snapshot).
    fn compact(&self) -> Result<(), PersistError>;
    /// Bytes on disk (all files of the store).
    fn disk_bytes(&self) -> u64;
    /// Where the data lives (error messages).
    fn path(&self) -> &Path;
}

/// RocksDB-backed [`Storage`].
pub struct RocksStorage {
    db: rocksdb::DB,
    path: PathBuf,
}

impl std::fmt::Debug for RocksStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RocksStorage")
            .field("path", &self.path)
            .finish()
    }
}

fn io_err(path: &Path, what: &str, e: rocksdb::Error) -> PersistError {
    PersistError::Storage {
        path: path.to_path_buf(),
        what: what.to_string(),
        message: e.to_string(),
    }
}

impl RocksStorage {
    /// Opens (creating when missing) the RocksDB store in `path`.
    pub fn open(path: &Path) -> Result<RocksStorage, PersistError> {
        let mut opts = rocksdb::Options::default();
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        opts.set_paranoid_checks(true);
        opts.set_wal_recovery_mode(rocksdb::DBRecoveryMode::TolerateCorruptedTailRecords);
        opts.set_max_background_jobs(2);
        opts.set_keep_log_file_num(4);
        let cfs = Cf::ALL.iter().map(|cf| {
            let mut o = rocksdb::Options::default();
            o.set_paranoid_checks(true);
            match cf {
                Cf::Snap => o.set_compression_type(rocksdb::DBCompressionType::Lz4),
                _ => o.set_compression_type(rocksdb::DBCompressionType::None),
            }
            rocksdb::ColumnFamilyDescriptor::new(cf.name(), o)
        });
        let db = rocksdb::DB::open_cf_descriptors(&opts, path, cfs)
            .map_err(|e| io_err(path, "cannot open the RocksDB store", e))?;
        Ok(RocksStorage {
            db,
            path: path.to_path_buf(),
        })
    }

    fn cf(&self, cf: Cf) -> &rocksdb::ColumnFamily {
        self.db
            .cf_handle(cf.name())
            .expect("column families are created at open")
    }
}

impl Storage for RocksStorage {
    fn write(&self, batch: Batch, sync: bool) -> Result<(), PersistError> {
        let mut wb = rocksdb::WriteBatch::default();
        for op in batch.ops {
            match op {
                BatchOp::Put(cf, k, v) => wb.put_cf(self.cf(cf), k, v),
                BatchOp::DeleteRange(cf, a, b) => wb.delete_range_cf(self.cf(cf), a, b),
            }
        }
        let mut wo = rocksdb::WriteOptions::default();
        wo.set_sync(sync);
        self.db
            .write_opt(wb, &wo)
            .map_err(|e| io_err(&self.path, "write failed", e))
    }

    fn sync(&self) -> Result<(), PersistError> {
        self.db
            .flush_wal(true)
            .map_err(|e| io_err(&self.path, "sync failed", e))
    }

    fn get(&self, cf: Cf, key: &[u8]) -> Result<Option<Vec<u8>>, PersistError> {
        self.db
            .get_cf(self.cf(cf), key)
            .map_err(|e| io_err(&self.path, "read failed", e))
    }

    fn scan(&self, cf: Cf, from: &[u8], f: &mut Visit<'_>) -> Result<(), PersistError> {
        let mut ro = rocksdb::ReadOptions::default();
        ro.set_verify_checksums(true);
        let it = self.db.iterator_cf_opt(
            self.cf(cf),
            ro,
            rocksdb::IteratorMode::From(from, rocksdb::Direction::Forward),
        );
        for item in it {
            let (k, v) = item.map_err(|e| io_err(&self.path, "read failed", e))?;
            if !f(&k, &v)? {
                break;
            }
        }
        Ok(())
    }

    fn compact(&self) -> Result<(), PersistError> {
        for cf in Cf::ALL {
            self.db
                .flush_cf(self.cf(cf))
                .map_err(|e| io_err(&self.path, "flush failed", e))?;
        }
        for cf in [Cf::Wal, Cf::Snap] {
            self.db
                .compact_range_cf(self.cf(cf), None::<&[u8]>, None::<&[u8]>);
        }
        Ok(())
    }

    fn disk_bytes(&self) -> u64 {
        dir_bytes(&self.path)
    }

    fn path(&self) -> &Path {
        &self.path
    }
}

/// Total size of the regular files in `dir` (not recursive).
pub fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter_map(|e| e.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

/// A [`Storage`] that fails every write once armed (tests: a disk that stops accepting
/// writes).
pub struct FailingStorage {
    inner: Arc<dyn Storage>,
    /// Writes (and syncs) left before every later one fails; `u64::MAX` = never.
    writes_left: AtomicU64,
}

impl FailingStorage {
    /// Wraps `inner`; writes succeed until [`FailingStorage::fail_after`].
    pub fn new(inner: Arc<dyn Storage>) -> FailingStorage {
        FailingStorage {
            inner,
            writes_left: AtomicU64::new(u64::MAX),
        }
    }

    /// Lets `n` more writes succeed, then fails all of them.
    pub fn fail_after(&self, n: u64) {
        self.writes_left.store(n, Ordering::SeqCst);
    }

    fn check(&self) -> Result<(), PersistError> {
        let ok = self
            .writes_left
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| match n {
                u64::MAX => Some(n),
                0 => None,
                n => Some(n - 1),
            })
            .is_ok();
        if ok {
            Ok(())
        } else {
            Err(PersistError::Storage {
                path: self.inner.path().to_path_buf(),
                what: "write failed".into(),
                message: "injected I/O error".into(),
            })
        }
    }
}

impl Storage for FailingStorage {
    fn write(&self, batch: Batch, sync: bool) -> Result<(), PersistError> {
        self.check()?;
        self.inner.write(batch, sync)
    }
    fn sync(&self) -> Result<(), PersistError> {
        self.check()?;
        self.inner.sync()
    }
    fn get(&self, cf: Cf, key: &[u8]) -> Result<Option<Vec<u8>>, PersistError> {
        self.inner.get(cf, key)
    }
    fn scan(&self, cf: Cf, from: &[u8], f: &mut Visit<'_>) -> Result<(), PersistError> {
        self.inner.scan(cf, from, f)
    }
    fn compact(&self) -> Result<(), PersistError> {
        self.inner.compact()
    }
    fn disk_bytes(&self) -> u64 {
        self.inner.disk_bytes()
    }
    fn path(&self) -> &Path {
        self.inner.path()
    }
}
