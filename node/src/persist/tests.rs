//! Unit tests: WAL round trips, snapshots (also while writes go on), remote ops and
//! peer-snapshot merges, corruption, injected I/O errors.

use std::path::PathBuf;
use std::sync::Arc;

use super::storage::{Batch, Cf, FailingStorage, RocksStorage, Storage};
use super::*;
use crate::store::Store;
use replication::core::OpLog;

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let d = std::env::temp_dir().join(format!(
            "meridian-persist-{name}-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        ));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        TempDir(d)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn opts(dir: &TempDir, fsync: Fsync) -> Options {
    Options {
        dir: dir.0.join("db"),
        fsync,
        backlog_bytes_max: 1 << 30,
        backlog_memory_max: 1 << 30,
    }
}

fn open(dir: &TempDir, fsync: Fsync, region: u8) -> (Store, Arc<Persist>) {
    let mut st = Store::new(region);
    let p = Persist::open(&mut st, &opts(dir, fsync)).expect("open");
    (st, p)
}

fn set(st: &mut Store, db: u8, key: &str, val: &str) {
    st.write(db)
        .put_string(key.as_bytes(), val.as_bytes().into(), false);
}

fn get(st: &Store, db: u8, key: &str) -> Option<String> {
    match st.get(db, key.as_bytes()) {
        Some(crdt::Value::Str(f)) => {
            crate::store::str_bytes(f).map(|b| String::from_utf8_lossy(&b).into_owned())
        }
        Some(_) => Some("<other type>".into()),
        None => None,
    }
}

/// Every visible key and value of every database, with TTLs.
fn dump(st: &Store) -> Vec<(u8, Vec<u8>, String, Option<u64>)> {
    let mut out = Vec::new();
    for db in 0..crdt::keyspace::DATABASES as u8 {
        for (k, _) in st.keys(db) {
            let v = format!("{:?}", st.get(db, k));
            out.push((db, k.to_vec(), v, st.expire_at(db, k)));
        }
    }
    out.sort();
    out
}

fn close(p: &Persist, st: &mut Store) {
    p.shutdown();
    st.set_log(None);
}

#[test]
fn wal_replay_restores_values_ttls_context_and_clock() {
    let dir = TempDir::new("replay");
    let (mut st, p) = open(&dir, Fsync::Always, 1);
    set(&mut st, 0, "a", "1");
    set(&mut st, 3, "b", "2");
    for _ in 0..5 {
        st.write(0).incr_string(b"n", 2, 0.0).unwrap();
    }
    let at = st.now_ms() + 3_600_000;
    st.write(0).expire_at(b"a", at);
    set(&mut st, 0, "gone", "x");
    st.write(0).delete_raw(b"gone");
    st.begin_batch();
    set(&mut st, 1, "t1", "x");
    set(&mut st, 1, "t2", "y");
    st.end_batch();
    let hlc = st.hlc_last();
    let before = dump(&st);
    let ctx = st.keyspace().ctx().clone();
    close(&p, &mut st);
    drop(p);

    let (mut st2, p2) = open(&dir, Fsync::Always, 1);
    assert_eq!(dump(&st2), before);
    assert_eq!(st2.keyspace().ctx(), &ctx);
    assert_eq!(get(&st2, 0, "n").as_deref(), Some("10"));
    assert_eq!(st2.expire_at(0, b"a"), Some(at));
    assert!(st2.hlc_last() >= hlc, "the HLC never goes backwards");
    assert_eq!(st2.expires_count(0), 1, "expiry index rebuilt");
    // New writes continue the sequence.
    set(&mut st2, 0, "c", "3");
    assert_eq!(st2.keyspace().applied().get(1), ctx.vv().get(1) + 1);
    let (start, log) = p2.replication_start();
    assert!(matches!(start, Some(Start::Restored { .. })));
    assert_eq!(log.len(), 11, "the op log is rebuilt from the WAL");
    close(&p2, &mut st2);
}

#[test]
fn snapshot_trims_the_wal_and_recovery_merges_both() {
    let dir = TempDir::new("snap");
    let (mut st, p) = open(&dir, Fsync::EverySec, 1);
    p.no_replication(); // no backlog holds the WAL back
    for i in 0..3000 {
        set(&mut st, (i % 3) as u8, &format!("k{i}"), &format!("v{i}"));
    }
    let store = parking_lot::Mutex::new(st);
    let m = p.snapshot(&store).expect("snapshot");
    assert_eq!(m.keys, 3000);
    assert_eq!(m.start_index, 3000);
    let mut st = store.into_inner();
    // After the snapshot: overwrite, delete, add.
    set(&mut st, 0, "k0", "new");
    st.write(1).delete_raw(b"k1");
    set(&mut st, 5, "late", "x");
    let before = dump(&st);
    let mut info = String::new();
    p.info(&mut info);
    assert!(info.contains("wal_oldest_index:3001"), "{info}");
    assert!(info.contains("wal_entries:3"), "{info}");
    close(&p, &mut st);
    drop(p);

    let (mut st2, p2) = open(&dir, Fsync::EverySec, 1);
    assert_eq!(dump(&st2), before);
    assert_eq!(get(&st2, 0, "k0").as_deref(), Some("new"));
    assert_eq!(get(&st2, 1, "k1"), None);
    // The rebuilt log only holds what the WAL kept; its floor covers the snapshot.
    let (_, log) = p2.replication_start();
    assert_eq!(log.len(), 3);
    assert_eq!(log.floor().get(1), 3000);
    close(&p2, &mut st2);
}

#[test]
fn fuzzy_snapshot_while_writes_go_on() {
    let dir = TempDir::new("fuzzy");
    let (mut st, p) = open(&dir, Fsync::No, 1);
    for i in 0..5000 {
        set(&mut st, 0, &format!("k{i}"), "0");
    }
    let store = Arc::new(parking_lot::Mutex::new(st));
    let writer = {
        let store = store.clone();
        std::thread::spawn(move || {
            for round in 1..=4 {
                for i in (0..5000).step_by(7) {
                    let mut st = store.lock();
                    if i % 2 == 0 {
                        set(&mut st, 0, &format!("k{i}"), &round.to_string());
                    } else {
                        st.write(0).delete_raw(format!("k{i}").as_bytes());
                    }
                    set(&mut st, 2, &format!("new{round}-{i}"), "n");
                }
            }
        })
    };
    p.snapshot(&store).expect("snapshot");
    writer.join().unwrap();
    let mut st = Arc::try_unwrap(store).ok().unwrap().into_inner();
    let before = dump(&st);
    close(&p, &mut st);
    drop(p);
    let (mut st2, p2) = open(&dir, Fsync::No, 1);
    assert_eq!(dump(&st2), before);
    close(&p2, &mut st2);
}

#[test]
fn remote_ops_and_peer_snapshot_merges_are_logged() {
    let dir = TempDir::new("remote");
    // Region 2 writes; region 1 (persistent) applies its ops and a peer snapshot.
    let mut other = Store::new(2);
    let ops = Arc::new(parking_lot::Mutex::new(Vec::new()));
    struct Rec(Arc<parking_lot::Mutex<Vec<crdt::OpDelta>>>);
    impl crate::store::DeltaSink for Rec {
        fn emit(&mut self, op: &crdt::OpDelta, _first_seq: u64) {
            self.0.lock().push(op.clone());
        }
    }
    other.set_sink(Box::new(Rec(ops.clone())));
    set(&mut other, 0, "r1", "a");
    set(&mut other, 0, "r2", "b");
    let mut third = Store::new(3);
    set(&mut third, 4, "s1", "snap");
    third.write(4).incr_string(b"s2", 7, 0.0).unwrap();

    let (mut st, p) = open(&dir, Fsync::Always, 1);
    set(&mut st, 0, "mine", "1");
    for op in ops.lock().iter() {
        st.apply_remote(op);
    }
    let ctx3 = third.keyspace().ctx().clone();
    for db in 0..16u8 {
        let keys: Vec<_> = third
            .keyspace()
            .db(db)
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for (k, v) in keys {
            st.merge_snapshot_key(db, &k, &v, &ctx3);
        }
    }
    st.merge_snapshot_ctx(&ctx3);
    let before = dump(&st);
    let applied = st.keyspace().applied().clone();
    close(&p, &mut st);
    drop(p);
    let (mut st2, p2) = open(&dir, Fsync::Always, 1);
    assert_eq!(dump(&st2), before);
    assert_eq!(st2.keyspace().applied(), &applied);
    assert_eq!(get(&st2, 4, "s2").as_deref(), Some("7"));
    close(&p2, &mut st2);
}

#[test]
fn corrupt_wal_record_refuses_to_start_naming_the_directory() {
    let dir = TempDir::new("corrupt");
    let (mut st, p) = open(&dir, Fsync::Always, 1);
    for i in 0..10 {
        set(&mut st, 0, &format!("k{i}"), "v");
    }
    close(&p, &mut st);
    drop(p);
    {
        let s = RocksStorage::open(&dir.0.join("db")).unwrap();
        let mut b = Batch::default();
        b.put(Cf::Wal, wal::wal_key(4).to_vec(), vec![1, 0xff, 0x13, 0x37]);
        s.write(b, true).unwrap();
    }
    let mut st2 = Store::new(1);
    let err = Persist::open(&mut st2, &opts(&dir, Fsync::Always)).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, PersistError::Corrupt { .. }), "{msg}");
    assert!(msg.contains("WAL record 4"), "{msg}");
    assert!(
        msg.contains(&dir.0.join("db").display().to_string()),
        "{msg}"
    );
    // A gap is refused too.
    {
        let s = RocksStorage::open(&dir.0.join("db")).unwrap();
        let mut b = Batch::default();
        b.delete_range(Cf::Wal, wal::wal_key(4).to_vec(), wal::wal_key(5).to_vec());
        s.write(b, true).unwrap();
    }
    let mut st3 = Store::new(1);
    let msg = Persist::open(&mut st3, &opts(&dir, Fsync::Always))
        .unwrap_err()
        .to_string();
    assert!(msg.contains("WAL record 4 is missing"), "{msg}");
    // Another region's directory is refused.
    let dir2 = TempDir::new("region");
    let (mut st4, p4) = open(&dir2, Fsync::Always, 1);
    close(&p4, &mut st4);
    drop(p4);
    let mut st5 = Store::new(2);
    let err = Persist::open(&mut st5, &opts(&dir2, Fsync::Always)).unwrap_err();
    assert!(matches!(err, PersistError::WrongRegion { .. }), "{err}");
}

#[tokio::test]
async fn io_error_stops_acknowledgements_and_writes() {
    let dir = TempDir::new("ioerr");
    let inner: Arc<dyn Storage> = Arc::new(RocksStorage::open(&dir.0.join("db")).unwrap());
    let failing = Arc::new(FailingStorage::new(inner));
    let mut st = Store::new(1);
    let p = Persist::open_with(failing.clone(), &mut st, &opts(&dir, Fsync::Always)).unwrap();
    set(&mut st, 0, "ok", "1");
    let i = p.appended_index();
    p.wait_durable(i).await.expect("durable");
    failing.fail_after(0);
    set(&mut st, 0, "lost", "1");
    let i = p.appended_index();
    let err = p.wait_durable(i).await.unwrap_err();
    assert!(err.contains("injected"), "{err}");
    assert!(p.failure().is_some());
    assert!(p.durable_index() < i);
    // More writes do not block the write path (records are discarded).
    for n in 0..100 {
        set(&mut st, 0, &format!("more{n}"), "1");
    }
    close(&p, &mut st);
    drop(p);
    drop(failing);
    // What was acknowledged survived.
    let (mut st2, p2) = open(&dir, Fsync::Always, 1);
    assert_eq!(get(&st2, 0, "ok").as_deref(), Some("1"));
    assert_eq!(get(&st2, 0, "lost"), None);
    close(&p2, &mut st2);
}

#[test]
fn durable_vectors_follow_the_durable_index() {
    let dir = TempDir::new("vv");
    let (mut st, p) = open(&dir, Fsync::Always, 1);
    set(&mut st, 0, "a", "1");
    let vv1 = st.keyspace().applied().clone();
    // First call records a checkpoint; it is reported once durable.
    let mut got = p.durable_vv(&vv1);
    let t = std::time::Instant::now();
    while got.is_none() && t.elapsed().as_secs() < 10 {
        std::thread::sleep(std::time::Duration::from_millis(2));
        got = p.durable_vv(&vv1);
    }
    assert_eq!(got, Some(vv1.clone()));
    assert_eq!(p.durable_vv(&vv1), None, "reported once");
    close(&p, &mut st);
}

/// Collects the store's local ops as replication log entries (the replication sink).
struct Collect(Arc<parking_lot::Mutex<Vec<replication::msg::LogEntry>>>);

impl crate::store::DeltaSink for Collect {
    fn emit(&mut self, op: &crdt::OpDelta, first_seq: u64) {
        self.0.lock().push(replication::msg::LogEntry {
            origin: op.dot.region(),
            first_seq,
            last_seq: op.dot.seq(),
            op: crdt::codec::encode_op(op),
        });
    }
}

fn wait_written(p: &Persist) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while p.shared.written.load(ORD) < p.appended_index() {
        assert!(std::time::Instant::now() < deadline, "the writer is stuck");
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn backlog_reads_old_entries_back_from_the_wal_and_survives_snapshots_and_restarts() {
    let dir = TempDir::new("backlog");
    let mut o = opts(&dir, Fsync::EverySec);
    o.backlog_memory_max = 4096; // a few dozen ops in memory, the rest on disk
    let mut st = Store::new(1);
    let p = Persist::open(&mut st, &o).expect("open");
    let (_, mut log) = p.replication_start();
    let out = Arc::new(parking_lot::Mutex::new(Vec::new()));
    st.set_sink(Box::new(Collect(out.clone())));
    for i in 0..3000 {
        set(&mut st, 0, &format!("k{i}"), &format!("value-{i}"));
        if i >= 1500 && i % 100 == 7 {
            // A WAL record that is not a backlog entry (consumer-group state).
            st.groups_mut().of_mut(0, b"stream");
            st.flush_groups_log();
        }
    }
    let entries: Vec<_> = std::mem::take(&mut *out.lock());
    assert_eq!(entries.len(), 3000);
    wait_written(&p);
    for e in &entries {
        log.append(e.clone(), wall_ms());
    }
    assert_eq!(log.len(), 3000);
    let b = p.backlog();
    assert_eq!(b.entries, 3000);
    assert!(b.memory_bytes <= 4096 + 200, "{b:?}");
    assert!(b.bytes > 3000 * 40, "{b:?}");
    // Old entries come back from the WAL byte for byte; new ones from memory.
    for pos in [0u64, 1, 1500, 2999] {
        assert_eq!(
            log.read(pos).as_ref(),
            Some(&entries[pos as usize]),
            "{pos}"
        );
    }
    // In order, as a catching-up peer reads (read-ahead scans skip other records).
    for (pos, e) in entries.iter().enumerate() {
        assert_eq!(log.read(pos as u64).as_ref(), Some(e), "{pos}");
    }
    assert_eq!(log.first_after(1, 2000), Some(2000));
    // A snapshot trims nothing the backlog holds.
    let store = parking_lot::Mutex::new(st);
    let m = p.snapshot(&store).expect("snapshot");
    assert_eq!(m.start_index, 3015); // 3,000 ops and 15 group records
    let mut info = String::new();
    p.info(&mut info);
    assert!(info.contains("wal_oldest_index:1\r\n"), "{info}");
    assert!(info.contains("repl_backlog_entries:3000\r\n"), "{info}");
    assert_eq!(log.read(0).as_ref(), Some(&entries[0]));
    // Entries every peer acknowledged leave the backlog; the next snapshot trims them.
    for _ in 0..1000 {
        log.pop_front();
    }
    assert_eq!(log.floor().get(1), 1000);
    let mut st = store.into_inner();
    set(&mut st, 0, "after", "x");
    let late = out.lock().pop().expect("the late op");
    wait_written(&p);
    log.append(late.clone(), wall_ms());
    let store = parking_lot::Mutex::new(st);
    p.snapshot(&store).expect("snapshot");
    let mut info = String::new();
    p.info(&mut info);
    assert!(info.contains("wal_oldest_index:1001\r\n"), "{info}");
    let mut st = store.into_inner();
    let before = dump(&st);
    drop(log);
    close(&p, &mut st);
    drop(p);

    // Restart: the backlog is rebuilt from the WAL kept past the snapshot.
    let mut st2 = Store::new(1);
    let p2 = Persist::open(&mut st2, &o).expect("reopen");
    assert_eq!(dump(&st2), before);
    let (_, log2) = p2.replication_start();
    assert_eq!(log2.len(), 2001);
    assert_eq!(
        log2.floor().get(1),
        1000,
        "the floor covers the trimmed entries"
    );
    assert_eq!(log2.read(log2.start()).as_ref(), Some(&entries[1000]));
    assert_eq!(log2.read(log2.end() - 1).as_ref(), Some(&late));
    close(&p2, &mut st2);
}

#[test]
fn backlog_retention_bounds_the_rebuilt_log_and_raises_its_floor() {
    let dir = TempDir::new("backlog-bound");
    let mut o = opts(&dir, Fsync::EverySec);
    let mut st = Store::new(1);
    let p = Persist::open(&mut st, &o).expect("open");
    for i in 0..1000 {
        set(&mut st, 0, &format!("k{i}"), "v");
    }
    close(&p, &mut st);
    drop(p);
    o.backlog_bytes_max = 100 * 1024 / 10; // ~10 KiB: far fewer than 1000 entries
    let mut st2 = Store::new(1);
    let p2 = Persist::open(&mut st2, &o).expect("reopen");
    assert_eq!(st2.keys(0).count(), 1000, "retention never drops data");
    let (_, log) = p2.replication_start();
    assert!(log.len() < 1000 && log.len() > 10, "{}", log.len());
    assert!(log.bytes() <= o.backlog_bytes_max);
    assert_eq!(log.floor().get(1), 1000 - log.len());
    close(&p2, &mut st2);
}

/// Disk-format fixtures: encodings of this build must not change silently, and older
/// formats must still decode.
#[test]
fn disk_format_fixtures() {
    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }
    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }
    let ctx = crdt::CausalContext::from_dots([crdt::Dot::new(1, 1), crdt::Dot::new(1, 2)]);
    let meta = SnapMeta {
        id: 3,
        start_index: 700,
        ctx: ctx.clone(),
        hlc: 99,
        keys: 5,
        groups: 1,
        bytes: 1234,
        time_ms: 1_700_000_000_000,
        duration_ms: 12,
    };
    let groups = wal::Record::Groups {
        db: 2,
        key: b"q".to_vec(),
        state: vec![1, 0],
    };
    let floor = snapshot::encode_floor(&crdt::VersionVector::from_pairs([(1, 10), (2, 4)]));
    assert_eq!(
        hex(&meta.encode()),
        "0203bc0501010200630501d20980d095ffbc310c"
    );
    assert_eq!(hex(&groups.encode()), "0104020171020100");
    assert_eq!(hex(&floor), "0102010a0204");
    assert_eq!(
        SnapMeta::decode(&unhex("0203bc0501010200630501d20980d095ffbc310c")).unwrap(),
        meta
    );
    assert_eq!(
        wal::Record::decode(&unhex("0104020171020100")).unwrap(),
        groups
    );
    assert_eq!(
        snapshot::decode_floor(&unhex("0102010a0204")).unwrap(),
        crdt::VersionVector::from_pairs([(1, 10), (2, 4)])
    );
    // Format 1 snapshot meta (before consumer groups were persisted): no groups count.
    let v1 = SnapMeta::decode(&unhex("0103bc05010102006305d20980d095ffbc310c")).unwrap();
    assert_eq!(v1, SnapMeta { groups: 0, ..meta });
    assert!(SnapMeta::decode(&unhex("09")).is_err());
}
