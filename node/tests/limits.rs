//! Limits and protections against the real binary: protected mode, client
//! output buffer limits (a subscriber that never reads while a publisher
//! floods) and their bad input, maxmemory (`-OOM`). Each test checks that the
//! other clients keep being served.

mod common;

use std::time::{Duration, Instant};

use common::{call, info_field, raise_own_nofile, two_regions, Server, TIMEOUT};

#[test]
fn protected_mode_serves_loopback_clients_and_is_configurable() {
    // Tests may only use loopback addresses, so the refusal of a non-loopback peer
    // (the `-DENIED` text and close) is covered by the decision unit test in
    // `server/protected.rs`, which the listener calls for every accepted connection.
    // Here: the real server with protected mode on still serves loopback clients, and
    // the setting behaves like Redis' over CONFIG.
    let server = Server::start(&[]);
    let mut local = server.raw();
    assert_eq!(call(&mut local, &["PING"]), "+PONG");
    assert_eq!(
        call(&mut local, &["CONFIG", "GET", "protected-mode"]),
        "[$protected-mode, $yes]"
    );
    assert_eq!(
        call(&mut local, &["CONFIG", "SET", "protected-mode", "no"]),
        "+OK"
    );
    assert_eq!(
        call(&mut local, &["CONFIG", "GET", "protected-mode"]),
        "[$protected-mode, $no]"
    );
    assert_eq!(
        call(&mut local, &["CONFIG", "SET", "protected-mode", "yes"]),
        "+OK"
    );
    // A password for the default user: loopback clients must AUTH like everyone else.
    assert_eq!(
        call(&mut local, &["CONFIG", "SET", "requirepass", "pw"]),
        "+OK"
    );
    let mut r = server.raw();
    assert_eq!(call(&mut r, &["PING"]), "-NOAUTH Authentication required.");
    assert_eq!(call(&mut r, &["AUTH", "pw"]), "+OK");
    assert_eq!(call(&mut r, &["PING"]), "+PONG");
    assert_eq!(
        call(&mut local, &["CONFIG", "SET", "protected-mode", "maybe"]),
        "-ERR CONFIG SET failed (possibly related to argument 'protected-mode') - argument must be 'yes' or 'no'"
    );
    assert_eq!(call(&mut local, &["PING"]), "+PONG");
}

#[test]
fn flooded_subscriber_that_never_reads_is_cut_and_memory_stays_bounded() {
    let server = Server::start(&["--client-output-buffer-limit", "pubsub 1mb 0 0"]);
    let mut slow = server.raw();
    assert_eq!(
        call(&mut slow, &["SUBSCRIBE", "flood"]),
        "[$subscribe, $flood, :1]"
    );
    let mut bystander = server.raw();
    let mut publisher = server.raw();
    let rss_before = info_field(&mut bystander, "memory", "used_memory_rss");
    let payload = "p".repeat(64 * 1024);
    // 3000 x 64 KiB = 192 MiB published in total; the slow subscriber never reads.
    let mut receivers_after = None;
    for i in 0..3000 {
        let n = call(&mut publisher, &["PUBLISH", "flood", &payload]);
        if n == ":0" && receivers_after.is_none() {
            receivers_after = Some(i);
        }
        if i % 100 == 0 {
            // Everyone else is served normally during the flood.
            assert_eq!(call(&mut bystander, &["SET", "k", &i.to_string()]), "+OK");
            assert_eq!(call(&mut bystander, &["GET", "k"]), format!("${i}"));
        }
    }
    let cut_at = receivers_after.expect("the slow subscriber was never disconnected");
    assert!(cut_at < 1000, "cut only after {cut_at} messages");
    assert_eq!(
        info_field(
            &mut bystander,
            "stats",
            "client_output_buffer_limit_disconnections"
        ),
        1
    );
    let rss_after = info_field(&mut bystander, "memory", "used_memory_rss");
    assert!(
        rss_after < rss_before + 64 * 1024 * 1024,
        "memory grew from {rss_before} to {rss_after} bytes"
    );
    // The slow client's connection is closed once what was already sent is read.
    slow.set_read_timeout(Some(TIMEOUT)).unwrap();
    let mut buf = vec![0u8; 1 << 16];
    let deadline = Instant::now() + TIMEOUT;
    loop {
        assert!(Instant::now() < deadline, "slow subscriber not closed");
        match std::io::Read::read(&mut slow, &mut buf) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("{e}"),
        }
    }
}

#[test]
fn soft_limit_cuts_a_subscriber_that_stays_over_it() {
    let server = Server::start(&["--client-output-buffer-limit", "pubsub 0 256kb 1"]);
    let mut slow = server.raw();
    assert_eq!(call(&mut slow, &["SUBSCRIBE", "c"]), "[$subscribe, $c, :1]");
    let mut publisher = server.raw();
    let payload = "s".repeat(32 * 1024);
    let deadline = Instant::now() + TIMEOUT;
    let mut published = 0;
    // Over the soft limit it survives for a while, then is cut once the
    // limit has been exceeded for more than a second.
    loop {
        assert!(Instant::now() < deadline, "never cut at the soft limit");
        let n = call(&mut publisher, &["PUBLISH", "c", &payload]);
        published += 1;
        if n == ":0" {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        published > 20,
        "cut after {published} messages: before the soft time"
    );
    assert_eq!(call(&mut publisher, &["PING"]), "+PONG");
}

#[test]
fn output_buffer_limit_config_is_validated() {
    let server = Server::start(&[]);
    let mut c = server.raw();
    let failed = |why: &str| {
        format!(
            "-ERR CONFIG SET failed (possibly related to argument 'client-output-buffer-limit') - {why}"
        )
    };
    for (spec, why) in [
        (
            "normal 1mb",
            "Wrong number of arguments in buffer limit configuration.",
        ),
        (
            "bogus 1mb 0 0",
            "Invalid client class specified in buffer limit configuration.",
        ),
        (
            "normal x 0 0",
            "Error in hard, soft or soft_seconds setting in buffer limit configuration.",
        ),
        (
            "pubsub 1mb 1mb -1",
            "Error in hard, soft or soft_seconds setting in buffer limit configuration.",
        ),
    ] {
        assert_eq!(
            call(
                &mut c,
                &["CONFIG", "SET", "client-output-buffer-limit", spec]
            ),
            failed(why),
            "{spec}"
        );
    }
    assert_eq!(
        call(
            &mut c,
            &[
                "CONFIG",
                "SET",
                "client-output-buffer-limit",
                "normal 2mb 1mb 10 pubsub 4mb 2mb 30"
            ]
        ),
        "+OK"
    );
    assert_eq!(
        call(&mut c, &["CONFIG", "GET", "client-output-buffer-limit"]),
        "[$client-output-buffer-limit, $normal 2097152 1048576 10 slave 268435456 67108864 60 pubsub 4194304 2097152 30]"
    );
    // Applied at run time: a reply over the new normal hard limit closes that client only.
    let mut big = server.raw();
    let value = "v".repeat(3 << 20);
    assert_eq!(call(&mut c, &["SET", "big", &value]), "+OK");
    common::send(&mut big, &common::encode(&["GET", "big"]));
    let got = common::read_to_close(&mut big);
    assert!(
        got.len() < 3 << 20,
        "the reply was not cut ({} bytes)",
        got.len()
    );
    assert_eq!(call(&mut c, &["STRLEN", "big"]), format!(":{}", 3 << 20));
    for (key, value, why) in [
        (
            "maxclients",
            "0",
            "argument must be between 1 and 1000000 inclusive",
        ),
        (
            "maxclients",
            "x",
            "argument couldn't be parsed into an integer",
        ),
        (
            "proto-max-bulk-len",
            "1kb",
            "argument must be between 1048576 and 9223372036854775807 inclusive",
        ),
        (
            "client-query-buffer-limit",
            "lots",
            "argument must be a memory value",
        ),
    ] {
        assert_eq!(
            call(&mut c, &["CONFIG", "SET", key, value]),
            format!("-ERR CONFIG SET failed (possibly related to argument '{key}') - {why}")
        );
    }
}

#[test]
fn request_size_limits_close_only_the_offender() {
    let server = Server::start(&[]);
    let mut bystander = server.raw();
    let cases: [(Vec<u8>, &str); 3] = [
        // One element over the 1,048,576 multibulk limit.
        (
            b"*1048577\r\n".to_vec(),
            "-ERR Protocol error: invalid multibulk length\r\n",
        ),
        // An inline request longer than 64 KiB without its newline.
        (
            vec![b'a'; 70 * 1024],
            "-ERR Protocol error: too big inline request\r\n",
        ),
        // A multibulk header line longer than 64 KiB.
        (
            [b"*".as_slice(), &[b'1'; 70 * 1024]].concat(),
            "-ERR Protocol error: too big mbulk count string\r\n",
        ),
    ];
    for (input, expected) in cases {
        let mut s = server.raw();
        common::send(&mut s, &input);
        let got = common::read_to_close(&mut s);
        assert_eq!(String::from_utf8_lossy(&got), expected);
        assert_eq!(call(&mut bystander, &["PING"]), "+PONG");
    }
    assert_eq!(
        info_field(&mut bystander, "stats", "total_error_replies"),
        3
    );
}

const OOM: &str = "-OOM command not allowed when used memory > 'maxmemory'.";

#[test]
fn maxmemory_refuses_growing_writes_but_serves_reads_and_deletes() {
    let server = Server::start(&[]);
    let mut w = server.raw();
    let mut other = server.raw();
    assert_eq!(
        call(&mut w, &["CONFIG", "GET", "maxmemory*"]),
        "[$maxmemory, $0, $maxmemory-policy, $noeviction, $maxmemory-samples, $5]"
    );
    assert_eq!(call(&mut w, &["SET", "small", "1"]), "+OK");
    assert_eq!(call(&mut w, &["HSET", "h", "f", "v"]), ":1");
    let used = info_field(&mut w, "memory", "used_memory");
    let rss = info_field(&mut w, "memory", "used_memory_rss");
    assert!(used > 0 && used < rss * 2, "used_memory {used}, rss {rss}");
    let limit = used + 8 * 1024 * 1024;
    assert_eq!(
        call(&mut w, &["CONFIG", "SET", "maxmemory", &limit.to_string()]),
        "+OK"
    );
    assert_eq!(info_field(&mut w, "memory", "maxmemory"), limit);
    // Fill with 256 KiB values until refused: bounded (the limit is 8 MiB away).
    let value = "m".repeat(256 * 1024);
    let mut stored = 0;
    loop {
        let r = call(&mut w, &["SET", &format!("big:{stored}"), &value]);
        if r == OOM {
            break;
        }
        assert_eq!(r, "+OK");
        stored += 1;
        assert!(stored < 200, "never refused at maxmemory {limit}");
    }
    assert!(stored >= 8, "refused after only {stored} values");
    // Every command that may grow memory is refused, for every client...
    for cmd in [
        vec!["SET", "x", "1"],
        vec!["APPEND", "small", "x"],
        vec!["HSET", "h", "g", "v"],
        vec!["SADD", "s", "m"],
        vec!["ZADD", "z", "1", "m"],
        vec!["INCR", "n"],
    ] {
        assert_eq!(call(&mut other, &cmd), OOM, "{cmd:?}");
    }
    // ...while reads, deletes and other writes that cannot grow memory work.
    assert_eq!(call(&mut other, &["GET", "small"]), "$1");
    assert_eq!(call(&mut other, &["HGET", "h", "f"]), "$v");
    assert_eq!(call(&mut other, &["EXPIRE", "small", "1000"]), ":1");
    assert_eq!(call(&mut other, &["HDEL", "h", "f"]), ":1");
    assert_eq!(call(&mut other, &["DEL", "small"]), ":1");
    assert_eq!(call(&mut other, &["PING"]), "+PONG");
    // Inside MULTI every queued command is refused, and the transaction aborts.
    assert_eq!(call(&mut other, &["MULTI"]), "+OK");
    assert_eq!(call(&mut other, &["GET", "x"]), OOM);
    assert_eq!(
        call(&mut other, &["EXEC"]),
        "-EXECABORT Transaction discarded because of previous errors."
    );
    // Deleting frees memory: writes are accepted again.
    for i in 0..stored {
        assert_eq!(call(&mut w, &["DEL", &format!("big:{i}")]), ":1");
    }
    let deadline = Instant::now() + TIMEOUT;
    while call(&mut w, &["SET", "x", "1"]) != "+OK" {
        assert!(Instant::now() < deadline, "memory not released after DEL");
        std::thread::sleep(Duration::from_millis(50));
    }
    // A transaction queued under the limit is refused at EXEC once over it.
    assert_eq!(call(&mut other, &["MULTI"]), "+OK");
    assert_eq!(call(&mut other, &["SET", "q", "1"]), "+QUEUED");
    assert_eq!(call(&mut w, &["CONFIG", "SET", "maxmemory", "1"]), "+OK");
    assert_eq!(
        call(&mut other, &["EXEC"]),
        format!("-EXECABORT Transaction discarded because of: {}", &OOM[1..])
    );
    assert_eq!(call(&mut other, &["EXISTS", "q"]), ":0");
    assert_eq!(call(&mut w, &["CONFIG", "SET", "maxmemory", "0"]), "+OK");
    assert_eq!(call(&mut other, &["SET", "q", "1"]), "+OK");
    // Bad values.
    let failed = |key: &str, why: &str| {
        format!("-ERR CONFIG SET failed (possibly related to argument '{key}') - {why}")
    };
    assert_eq!(
        call(&mut w, &["CONFIG", "SET", "maxmemory", "lots"]),
        failed("maxmemory", "argument must be a memory value")
    );
    assert_eq!(
        call(
            &mut w,
            &["CONFIG", "SET", "maxmemory-policy", "allkeys-mru"]
        ),
        failed(
            "maxmemory-policy",
            "argument(s) must be one of the following: noeviction, allkeys-random, volatile-ttl, allkeys-lru, volatile-lru, allkeys-lfu, volatile-lfu"
        )
    );
}

#[test]
fn replication_keeps_applying_over_maxmemory() {
    let (dir, r1, r2) = two_regions("limits", &[], &["--maxmemory", "1"]);
    let mut a = r1.raw();
    let mut b = r2.raw();
    assert_eq!(call(&mut b, &["SET", "k", "local"]), OOM);
    assert_eq!(call(&mut a, &["SET", "k", "from-region-1"]), "+OK");
    assert_eq!(call(&mut a, &["SADD", "s", "a", "b"]), ":2");
    let deadline = Instant::now() + Duration::from_secs(20);
    while call(&mut b, &["GET", "k"]) != "$from-region-1" || call(&mut b, &["SCARD", "s"]) != ":2" {
        assert!(
            Instant::now() < deadline,
            "region 2 over maxmemory stopped applying"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // A delete in the region over its limit is allowed and replicates back.
    assert_eq!(call(&mut b, &["DEL", "k"]), ":1");
    while call(&mut a, &["EXISTS", "k"]) != ":0" {
        assert!(Instant::now() < deadline, "the delete did not replicate");
        std::thread::sleep(Duration::from_millis(50));
    }
    drop((r1, r2));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn eviction_policies_delete_keys_through_the_replicated_write_path() {
    let (dir, r1, r2) = two_regions("evict", &[], &[]);
    let mut a = r1.raw();
    let mut b = r2.raw();
    assert_eq!(call(&mut a, &["SET", "keep", "1"]), "+OK");
    let value = "e".repeat(1 << 20);
    for i in 0..16 {
        assert_eq!(call(&mut a, &["SET", &format!("big:{i}"), &value]), "+OK");
    }
    // Region 2 has everything: no replication buffers in flight any more.
    let deadline = Instant::now() + Duration::from_secs(20);
    while call(&mut b, &["DBSIZE"]) != ":17" {
        assert!(Instant::now() < deadline, "region 2 never got the writes");
        std::thread::sleep(Duration::from_millis(50));
    }
    // Over the limit by about 4 values: the next write evicts to make room. (The
    // in-memory op log also counts, and is trimmed once region 2's acks arrive, so the
    // limit is set from the use once it has settled.)
    let mut used = info_field(&mut a, "memory", "used_memory");
    loop {
        std::thread::sleep(Duration::from_millis(500));
        let now = info_field(&mut a, "memory", "used_memory");
        if now.abs_diff(used) < 256 << 10 {
            used = now;
            break;
        }
        used = now;
        assert!(Instant::now() < deadline, "used memory never settled");
    }
    let limit = (used - (4 << 20)).to_string();
    assert_eq!(
        call(
            &mut a,
            &[
                "CONFIG",
                "SET",
                "maxmemory",
                &limit,
                "maxmemory-policy",
                "allkeys-random"
            ]
        ),
        "+OK"
    );
    assert_eq!(call(&mut a, &["SET", "new", "1"]), "+OK");
    let evicted = info_field(&mut a, "stats", "evicted_keys");
    let dbsize: u64 = call(&mut a, &["DBSIZE"])[1..].parse().unwrap();
    assert!((1..18).contains(&evicted), "evicted {evicted}");
    assert_eq!(dbsize + evicted, 18, "dbsize {dbsize}, evicted {evicted}");
    // The evictions are deletes like any other: region 2 converges to the same keys.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mut ka = call(&mut a, &["KEYS", "*"]);
        let mut kb = call(&mut b, &["KEYS", "*"]);
        if ka.len() == kb.len() {
            let sort = |s: &mut String| {
                let mut v: Vec<&str> = s
                    .trim_matches(|c| c == '[' || c == ']')
                    .split(", ")
                    .collect();
                v.sort();
                *s = v.join(",");
            };
            sort(&mut ka);
            sort(&mut kb);
            if ka == kb {
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "regions did not converge:\n{ka}\n{kb}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    drop((r1, r2));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn volatile_ttl_evicts_the_keys_expiring_soonest_and_then_refuses() {
    let server = Server::start(&[]);
    let mut c = server.raw();
    let value = "v".repeat(1 << 20);
    for i in 0..8 {
        // big:0 expires soonest.
        let ttl = (1000 + i).to_string();
        assert_eq!(
            call(&mut c, &["SET", &format!("big:{i}"), &value, "EX", &ttl]),
            "+OK"
        );
    }
    assert_eq!(call(&mut c, &["SET", "forever", "1"]), "+OK");
    let used = info_field(&mut c, "memory", "used_memory");
    let limit = (used - (3 << 20)).to_string();
    assert_eq!(
        call(
            &mut c,
            &[
                "CONFIG",
                "SET",
                "maxmemory-policy",
                "volatile-ttl",
                "maxmemory",
                &limit
            ]
        ),
        "+OK"
    );
    assert_eq!(call(&mut c, &["SET", "new", "1"]), "+OK");
    let evicted = info_field(&mut c, "stats", "evicted_keys");
    assert!((1..8).contains(&evicted), "evicted {evicted}");
    for i in 0..8 {
        let exists = call(&mut c, &["EXISTS", &format!("big:{i}")]);
        assert_eq!(exists, if i < evicted { ":0" } else { ":1" }, "big:{i}");
    }
    // With no key left to evict it refuses like noeviction.
    assert_eq!(call(&mut c, &["CONFIG", "SET", "maxmemory", "1"]), "+OK");
    assert_eq!(call(&mut c, &["SET", "x", "1"]), OOM);
    assert_eq!(call(&mut c, &["GET", "forever"]), "$1");
    assert_eq!(call(&mut c, &["DBSIZE"]), ":2");
}

#[test]
fn ten_thousand_idle_connections_are_held_and_others_are_served() {
    // The client side of the test needs one descriptor per connection too: it uses
    // 10,000 when this process may open that many (it never goes below 900).
    let limit = raise_own_nofile(10_300);
    let n = 10_000.min(limit.saturating_sub(300) as usize);
    assert!(
        n >= 900,
        "open-files hard limit too low for this test ({limit})"
    );
    // maxclients counts the admin and probe connections too.
    let server = Server::start(&["--maxclients", "10050"]);
    let mut admin = server.raw();
    let rss_before = info_field(&mut admin, "memory", "used_memory_rss");
    let mut idle = Vec::with_capacity(n);
    for i in 0..n {
        match std::net::TcpStream::connect(("127.0.0.1", server.port)) {
            Ok(s) => idle.push(s),
            Err(e) => panic!("connection {i} of {n} refused: {e}"),
        }
    }
    // Every connection is admitted (the server raised its own limit for maxclients).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let connected = info_field(&mut admin, "clients", "connected_clients") as usize;
        if connected > n {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "only {connected} of {n} + 1 clients connected"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // A fresh client and a few of the idle ones are served normally.
    assert_eq!(call(&mut server.raw(), &["PING"]), "+PONG");
    for s in idle.iter_mut().step_by(n / 7) {
        s.set_read_timeout(Some(TIMEOUT)).unwrap();
        assert_eq!(call(s, &["PING"]), "+PONG");
    }
    let rss_after = info_field(&mut admin, "memory", "used_memory_rss");
    let per_conn = rss_after.saturating_sub(rss_before) / n as u64;
    eprintln!("{n} idle connections: {per_conn} bytes of RSS each");
    assert!(
        per_conn < 64 * 1024,
        "an idle connection costs {per_conn} bytes of server memory"
    );
    drop(idle);
    let deadline = Instant::now() + Duration::from_secs(30);
    while info_field(&mut admin, "clients", "connected_clients") > 1 {
        assert!(
            Instant::now() < deadline,
            "closed connections were not released"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
