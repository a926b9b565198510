//! Real-process replication tests: several `meridian server` regions on loopback, linked
//! by QUIC with mutual TLS (dev certificates), written to with redis-rs.

mod common;

use common::{free_port, free_udp};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use redis::{cmd, Connection};

/// Bound for convergence and link changes. A killed region's link is only closed by its
/// peers after 10 s of silence, and CI runs these tests in parallel on 2 cores: 20 s
/// left too little margin under load.
const CONVERGE_TIMEOUT: Duration = Duration::from_secs(45);

struct Region {
    id: u8,
    port: u16,
    repl_port: u16,
    child: Option<Child>,
}

struct Cluster {
    dir: PathBuf,
    regions: Vec<Region>,
}

impl Cluster {
    /// `n` regions in full mesh sharing one dev CA under a fresh temp dir.
    fn start(n: u8) -> Cluster {
        let dir = std::env::temp_dir().join(format!(
            "meridian-repl-test-{}-{}",
            std::process::id(),
            rand_u64()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        replication::net::certs::ensure_dev_certs(&dir.join("tls"), 1..=n).unwrap();
        let regions = (1..=n)
            .map(|id| Region {
                id,
                port: free_port(),
                repl_port: free_udp(),
                child: None,
            })
            .collect();
        let mut c = Cluster { dir, regions };
        for i in 0..n as usize {
            c.spawn(i, None);
        }
        for i in 0..n as usize {
            c.wait_ready(i);
        }
        c
    }

    fn peers(&self, me: u8) -> String {
        self.regions
            .iter()
            .filter(|r| r.id != me)
            .map(|r| format!("{}@127.0.0.1:{}", r.id, r.repl_port))
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn spawn(&mut self, i: usize, tls_dir: Option<&Path>) {
        let r = &self.regions[i];
        let tls = tls_dir
            .map(Path::to_path_buf)
            .unwrap_or_else(|| self.dir.join("tls"));
        let data = self.dir.join(format!("region-{}", r.id));
        let child = Command::new(common::bin())
            .arg("server")
            .args(["--bind", "127.0.0.1", "--port", &r.port.to_string()])
            .args(["--region-id", &r.id.to_string()])
            .args(["--data-dir", data.to_str().unwrap()])
            .args(["--repl-port", &r.repl_port.to_string()])
            .args(["--repl-tls-dir", tls.to_str().unwrap()])
            .args(["--peers", &self.peers(r.id)])
            .env("MERIDIAN_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("cannot start meridian");
        self.regions[i].child = Some(child);
    }

    fn wait_ready(&mut self, i: usize) {
        let deadline = Instant::now() + common::TIMEOUT;
        while Instant::now() < deadline {
            if std::net::TcpStream::connect(("127.0.0.1", self.regions[i].port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("region {} did not start", self.regions[i].id);
    }

    fn kill(&mut self, i: usize) {
        if let Some(mut c) = self.regions[i].child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn conn(&self, i: usize) -> Connection {
        redis::Client::open(format!("redis://127.0.0.1:{}/", self.regions[i].port))
            .unwrap()
            .get_connection_with_timeout(common::TIMEOUT)
            .unwrap()
    }

    fn info_field(&self, i: usize, field: &str) -> String {
        let info: String = cmd("INFO")
            .arg("replication")
            .query(&mut self.conn(i))
            .unwrap();
        info.lines()
            .find_map(|l| l.strip_prefix(&format!("{field}:")))
            .unwrap_or("")
            .trim()
            .to_string()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for i in 0..self.regions.len() {
            self.kill(i);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish()
}

/// Polls `f` on every region until all return `want` (bounded).
fn eventually<T: PartialEq + std::fmt::Debug>(
    c: &Cluster,
    want: T,
    f: impl Fn(&mut Connection) -> T,
) {
    let deadline = Instant::now() + CONVERGE_TIMEOUT;
    let mut last = Vec::new();
    while Instant::now() < deadline {
        last = (0..c.regions.len()).map(|i| f(&mut c.conn(i))).collect();
        if last.iter().all(|v| *v == want) {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("regions did not converge to {want:?}: {last:?}");
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[test]
fn three_regions_converge_per_contract() {
    let c = Cluster::start(3);
    eventually(&c, "2".to_string(), |_| "2".to_string());
    // Links up everywhere.
    let deadline = Instant::now() + CONVERGE_TIMEOUT;
    while (0..3).any(|i| c.info_field(i, "connected_regions") != "2") {
        assert!(Instant::now() < deadline, "links did not come up");
        std::thread::sleep(Duration::from_millis(100));
    }
    // Concurrent increments are summed; sets unioned; hash fields merged.
    for i in 0..3 {
        let mut con = c.conn(i);
        let _: i64 = cmd("INCRBY")
            .arg("hits")
            .arg(10 * (i + 1))
            .query(&mut con)
            .unwrap();
        let _: i64 = cmd("SADD")
            .arg("s")
            .arg(format!("m{i}"))
            .query(&mut con)
            .unwrap();
        let _: i64 = cmd("HINCRBY")
            .arg("h")
            .arg("n")
            .arg(1)
            .query(&mut con)
            .unwrap();
        let _: f64 = cmd("ZINCRBY")
            .arg("z")
            .arg(1.5)
            .arg("p")
            .query(&mut con)
            .unwrap();
    }
    eventually(&c, Some(60), |con| {
        cmd("GET").arg("hits").query::<Option<i64>>(con).unwrap()
    });
    eventually(
        &c,
        vec!["m0".to_string(), "m1".into(), "m2".into()],
        |con| sorted(cmd("SMEMBERS").arg("s").query(con).unwrap()),
    );
    eventually(&c, Some(3), |con| {
        cmd("HGET")
            .arg("h")
            .arg("n")
            .query::<Option<i64>>(con)
            .unwrap()
    });
    eventually(&c, Some(4.5), |con| {
        cmd("ZSCORE")
            .arg("z")
            .arg("p")
            .query::<Option<f64>>(con)
            .unwrap()
    });
    // Observed-remove delete: DEL in region 1 removes what it saw everywhere.
    let _: i64 = cmd("DEL").arg("s").query(&mut c.conn(0)).unwrap();
    eventually(&c, 0, |con| {
        cmd("EXISTS").arg("s").query::<i64>(con).unwrap()
    });
    // A later SADD anywhere shows up everywhere.
    let _: i64 = cmd("SADD")
        .arg("s")
        .arg("late")
        .query(&mut c.conn(2))
        .unwrap();
    eventually(&c, vec!["late".to_string()], |con| {
        sorted(cmd("SMEMBERS").arg("s").query(con).unwrap())
    });
    // Expiry replicates as an absolute time.
    let _: () = cmd("SET")
        .arg("t")
        .arg("v")
        .arg("PX")
        .arg(300)
        .query(&mut c.conn(1))
        .unwrap();
    eventually(&c, 0, |con| {
        cmd("EXISTS").arg("t").query::<i64>(con).unwrap()
    });
    // MULTI/EXEC arrives as one op: the other regions never see half of it.
    let mut con = c.conn(0);
    let _: () = redis::pipe()
        .atomic()
        .cmd("SET")
        .arg("a")
        .arg("1")
        .cmd("SET")
        .arg("b")
        .arg("1")
        .query(&mut con)
        .unwrap();
    eventually(&c, (Some("1".to_string()), Some("1".to_string())), |con| {
        let v: Vec<Option<String>> = cmd("MGET").arg("a").arg("b").query(con).unwrap();
        (v[0].clone(), v[1].clone())
    });
}

#[test]
fn publish_reaches_other_regions() {
    let c = Cluster::start(2);
    let deadline = Instant::now() + CONVERGE_TIMEOUT;
    while c.info_field(0, "connected_regions") != "1" {
        assert!(Instant::now() < deadline, "link did not come up");
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut sub = c.conn(1);
    sub.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut ps = sub.as_pubsub();
    ps.subscribe("news").unwrap();
    let mut publisher = c.conn(0);
    // Best effort: publish until one arrives (bounded).
    let mut got = None;
    for _ in 0..20 {
        let _: i64 = cmd("PUBLISH")
            .arg("news")
            .arg("hello")
            .query(&mut publisher)
            .unwrap();
        ps.set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        if let Ok(m) = ps.get_message() {
            got = Some(m.get_payload::<String>().unwrap());
            break;
        }
    }
    assert_eq!(got.as_deref(), Some("hello"));
}

#[test]
fn writes_too_large_for_a_region_link_are_refused_and_links_keep_working() {
    let c = Cluster::start(2);
    let mut con = c.conn(0);
    // Incompressible bytes (a simple LCG), so the frame really is that large.
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut noise = |n: usize| -> Vec<u8> {
        (0..n)
            .map(|_| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (x >> 33) as u8
            })
            .collect()
    };
    let e = cmd("SET")
        .arg("huge")
        .arg(noise(49 << 20))
        .query::<()>(&mut con)
        .unwrap_err();
    assert!(e.to_string().contains("too large to replicate"), "{e}");
    let n: i64 = cmd("EXISTS").arg("huge").query(&mut con).unwrap();
    assert_eq!(n, 0, "a refused write writes nothing");
    // Below the limit: applied and replicated, and the link still carries later writes.
    let _: () = cmd("SET")
        .arg("big")
        .arg(noise(8 << 20))
        .query(&mut con)
        .unwrap();
    let _: () = cmd("SET").arg("after").arg("1").query(&mut con).unwrap();
    eventually(&c, (8 << 20, Some("1".to_string())), |con| {
        let len: usize = cmd("STRLEN").arg("big").query(con).unwrap();
        let after: Option<String> = cmd("GET").arg("after").query(con).unwrap();
        (len, after)
    });
}

#[test]
fn restarted_region_catches_up_and_refuses_writes_until_then() {
    let mut c = Cluster::start(3);
    let deadline = Instant::now() + CONVERGE_TIMEOUT;
    while (0..3).any(|i| c.info_field(i, "connected_regions") != "2") {
        assert!(Instant::now() < deadline, "links did not come up");
        std::thread::sleep(Duration::from_millis(100));
    }
    let _: i64 = cmd("INCRBY").arg("n").arg(5).query(&mut c.conn(2)).unwrap();
    eventually(&c, Some(5), |con| {
        cmd("GET").arg("n").query::<Option<i64>>(con).unwrap()
    });
    c.kill(2);
    for i in 0..2 {
        let _: i64 = cmd("INCRBY").arg("n").arg(1).query(&mut c.conn(i)).unwrap();
        let _: i64 = cmd("SADD")
            .arg("while-down")
            .arg(i)
            .query(&mut c.conn(i))
            .unwrap();
    }
    c.spawn(2, None);
    c.wait_ready(2);
    // Without persistence the restarted region has lost its data: it must get everything
    // back from its peers (including its own earlier INCRBY 5) before writing again.
    eventually(&c, Some(7), |con| {
        cmd("GET").arg("n").query::<Option<i64>>(con).unwrap()
    });
    eventually(&c, 2, |con| {
        cmd("SCARD").arg("while-down").query::<i64>(con).unwrap()
    });
    let deadline = Instant::now() + CONVERGE_TIMEOUT;
    loop {
        match cmd("INCR").arg("n").query::<i64>(&mut c.conn(2)) {
            Ok(v) => {
                assert_eq!(v, 8);
                break;
            }
            Err(e) => {
                assert!(e.to_string().to_lowercase().contains("readonly"), "{e}");
                assert!(Instant::now() < deadline, "region 3 never became writable");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
    eventually(&c, Some(8), |con| {
        cmd("GET").arg("n").query::<Option<i64>>(con).unwrap()
    });
}

#[test]
fn peer_with_certificate_from_another_ca_is_refused() {
    let mut c = Cluster::start(2);
    // Restart region 2 with certificates from a different cluster CA.
    c.kill(1);
    let other = c.dir.join("other-tls");
    replication::net::certs::ensure_dev_certs(&other, 1..=2).unwrap();
    c.spawn(1, Some(&other));
    c.wait_ready(1);
    let _: () = cmd("SET")
        .arg("k")
        .arg("from-1")
        .query(&mut c.conn(0))
        .unwrap();
    // Region 1 may still count the link to region 2's killed process until that link's
    // silence timeout (10 s) closes it; after that no link may come up again.
    let deadline = Instant::now() + CONVERGE_TIMEOUT;
    while (0..2).any(|i| c.info_field(i, "connected_regions") != "0") {
        assert!(
            Instant::now() < deadline,
            "the link to the killed process never closed"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    for _ in 0..15 {
        assert_eq!(c.info_field(0, "connected_regions"), "0");
        assert_eq!(c.info_field(1, "connected_regions"), "0");
        std::thread::sleep(Duration::from_millis(200));
    }
    let k: Option<String> = cmd("GET").arg("k").query(&mut c.conn(1)).unwrap();
    assert_eq!(k, None, "nothing crosses a refused link");
    // Region 2 restarted without its data and cannot reach its peer: it refuses writes
    // rather than reuse sequence numbers its peer may already hold.
    let e = cmd("SET")
        .arg("j")
        .arg("from-2")
        .query::<()>(&mut c.conn(1))
        .unwrap_err();
    assert!(e.to_string().to_lowercase().contains("readonly"), "{e}");
}

#[test]
fn wait_counts_regions_that_durably_applied_the_write() {
    let mut c = Cluster::start(3);
    let deadline = Instant::now() + CONVERGE_TIMEOUT;
    while (0..3).any(|i| c.info_field(i, "connected_regions") != "2") {
        assert!(Instant::now() < deadline, "links did not come up");
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut con = c.conn(0);
    let _: () = cmd("SET").arg("dr").arg("1").query(&mut con).unwrap();
    let n: i64 = cmd("WAIT").arg(2).arg(5000).query(&mut con).unwrap();
    assert_eq!(n, 2, "both peer regions acknowledged the write");
    // With region 3 gone, WAIT 2 times out with the one region that has the write.
    c.kill(2);
    let _: () = cmd("SET").arg("dr").arg("2").query(&mut con).unwrap();
    let t = Instant::now();
    let n: i64 = cmd("WAIT").arg(2).arg(700).query(&mut con).unwrap();
    assert_eq!(n, 1);
    assert!(
        t.elapsed() >= Duration::from_millis(650),
        "WAIT waited its timeout"
    );
    // And the region that confirmed it has the value.
    let v: Option<String> = cmd("GET").arg("dr").query(&mut c.conn(1)).unwrap();
    assert_eq!(v.as_deref(), Some("2"));
    // Errors as Redis.
    let e = cmd("WAIT")
        .arg(1)
        .arg(-1)
        .query::<i64>(&mut con)
        .unwrap_err();
    assert!(e.to_string().contains("timeout is negative"), "{e}");
}

#[test]
fn wait_without_peer_regions() {
    let server = common::Server::start(&[]);
    let mut con = server.redis();
    let _: () = cmd("SET").arg("k").arg("v").query(&mut con).unwrap();
    let n: i64 = cmd("WAIT").arg(0).arg(0).query(&mut con).unwrap();
    assert_eq!(n, 0);
    let t = Instant::now();
    let n: i64 = cmd("WAIT").arg(1).arg(200).query(&mut con).unwrap();
    assert_eq!(n, 0);
    assert!(t.elapsed() >= Duration::from_millis(180));
}

fn wait_links(c: &Cluster, n: usize) {
    let want = (n - 1).to_string();
    let deadline = Instant::now() + CONVERGE_TIMEOUT;
    while (0..n).any(|i| c.info_field(i, "connected_regions") != want) {
        assert!(Instant::now() < deadline, "links did not come up");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn blpop_in_one_region_is_woken_by_rpush_in_another() {
    let c = Cluster::start(2);
    wait_links(&c, 2);
    let mut waiter = c.conn(1);
    waiter
        .set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    let start = Instant::now();
    let t = std::thread::spawn(move || {
        cmd("BLPOP")
            .arg("jobs")
            .arg(10)
            .query::<Option<(String, String)>>(&mut waiter)
            .unwrap()
    });
    // Wait until region 2 has the client blocked, then push in region 1.
    let deadline = Instant::now() + CONVERGE_TIMEOUT;
    loop {
        let info: String = cmd("INFO").arg("clients").query(&mut c.conn(1)).unwrap();
        if info.contains("blocked_clients:1") {
            break;
        }
        assert!(Instant::now() < deadline, "client never blocked");
        std::thread::sleep(Duration::from_millis(20));
    }
    let _: i64 = cmd("RPUSH")
        .arg("jobs")
        .arg("j1")
        .query(&mut c.conn(0))
        .unwrap();
    let got = t.join().unwrap();
    assert_eq!(got, Some(("jobs".to_string(), "j1".to_string())));
    assert!(start.elapsed() < Duration::from_secs(10));
    // The pop replicates back: the list is gone in both regions.
    eventually(&c, 0, |con| {
        cmd("EXISTS").arg("jobs").query::<i64>(con).unwrap()
    });
}

#[test]
fn lists_and_hyperloglogs_converge_across_regions() {
    let c = Cluster::start(2);
    wait_links(&c, 2);
    // Pushes from both regions are all kept, in one order everywhere.
    for i in 0..2 {
        let mut con = c.conn(i);
        for j in 0..20 {
            let _: i64 = cmd("RPUSH")
                .arg("l")
                .arg(format!("r{i}-{j}"))
                .query(&mut con)
                .unwrap();
        }
    }
    eventually(&c, 40, |con| {
        cmd("LLEN").arg("l").query::<i64>(con).unwrap()
    });
    let a: Vec<String> = cmd("LRANGE")
        .arg("l")
        .arg(0)
        .arg(-1)
        .query(&mut c.conn(0))
        .unwrap();
    eventually(&c, a.clone(), |con| {
        cmd("LRANGE").arg("l").arg(0).arg(-1).query(con).unwrap()
    });
    // Each region's own pushes keep their relative order.
    for i in 0..2 {
        let mine: Vec<&String> = a
            .iter()
            .filter(|x| x.starts_with(&format!("r{i}-")))
            .collect();
        let want: Vec<String> = (0..20).map(|j| format!("r{i}-{j}")).collect();
        assert_eq!(mine.iter().map(|s| s.as_str()).collect::<Vec<_>>(), want);
    }
    // HyperLogLog: adds in both regions merge to the union's count.
    for i in 0..2 {
        let mut k = cmd("PFADD");
        k.arg("visitors");
        for j in 0..1000 {
            k.arg(format!("user-{}", j + i * 500));
        }
        let _: i64 = k.query(&mut c.conn(i)).unwrap();
    }
    let mut single = cmd("PFADD");
    single.arg("expected");
    for j in 0..1500 {
        single.arg(format!("user-{j}"));
    }
    let _: i64 = single.query(&mut c.conn(0)).unwrap();
    let want: i64 = cmd("PFCOUNT")
        .arg("expected")
        .query(&mut c.conn(0))
        .unwrap();
    eventually(&c, want, |con| {
        cmd("PFCOUNT").arg("visitors").query::<i64>(con).unwrap()
    });
}

/// `XRANGE key - +` as `(id, fields)` pairs.
fn xrange_all(con: &mut Connection, key: &str) -> Vec<(String, Vec<String>)> {
    cmd("XRANGE")
        .arg(key)
        .arg("-")
        .arg("+")
        .query::<Vec<(String, Vec<String>)>>(con)
        .unwrap()
}

#[test]
fn streams_written_in_two_regions_converge_without_id_collisions() {
    let c = Cluster::start(2);
    wait_links(&c, 2);
    // Both regions append concurrently (one thread each).
    let per = 200;
    let writers: Vec<_> = (0..2)
        .map(|i| {
            let mut con = c.conn(i);
            std::thread::spawn(move || {
                (0..per)
                    .map(|j| {
                        cmd("XADD")
                            .arg("events")
                            .arg("*")
                            .arg("from")
                            .arg(format!("r{}-{j}", i + 1))
                            .query::<String>(&mut con)
                            .unwrap()
                    })
                    .collect::<Vec<String>>()
            })
        })
        .collect();
    let ids: Vec<Vec<String>> = writers.into_iter().map(|t| t.join().unwrap()).collect();
    // Each region's IDs carry its region id in the low 8 bits of the sequence part.
    for (i, region_ids) in ids.iter().enumerate() {
        for id in region_ids {
            let seq: u64 = id.split_once('-').unwrap().1.parse().unwrap();
            assert_eq!(seq & 0xff, i as u64 + 1, "{id} from region {}", i + 1);
        }
    }
    let mut all: Vec<&String> = ids.iter().flatten().collect();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 2 * per, "IDs collided");
    // Union: every entry everywhere, in the same (ID) order.
    eventually(&c, (2 * per) as i64, |con| {
        cmd("XLEN").arg("events").query::<i64>(con).unwrap()
    });
    let a = xrange_all(&mut c.conn(0), "events");
    let b = xrange_all(&mut c.conn(1), "events");
    assert_eq!(a, b);
    let parse = |id: &str| {
        let (x, y) = id.split_once('-').unwrap();
        (x.parse::<u64>().unwrap(), y.parse::<u64>().unwrap())
    };
    assert!(a.windows(2).all(|w| parse(&w[0].0) < parse(&w[1].0)));
    // Bookkeeping converges too: entries added counts both regions' writes.
    eventually(&c, (2 * per) as i64, |con| {
        let info: Vec<redis::Value> = cmd("XINFO").arg("STREAM").arg("events").query(con).unwrap();
        let i = info
            .iter()
            .position(|v| *v == redis::Value::BulkString(b"entries-added".to_vec()))
            .unwrap();
        redis::from_redis_value::<i64>(info[i + 1].clone()).unwrap()
    });
    // XDEL in one region removes the entry everywhere; XTRIM too.
    let victim = ids[1][5].clone();
    let n: i64 = cmd("XDEL")
        .arg("events")
        .arg(&victim)
        .query(&mut c.conn(0))
        .unwrap();
    assert_eq!(n, 1);
    let _: i64 = cmd("XTRIM")
        .arg("events")
        .arg("MAXLEN")
        .arg(100)
        .query(&mut c.conn(1))
        .unwrap();
    eventually(&c, 100, |con| {
        cmd("XLEN").arg("events").query::<i64>(con).unwrap()
    });
    assert_eq!(
        xrange_all(&mut c.conn(0), "events"),
        xrange_all(&mut c.conn(1), "events")
    );
}

#[test]
fn xread_block_in_one_region_is_woken_by_xadd_in_another_and_groups_stay_local() {
    let c = Cluster::start(2);
    wait_links(&c, 2);
    let _: String = cmd("XADD")
        .arg("feed")
        .arg("1-1")
        .arg("k")
        .arg("v")
        .query(&mut c.conn(0))
        .unwrap();
    eventually(&c, 1, |con| {
        cmd("XLEN").arg("feed").query::<i64>(con).unwrap()
    });
    let mut waiter = c.conn(1);
    waiter
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let start = Instant::now();
    let t = std::thread::spawn(move || {
        cmd("XREAD")
            .arg("BLOCK")
            .arg(25_000)
            .arg("STREAMS")
            .arg("feed")
            .arg("$")
            .query::<redis::Value>(&mut waiter)
            .unwrap()
    });
    let deadline = Instant::now() + CONVERGE_TIMEOUT;
    loop {
        let info: String = cmd("INFO").arg("clients").query(&mut c.conn(1)).unwrap();
        if info.contains("blocked_clients:1") {
            break;
        }
        assert!(Instant::now() < deadline, "client never blocked");
        std::thread::sleep(Duration::from_millis(20));
    }
    let id: String = cmd("XADD")
        .arg("feed")
        .arg("*")
        .arg("from")
        .arg("region-1")
        .query(&mut c.conn(0))
        .unwrap();
    let got = format!("{:?}", t.join().unwrap());
    assert!(got.contains(&id) && got.contains("region-1"), "{got}");
    assert!(start.elapsed() < Duration::from_secs(25));
    // Consumer groups are per region: created in region 1, unknown in region 2.
    let _: String = cmd("XGROUP")
        .arg("CREATE")
        .arg("feed")
        .arg("g")
        .arg("0")
        .query(&mut c.conn(0))
        .unwrap();
    let err = cmd("XREADGROUP")
        .arg("GROUP")
        .arg("g")
        .arg("c")
        .arg("STREAMS")
        .arg("feed")
        .arg(">")
        .query::<redis::Value>(&mut c.conn(1))
        .unwrap_err();
    assert_eq!(err.code(), Some("NOGROUP"));
    // Region 1's group reads the whole merged stream.
    let v: redis::Value = cmd("XREADGROUP")
        .arg("GROUP")
        .arg("g")
        .arg("c")
        .arg("STREAMS")
        .arg("feed")
        .arg(">")
        .query(&mut c.conn(0))
        .unwrap();
    let s = format!("{v:?}");
    assert!(s.contains("1-1") && s.contains(&id), "{s}");
}

#[test]
fn restarted_region_gets_its_streams_back_by_full_resync_and_generates_higher_ids() {
    let mut c = Cluster::start(2);
    wait_links(&c, 2);
    let mut own = Vec::new();
    for j in 0..50 {
        let id: String = cmd("XADD")
            .arg("log")
            .arg("*")
            .arg("j")
            .arg(j)
            .query(&mut c.conn(1))
            .unwrap();
        own.push(id);
        let _: String = cmd("XADD")
            .arg("log")
            .arg("*")
            .arg("k")
            .arg(j)
            .query(&mut c.conn(0))
            .unwrap();
    }
    let _: i64 = cmd("XDEL")
        .arg("log")
        .arg(&own[0])
        .query(&mut c.conn(1))
        .unwrap();
    eventually(&c, 99, |con| {
        cmd("XLEN").arg("log").query::<i64>(con).unwrap()
    });
    let before = xrange_all(&mut c.conn(0), "log");
    // Region 2 loses everything (no persistence) and comes back by full resync.
    c.kill(1);
    c.spawn(1, None);
    c.wait_ready(1);
    let deadline = Instant::now() + CONVERGE_TIMEOUT;
    while xrange_all(&mut c.conn(1), "log") != before {
        assert!(Instant::now() < deadline, "stream not resynced");
        std::thread::sleep(Duration::from_millis(100));
    }
    // Once writable again, its generated IDs are above everything it had generated.
    let deadline = Instant::now() + CONVERGE_TIMEOUT;
    let id = loop {
        match cmd("XADD")
            .arg("log")
            .arg("*")
            .arg("after")
            .arg("restart")
            .query::<String>(&mut c.conn(1))
        {
            Ok(id) => break id,
            Err(e) => {
                assert!(e.to_string().to_lowercase().contains("readonly"), "{e}");
                assert!(Instant::now() < deadline, "region 2 never became writable");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    };
    let parse = |id: &str| {
        let (x, y) = id.split_once('-').unwrap();
        (x.parse::<u64>().unwrap(), y.parse::<u64>().unwrap())
    };
    assert!(parse(&id) > parse(own.last().unwrap()), "{id}");
    eventually(&c, 100, |con| {
        cmd("XLEN").arg("log").query::<i64>(con).unwrap()
    });
}
