//! Streams against the real binary (one region; the two-region tests are in
//! replication.rs, the byte-for-byte comparison with redis-server in compat/stream.rs):
//! generated IDs, blocking reads woken by writes, consumer groups as a job queue, groups
//! following the key's life, errors that write nothing, kill -9 survival with
//! `appendfsync always`, and the memory cost of an entry.

mod common;

use std::time::{Duration, Instant};

use common::{assert_err, q, spawn, wait_blocked, Server};
use redis::{Connection, Value};

type Entries = Vec<(String, Vec<String>)>;

fn entries(v: &Value) -> Entries {
    let Value::Array(items) = v else {
        panic!("not an array: {v:?}")
    };
    items
        .iter()
        .map(|e| match e {
            Value::Array(p) => {
                let id: String = redis::from_redis_value(p[0].clone()).unwrap();
                let f: Vec<String> = redis::from_redis_value(p[1].clone()).unwrap();
                (id, f)
            }
            other => panic!("not an entry: {other:?}"),
        })
        .collect()
}

fn xrange(c: &mut Connection, key: &str) -> Entries {
    entries(&q::<Value>(c, &["XRANGE", key, "-", "+"]))
}

fn id_parts(id: &str) -> (u64, u64) {
    let (a, b) = id.split_once('-').unwrap();
    (a.parse().unwrap(), b.parse().unwrap())
}

#[test]
fn generated_ids_carry_the_region_and_grow() {
    let server = Server::start(&["--region-id", "7"]);
    let mut c = server.redis();
    let mut last = (0, 0);
    for i in 0..300 {
        let id: String = q(&mut c, &["XADD", "s", "*", "i", &i.to_string()]);
        let p = id_parts(&id);
        assert_eq!(p.1 & 0xff, 7, "{id}: region 7 in the low bits of seq");
        assert!(p > last, "{id} after {last:?}");
        last = p;
    }
    // `ms-*` picks the region's next sequence in that millisecond.
    let a: String = q(&mut c, &["XADD", "t", "5-*", "f", "v"]);
    let b: String = q(&mut c, &["XADD", "t", "5-*", "f", "v"]);
    assert_eq!((a.as_str(), b.as_str()), ("5-7", "5-263"));
    assert_err(
        &mut c,
        &["XADD", "t", "4-*", "f", "v"],
        "ERR The ID specified in XADD is equal or smaller than the target stream top item",
    );
    // Explicit IDs are taken as given.
    let e: String = q(&mut c, &["XADD", "t", "6-0", "f", "v"]);
    assert_eq!(e, "6-0");
    let n: i64 = q(&mut c, &["XLEN", "s"]);
    assert_eq!(n, 300);
}

#[test]
fn errors_write_nothing() {
    let server = Server::start(&[]);
    let mut c = server.redis();
    let _: String = q(&mut c, &["XADD", "s", "1-1", "a", "1"]);
    let before = xrange(&mut c, "s");
    for bad in [
        &["XADD", "s", "1-1", "a", "1"][..],
        &["XADD", "s", "MAXLEN", "-1", "2-1", "a", "1"],
        &["XADD", "s", "2-1", "a"],
        &["XADD", "s", "MAXLEN", "1", "LIMIT", "5", "2-1", "a", "1"],
        &["XDEL", "s", "1-1", "nope"],
        &["XTRIM", "s", "MAXLEN", "0", "junk"],
        &["XSETID", "s", "0-5"],
    ] {
        let mut k = redis::cmd(bad[0]);
        for a in &bad[1..] {
            k.arg(*a);
        }
        assert!(k.query::<Value>(&mut c).is_err(), "{bad:?} should fail");
    }
    assert_eq!(xrange(&mut c, "s"), before);
    let info: Value = q(&mut c, &["XINFO", "STREAM", "s"]);
    let text = format!("{info:?}");
    assert!(text.contains("1-1"), "{text}");
}

#[test]
fn xread_block_is_woken_by_xadd_and_sees_entries_after_dollar() {
    let server = Server::start(&[]);
    let mut c = server.redis();
    let _: String = q(&mut c, &["XADD", "s", "1-1", "old", "1"]);
    let t = spawn(&server, &["XREAD", "BLOCK", "20000", "STREAMS", "s", "$"]);
    wait_blocked(&mut c, 1);
    // A write to another key does not serve it.
    let _: String = q(&mut c, &["XADD", "other", "1-1", "x", "1"]);
    let _: String = q(&mut c, &["XADD", "s", "2-1", "new", "1"]);
    let v = t.join().unwrap().unwrap();
    let Value::Array(streams) = v else {
        panic!("{v:?}")
    };
    let Value::Array(pair) = &streams[0] else {
        panic!()
    };
    assert_eq!(
        entries(&pair[1]),
        vec![("2-1".to_string(), vec!["new".to_string(), "1".to_string()])]
    );
    // Timeout: null after the BLOCK time.
    let start = Instant::now();
    let v: Value = q(&mut c, &["XREAD", "BLOCK", "150", "STREAMS", "s", "$"]);
    assert_eq!(v, Value::Nil);
    assert!(start.elapsed() >= Duration::from_millis(140));
    // Several keys: the one written serves it.
    let t = spawn(
        &server,
        &["XREAD", "BLOCK", "0", "STREAMS", "a", "b", "$", "$"],
    );
    wait_blocked(&mut c, 1);
    let _: String = q(&mut c, &["XADD", "b", "9-9", "k", "v"]);
    let v = format!("{:?}", t.join().unwrap().unwrap());
    assert!(v.contains("9-9") && v.contains('b'), "{v}");
}

#[test]
fn xreadgroup_block_is_woken_and_delivers_once() {
    let server = Server::start(&[]);
    let mut c = server.redis();
    let _: String = q(&mut c, &["XGROUP", "CREATE", "jobs", "g", "$", "MKSTREAM"]);
    let w1 = spawn(
        &server,
        &[
            "XREADGROUP",
            "GROUP",
            "g",
            "w1",
            "BLOCK",
            "20000",
            "STREAMS",
            "jobs",
            ">",
        ],
    );
    let w2 = spawn(
        &server,
        &[
            "XREADGROUP",
            "GROUP",
            "g",
            "w2",
            "BLOCK",
            "20000",
            "STREAMS",
            "jobs",
            ">",
        ],
    );
    wait_blocked(&mut c, 2);
    let _: String = q(&mut c, &["XADD", "jobs", "1-1", "job", "a"]);
    // Exactly one of them gets it; the other keeps waiting until the next entry.
    let deadline = Instant::now() + common::TIMEOUT;
    while common::blocked_clients(&mut c) != 1 {
        assert!(Instant::now() < deadline, "nobody was served");
        std::thread::sleep(Duration::from_millis(10));
    }
    let _: String = q(&mut c, &["XADD", "jobs", "1-2", "job", "b"]);
    let got: Vec<String> = [w1, w2]
        .into_iter()
        .map(|t| format!("{:?}", t.join().unwrap().unwrap()))
        .collect();
    let a = got.iter().filter(|g| g.contains("1-1")).count();
    let b = got.iter().filter(|g| g.contains("1-2")).count();
    assert_eq!((a, b), (1, 1), "{got:?}");
    let pending: Value = q(&mut c, &["XPENDING", "jobs", "g"]);
    assert!(format!("{pending:?}").contains("int(2)"), "{pending:?}");
}

#[test]
fn consumer_groups_follow_the_key() {
    let server = Server::start(&[]);
    let mut c = server.redis();
    let _: String = q(&mut c, &["XADD", "s", "1-1", "a", "1"]);
    let _: String = q(&mut c, &["XGROUP", "CREATE", "s", "g", "0"]);
    let _: Value = q(
        &mut c,
        &["XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", ">"],
    );
    // Emptying the stream keeps the key and its groups (as Redis).
    let _: i64 = q(&mut c, &["XDEL", "s", "1-1"]);
    let groups: Value = q(&mut c, &["XINFO", "GROUPS", "s"]);
    assert!(format!("{groups:?}").contains("\"g\""), "{groups:?}");
    // DEL, expiry, FLUSHDB and a type change drop them.
    let _: i64 = q(&mut c, &["DEL", "s"]);
    let _: String = q(&mut c, &["XADD", "s", "1-1", "a", "1"]);
    let groups: Value = q(&mut c, &["XINFO", "GROUPS", "s"]);
    assert_eq!(groups, Value::Array(vec![]));
    let _: String = q(&mut c, &["XGROUP", "CREATE", "s", "g", "0"]);
    let _: i64 = q(&mut c, &["PEXPIRE", "s", "50"]);
    let deadline = Instant::now() + common::TIMEOUT;
    while q::<i64>(&mut c, &["EXISTS", "s"]) == 1 {
        assert!(Instant::now() < deadline, "never expired");
        std::thread::sleep(Duration::from_millis(10));
    }
    let _: String = q(&mut c, &["XADD", "s", "1-1", "a", "1"]);
    assert_err(
        &mut c,
        &["XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", ">"],
        "NOGROUP No such key 's' or consumer group 'g' in XREADGROUP with GROUP option",
    );
    let _: String = q(&mut c, &["XGROUP", "CREATE", "s", "g", "0"]);
    let _: String = q(&mut c, &["SET", "s", "now a string"]);
    let _: i64 = q(&mut c, &["DEL", "s"]);
    let _: String = q(&mut c, &["XADD", "s", "1-1", "a", "1"]);
    let groups: Value = q(&mut c, &["XINFO", "GROUPS", "s"]);
    assert_eq!(groups, Value::Array(vec![]));
}

#[test]
fn job_queue_with_dead_consumer_reclaimed() {
    let server = Server::start(&[]);
    let mut c = server.redis();
    let _: String = q(
        &mut c,
        &["XGROUP", "CREATE", "q", "workers", "0", "MKSTREAM"],
    );
    for i in 0..10 {
        let _: String = q(&mut c, &["XADD", "q", "*", "job", &i.to_string()]);
    }
    // The dead consumer takes 4 jobs and never acknowledges them.
    let got: Value = q(
        &mut c,
        &[
            "XREADGROUP",
            "GROUP",
            "workers",
            "dead",
            "COUNT",
            "4",
            "STREAMS",
            "q",
            ">",
        ],
    );
    assert_eq!(format!("{got:?}").matches("\"job\"").count(), 4);
    // A live consumer processes the rest.
    let got: Value = q(
        &mut c,
        &[
            "XREADGROUP",
            "GROUP",
            "workers",
            "live",
            "STREAMS",
            "q",
            ">",
        ],
    );
    let Value::Array(s) = &got else { panic!() };
    let Value::Array(pair) = &s[0] else { panic!() };
    let mine = entries(&pair[1]);
    assert_eq!(mine.len(), 6);
    for (id, _) in &mine {
        let n: i64 = q(&mut c, &["XACK", "q", "workers", id]);
        assert_eq!(n, 1);
    }
    // Not idle long enough: nothing claimed.
    let v: Value = q(
        &mut c,
        &["XAUTOCLAIM", "q", "workers", "live", "3600000", "0"],
    );
    assert_eq!(format!("{v:?}").matches("\"job\"").count(), 0);
    std::thread::sleep(Duration::from_millis(60));
    let v: Value = q(
        &mut c,
        &[
            "XAUTOCLAIM",
            "q",
            "workers",
            "live",
            "50",
            "0",
            "COUNT",
            "10",
        ],
    );
    let Value::Array(parts) = &v else { panic!() };
    let claimed = entries(&parts[1]);
    assert_eq!(claimed.len(), 4, "{v:?}");
    for (id, _) in &claimed {
        let n: i64 = q(&mut c, &["XACK", "q", "workers", id]);
        assert_eq!(n, 1);
    }
    let pending: Value = q(&mut c, &["XPENDING", "q", "workers"]);
    assert_eq!(
        pending,
        Value::Array(vec![Value::Int(0), Value::Nil, Value::Nil, Value::Nil])
    );
    // XINFO STREAM FULL: entries (COUNT), groups with their PEL and consumers.
    let _: Value = q(
        &mut c,
        &[
            "XREADGROUP",
            "GROUP",
            "workers",
            "late",
            "STREAMS",
            "q",
            "0",
        ],
    );
    let _: String = q(&mut c, &["XADD", "q", "*", "job", "10"]);
    let _: Value = q(
        &mut c,
        &[
            "XREADGROUP",
            "GROUP",
            "workers",
            "late",
            "STREAMS",
            "q",
            ">",
        ],
    );
    let full = format!(
        "{:?}",
        q::<Value>(&mut c, &["XINFO", "STREAM", "q", "FULL", "COUNT", "3"])
    );
    for want in ["\"entries\"", "\"pel-count\"", "\"late\"", "\"seen-time\""] {
        assert!(full.contains(want), "{want} missing in {full}");
    }
    assert_eq!(
        full.matches("\"job\"").count(),
        3,
        "COUNT 3 entries: {full}"
    );
}

#[test]
fn kill_9_keeps_acknowledged_entries_and_bookkeeping() {
    let dir = std::env::temp_dir().join(format!(
        "meridian-stream-test-{}-{}",
        std::process::id(),
        Instant::now().elapsed().as_nanos()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let d = dir.to_str().unwrap().to_string();
    let flags = [
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
        "--data-dir",
        &d,
    ];
    let (want, info_before, last) = {
        let mut server = Server::start(&flags);
        let mut c = server.redis();
        let mut last = String::new();
        for i in 0..200 {
            last = q(&mut c, &["XADD", "s", "*", "i", &i.to_string()]);
        }
        let _: i64 = q(&mut c, &["XTRIM", "s", "MAXLEN", "150"]);
        let ids: Vec<String> = xrange(&mut c, "s").into_iter().map(|e| e.0).collect();
        let _: i64 = q(&mut c, &["XDEL", "s", &ids[3], &ids[7]]);
        let _: String = q(&mut c, &["XGROUP", "CREATE", "s", "g", "0"]);
        let want = xrange(&mut c, "s");
        let info: Value = q(&mut c, &["XINFO", "STREAM", "s"]);
        server.child.kill().unwrap(); // SIGKILL
        let _ = server.child.wait();
        (want, info, last)
    };
    let server = Server::start(&flags);
    let mut c = server.redis();
    let deadline = Instant::now() + common::TIMEOUT;
    while xrange(&mut c, "s") != want {
        assert!(Instant::now() < deadline, "stream not recovered");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(want.len(), 148);
    // Same bookkeeping, consumer groups included (they are persisted).
    let info: Value = q(&mut c, &["XINFO", "STREAM", "s"]);
    assert_eq!(info, info_before);
    let next: String = q(&mut c, &["XADD", "s", "*", "after", "restart"]);
    assert!(id_parts(&next) > id_parts(&last));
    let read: Value = q(
        &mut c,
        &[
            "XREADGROUP",
            "GROUP",
            "g",
            "c",
            "COUNT",
            "1",
            "STREAMS",
            "s",
            ">",
        ],
    );
    assert!(format!("{read:?}").contains(&want[0].0), "{read:?}");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn memory_per_entry_is_modest() {
    let server = Server::start(&[]);
    let mut c = server.redis();
    let used = |c: &mut Connection| -> i64 {
        let info: String = q(c, &["INFO", "memory"]);
        info.lines()
            .find_map(|l| l.strip_prefix("used_memory:"))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    let n = 50_000;
    let before = used(&mut c);
    let mut pipe = redis::pipe();
    for i in 0..n {
        pipe.cmd("XADD")
            .arg("s")
            .arg("*")
            .arg("f")
            .arg(i % 10)
            .ignore();
    }
    let _: () = pipe.query(&mut c).unwrap();
    let after = used(&mut c);
    let per = (after - before) as f64 / n as f64;
    // 40 bytes of entry record (in a VecDeque grown by an eighth) plus the 4-byte field
    // block's allocation: measured 45 B/entry for `XADD s * f <digit>`.
    eprintln!("stream memory: {per:.1} bytes per entry ({n} entries)");
    assert!(per < 120.0, "{per} bytes per entry");
}

#[test]
fn random_stream_commands_never_take_the_server_down() {
    // Deterministic pseudo-random command lines from a vocabulary of stream keywords,
    // IDs, numbers and junk: every reply is a reply (error or not) and the server keeps
    // serving.
    let server = Server::start(&[]);
    let mut c = server.redis();
    let cmds = [
        "XADD",
        "XRANGE",
        "XREVRANGE",
        "XLEN",
        "XDEL",
        "XTRIM",
        "XSETID",
        "XREAD",
        "XREADGROUP",
        "XGROUP",
        "XACK",
        "XPENDING",
        "XCLAIM",
        "XAUTOCLAIM",
        "XINFO",
    ];
    let words = [
        "s",
        "g",
        "c",
        "*",
        "$",
        ">",
        "+",
        "-",
        "(1-1",
        "(18446744073709551615-18446744073709551615",
        "0",
        "0-0",
        "1-1",
        "2-*",
        "18446744073709551615-18446744073709551615",
        "-1",
        "99999999999999999999",
        "MAXLEN",
        "MINID",
        "~",
        "=",
        "LIMIT",
        "NOMKSTREAM",
        "COUNT",
        "BLOCK",
        "STREAMS",
        "GROUP",
        "NOACK",
        "CREATE",
        "SETID",
        "DESTROY",
        "CREATECONSUMER",
        "DELCONSUMER",
        "MKSTREAM",
        "ENTRIESREAD",
        "IDLE",
        "TIME",
        "RETRYCOUNT",
        "FORCE",
        "JUSTID",
        "LASTID",
        "STREAM",
        "GROUPS",
        "CONSUMERS",
        "FULL",
        "f",
        "v",
        "",
        "\u{e9}",
    ];
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = |n: usize| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x % n as u64) as usize
    };
    let _: String = q(&mut c, &["XADD", "s", "1-1", "f", "v"]);
    let _: String = q(&mut c, &["XGROUP", "CREATE", "s", "g", "0"]);
    for _ in 0..3000 {
        let mut k = redis::cmd(cmds[next(cmds.len())]);
        let n = next(9);
        for _ in 0..n {
            let w = words[next(words.len())];
            // BLOCK goes out as the junk word `BLOCK 1`: no command blocks.
            k.arg(if w == "BLOCK" { "BLOCK 1" } else { w });
        }
        let _ = k.query::<Value>(&mut c);
    }
    let pong: String = q(&mut c, &["PING"]);
    assert_eq!(pong, "PONG");
}

/// A consumer group delivers an entry from another region that arrives after the group
/// delivered a higher ID (found by the jepsen stream workload): region 2 adds `150-1`
/// while stopped before shipping it (its `everysec` persistence ships own ops after the
/// sync), region 1 meanwhile delivers `100-1` and `200-1`; once `150-1` arrives, `>`
/// delivers it, once.
#[test]
fn a_group_delivers_entries_that_arrive_late_from_another_region() {
    let (dir, r1, r2) = common::two_regions(
        "stream-late",
        &[],
        &["--appendonly", "yes", "--appendfsync", "everysec"],
    );
    let (mut c1, mut c2) = (r1.redis(), r2.redis());
    let signal = |pid: u32, sig: libc::c_int| {
        // SAFETY: kill(2) on our own child's pid.
        assert_eq!(unsafe { libc::kill(pid as libc::pid_t, sig) }, 0);
    };
    let read = |c: &mut Connection, key: &str| -> String {
        let v: Value = q(
            c,
            &[
                "XREADGROUP",
                "GROUP",
                "g",
                "c",
                "COUNT",
                "10",
                "STREAMS",
                key,
                ">",
            ],
        );
        format!("{v:?}")
    };
    let mut scenario_ran = false;
    for attempt in 0..5 {
        let key = format!("late{attempt}");
        let _: String = q(&mut c1, &["XADD", &key, "100-1", "a", "1"]);
        let deadline = Instant::now() + common::TIMEOUT;
        while q::<i64>(&mut c2, &["XLEN", &key]) != 1 {
            assert!(Instant::now() < deadline, "region 2 never got 100-1");
            std::thread::sleep(Duration::from_millis(10));
        }
        let _: String = q(&mut c1, &["XGROUP", "CREATE", &key, "g", "0"]);
        let _: String = q(&mut c2, &["XADD", &key, "150-1", "b", "2"]);
        signal(r2.child.id(), libc::SIGSTOP);
        let _: String = q(&mut c1, &["XADD", &key, "200-1", "c", "3"]);
        let first = read(&mut c1, &key);
        signal(r2.child.id(), libc::SIGCONT);
        if first.contains("150-1") {
            continue; // region 2 synced and shipped before it stopped: try again
        }
        assert!(
            first.contains("100-1") && first.contains("200-1"),
            "{first}"
        );
        let deadline = Instant::now() + common::TIMEOUT;
        while !xrange(&mut c1, &key).iter().any(|e| e.0 == "150-1") {
            assert!(Instant::now() < deadline, "region 1 never got 150-1");
            std::thread::sleep(Duration::from_millis(10));
        }
        let late = read(&mut c1, &key);
        assert!(
            late.contains("150-1"),
            "the late entry is delivered: {late}"
        );
        assert!(!late.contains("100-1") && !late.contains("200-1"), "{late}");
        let again = read(&mut c1, &key);
        assert!(!again.contains("150-1"), "delivered once: {again}");
        let pending: Vec<Value> = q(&mut c1, &["XPENDING", &key, "g"]);
        assert_eq!(pending[0], Value::Int(3), "{pending:?}");
        scenario_ran = true;
        break;
    }
    assert!(
        scenario_ran,
        "region 2 shipped its entry before it was stopped in every attempt"
    );
    drop((c1, c2, r1, r2));
    let _ = std::fs::remove_dir_all(&dir);
}
