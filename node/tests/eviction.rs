//! LRU/LFU eviction against the real binary: keys used recently (LRU) or often (LFU)
//! survive while idle ones are evicted, volatile policies only evict keys with a TTL,
//! OBJECT IDLETIME / FREQ report the node-local access metadata, and an eviction in
//! one region reaches the other as a delete.

mod common;

use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{call, info_field, two_regions, Server};

const OOM: &str = "-OOM command not allowed when used memory > 'maxmemory'.";

fn config_set(c: &mut TcpStream, pairs: &[&str]) {
    let mut args = vec!["CONFIG", "SET"];
    args.extend_from_slice(pairs);
    assert_eq!(call(c, &args), "+OK", "CONFIG SET {pairs:?}");
}

fn exists(c: &mut TcpStream, key: &str) -> bool {
    call(c, &["EXISTS", key]) == ":1"
}

/// Writes 2,000 keys, reads a hot set of 100 of them `hot_reads` times, then keeps
/// writing new keys over a small maxmemory (re-reading the hot set every 100 writes)
/// until 500 keys were evicted. Returns (hot keys left, cold keys left).
fn hot_set_run(policy_cfg: &[&str], hot_reads: usize) -> (usize, usize) {
    let server = Server::start(&[]);
    let mut c = server.raw();
    config_set(&mut c, policy_cfg);
    let value = "x".repeat(1000);
    for i in 0..2000 {
        assert_eq!(call(&mut c, &["SET", &format!("k:{i}"), &value]), "+OK");
    }
    let hot: Vec<String> = (0..2000).step_by(20).map(|i| format!("k:{i}")).collect();
    // The LRU clock counts milliseconds: the hot reads come strictly after the writes.
    std::thread::sleep(Duration::from_millis(20));
    let read_hot = |c: &mut TcpStream| {
        for k in &hot {
            assert_eq!(call(c, &["GET", k]).len(), 1001, "{k}");
        }
    };
    for _ in 0..hot_reads {
        read_hot(&mut c);
    }
    let used = info_field(&mut c, "memory", "used_memory");
    config_set(&mut c, &["maxmemory", &(used + (512 << 10)).to_string()]);
    let evicted_before = info_field(&mut c, "stats", "evicted_keys");
    let mut i = 0;
    loop {
        assert_eq!(call(&mut c, &["SET", &format!("n:{i}"), &value]), "+OK");
        i += 1;
        if i % 100 == 0 {
            read_hot(&mut c);
            if info_field(&mut c, "stats", "evicted_keys") >= evicted_before + 500 {
                break;
            }
        }
        assert!(i < 20_000, "never evicted 500 keys in {i} writes");
    }
    let hot_left = hot.iter().filter(|k| exists(&mut c, k)).count();
    let cold_left = (0..2000)
        .filter(|i| i % 20 != 0)
        .filter(|i| exists(&mut c, &format!("k:{i}")))
        .count();
    eprintln!("{policy_cfg:?}: {i} writes, hot left {hot_left}/100, cold left {cold_left}/1900");
    (hot_left, cold_left)
}

#[test]
fn allkeys_lru_keeps_recently_used_keys() {
    let (hot, cold) = hot_set_run(&["maxmemory-policy", "allkeys-lru"], 1);
    assert!(hot >= 90, "only {hot} of 100 hot keys survived");
    assert!(cold <= 1900 - 400, "only {} cold keys evicted", 1900 - cold);
}

#[test]
fn allkeys_lfu_keeps_frequently_used_keys() {
    // lfu-log-factor 1 makes 20 reads lift a hot counter well above a new key's.
    let (hot, cold) = hot_set_run(
        &["maxmemory-policy", "allkeys-lfu", "lfu-log-factor", "1"],
        20,
    );
    assert!(hot >= 90, "only {hot} of 100 hot keys survived");
    assert!(cold <= 1900 - 200, "only {} cold keys evicted", 1900 - cold);
}

#[test]
fn volatile_policies_evict_only_keys_with_a_ttl() {
    for policy in ["volatile-lru", "volatile-lfu"] {
        let server = Server::start(&[]);
        let mut c = server.raw();
        let value = "v".repeat(64 << 10);
        for i in 0..32 {
            let v = format!("v:{i}");
            assert_eq!(call(&mut c, &["SET", &v, &value, "EX", "1000"]), "+OK");
            assert_eq!(call(&mut c, &["SET", &format!("p:{i}"), &value]), "+OK");
        }
        let used = info_field(&mut c, "memory", "used_memory");
        let limit = (used - (512 << 10)).to_string();
        config_set(&mut c, &["maxmemory-policy", policy, "maxmemory", &limit]);
        assert_eq!(call(&mut c, &["SET", "new", "1"]), "+OK", "{policy}");
        let evicted = info_field(&mut c, "stats", "evicted_keys");
        assert!((1..32).contains(&evicted), "{policy}: evicted {evicted}");
        let volatile_gone = (0..32)
            .filter(|i| !exists(&mut c, &format!("v:{i}")))
            .count();
        assert_eq!(volatile_gone as u64, evicted, "{policy}");
        for i in 0..32 {
            assert!(exists(&mut c, &format!("p:{i}")), "{policy}: p:{i} evicted");
        }
        // Once no key with a TTL is left, growing writes are refused.
        config_set(&mut c, &["maxmemory", "1"]);
        assert_eq!(call(&mut c, &["SET", "x", "1"]), OOM, "{policy}");
        assert_eq!(call(&mut c, &["DBSIZE"]), ":33", "{policy}");
        for i in 0..32 {
            assert!(exists(&mut c, &format!("p:{i}")), "{policy}: p:{i} evicted");
            assert!(!exists(&mut c, &format!("v:{i}")), "{policy}: v:{i} kept");
        }
        assert_eq!(call(&mut c, &["GET", "new"]), "$1");
    }
}

#[test]
fn object_idletime_and_freq_report_access_metadata() {
    let server = Server::start(&[]);
    let mut c = server.raw();
    assert_eq!(call(&mut c, &["SET", "k", "v"]), "+OK");
    assert_eq!(call(&mut c, &["OBJECT", "IDLETIME", "k"]), ":0");
    assert_eq!(call(&mut c, &["OBJECT", "IDLETIME", "missing"]), "$nil");
    // Idle time grows while nothing but metadata commands look at the key.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        assert_eq!(call(&mut c, &["TYPE", "k"]), "+string");
        assert_eq!(call(&mut c, &["EXISTS", "k"]), ":1");
        assert_eq!(call(&mut c, &["TTL", "k"]), ":-1");
        let idle = call(&mut c, &["OBJECT", "IDLETIME", "k"]);
        if idle != ":0" && idle != ":1" {
            let secs: u64 = idle[1..].parse().unwrap();
            assert!((2..20).contains(&secs), "{idle}");
            break;
        }
        assert!(Instant::now() < deadline, "idle time stuck at {idle}");
        std::thread::sleep(Duration::from_millis(100));
    }
    // A read resets it.
    assert_eq!(call(&mut c, &["GET", "k"]), "$v");
    let idle: u64 = call(&mut c, &["OBJECT", "IDLETIME", "k"])[1..]
        .parse()
        .unwrap();
    assert!(idle <= 1, "idle {idle} after a read");
    // FREQ needs an LFU policy, IDLETIME an LRU one (as Redis).
    let freq_err = call(&mut c, &["OBJECT", "FREQ", "k"]);
    assert!(
        freq_err.starts_with("-ERR An LFU maxmemory policy is not selected"),
        "{freq_err}"
    );
    // No decay and log factor 0: every access adds one, deterministically.
    config_set(
        &mut c,
        &[
            "maxmemory-policy",
            "allkeys-lfu",
            "lfu-log-factor",
            "0",
            "lfu-decay-time",
            "0",
        ],
    );
    assert_eq!(
        call(&mut c, &["CONFIG", "GET", "lfu-*"]),
        "[$lfu-log-factor, $0, $lfu-decay-time, $0]"
    );
    assert_eq!(call(&mut c, &["SET", "f", "1"]), "+OK");
    // A new key starts at 5 (the SET that creates it is no access, as in Redis).
    assert_eq!(call(&mut c, &["OBJECT", "FREQ", "f"]), ":5");
    for _ in 0..3 {
        assert_eq!(call(&mut c, &["GET", "f"]), "$1");
    }
    assert_eq!(call(&mut c, &["OBJECT", "FREQ", "f"]), ":8");
    assert_eq!(
        call(&mut c, &["OBJECT", "FREQ", "f"]),
        ":8",
        "OBJECT touched"
    );
    // MGET touches each key it names; a SET of an existing key is an access.
    assert_eq!(call(&mut c, &["MGET", "f", "f"]), "[$1, $1]");
    assert_eq!(call(&mut c, &["SET", "f", "2"]), "+OK");
    assert_eq!(call(&mut c, &["OBJECT", "FREQ", "f"]), ":11");
    let idle_err = call(&mut c, &["OBJECT", "IDLETIME", "f"]);
    assert!(
        idle_err.starts_with("-ERR An LFU maxmemory policy is selected, idle time not tracked"),
        "{idle_err}"
    );
    // Bad values are refused and change nothing.
    assert_eq!(
        call(&mut c, &["CONFIG", "SET", "maxmemory-samples", "0"]),
        "-ERR CONFIG SET failed (possibly related to argument 'maxmemory-samples') - argument must be between 1 and 2147483647 inclusive"
    );
    assert_eq!(
        call(&mut c, &["CONFIG", "SET", "lfu-log-factor", "-1"]),
        "-ERR CONFIG SET failed (possibly related to argument 'lfu-log-factor') - argument couldn't be parsed into an integer"
    );
    assert_eq!(
        call(&mut c, &["CONFIG", "GET", "maxmemory-samples"]),
        "[$maxmemory-samples, $5]"
    );
}

#[test]
fn lru_evictions_in_one_region_are_deletes_in_the_other() {
    let (dir, r1, r2) = two_regions("evict-lru", &[], &[]);
    let mut a = r1.raw();
    let mut b = r2.raw();
    let value = "e".repeat(16 << 10);
    for i in 0..200 {
        assert_eq!(call(&mut a, &["SET", &format!("k:{i}"), &value]), "+OK");
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while call(&mut b, &["DBSIZE"]) != ":200" {
        assert!(Instant::now() < deadline, "region 2 never got the writes");
        std::thread::sleep(Duration::from_millis(50));
    }
    // Recently read keys in region 1 (region 2's reads do not count there).
    std::thread::sleep(Duration::from_millis(20));
    for i in 0..20 {
        assert_eq!(
            call(&mut a, &["GET", &format!("k:{i}")]).len(),
            1 + (16 << 10)
        );
    }
    // The in-memory op log is trimmed once region 2 acked: settle before measuring.
    let mut used = info_field(&mut a, "memory", "used_memory");
    loop {
        std::thread::sleep(Duration::from_millis(500));
        let now = info_field(&mut a, "memory", "used_memory");
        let settled = now.abs_diff(used) < 128 << 10;
        used = now;
        if settled {
            break;
        }
        assert!(Instant::now() < deadline, "used memory never settled");
    }
    let limit = (used - (1 << 20)).to_string();
    config_set(
        &mut a,
        &["maxmemory", &limit, "maxmemory-policy", "allkeys-lru"],
    );
    assert_eq!(call(&mut a, &["SET", "new", "1"]), "+OK");
    let evicted = info_field(&mut a, "stats", "evicted_keys");
    assert!((40..200).contains(&evicted), "evicted {evicted}");
    for i in 0..20 {
        assert!(
            exists(&mut a, &format!("k:{i}")),
            "recently read k:{i} evicted"
        );
    }
    // Region 2 applies the evictions as deletes (it evicts nothing itself).
    let want = format!(":{}", 201 - evicted);
    while call(&mut b, &["DBSIZE"]) != want {
        assert!(
            Instant::now() < deadline,
            "region 2 has {} keys, region 1 {want}",
            call(&mut b, &["DBSIZE"])
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(info_field(&mut b, "stats", "evicted_keys"), 0);
    for i in 0..200 {
        let k = format!("k:{i}");
        assert_eq!(exists(&mut a, &k), exists(&mut b, &k), "{k}");
    }
    drop((r1, r2));
    let _ = std::fs::remove_dir_all(&dir);
}
