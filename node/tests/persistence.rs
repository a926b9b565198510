//! Persistence against the real binary: kill -9 in a loop while clients write, restart
//! on the same data dir, count lost acknowledged writes (`appendfsync always`: zero;
//! `everysec`: only the last ~second); types and TTLs survive; a corrupt data dir is
//! refused with an error naming it.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use redis::cmd;

const READY_TIMEOUT: Duration = Duration::from_secs(20);
const CLIENTS: usize = 4;

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let d = std::env::temp_dir().join(format!(
            "meridian-persist-it-{name}-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&d).unwrap();
        TempDir(d)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Node {
    port: u16,
    child: Child,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(dir: &Path, port: u16, fsync: &str, stderr: Stdio) -> Child {
    Command::new(env!("CARGO_BIN_EXE_meridian"))
        .args(["server", "--bind", "127.0.0.1", "--port", &port.to_string()])
        .args(["--appendonly", "yes", "--appendfsync", fsync])
        .arg("--data-dir")
        .arg(dir)
        .env("MERIDIAN_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .expect("cannot start meridian")
}

fn start(dir: &Path, fsync: &str) -> Node {
    let port = free_port();
    let mut child = spawn(dir, port, fsync, Stdio::inherit());
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if let Ok(Some(st)) = child.try_wait() {
            panic!("meridian exited during start-up: {st}");
        }
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Node { port, child };
        }
        assert!(Instant::now() < deadline, "meridian did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl Node {
    fn redis(&self) -> redis::Connection {
        redis::Client::open(format!("redis://127.0.0.1:{}/", self.port))
            .unwrap()
            .get_connection_with_timeout(Duration::from_secs(10))
            .unwrap()
    }

    fn kill9(mut self) {
        self.child.kill().unwrap(); // SIGKILL
        self.child.wait().unwrap();
    }
}

/// What the clients got acknowledged: per counter the acked INCR replies with their ack
/// time; per set the acked members with theirs.
#[derive(Default)]
struct Acked {
    incr: BTreeMap<String, Vec<(i64, Instant)>>,
    sadd: BTreeMap<String, Vec<(String, Instant)>>,
}

/// Writes from `CLIENTS` threads for `run_for`, then kills the server with SIGKILL while
/// they are still writing. Returns the kill time.
fn write_until_killed(
    node: Node,
    round: usize,
    acked: &Arc<Mutex<Acked>>,
    run_for: Duration,
) -> Instant {
    write_until(node, round, acked, |_| std::thread::sleep(run_for))
}

/// As [`write_until_killed`], killing the server when `wait` returns.
fn write_until(
    node: Node,
    round: usize,
    acked: &Arc<Mutex<Acked>>,
    wait: impl FnOnce(&Node),
) -> Instant {
    let stop = Arc::new(AtomicBool::new(false));
    let threads: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let mut con = node.redis();
            let (acked, stop) = (acked.clone(), stop.clone());
            std::thread::spawn(move || {
                let ctr = format!("ctr:{c}");
                let set = format!("set:{c}");
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    i += 1;
                    // A pipeline: the batch is acknowledged as a whole.
                    let member = format!("m{round}-{i}");
                    let r: redis::RedisResult<(i64, i64)> = redis::pipe()
                        .cmd("INCR")
                        .arg(&ctr)
                        .cmd("SADD")
                        .arg(&set)
                        .arg(&member)
                        .query(&mut con);
                    let Ok((v, _)) = r else { break };
                    let now = Instant::now();
                    let mut a = acked.lock().unwrap();
                    a.incr.entry(ctr.clone()).or_default().push((v, now));
                    a.sadd.entry(set.clone()).or_default().push((member, now));
                }
            })
        })
        .collect();
    wait(&node);
    node.kill9();
    // Taken after the process is gone: every acknowledgement came before it.
    let killed = Instant::now();
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().unwrap();
    }
    killed
}

/// Counts acknowledged writes missing from the restarted server, ignoring those acked
/// less than `grace` before one of the `kills`.
fn lost(node: &Node, acked: &Acked, kills: &[Instant], grace: Duration) -> (usize, usize) {
    let mut con = node.redis();
    let counted = |t: &Instant| !kills.iter().any(|k| *t <= *k && *t + grace >= *k);
    let mut lost = 0;
    let mut checked = 0;
    for (ctr, acks) in &acked.incr {
        let have: i64 = cmd("GET")
            .arg(ctr)
            .query::<Option<i64>>(&mut con)
            .unwrap()
            .unwrap_or(0);
        let want = acks
            .iter()
            .filter(|(_, t)| counted(t))
            .map(|(v, _)| *v)
            .max()
            .unwrap_or(0);
        checked += acks.len();
        lost += (want - have).max(0) as usize;
    }
    for (set, acks) in &acked.sadd {
        let have: BTreeSet<String> = cmd("SMEMBERS").arg(set).query(&mut con).unwrap();
        checked += acks.len();
        lost += acks
            .iter()
            .filter(|(m, t)| counted(t) && !have.contains(m))
            .count();
    }
    (lost, checked)
}

fn crash_loop(fsync: &str, rounds: usize, run_for: Duration, grace: Option<Duration>) {
    let dir = TempDir::new(fsync);
    let acked = Arc::new(Mutex::new(Acked::default()));
    // `grace`: acks of the last moments before a kill may be missing (everysec).
    let grace = grace.unwrap_or(Duration::ZERO);
    let mut kills = Vec::new();
    let mut total_checked = 0;
    for round in 0..rounds {
        let node = start(&dir.0, fsync);
        {
            let a = acked.lock().unwrap();
            let (lost, checked) = lost(&node, &a, &kills, grace);
            assert_eq!(
                lost, 0,
                "round {round}: {lost} of {checked} acknowledged writes lost (grace {grace:?} before each kill)"
            );
            total_checked = checked;
        }
        kills.push(write_until_killed(node, round, &acked, run_for));
    }
    let node = start(&dir.0, fsync);
    let a = acked.lock().unwrap();
    let (lost, checked) = lost(&node, &a, &kills, grace);
    assert_eq!(lost, 0, "{lost} of {checked} acknowledged writes lost");
    assert!(checked > total_checked, "the clients made progress");
    assert!(checked > 100, "too few writes to mean anything ({checked})");
    eprintln!("appendfsync {fsync}: {checked} acknowledged writes checked, {lost} lost");
}

#[test]
fn kill9_loop_appendfsync_always_loses_no_acknowledged_write() {
    crash_loop("always", 5, Duration::from_millis(400), None);
}

/// Kills the server while a snapshot (BGSAVE) is being written, with clients writing:
/// the restarted server must hold every acknowledged write and every preloaded key
/// (a half-written snapshot is never the one recovery starts from).
#[test]
fn kill9_during_a_snapshot_loses_nothing() {
    const PRELOAD: usize = 200_000;
    let dir = TempDir::new("snapshot-crash");
    let acked = Arc::new(Mutex::new(Acked::default()));
    {
        let node = start(&dir.0, "always");
        let mut con = node.redis();
        let value = "v".repeat(64);
        for chunk in 0..PRELOAD / 10_000 {
            let mut p = redis::pipe();
            for i in 0..10_000 {
                p.cmd("SET")
                    .arg(format!("pre:{chunk}:{i}"))
                    .arg(&value)
                    .ignore();
            }
            p.query::<()>(&mut con).unwrap();
        }
        node.kill9();
    }
    let mut kills = Vec::new();
    let mut mid_snapshot = 0;
    for round in 0..4 {
        let node = start(&dir.0, "always");
        {
            let a = acked.lock().unwrap();
            let (lost, checked) = lost(&node, &a, &kills, Duration::ZERO);
            assert_eq!(
                lost, 0,
                "round {round}: {lost} of {checked} acked writes lost"
            );
            let mut con = node.redis();
            let pre: Vec<String> = cmd("KEYS").arg("pre:*").query(&mut con).unwrap();
            assert_eq!(pre.len(), PRELOAD, "round {round}: preloaded keys lost");
        }
        let delay = Duration::from_millis(10 + 30 * round as u64);
        kills.push(write_until(node, round, &acked, |node| {
            let mut con = node.redis();
            match cmd("BGSAVE").query::<String>(&mut con) {
                Ok(r) => assert!(r.contains("saving started"), "{r}"),
                Err(e) => assert!(e.to_string().contains("in progress"), "{e}"),
            }
            std::thread::sleep(delay);
            let info: String = cmd("INFO").arg("persistence").query(&mut con).unwrap();
            if info.contains("rdb_bgsave_in_progress:1") {
                mid_snapshot += 1;
            }
        }));
    }
    let node = start(&dir.0, "always");
    let a = acked.lock().unwrap();
    let (lost, checked) = lost(&node, &a, &kills, Duration::ZERO);
    assert_eq!(lost, 0, "{lost} of {checked} acknowledged writes lost");
    assert!(checked > 20, "too few writes to mean anything ({checked})");
    let mut con = node.redis();
    let pre: Vec<String> = cmd("KEYS").arg("pre:*").query(&mut con).unwrap();
    assert_eq!(pre.len(), PRELOAD);
    assert!(
        mid_snapshot > 0,
        "no kill landed while a snapshot was being written (snapshots too fast to test?)"
    );
    eprintln!("{mid_snapshot} of 4 kills during a snapshot; {checked} acked writes checked");
}

#[test]
fn kill9_loop_appendfsync_everysec_loses_at_most_the_last_second() {
    // Rounds longer than the grace, so older acknowledgements are checked.
    crash_loop(
        "everysec",
        3,
        Duration::from_millis(2500),
        Some(Duration::from_millis(1500)),
    );
}

#[test]
fn types_and_ttls_survive_a_restart_and_save_works() {
    let dir = TempDir::new("types");
    let node = start(&dir.0, "everysec");
    let mut con = node.redis();
    let _: () = cmd("SET")
        .arg("s")
        .arg("v")
        .arg("EX")
        .arg(1000)
        .query(&mut con)
        .unwrap();
    let _: () = cmd("HSET")
        .arg("h")
        .arg("f")
        .arg("1")
        .query(&mut con)
        .unwrap();
    let _: () = cmd("ZADD")
        .arg("z")
        .arg(2.5)
        .arg("m")
        .query(&mut con)
        .unwrap();
    let _: () = cmd("SADD").arg("set").arg("a").query(&mut con).unwrap();
    let _: () = cmd("SELECT").arg(3).query(&mut con).unwrap();
    let _: () = cmd("SET").arg("db3").arg("x").query(&mut con).unwrap();
    let before: i64 = cmd("LASTSAVE").query(&mut con).unwrap();
    let _: () = cmd("SAVE").query(&mut con).unwrap();
    let after: i64 = cmd("LASTSAVE").query(&mut con).unwrap();
    assert!(after >= before);
    // After the snapshot, more writes only in the WAL.
    let _: () = cmd("SELECT").arg(0).query(&mut con).unwrap();
    let _: () = cmd("SET")
        .arg("post")
        .arg("y")
        .arg("PX")
        .arg(900_000)
        .query(&mut con)
        .unwrap();
    let info: String = cmd("INFO").arg("persistence").query(&mut con).unwrap();
    assert!(info.contains("aof_enabled:1"), "{info}");
    assert!(info.contains("snapshot_last_keys:5"), "{info}");
    // Give everysec its second, then crash.
    std::thread::sleep(Duration::from_millis(1300));
    node.kill9();
    let node = start(&dir.0, "everysec");
    let mut con = node.redis();
    let t: &str = "TYPE";
    let types: Vec<String> = ["s", "h", "z", "set"]
        .iter()
        .map(|k| cmd(t).arg(*k).query(&mut con).unwrap())
        .collect();
    assert_eq!(types, ["string", "hash", "zset", "set"]);
    let ttl: i64 = cmd("TTL").arg("s").query(&mut con).unwrap();
    assert!((990..=1000).contains(&ttl), "ttl {ttl}");
    let pttl: i64 = cmd("PTTL").arg("post").query(&mut con).unwrap();
    assert!(pttl > 800_000, "pttl {pttl}");
    let score: f64 = cmd("ZSCORE").arg("z").arg("m").query(&mut con).unwrap();
    assert_eq!(score, 2.5);
    let _: () = cmd("SELECT").arg(3).query(&mut con).unwrap();
    let v: String = cmd("GET").arg("db3").query(&mut con).unwrap();
    assert_eq!(v, "x");
}

/// Starts the server expecting it to refuse; returns its stderr.
fn refused(dir: &Path) -> String {
    let port = free_port();
    let mut child = spawn(dir, port, "always", Stdio::piped());
    let deadline = Instant::now() + READY_TIMEOUT;
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("meridian started on a corrupt data dir");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(!status.success(), "must exit non-zero");
    let mut err = String::new();
    use std::io::Read;
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    err
}

#[test]
fn corrupt_data_dir_is_refused_with_a_clear_error() {
    use meridian_node::persist::storage::{Batch, Cf, RocksStorage, Storage};
    // A WAL record that does not decode.
    let dir = TempDir::new("corrupt-wal");
    let node = start(&dir.0, "always");
    let mut con = node.redis();
    for i in 0..20 {
        let _: () = cmd("SET")
            .arg(format!("k{i}"))
            .arg(i)
            .query(&mut con)
            .unwrap();
    }
    node.kill9();
    let db = dir.0.join("region-1.db");
    {
        let s = RocksStorage::open(&db).unwrap();
        let mut b = Batch::default();
        b.put(
            Cf::Wal,
            7u64.to_be_bytes().to_vec(),
            b"\x01garbage".to_vec(),
        );
        s.write(b, true).unwrap();
    }
    let err = refused(&dir.0);
    assert!(
        err.contains("corrupt") && err.contains(&db.display().to_string()),
        "{err}"
    );
    assert!(err.contains("WAL record 7"), "{err}");

    // A truncated RocksDB file (after SAVE the data is in table files).
    let dir = TempDir::new("corrupt-sst");
    let node = start(&dir.0, "always");
    let mut con = node.redis();
    for i in 0..2000 {
        let _: () = cmd("SET")
            .arg(format!("k{i}"))
            .arg("x".repeat(100))
            .query(&mut con)
            .unwrap();
    }
    let _: () = cmd("SAVE").query(&mut con).unwrap();
    node.kill9();
    let db = dir.0.join("region-1.db");
    let sst = std::fs::read_dir(&db)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "sst"))
        .max_by_key(|e| e.metadata().unwrap().len())
        .expect("an sst file after SAVE")
        .path();
    let len = std::fs::metadata(&sst).unwrap().len();
    let f = std::fs::OpenOptions::new().write(true).open(&sst).unwrap();
    f.set_len(len / 2).unwrap();
    drop(f);
    let err = refused(&dir.0);
    assert!(err.contains(&db.display().to_string()), "{err}");

    // Persisted data with appendonly no is not silently ignored.
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_meridian"))
        .args(["server", "--bind", "127.0.0.1", "--port", &port.to_string()])
        .arg("--data-dir")
        .arg(&dir.0)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success());
    let mut err = String::new();
    use std::io::Read;
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(err.contains("appendonly is no"), "{err}");
}

fn free_udp() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The `peer<i>` line of INFO replication for `peer`, as `key=value` pairs.
fn peer_info(con: &mut redis::Connection, peer: u8) -> BTreeMap<String, String> {
    let info: String = cmd("INFO").arg("replication").query(con).unwrap();
    info.lines()
        .filter_map(|l| l.split_once(':').map(|(_, v)| v))
        .find(|v| v.starts_with(&format!("region={peer},")))
        .map(|v| {
            v.split(',')
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.to_string(), v.trim().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

/// Region `i + 1` of two (persistence with `appendfsync always`), data in `dir/r<i+1>`.
fn spawn_pair_region(dir: &Path, ports: &[(u16, u16); 2], i: usize, extra: &[&str]) -> Node {
    let tls = dir.join("tls");
    replication::net::certs::ensure_dev_certs(&tls, 1..=2).unwrap();
    let (port, repl) = ports[i];
    let (_, peer_repl) = ports[1 - i];
    let mut child = Command::new(env!("CARGO_BIN_EXE_meridian"))
        .args(["server", "--bind", "127.0.0.1", "--port", &port.to_string()])
        .args(["--region-id", &(i + 1).to_string()])
        .args(["--appendonly", "yes", "--appendfsync", "always"])
        .arg("--data-dir")
        .arg(dir.join(format!("r{}", i + 1)))
        .args(["--repl-port", &repl.to_string()])
        .arg("--repl-tls-dir")
        .arg(&tls)
        .args(["--peers", &format!("{}@127.0.0.1:{peer_repl}", 2 - i)])
        .args(extra)
        .env("MERIDIAN_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + READY_TIMEOUT;
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(child.try_wait().unwrap().is_none(), "region exited");
        assert!(Instant::now() < deadline, "region did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    Node { port, child }
}

/// `INFO <section>` as a map.
fn info_map(con: &mut redis::Connection, section: &str) -> BTreeMap<String, String> {
    let info: String = cmd("INFO").arg(section).query(con).unwrap();
    info.lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_string(), v.trim().to_string()))
        .collect()
}

/// The disk-backed backlog: while region 2 is down, region 1 writes far more than its
/// backlog keeps in memory, takes snapshots (which used to trim the WAL, and with it the
/// backlog) and is killed -9 and restarted; region 2 then still catches up with a
/// partial resync served from the WAL.
#[test]
fn backlog_on_disk_serves_a_partial_resync_after_snapshots_and_a_restart() {
    const KEYS: usize = 4000;
    let dir = TempDir::new("backlog");
    let ports = [(free_port(), free_udp()), (free_port(), free_udp())];
    let extra = [
        "--repl-backlog-memory",
        "64kb",
        "--snapshot-interval-secs",
        "0",
    ];
    let r1 = spawn_pair_region(&dir.0, &ports, 0, &extra);
    let r2 = spawn_pair_region(&dir.0, &ports, 1, &extra);
    let _: () = cmd("SET")
        .arg("before")
        .arg("1")
        .query(&mut r1.redis())
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while cmd("GET")
        .arg("before")
        .query::<Option<String>>(&mut r2.redis())
        .unwrap()
        .is_none()
    {
        assert!(Instant::now() < deadline, "no replication");
        std::thread::sleep(Duration::from_millis(20));
    }
    r2.kill9();
    let value = "v".repeat(200);
    let mut con = r1.redis();
    for chunk in 0..KEYS / 500 {
        let mut p = redis::pipe();
        for i in chunk * 500..(chunk + 1) * 500 {
            p.cmd("SET")
                .arg(format!("k{i}"))
                .arg(format!("{i}:{value}"))
                .ignore();
        }
        let _: () = p.query(&mut con).unwrap();
        if chunk % 3 == 0 {
            let _: String = cmd("SAVE").query(&mut con).unwrap();
        }
    }
    let _: String = cmd("SAVE").query(&mut con).unwrap();
    let p = info_map(&mut con, "persistence");
    let entries: u64 = p["repl_backlog_entries"].parse().unwrap();
    let memory: u64 = p["repl_backlog_memory_bytes"].parse().unwrap();
    let bytes: u64 = p["repl_backlog_bytes"].parse().unwrap();
    assert!(entries >= KEYS as u64, "{p:?}");
    // (Ops not yet written by the WAL writer stay in memory past the budget.)
    assert!(memory <= 256 * 1024 && bytes > 4 * memory, "{p:?}");
    // The snapshots trimmed the WAL only up to the backlog's oldest entry (record 1,
    // "before", leaves the backlog once region 2's acknowledgement arrives).
    let oldest: u64 = p["wal_oldest_index"].parse().unwrap();
    assert!(
        oldest < 100,
        "the snapshots kept the backlog's WAL (the last one started after record 4,000): {p:?}"
    );
    assert_eq!(
        p["repl_backlog_first_wal_index"], p["wal_oldest_index"],
        "{p:?}"
    );
    drop(con);
    r1.kill9();
    let r1 = spawn_pair_region(&dir.0, &ports, 0, &extra);
    let p = info_map(&mut r1.redis(), "persistence");
    assert!(
        p["repl_backlog_entries"].parse::<u64>().unwrap() >= KEYS as u64,
        "the backlog is rebuilt from the WAL: {p:?}"
    );
    let r2 = spawn_pair_region(&dir.0, &ports, 1, &extra);
    let mut c2 = r2.redis();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let n: usize = cmd("DBSIZE").query(&mut c2).unwrap();
        if n == KEYS + 1 {
            break;
        }
        assert!(Instant::now() < deadline, "region 2 has {n} keys");
        std::thread::sleep(Duration::from_millis(50));
    }
    let v: String = cmd("GET").arg("k17").query(&mut c2).unwrap();
    assert_eq!(v, format!("17:{value}"));
    let q = peer_info(&mut c2, 1);
    assert_eq!(
        q.get("full_resyncs_received").map(String::as_str),
        Some("0"),
        "{q:?}"
    );
    let q = peer_info(&mut r1.redis(), 2);
    assert_eq!(
        q.get("full_resyncs_sent").map(String::as_str),
        Some("0"),
        "{q:?}"
    );
    assert_ne!(
        q.get("partial_resyncs").map(String::as_str),
        Some("0"),
        "{q:?}"
    );
}

#[test]
fn restarted_region_resumes_with_a_partial_resync() {
    let dir = TempDir::new("two-regions");
    let ports = [(free_port(), free_udp()), (free_port(), free_udp())];
    let spawn_region = |i: usize| spawn_pair_region(&dir.0, &ports, i, &[]);
    let eventually = |node: &Node, key: &str, want: i64| {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut con = node.redis();
        loop {
            let v: Option<i64> = cmd("GET").arg(key).query(&mut con).unwrap();
            if v == Some(want) {
                return;
            }
            assert!(Instant::now() < deadline, "{key}: {v:?}, want {want}");
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    let r1 = spawn_region(0);
    let mut r2 = spawn_region(1);
    for _ in 0..50 {
        let _: i64 = cmd("INCR").arg("n").query(&mut r1.redis()).unwrap();
        let _: i64 = cmd("INCR").arg("n").query(&mut r2.redis()).unwrap();
    }
    eventually(&r1, "n", 100);
    eventually(&r2, "n", 100);
    let sent_before = peer_info(&mut r1.redis(), 2)
        .get("full_resyncs_sent")
        .cloned();
    r2.kill9();
    for _ in 0..30 {
        let _: i64 = cmd("INCR").arg("n").query(&mut r1.redis()).unwrap();
    }
    r2 = spawn_region(1);
    // Writable at once (its own history is on disk) and never reusing its numbers.
    let _: i64 = cmd("INCRBY")
        .arg("n")
        .arg(1000)
        .query(&mut r2.redis())
        .unwrap();
    eventually(&r2, "n", 1130);
    eventually(&r1, "n", 1130);
    let p = peer_info(&mut r2.redis(), 1);
    assert_eq!(
        p.get("full_resyncs_received").map(String::as_str),
        Some("0"),
        "{p:?}"
    );
    let q = peer_info(&mut r1.redis(), 2);
    assert_eq!(q.get("full_resyncs_sent").cloned(), sent_before, "{q:?}");
    drop(r1);
}

#[test]
fn lists_and_hyperloglogs_survive_a_restart() {
    let dir = TempDir::new("lists");
    let node = start(&dir.0, "always");
    let mut con = node.redis();
    let q = |con: &mut redis::Connection, args: &[&str]| -> redis::Value {
        let mut k = cmd(args[0]);
        for a in &args[1..] {
            k.arg(*a);
        }
        k.query(con).unwrap()
    };
    q(&mut con, &["RPUSH", "l", "a", "b", "c", "d"]);
    q(&mut con, &["LPOP", "l"]);
    q(&mut con, &["LINSERT", "l", "AFTER", "b", "m"]);
    let mut pf = cmd("PFADD");
    pf.arg("h");
    for i in 0..3000 {
        pf.arg(format!("u{i}"));
    }
    let _: i64 = pf.query(&mut con).unwrap();
    q(&mut con, &["SAVE"]);
    // After the snapshot: only in the WAL.
    q(&mut con, &["LSET", "l", "-1", "D"]);
    q(&mut con, &["LPUSH", "l", "z"]);
    q(&mut con, &["PFADD", "h", "late1", "late2"]);
    let list: Vec<String> = cmd("LRANGE")
        .arg("l")
        .arg(0)
        .arg(-1)
        .query(&mut con)
        .unwrap();
    let count: i64 = cmd("PFCOUNT").arg("h").query(&mut con).unwrap();
    assert_eq!(list, ["z", "b", "m", "c", "D"]);
    node.kill9();
    let node = start(&dir.0, "always");
    let mut con = node.redis();
    let after: Vec<String> = cmd("LRANGE")
        .arg("l")
        .arg(0)
        .arg(-1)
        .query(&mut con)
        .unwrap();
    assert_eq!(after, list);
    let c2: i64 = cmd("PFCOUNT").arg("h").query(&mut con).unwrap();
    assert_eq!(c2, count);
    // And the restored list keeps working.
    let n: i64 = cmd("RPUSH").arg("l").arg("e").query(&mut con).unwrap();
    assert_eq!(n, 6);
}

/// Consumer groups are node-local state, persisted as WAL records and in snapshots: a
/// region restarted after kill -9 has its groups, consumers, PELs and last delivered IDs.
#[test]
fn consumer_groups_survive_kill9_from_the_wal_and_from_a_snapshot() {
    let dir = TempDir::new("groups");
    let node = start(&dir.0, "always");
    let mut c = node.redis();
    let ids: Vec<String> = (0..6)
        .map(|i| {
            cmd("XADD")
                .arg("q")
                .arg("*")
                .arg("n")
                .arg(i)
                .query(&mut c)
                .unwrap()
        })
        .collect();
    let read = |c: &mut redis::Connection, consumer: &str, n: usize| -> redis::Value {
        cmd("XREADGROUP")
            .arg("GROUP")
            .arg("workers")
            .arg(consumer)
            .arg("COUNT")
            .arg(n)
            .arg("STREAMS")
            .arg("q")
            .arg(">")
            .query(c)
            .unwrap()
    };
    let _: String = cmd("XGROUP")
        .arg("CREATE")
        .arg("q")
        .arg("workers")
        .arg("0")
        .query(&mut c)
        .unwrap();
    read(&mut c, "alice", 2);
    let acked: i64 = cmd("XACK")
        .arg("q")
        .arg("workers")
        .arg(&ids[0])
        .query(&mut c)
        .unwrap();
    assert_eq!(acked, 1);
    let _: String = cmd("SAVE").query(&mut c).unwrap();
    // After the snapshot: only in the WAL.
    read(&mut c, "bob", 1);
    let _: String = cmd("XGROUP")
        .arg("CREATE")
        .arg("q")
        .arg("audit")
        .arg("$")
        .query(&mut c)
        .unwrap();
    let _: String = cmd("XGROUP")
        .arg("CREATE")
        .arg("other")
        .arg("g")
        .arg("0")
        .arg("MKSTREAM")
        .query(&mut c)
        .unwrap();
    let state =
        |c: &mut redis::Connection| -> (redis::Value, Vec<(String, String, i64)>, redis::Value) {
            let groups: redis::Value = cmd("XINFO").arg("GROUPS").arg("q").query(c).unwrap();
            let pending: Vec<(String, String, i64, i64)> = cmd("XPENDING")
                .arg("q")
                .arg("workers")
                .arg("-")
                .arg("+")
                .arg(10)
                .query(c)
                .unwrap();
            let other: redis::Value = cmd("XINFO").arg("GROUPS").arg("other").query(c).unwrap();
            // (id, consumer, deliveries): the idle time moves on.
            let pending = pending.into_iter().map(|(i, o, _, n)| (i, o, n)).collect();
            (groups, pending, other)
        };
    let before = state(&mut c);
    assert_eq!(
        before.1,
        vec![
            (ids[1].clone(), "alice".to_string(), 1),
            (ids[2].clone(), "bob".to_string(), 1)
        ]
    );
    drop(c);
    node.kill9();

    let node = start(&dir.0, "always");
    let mut c = node.redis();
    assert_eq!(state(&mut c), before, "restored from snapshot + WAL");
    // Delivery goes on where it stopped.
    let v = read(&mut c, "alice", 1);
    assert!(format!("{v:?}").contains(&ids[3]), "{v:?}");
    let after_read = state(&mut c);
    let _: String = cmd("SAVE").query(&mut c).unwrap();
    drop(c);
    node.kill9();

    let node = start(&dir.0, "always");
    let mut c = node.redis();
    assert_eq!(
        state(&mut c),
        after_read,
        "restored from the snapshot alone"
    );
}
