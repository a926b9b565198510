//! String and generic-key behaviours the differential test (`compat.rs`) cannot cover:
//! real expiry over time (lazy and active), atomicity, large and binary values.

mod common;

use std::time::{Duration, Instant};

use common::Server;
use redis::{cmd, Value};

fn dbsize(c: &mut redis::Connection) -> i64 {
    cmd("DBSIZE").query(c).unwrap()
}

#[test]
fn lazy_expiry_hides_key_right_after_deadline() {
    let server = Server::start(&[]);
    let mut c = server.redis();
    let _: () = cmd("SET")
        .arg("k")
        .arg("v")
        .arg("PX")
        .arg(150)
        .query(&mut c)
        .unwrap();
    let _: () = cmd("SET")
        .arg("h")
        .arg("v")
        .arg("PX")
        .arg(150)
        .query(&mut c)
        .unwrap();
    assert_eq!(
        cmd("GET")
            .arg("k")
            .query::<Option<String>>(&mut c)
            .unwrap()
            .as_deref(),
        Some("v")
    );
    let pttl: i64 = cmd("PTTL").arg("k").query(&mut c).unwrap();
    assert!(pttl > 0 && pttl <= 150, "{pttl}");
    std::thread::sleep(Duration::from_millis(200));
    // Every read path treats it as gone at once, whether or not the active cycle ran.
    assert_eq!(
        cmd("GET").arg("k").query::<Option<String>>(&mut c).unwrap(),
        None
    );
    assert_eq!(cmd("EXISTS").arg("h").query::<i64>(&mut c).unwrap(), 0);
    assert_eq!(cmd("TTL").arg("h").query::<i64>(&mut c).unwrap(), -2);
    assert_eq!(
        cmd("TYPE").arg("h").query::<String>(&mut c).unwrap(),
        "none"
    );
    assert_eq!(
        cmd("KEYS").arg("*").query::<Vec<String>>(&mut c).unwrap(),
        Vec::<String>::new()
    );
    // A write after expiry starts from nothing.
    assert_eq!(
        cmd("APPEND")
            .arg("h")
            .arg("x")
            .query::<i64>(&mut c)
            .unwrap(),
        1
    );
    assert_eq!(cmd("TTL").arg("h").query::<i64>(&mut c).unwrap(), -1);
}

#[test]
fn active_expiry_drops_keys_without_reads() {
    let server = Server::start(&[]);
    let mut c = server.redis();
    for i in 0..50 {
        let _: () = cmd("SET")
            .arg(format!("k{i}"))
            .arg("v")
            .arg("PX")
            .arg(100)
            .query(&mut c)
            .unwrap();
    }
    let _: () = cmd("SET").arg("keep").arg("v").query(&mut c).unwrap();
    let info: String = cmd("INFO").arg("keyspace").query(&mut c).unwrap();
    assert!(info.contains("keys=51"), "{info}");
    // No reads of the expiring keys from here on.
    let deadline = Instant::now() + Duration::from_millis(1500);
    loop {
        std::thread::sleep(Duration::from_millis(50));
        let n = dbsize(&mut c);
        if n == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "DBSIZE still {n} after ~1.5 s");
    }
    // Meridian's DBSIZE never counts an expired key (Redis' does until it is deleted), so
    // the drop above is also what lazy expiry gives; the active cycle itself
    // (`Store::expire_cycle`, run by the server cron) is unit-tested in `store`.
}

#[test]
fn expire_in_the_past_deletes() {
    let server = Server::start(&[]);
    let mut c = server.redis();
    for (i, args) in [
        vec!["EXPIRE", "-1"],
        vec!["EXPIRE", "0"],
        vec!["PEXPIRE", "-100"],
        vec!["EXPIREAT", "1"],
        vec!["PEXPIREAT", "0"],
    ]
    .iter()
    .enumerate()
    {
        let key = format!("k{i}");
        let _: () = cmd("SET").arg(&key).arg("v").query(&mut c).unwrap();
        let r: i64 = cmd(args[0]).arg(&key).arg(args[1]).query(&mut c).unwrap();
        assert_eq!(r, 1, "{args:?}");
        assert_eq!(
            cmd("EXISTS").arg(&key).query::<i64>(&mut c).unwrap(),
            0,
            "{args:?}"
        );
    }
    assert_eq!(
        dbsize(&mut c),
        0,
        "deleted at once, not left for the expiry cycle"
    );
    // GETEX with an absolute time in the past returns the value and deletes the key.
    let _: () = cmd("SET").arg("g").arg("v").query(&mut c).unwrap();
    let v: String = cmd("GETEX")
        .arg("g")
        .arg("PXAT")
        .arg(1)
        .query(&mut c)
        .unwrap();
    assert_eq!(v, "v");
    assert_eq!(dbsize(&mut c), 0);
}

#[test]
fn set_without_keepttl_clears_ttl() {
    let server = Server::start(&[]);
    let mut c = server.redis();
    let _: () = cmd("SET")
        .arg("k")
        .arg("v")
        .arg("EX")
        .arg(100)
        .query(&mut c)
        .unwrap();
    assert!(cmd("TTL").arg("k").query::<i64>(&mut c).unwrap() > 0);
    let _: () = cmd("SET")
        .arg("k")
        .arg("v2")
        .arg("KEEPTTL")
        .query(&mut c)
        .unwrap();
    assert!(cmd("TTL").arg("k").query::<i64>(&mut c).unwrap() > 0);
    let _: () = cmd("SET").arg("k").arg("v3").query(&mut c).unwrap();
    assert_eq!(cmd("TTL").arg("k").query::<i64>(&mut c).unwrap(), -1);
    // Other whole-value writes clear it too; in-place edits keep it (as Redis).
    let _: () = cmd("SETEX")
        .arg("k")
        .arg(100)
        .arg("v")
        .query(&mut c)
        .unwrap();
    let _: () = cmd("GETSET").arg("k").arg("x").query(&mut c).unwrap();
    assert_eq!(cmd("TTL").arg("k").query::<i64>(&mut c).unwrap(), -1);
    let _: () = cmd("SETEX")
        .arg("k")
        .arg(100)
        .arg("v")
        .query(&mut c)
        .unwrap();
    let _: () = cmd("MSET").arg("k").arg("x").query(&mut c).unwrap();
    assert_eq!(cmd("TTL").arg("k").query::<i64>(&mut c).unwrap(), -1);
    let _: () = cmd("SETEX")
        .arg("k")
        .arg(100)
        .arg("1")
        .query(&mut c)
        .unwrap();
    let _: () = cmd("INCR").arg("k").query(&mut c).unwrap();
    let _: () = cmd("APPEND").arg("k").arg("0").query(&mut c).unwrap();
    let _: () = cmd("SETRANGE")
        .arg("k")
        .arg(0)
        .arg("3")
        .query(&mut c)
        .unwrap();
    let _: () = cmd("SETBIT").arg("k").arg(0).arg(0).query(&mut c).unwrap();
    assert!(cmd("TTL").arg("k").query::<i64>(&mut c).unwrap() > 0);
}

#[test]
fn mset_is_atomic_for_other_clients() {
    let server = Server::start(&[]);
    let mut writer = server.redis();
    let mut reader = server.redis();
    const N: usize = 20;
    let keys: Vec<String> = (0..N).map(|i| format!("k{i}")).collect();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let w = {
        let stop = stop.clone();
        let keys = keys.clone();
        std::thread::spawn(move || {
            for round in 0..300u32 {
                let mut c = cmd("MSET");
                for k in &keys {
                    c.arg(k).arg(round);
                }
                let _: () = c.query(&mut writer).unwrap();
            }
            stop.store(true, std::sync::atomic::Ordering::SeqCst);
        })
    };
    let mut reads = 0;
    let deadline = Instant::now() + Duration::from_secs(30);
    while !stop.load(std::sync::atomic::Ordering::SeqCst) && Instant::now() < deadline {
        let vals: Vec<Option<String>> = cmd("MGET").arg(&keys).query(&mut reader).unwrap();
        let first = &vals[0];
        assert!(vals.iter().all(|v| v == first), "torn MSET seen: {vals:?}");
        reads += 1;
    }
    w.join().unwrap();
    assert!(reads > 0);
    // MSETNX: all or nothing.
    let mut c = server.redis();
    let r: i64 = cmd("MSETNX")
        .arg("n1")
        .arg("a")
        .arg("k0")
        .arg("b")
        .query(&mut c)
        .unwrap();
    assert_eq!(r, 0);
    assert_eq!(cmd("EXISTS").arg("n1").query::<i64>(&mut c).unwrap(), 0);
}

#[test]
fn one_mib_values_round_trip() {
    let server = Server::start(&[]);
    let mut c = server.redis();
    let big: Vec<u8> = (0..1024 * 1024).map(|i| (i * 31 % 251) as u8).collect();
    let _: () = cmd("SET").arg("big").arg(&big[..]).query(&mut c).unwrap();
    assert_eq!(cmd("GET").arg("big").query::<Vec<u8>>(&mut c).unwrap(), big);
    assert_eq!(
        cmd("STRLEN").arg("big").query::<i64>(&mut c).unwrap(),
        big.len() as i64
    );
    let n: i64 = cmd("APPEND")
        .arg("big")
        .arg(&big[..])
        .query(&mut c)
        .unwrap();
    assert_eq!(n, 2 * big.len() as i64);
    let tail: Vec<u8> = cmd("GETRANGE")
        .arg("big")
        .arg(big.len())
        .arg(-1)
        .query(&mut c)
        .unwrap();
    assert_eq!(tail, big);
    let _: () = cmd("RENAME").arg("big").arg("big2").query(&mut c).unwrap();
    let v: Vec<u8> = cmd("GETDEL").arg("big2").query(&mut c).unwrap();
    assert_eq!(v.len(), 2 * big.len());
    // SETRANGE far out zero-pads.
    let n: i64 = cmd("SETRANGE")
        .arg("pad")
        .arg(1 << 20)
        .arg("x")
        .query(&mut c)
        .unwrap();
    assert_eq!(n, (1 << 20) + 1);
    let v: Vec<u8> = cmd("GET").arg("pad").query(&mut c).unwrap();
    assert!(v[..1 << 20].iter().all(|&b| b == 0) && v[1 << 20] == b'x');
}

#[test]
fn binary_safe_keys_and_values() {
    let server = Server::start(&[]);
    let mut c = server.redis();
    let key: &[u8] = b"k\x00\xff\r\n*$ \x01";
    let val: &[u8] = b"\x00\x01\xfe\xff\r\n$-1\r\n";
    let _: () = cmd("SET").arg(key).arg(val).query(&mut c).unwrap();
    assert_eq!(cmd("GET").arg(key).query::<Vec<u8>>(&mut c).unwrap(), val);
    assert_eq!(cmd("EXISTS").arg(key).query::<i64>(&mut c).unwrap(), 1);
    assert_eq!(
        cmd("GET")
            .arg(&key[..2])
            .query::<Option<Vec<u8>>>(&mut c)
            .unwrap(),
        None
    );
    let keys: Vec<Vec<u8>> = cmd("KEYS").arg("k*").query(&mut c).unwrap();
    assert_eq!(keys, vec![key.to_vec()]);
    let mut pattern = b"k\x00".to_vec();
    pattern.push(b'*');
    let keys: Vec<Vec<u8>> = cmd("KEYS").arg(&pattern[..]).query(&mut c).unwrap();
    assert_eq!(keys, vec![key.to_vec()]);
    let key2: &[u8] = b"\xff\xfe";
    let _: () = cmd("RENAME").arg(key).arg(key2).query(&mut c).unwrap();
    let got: Vec<Option<Vec<u8>>> = cmd("MGET").arg(key).arg(key2).query(&mut c).unwrap();
    assert_eq!(got, vec![None, Some(val.to_vec())]);
    let n: i64 = cmd("APPEND")
        .arg(key2)
        .arg(&b"\x00"[..])
        .query(&mut c)
        .unwrap();
    assert_eq!(n, val.len() as i64 + 1);
    assert_eq!(
        cmd("GETRANGE")
            .arg(key2)
            .arg(0)
            .arg(1)
            .query::<Vec<u8>>(&mut c)
            .unwrap(),
        b"\x00\x01"
    );
    assert_eq!(
        cmd("SETBIT")
            .arg(key2)
            .arg(7)
            .arg(1)
            .query::<i64>(&mut c)
            .unwrap(),
        0
    );
    assert_eq!(
        cmd("GETRANGE")
            .arg(key2)
            .arg(0)
            .arg(0)
            .query::<Vec<u8>>(&mut c)
            .unwrap(),
        b"\x01"
    );
    let r: Value = cmd("COPY").arg(key2).arg(key).query(&mut c).unwrap();
    assert_eq!(r, Value::Int(1));
    assert_eq!(
        cmd("STRLEN").arg(key).query::<i64>(&mut c).unwrap(),
        val.len() as i64 + 1
    );
}

#[test]
fn rename_copy_move_keep_value_and_ttl() {
    let server = Server::start(&[]);
    let mut c = server.redis();
    let _: () = cmd("SET")
        .arg("a")
        .arg("v")
        .arg("EX")
        .arg(100)
        .query(&mut c)
        .unwrap();
    let _: () = cmd("RENAME").arg("a").arg("b").query(&mut c).unwrap();
    assert_eq!(cmd("GET").arg("b").query::<String>(&mut c).unwrap(), "v");
    assert!(cmd("TTL").arg("b").query::<i64>(&mut c).unwrap() > 0);
    assert_eq!(
        cmd("COPY").arg("b").arg("c").query::<i64>(&mut c).unwrap(),
        1
    );
    assert_eq!(cmd("GET").arg("c").query::<String>(&mut c).unwrap(), "v");
    assert!(cmd("TTL").arg("c").query::<i64>(&mut c).unwrap() > 0);
    assert_eq!(cmd("MOVE").arg("c").arg(3).query::<i64>(&mut c).unwrap(), 1);
    let _: () = cmd("SELECT").arg(3).query(&mut c).unwrap();
    assert_eq!(cmd("GET").arg("c").query::<String>(&mut c).unwrap(), "v");
    assert!(cmd("TTL").arg("c").query::<i64>(&mut c).unwrap() > 0);
    // Counters survive a rename with their value.
    let _: () = cmd("INCRBY").arg("n").arg(41).query(&mut c).unwrap();
    let _: () = cmd("RENAME").arg("n").arg("m").query(&mut c).unwrap();
    assert_eq!(cmd("INCR").arg("m").query::<i64>(&mut c).unwrap(), 42);
}
