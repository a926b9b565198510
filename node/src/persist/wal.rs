//! The write-ahead log: record format and the store's hook ([`WalHook`]).
//!
//! One record per change the region applied ([`crate::store::Applied`]), keyed by a local
//! index (`u64`, big-endian so RocksDB orders by it), consecutive from 1. The hook runs
//! under the store lock, so the index order is the application order (a causal order).
//! It encodes the record and hands it to the writer thread through a bounded channel;
//! when the channel is full the write path blocks until the writer catches up
//! (backpressure, never a dropped record).
//!
//! Record layout: 1 format byte ([`RECORD_VERSION`]), then the `postcard` encoding of
//! [`Record`]. Ops keep the replication wire form (`crdt::codec::encode_op`), so a
//! recovered record is also a replication [`LogEntry`].

use std::sync::mpsc::{SyncSender, TrySendError};
use std::sync::Arc;

use crdt::{CausalContext, Hlc};
use replication::msg::LogEntry;
use serde::{Deserialize, Serialize};

use super::oplog::LogKeep;
use super::{writer::Job, PersistError, Shared};
use crate::store::{Applied, ApplyLog};

/// Format byte of every record.
pub const RECORD_VERSION: u8 = 1;

/// One write-ahead log record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Record {
    /// An op (local or remote) in the replication wire form.
    Op {
        /// Origin region.
        origin: crdt::RegionId,
        /// First dot seq.
        first_seq: u64,
        /// Last dot seq (the op's dot).
        last_seq: u64,
        /// `crdt::codec::encode_op`.
        #[serde(with = "serde_bytes")]
        op: Vec<u8>,
    },
    /// The context the following [`Record::MergeKey`]s merge with (logged once per
    /// incoming full-resync snapshot, and again after each local snapshot's start so a
    /// trimmed log never loses it).
    SnapCtx(CausalContext),
    /// One key of a peer's full-resync snapshot.
    MergeKey {
        /// Database.
        db: u8,
        /// Key.
        #[serde(with = "serde_bytes")]
        key: Vec<u8>,
        /// `crdt::codec::encode_key`.
        #[serde(with = "serde_bytes")]
        state: Vec<u8>,
    },
    /// End of a peer's full-resync snapshot: its context joined.
    MergeCtx(CausalContext),
    /// The whole consumer-group state of one stream (node-local; replaces what
    /// recovery had for it).
    Groups {
        /// Database.
        db: u8,
        /// Stream key.
        #[serde(with = "serde_bytes")]
        key: Vec<u8>,
        /// `Groups::encode`.
        #[serde(with = "serde_bytes")]
        state: Vec<u8>,
    },
}

impl Record {
    /// Encodes with the format byte.
    pub fn encode(&self) -> Vec<u8> {
        let out = vec![RECORD_VERSION];
        postcard::to_extend(self, out).expect("encoding to a Vec cannot fail")
    }

    /// Decodes; `Err` names what is wrong.
    pub fn decode(b: &[u8]) -> Result<Record, String> {
        match b.first() {
            None => Err("empty record".into()),
            Some(&RECORD_VERSION) => {
                let (r, rest) = postcard::take_from_bytes(&b[1..]).map_err(|e| e.to_string())?;
                if rest.is_empty() {
                    Ok(r)
                } else {
                    Err(format!("{} trailing bytes", rest.len()))
                }
            }
            Some(v) => Err(format!("unknown record format {v}")),
        }
    }

    /// The op as a replication log entry (`None` for other records).
    pub fn into_log_entry(self) -> Option<LogEntry> {
        match self {
            Record::Op {
                origin,
                first_seq,
                last_seq,
                op,
            } => Some(LogEntry {
                origin,
                first_seq,
                last_seq,
                op,
            }),
            _ => None,
        }
    }
}

/// The WAL key of `index`.
pub fn wal_key(index: u64) -> [u8; 8] {
    index.to_be_bytes()
}

/// The store's [`ApplyLog`]: assigns indexes and queues records for the writer.
pub struct WalHook {
    shared: Arc<Shared>,
    tx: SyncSender<Job>,
    next_index: u64,
    /// Context of the last logged [`Record::SnapCtx`].
    merge_ctx: Option<CausalContext>,
    /// The backlog's notes of op records.
    keep: Arc<parking_lot::Mutex<LogKeep>>,
}

impl WalHook {
    /// A hook whose first record gets `next_index`.
    pub(super) fn new(
        shared: Arc<Shared>,
        tx: SyncSender<Job>,
        next_index: u64,
        keep: Arc<parking_lot::Mutex<LogKeep>>,
    ) -> WalHook {
        WalHook {
            shared,
            tx,
            next_index,
            merge_ctx: None,
            keep,
        }
    }

    fn push(&mut self, rec: &Record, hlc: Option<Hlc>) {
        let bytes = rec.encode();
        let index = self.next_index;
        if let Record::Op {
            origin, last_seq, ..
        } = rec
        {
            self.keep.lock().note_record(*origin, *last_seq, index);
        }
        self.next_index += 1;
        self.shared.note_appended(index, bytes.len() as u64);
        let job = Job::Record { index, bytes, hlc };
        let job = match self.tx.try_send(job) {
            Ok(()) => return,
            Err(TrySendError::Full(job)) => {
                self.shared.stats.backpressure.fetch_add(1, super::ORD);
                job
            }
            Err(TrySendError::Disconnected(_)) => {
                self.shared.fail(PersistError::WriterGone);
                return;
            }
        };
        // Backpressure: wait (under the store lock) until the writer takes it.
        if self.tx.send(job).is_err() {
            self.shared.fail(PersistError::WriterGone);
        }
    }
}

impl ApplyLog for WalHook {
    fn record(&mut self, change: Applied<'_>) {
        match change {
            Applied::Local { op, first_seq } | Applied::Remote { op, first_seq } => {
                let rec = Record::Op {
                    origin: op.dot.region(),
                    first_seq,
                    last_seq: op.dot.seq(),
                    op: crdt::codec::encode_op(op),
                };
                self.push(&rec, Some(op.hlc));
            }
            Applied::MergeKey {
                db,
                key,
                state,
                ctx,
            } => {
                if self.shared.take_relog_ctx() {
                    self.merge_ctx = None;
                }
                if self.merge_ctx.as_ref() != Some(ctx) {
                    self.push(&Record::SnapCtx(ctx.clone()), None);
                    self.merge_ctx = Some(ctx.clone());
                }
                let rec = Record::MergeKey {
                    db,
                    key: key.to_vec(),
                    state: crdt::codec::encode_key(state),
                };
                self.push(&rec, None);
            }
            Applied::MergeCtx(ctx) => {
                self.merge_ctx = None;
                self.push(&Record::MergeCtx(ctx.clone()), None);
            }
            Applied::Groups { db, key, state } => {
                let rec = Record::Groups {
                    db,
                    key: key.to_vec(),
                    state: state.to_vec(),
                };
                self.push(&rec, None);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_refuse_garbage() {
        let recs = [
            Record::Op {
                origin: 3,
                first_seq: 7,
                last_seq: 9,
                op: vec![1, 2, 3],
            },
            Record::SnapCtx(CausalContext::from_dots([crdt::Dot::new(1, 4)])),
            Record::MergeKey {
                db: 2,
                key: b"k".to_vec(),
                state: vec![9; 10],
            },
            Record::MergeCtx(CausalContext::new()),
            Record::Groups {
                db: 1,
                key: b"s".to_vec(),
                state: vec![1, 0],
            },
        ];
        for r in &recs {
            assert_eq!(&Record::decode(&r.encode()).unwrap(), r);
        }
        let mut b = recs[0].encode();
        b.push(0);
        assert!(Record::decode(&b).is_err());
        assert!(Record::decode(&[]).is_err());
        assert!(Record::decode(&[99, 0]).is_err());
        assert!(Record::decode(&[RECORD_VERSION, 0xff, 0xff]).is_err());
        let e = recs[0].clone().into_log_entry().unwrap();
        assert_eq!((e.origin, e.first_seq, e.last_seq), (3, 7, 9));
        assert!(wal_key(1) < wal_key(256));
    }
}
