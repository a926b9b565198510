//! Real-process tests of the admin API and `meridian admin`: regions on loopback linked
//! by QUIC (dev certificates), a third region added live, removed, and added back, with
//! every key checked in every region.

mod common;

use common::{bin, free_port, free_udp};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use redis::{cmd, Connection};
use serde_json::Value;

/// Bound for convergence and link changes (a region that is down is only noticed after
/// its peers' 10 s silence timeout; CI runs tests in parallel on 2 cores).
const CONVERGE: Duration = Duration::from_secs(60);
const TOKEN: &str = "test-admin-token";

struct Region {
    port: u16,
    repl_port: u16,
    admin_port: u16,
    child: Option<Child>,
}

struct Cluster {
    dir: PathBuf,
    regions: Vec<Region>,
}

impl Cluster {
    fn new(n: u8) -> Cluster {
        let dir = std::env::temp_dir().join(format!(
            "meridian-admin-test-{}-{}",
            std::process::id(),
            free_port()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        replication::net::certs::ensure_dev_certs(&dir.join("tls"), 1..=n).unwrap();
        let regions = (1..=n)
            .map(|_| Region {
                port: free_port(),
                repl_port: free_udp(),
                admin_port: free_port(),
                child: None,
            })
            .collect();
        Cluster { dir, regions }
    }

    fn addr(&self, id: u8) -> String {
        format!("127.0.0.1:{}", self.regions[id as usize - 1].repl_port)
    }

    /// Starts region `id` peering with `peers`.
    fn spawn(&mut self, id: u8, peers: &[u8], extra: &[&str]) {
        let peers: Vec<String> = peers
            .iter()
            .map(|&p| format!("{p}@{}", self.addr(p)))
            .collect();
        let r = &self.regions[id as usize - 1];
        let data = self.dir.join(format!("region-{id}"));
        let child = Command::new(bin())
            .arg("server")
            .args(["--bind", "127.0.0.1", "--port", &r.port.to_string()])
            .args(["--region-id", &id.to_string()])
            .args(["--data-dir", data.to_str().unwrap()])
            .args(["--repl-port", &r.repl_port.to_string()])
            .args(["--repl-tls-dir", self.dir.join("tls").to_str().unwrap()])
            .args(["--peers", &peers.join(" ")])
            .args(["--admin-port", &r.admin_port.to_string()])
            .args(["--admin-token", TOKEN])
            .args(extra)
            .env("MERIDIAN_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("cannot start meridian");
        self.regions[id as usize - 1].child = Some(child);
        let deadline = Instant::now() + CONVERGE;
        let r = &self.regions[id as usize - 1];
        while std::net::TcpStream::connect(("127.0.0.1", r.port)).is_err()
            || std::net::TcpStream::connect(("127.0.0.1", r.admin_port)).is_err()
        {
            assert!(Instant::now() < deadline, "region {id} did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn kill(&mut self, id: u8) {
        if let Some(mut c) = self.regions[id as usize - 1].child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn conn(&self, id: u8) -> Connection {
        redis::Client::open(format!(
            "redis://127.0.0.1:{}/",
            self.regions[id as usize - 1].port
        ))
        .unwrap()
        .get_connection_with_timeout(common::TIMEOUT)
        .unwrap()
    }

    /// `meridian admin --addr <region id's admin port> --token <token> args...`.
    fn admin_with(&self, id: u8, token: Option<&str>, args: &[&str]) -> Output {
        let mut c = Command::new(bin());
        c.arg("admin")
            .args([
                "--addr",
                &format!("127.0.0.1:{}", self.regions[id as usize - 1].admin_port),
            ])
            .args(["--timeout-secs", "20"])
            .env_remove("MERIDIAN_ADMIN_TOKEN");
        if let Some(t) = token {
            c.args(["--token", t]);
        }
        c.args(args).output().expect("cannot run meridian admin")
    }

    fn admin(&self, id: u8, args: &[&str]) -> String {
        let out = self.admin_with(id, Some(TOKEN), args);
        assert!(
            out.status.success(),
            "meridian admin {args:?} on region {id} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn status(&self, id: u8) -> Value {
        let out = self.admin(id, &["--json", "status"]);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("status --json: {e}: {out}"))
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for id in 1..=self.regions.len() as u8 {
            self.kill(id);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Every key of db 0 with its type and a canonical rendering of its value.
fn dump(c: &mut Connection) -> BTreeMap<String, String> {
    let keys: Vec<String> = cmd("KEYS").arg("*").query(c).unwrap();
    let mut out = BTreeMap::new();
    for k in keys {
        let t: String = cmd("TYPE").arg(&k).query(c).unwrap();
        let v = match t.as_str() {
            "string" => cmd("GET")
                .arg(&k)
                .query::<Option<String>>(c)
                .unwrap()
                .unwrap_or_default(),
            "list" => cmd("LRANGE")
                .arg(&k)
                .arg(0)
                .arg(-1)
                .query::<Vec<String>>(c)
                .unwrap()
                .join(","),
            "set" => {
                let mut m: Vec<String> = cmd("SMEMBERS").arg(&k).query(c).unwrap();
                m.sort();
                m.join(",")
            }
            "hash" => {
                let m: BTreeMap<String, String> = cmd("HGETALL").arg(&k).query(c).unwrap();
                format!("{m:?}")
            }
            "zset" => cmd("ZRANGE")
                .arg(&k)
                .arg(0)
                .arg(-1)
                .arg("WITHSCORES")
                .query::<Vec<String>>(c)
                .unwrap()
                .join(","),
            other => format!("<{other}>"),
        };
        out.insert(k, format!("{t}:{v}"));
    }
    out
}

/// Waits until regions `ids` hold identical keyspaces with `min_keys` keys at least;
/// returns that keyspace.
fn converge(c: &Cluster, ids: &[u8], min_keys: usize) -> BTreeMap<String, String> {
    let deadline = Instant::now() + CONVERGE;
    loop {
        let dumps: Vec<_> = ids.iter().map(|&i| dump(&mut c.conn(i))).collect();
        let sizes: Vec<i64> = ids
            .iter()
            .map(|&i| cmd("DBSIZE").query(&mut c.conn(i)).unwrap())
            .collect();
        if dumps.windows(2).all(|w| w[0] == w[1])
            && dumps[0].len() >= min_keys
            && sizes.iter().all(|&s| s as usize == dumps[0].len())
        {
            return dumps.into_iter().next().unwrap();
        }
        if Instant::now() > deadline {
            let first = &dumps[0];
            for (i, d) in ids.iter().zip(&dumps) {
                let diff: Vec<_> = d
                    .iter()
                    .filter(|(k, v)| first.get(*k) != Some(*v))
                    .take(3)
                    .collect();
                eprintln!(
                    "region {i}: {} keys, DBSIZE {sizes:?}, differs on {diff:?}",
                    d.len()
                );
            }
            panic!("regions {ids:?} did not converge");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Writes keys of several types in region `id`, named with `tag`.
fn write_mixed(c: &Cluster, id: u8, tag: &str, n: usize) {
    let mut con = c.conn(id);
    for i in 0..n {
        let _: () = cmd("SET")
            .arg(format!("{tag}:s:{i}"))
            .arg(format!("v{i}"))
            .query(&mut con)
            .unwrap();
        let _: i64 = cmd("RPUSH")
            .arg(format!("{tag}:l"))
            .arg(i)
            .query(&mut con)
            .unwrap();
        let _: i64 = cmd("SADD")
            .arg("shared:set")
            .arg(format!("{tag}-{i}"))
            .query(&mut con)
            .unwrap();
        let _: i64 = cmd("HSET")
            .arg(format!("{tag}:h"))
            .arg(format!("f{i}"))
            .arg(i)
            .query(&mut con)
            .unwrap();
        let _: f64 = cmd("ZINCRBY")
            .arg("shared:z")
            .arg(1)
            .arg(tag)
            .query(&mut con)
            .unwrap();
        let _: i64 = cmd("INCR").arg("shared:counter").query(&mut con).unwrap();
    }
}

fn link(status: &Value, region: u64) -> Option<&Value> {
    status["links"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["region"].as_u64() == Some(region))
}

/// Polls until `f` holds (bounded).
fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + CONVERGE;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn wrong_token_refused_and_status_json_shows_links() {
    let mut c = Cluster::new(2);
    c.spawn(1, &[2], &[]);
    c.spawn(2, &[1], &[]);
    for token in [Some("wrong"), None] {
        let out = c.admin_with(1, token, &["status"]);
        assert!(!out.status.success(), "token {token:?} accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("Unauthenticated"), "{err}");
    }
    wait_for("link 1-2 streaming", || {
        let s = c.status(1);
        link(&s, 2).is_some_and(|l| l["state"] == "streaming")
    });
    let s = c.status(1);
    assert_eq!(s["region"], 1);
    assert_eq!(s["replication"], true);
    assert_eq!(link(&s, 2).unwrap()["address"], c.addr(2));
    let h: Value = serde_json::from_str(&c.admin(2, &["--json", "health"])).unwrap();
    assert_eq!(
        (h["live"].as_bool(), h["ready"].as_bool()),
        (Some(true), Some(true))
    );
    assert_eq!(h["links_total"], 1);
    // Readable output names the link.
    let text = c.admin(1, &["status"]);
    assert!(text.contains("link 2 streaming"), "{text}");
    // Flush is FLUSHALL across regions.
    let _: () = cmd("SET").arg("a").arg("1").query(&mut c.conn(2)).unwrap();
    wait_for("a replicated", || {
        cmd("EXISTS").arg("a").query::<i64>(&mut c.conn(1)).unwrap() == 1
    });
    let f: Value = serde_json::from_str(&c.admin(1, &["--json", "flush"])).unwrap();
    assert!(f["keys_removed"].as_u64().unwrap() >= 1);
    wait_for("flush replicated", || {
        cmd("DBSIZE").query::<i64>(&mut c.conn(2)).unwrap() == 0
    });
    // Bad membership requests get clear errors.
    let out = c.admin_with(1, Some(TOKEN), &["add-region", "1"]);
    assert!(!out.status.success());
    let out = c.admin_with(
        1,
        Some(TOKEN),
        &["add-region", "3", "--cert-name", "region-4.meridian"],
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("certificate names bind to region ids"));
}

#[test]
fn region_added_live_removed_and_added_back_loses_no_key() {
    let mut c = Cluster::new(3);
    c.spawn(1, &[2], &[]);
    c.spawn(2, &[1], &[]);
    write_mixed(&c, 1, "r1a", 20);
    write_mixed(&c, 2, "r2a", 20);
    converge(&c, &[1, 2], 20);

    // Add region 3 live on both, then start it as a joiner.
    for id in [1, 2] {
        let out = c.admin(id, &["add-region", "3", "--address", &c.addr(3)]);
        assert!(out.contains("region 3 added"), "{out}");
    }
    c.spawn(3, &[1, 2], &["--repl-join", "yes"]);
    let all = converge(&c, &[1, 2, 3], 40);
    wait_for("region 3 writable", || c.status(3)["writable"] == true);
    write_mixed(&c, 3, "r3a", 10);
    write_mixed(&c, 1, "r1b", 5);
    let all = {
        let now = converge(&c, &[1, 2, 3], all.len() + 10);
        assert!(now.contains_key("r3a:s:9") && now.contains_key("r1b:s:4"));
        now
    };
    let s1 = c.status(1);
    assert_eq!(link(&s1, 3).unwrap()["state"], "streaming");

    // Remove region 3: stop it, wait until 1 and 2 applied the same ops of it, remove.
    c.kill(3);
    wait_for("region 3's ops spread", || {
        let (a, b) = (c.status(1), c.status(2));
        a["applied"]["3"] == b["applied"]["3"]
            && link(&a, 2).unwrap()["acked_applied"]["3"] == a["applied"]["3"]
            && link(&b, 1).unwrap()["acked_applied"]["3"] == b["applied"]["3"]
    });
    for id in [1, 2] {
        let out = c.admin(id, &["remove-region", "3"]);
        assert!(out.contains("region 3 removed"), "{out}");
    }
    let s1 = c.status(1);
    assert!(link(&s1, 3).is_none());
    assert_eq!(s1["removed_regions"][0]["region"], 3);
    // Membership survives a restart of region 1.
    c.kill(1);
    c.spawn(1, &[2, 3], &[]);
    let s1 = c.status(1);
    assert!(link(&s1, 3).is_none(), "region 3 stays removed: {s1}");
    assert_eq!(s1["removed_regions"][0]["region"], 3);
    // Without persistence it restarted empty: writable once caught up with region 2.
    wait_for("region 1 writable", || c.status(1)["writable"] == true);
    write_mixed(&c, 1, "r1c", 10);
    write_mixed(&c, 2, "r2c", 10);
    converge(&c, &[1, 2], all.len() + 20);

    // Re-add with its data dir kept (the address is remembered from the removal); it
    // restarts without its in-memory data, so it catches up before writing.
    for id in [1, 2] {
        let out = c.admin(id, &["add-region", "3"]);
        assert!(out.contains("region 3 added"), "{out}");
    }
    c.spawn(3, &[1, 2], &[]);
    let back = converge(&c, &[1, 2, 3], all.len() + 20);
    // Zero key loss: every key written before is there with its value (the counters
    // and shared collections only grew).
    for (k, v) in &all {
        let now = back.get(k).unwrap_or_else(|| panic!("key {k} lost"));
        if !k.starts_with("shared:") && !k.ends_with(":l") && !k.ends_with(":h") {
            assert_eq!(now, v, "key {k} changed");
        }
    }
    assert!(back.contains_key("r1c:s:9") && back.contains_key("r2c:s:9"));
    wait_for("region 3 writable again", || {
        c.status(3)["writable"] == true
    });
    write_mixed(&c, 3, "r3b", 5);
    let fin = converge(&c, &[1, 2, 3], back.len() + 5);
    assert!(fin.contains_key("r3b:s:4"));
    let counter: i64 = cmd("GET")
        .arg("shared:counter")
        .query(&mut c.conn(2))
        .unwrap();
    assert_eq!(counter, 20 + 20 + 10 + 5 + 10 + 10 + 5);
}

/// With persistence: a region removed and added back with a FRESH data dir (`repl-join`)
/// must not reuse its old sequence numbers: it catches up (its own earlier writes
/// included) before writing, and no key is lost anywhere.
#[test]
fn region_re_added_with_a_fresh_data_dir_under_persistence_loses_no_key() {
    let mut c = Cluster::new(3);
    let persist = ["--appendonly", "yes", "--appendfsync", "always"];
    c.spawn(1, &[2, 3], &persist);
    c.spawn(2, &[1, 3], &persist);
    c.spawn(3, &[1, 2], &persist);
    for id in [1, 2, 3] {
        write_mixed(&c, id, &format!("p{id}"), 10);
    }
    let all = converge(&c, &[1, 2, 3], 30);
    c.kill(3);
    wait_for("region 3's ops spread", || {
        let (a, b) = (c.status(1), c.status(2));
        a["applied"]["3"] == b["applied"]["3"]
            && link(&a, 2).unwrap()["acked_applied"]["3"] == a["applied"]["3"]
            && link(&b, 1).unwrap()["acked_applied"]["3"] == b["applied"]["3"]
    });
    let applied3 = c.status(1)["applied"]["3"].as_u64().unwrap();
    assert!(applied3 > 0);
    for id in [1, 2] {
        let r: Value =
            serde_json::from_str(&c.admin(id, &["--json", "remove-region", "3"])).unwrap();
        assert_eq!(r["removed"], true);
        assert_eq!(r["cutoff"].as_u64(), Some(applied3));
    }
    write_mixed(&c, 1, "q1", 5);
    converge(&c, &[1, 2], all.len() + 5);
    // Region 3's disk is gone: it comes back fresh, as a joiner.
    std::fs::remove_dir_all(c.dir.join("region-3")).unwrap();
    for id in [1, 2] {
        c.admin(id, &["add-region", "3", "--address", &c.addr(3)]);
    }
    let mut extra = persist.to_vec();
    extra.extend(["--repl-join", "yes"]);
    c.spawn(3, &[1, 2], &extra);
    let back = converge(&c, &[1, 2, 3], all.len() + 5);
    for k in all.keys() {
        assert!(back.contains_key(k), "key {k} lost");
    }
    wait_for("region 3 writable", || c.status(3)["writable"] == true);
    // It caught up with its own old ops before writing: its next op is numbered after.
    assert!(c.status(3)["applied"]["3"].as_u64().unwrap() >= applied3);
    write_mixed(&c, 3, "p3b", 5);
    let fin = converge(&c, &[1, 2, 3], back.len() + 5);
    assert!(fin.contains_key("p3b:s:4") && fin.contains_key("p3:s:9"));
    let counter: i64 = cmd("GET")
        .arg("shared:counter")
        .query(&mut c.conn(1))
        .unwrap();
    assert_eq!(counter, 30 + 5 + 5);
    // Regions 1 and 3 both wrote write_mixed(10) then write_mixed(5): the same number of
    // ops. Region 3's new ops were numbered after its old ones (none reused).
    let s1 = c.status(1);
    assert_eq!(
        s1["applied"]["3"], s1["applied"]["1"],
        "region 3's new ops follow its old ones (applied before: {applied3}): {s1}"
    );
    assert!(s1["applied"]["3"].as_u64().unwrap() > applied3);
}
