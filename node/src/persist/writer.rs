//! The writer thread: the only writer of the write-ahead log.
//!
//! It takes every queued record, up to [`BATCH_RECORDS_MAX`] / [`BATCH_BYTES_MAX`] at a
//! time, and writes them as one atomic batch together with the largest HLC they carry
//! (meta `hlc`): group commit. Then it publishes progress in [`Shared`]:
//!
//! - `written`: the last index handed to the OS (survives a process crash);
//! - `durable`: the last index on stable storage. `appendfsync always` writes each batch
//!   with `sync`, so `durable == written` after every batch; `everysec` syncs at most
//!   once a second (and only when something was written); `no` never syncs explicitly
//!   and reports `written` as durable (it trusts the OS, as Redis' `no` does).
//!
//! A failed write marks persistence failed: durability stops advancing, waiting clients
//! get an error instead of an acknowledgement, write commands are refused (`-MISCONF`)
//! and queued records are discarded (they can never be acknowledged).

use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crdt::Hlc;

use super::storage::{Batch, Cf, Storage};
use super::wal::wal_key;
use super::{Fsync, Shared, ORD};

/// Records per batch at most.
pub const BATCH_RECORDS_MAX: usize = 4096;
/// Record bytes per batch at most (a single larger record goes alone).
pub const BATCH_BYTES_MAX: usize = 4 << 20;
/// Capacity of the hand-off channel (records).
pub const QUEUE_RECORDS_MAX: usize = 16 * 1024;
/// `everysec` sync period.
const SYNC_PERIOD: Duration = Duration::from_secs(1);
/// Longest idle wait (the policy may change at run time).
const IDLE_WAIT: Duration = Duration::from_millis(100);

/// What the write path hands to the writer.
#[derive(Debug)]
pub enum Job {
    /// A WAL record.
    Record {
        /// Its index.
        index: u64,
        /// Encoded record.
        bytes: Vec<u8>,
        /// HLC of the op, if it is one.
        hlc: Option<Hlc>,
    },
    /// A metadata value, written in order with the records.
    Meta {
        /// Meta key.
        key: &'static str,
        /// Value.
        value: Vec<u8>,
    },
    /// Write and sync everything before, then exit.
    Stop,
}

/// Runs the writer until [`Job::Stop`] or until every sender is gone.
pub fn run(storage: Arc<dyn Storage>, shared: Arc<Shared>, rx: Receiver<Job>) {
    let mut last_sync = Instant::now();
    let mut stop = false;
    while !stop {
        let policy = shared.fsync();
        let unsynced = shared.written.load(ORD) > shared.synced.load(ORD);
        let wait = if policy == Fsync::EverySec && unsynced {
            SYNC_PERIOD.saturating_sub(last_sync.elapsed())
        } else {
            IDLE_WAIT
        };
        let first = match rx.recv_timeout(wait) {
            Ok(j) => Some(j),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => {
                stop = true;
                None
            }
        };
        let mut batch = Batch::default();
        let mut last_index = 0;
        let mut hlc_max: Option<Hlc> = None;
        let mut records = 0u64;
        let mut record_bytes = 0u64;
        let mut next = first;
        while let Some(job) = next.take() {
            match job {
                Job::Record { index, bytes, hlc } => {
                    record_bytes += bytes.len() as u64;
                    batch.put(Cf::Wal, wal_key(index).to_vec(), bytes);
                    last_index = index;
                    records += 1;
                    if let Some(h) = hlc {
                        hlc_max = Some(hlc_max.map_or(h, |m| m.max(h)));
                    }
                }
                Job::Meta { key, value } => batch.put(Cf::Meta, key.as_bytes().to_vec(), value),
                Job::Stop => {
                    stop = true;
                    break;
                }
            }
            if (records as usize) < BATCH_RECORDS_MAX && batch.bytes < BATCH_BYTES_MAX {
                next = rx.try_recv().ok();
            }
        }
        if shared.is_failed() {
            continue; // discard: nothing can be acknowledged any more
        }
        let policy = shared.fsync();
        if !batch.is_empty() {
            if let Some(h) = hlc_max {
                batch.put(Cf::Meta, b"hlc".to_vec(), h.to_u64().to_be_bytes().to_vec());
            }
            let sync = policy == Fsync::Always;
            let t = Instant::now();
            if let Err(e) = storage.write(batch, sync) {
                shared.fail(e);
                continue;
            }
            shared.stats.batches.fetch_add(1, ORD);
            shared.stats.records.fetch_add(records, ORD);
            shared.stats.record_bytes.fetch_add(record_bytes, ORD);
            if sync {
                shared.stats.syncs.fetch_add(1, ORD);
                shared
                    .stats
                    .sync_us
                    .fetch_add(t.elapsed().as_micros() as u64, ORD);
                last_sync = Instant::now();
            }
            if last_index > 0 {
                shared.written.store(last_index, ORD);
                if sync {
                    shared.synced.store(last_index, ORD);
                }
            }
        }
        let written = shared.written.load(ORD);
        let synced = shared.synced.load(ORD);
        let sync_due = match policy {
            Fsync::Always => true, // after a switch from another policy
            Fsync::EverySec => last_sync.elapsed() >= SYNC_PERIOD,
            Fsync::No => false,
        };
        if (sync_due || stop) && written > synced {
            let t = Instant::now();
            if let Err(e) = storage.sync() {
                shared.fail(e);
                continue;
            }
            shared.stats.syncs.fetch_add(1, ORD);
            shared
                .stats
                .sync_us
                .fetch_add(t.elapsed().as_micros() as u64, ORD);
            shared.synced.store(written, ORD);
            last_sync = Instant::now();
        }
        let durable = match policy {
            Fsync::No => written,
            _ => shared.synced.load(ORD),
        };
        shared.publish_durable(durable);
    }
}
