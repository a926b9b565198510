//! Blocking commands (BZPOPMIN, BZPOPMAX, BZMPOP) and the blocking machinery through
//! redis-rs and raw RESP against the real binary: wake-up by another client's write,
//! timeouts, MULTI, CLIENT KILL, disconnection, FIFO fairness, INFO / CLIENT LIST.

mod common;

use std::{
    net::TcpStream,
    thread,
    time::{Duration, Instant},
};

use common::{
    blocked_clients, bulk, read_exact, read_to_close, roundtrip, send, spawn, wait_blocked, Server,
};
use redis::{cmd, Connection, FromRedisValue, Value};

const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

fn q<T: FromRedisValue>(c: &mut Connection, args: &[&str]) -> T {
    let mut k = cmd(args[0]);
    for a in &args[1..] {
        k.arg(*a);
    }
    k.query(c)
        .unwrap_or_else(|e| panic!("{args:?} failed: {e}"))
}

fn err(c: &mut Connection, args: &[&str]) -> String {
    let mut k = cmd(args[0]);
    for a in &args[1..] {
        k.arg(*a);
    }
    match k.query::<Value>(c) {
        Err(e) => format!("{} {}", e.code().unwrap_or("?"), e.detail().unwrap_or("")),
        Ok(v) => panic!("{args:?} should fail, got {v:?}"),
    }
}

fn v(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// INFO commandstats `calls` of a command.
fn calls(c: &mut Connection, name: &str) -> i64 {
    let info: String = q(c, &["INFO", "commandstats"]);
    let prefix = format!("cmdstat_{name}:calls=");
    info.lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .map(|rest| rest.split(',').next().unwrap().parse().unwrap())
        .unwrap_or(0)
}

fn triple(key: &str, member: &str, score: &str) -> Value {
    Value::Array(vec![bulk(key), bulk(member), bulk(score)])
}

#[test]
fn serves_at_once_when_a_member_is_there() {
    let server = Server::start(&[]);
    let c = &mut server.redis();
    q::<i64>(c, &["ZADD", "z", "1", "a", "2", "b", "3", "c"]);
    assert_eq!(
        q::<Value>(c, &["BZPOPMIN", "z", "0"]),
        triple("z", "a", "1")
    );
    assert_eq!(
        q::<Value>(c, &["BZPOPMAX", "z", "1"]),
        triple("z", "c", "3")
    );
    // Keys in order: missing keys are skipped.
    q::<i64>(c, &["ZADD", "y", "5", "m"]);
    assert_eq!(
        q::<Value>(c, &["BZPOPMIN", "nokey", "y", "z", "0"]),
        triple("y", "m", "5")
    );
    // The last member deletes the key.
    assert_eq!(
        q::<Value>(c, &["BZPOPMAX", "z", "0"]),
        triple("z", "b", "2")
    );
    assert_eq!(q::<i64>(c, &["EXISTS", "z", "y"]), 0);
    assert_eq!(blocked_clients(c), 0);
}

#[test]
fn errors() {
    let server = Server::start(&[]);
    let c = &mut server.redis();
    q::<()>(c, &["SET", "s", "x"]);
    for (args, want) in [
        (&["BZPOPMIN", "z", "-1"][..], "ERR timeout is negative"),
        (&["BZPOPMIN", "z", "inf"], "ERR timeout is negative"),
        (&["BZPOPMAX", "z", "1e16"], "ERR timeout is negative"),
        (
            &["BZPOPMIN", "z", "abc"],
            "ERR timeout is not a float or out of range",
        ),
        (
            &["BZPOPMAX", "z", "nan"],
            "ERR timeout is not a float or out of range",
        ),
        (
            &["BZPOPMIN", "z"],
            "ERR wrong number of arguments for 'bzpopmin' command",
        ),
        (&["BZPOPMIN", "s", "0"], WRONGTYPE),
        (&["BZPOPMIN", "nokey", "s", "0"], WRONGTYPE),
        (
            &["BZMPOP", "0", "0", "z", "MIN"],
            "ERR numkeys should be greater than 0",
        ),
        (
            &["BZMPOP", "x", "1", "z", "MIN"],
            "ERR timeout is not a float or out of range",
        ),
        (&["BZMPOP", "0", "2", "z", "MIN"], "ERR syntax error"),
        (&["BZMPOP", "0", "1", "z", "MIDDLE"], "ERR syntax error"),
        (
            &["BZMPOP", "0", "1", "z", "MIN", "COUNT", "0"],
            "ERR count should be greater than 0",
        ),
        (
            &["BZMPOP", "-1", "1", "z", "MIN", "COUNT", "0"],
            "ERR count should be greater than 0",
        ),
        (
            &["BZMPOP", "0", "1", "z", "MIN", "COUNT", "1", "COUNT", "1"],
            "ERR syntax error",
        ),
        (&["BZMPOP", "0", "2", "nokey", "s", "MAX"], WRONGTYPE),
        (
            &["ZMPOP", "1", "z"],
            "ERR wrong number of arguments for 'zmpop' command",
        ),
        (
            &["ZMPOP", "x", "z", "MIN"],
            "ERR numkeys should be greater than 0",
        ),
        (
            &["ZMPOP", "9223372036854775807", "z", "MIN"],
            "ERR syntax error",
        ),
        (&["ZMPOP", "1", "z", "MIN", "COUNT"], "ERR syntax error"),
        (&["ZMPOP", "1", "s", "MIN"], WRONGTYPE),
    ] {
        let e = err(c, args);
        assert!(e.starts_with(want), "{args:?}: {e:?}, want {want:?}");
    }
    // A failing command waits for nothing and writes nothing.
    assert_eq!(blocked_clients(c), 0);
    assert_eq!(q::<String>(c, &["GET", "s"]), "x");
}

#[test]
fn zmpop_and_bzmpop() {
    let server = Server::start(&[]);
    let c = &mut server.redis();
    q::<i64>(c, &["ZADD", "z", "1", "a", "2", "b", "3", "c"]);
    let pairs = |key: &str, items: &[(&str, &str)]| {
        Value::Array(vec![
            bulk(key),
            Value::Array(
                items
                    .iter()
                    .map(|(m, s)| Value::Array(vec![bulk(m), bulk(s)]))
                    .collect(),
            ),
        ])
    };
    assert_eq!(
        q::<Value>(c, &["ZMPOP", "1", "z", "MIN"]),
        pairs("z", &[("a", "1")])
    );
    assert_eq!(
        q::<Value>(c, &["ZMPOP", "2", "nokey", "z", "max", "count", "5"]),
        pairs("z", &[("c", "3"), ("b", "2")])
    );
    assert_eq!(q::<Value>(c, &["ZMPOP", "1", "z", "MIN"]), Value::Nil);
    assert_eq!(
        q::<Value>(c, &["BZMPOP", "0.05", "1", "z", "MIN"]),
        Value::Nil
    );
    // BZMPOP blocks, and is served COUNT members by one write.
    let waiter = spawn(
        &server,
        &["BZMPOP", "5", "2", "z", "y", "MAX", "COUNT", "2"],
    );
    wait_blocked(c, 1);
    q::<i64>(c, &["ZADD", "y", "1", "p", "2", "q", "3", "r"]);
    assert_eq!(
        waiter.join().unwrap().unwrap(),
        pairs("y", &[("r", "3"), ("q", "2")])
    );
    assert_eq!(q::<Vec<String>>(c, &["ZRANGE", "y", "0", "-1"]), v(&["p"]));
}

#[test]
fn blocks_until_another_client_writes() {
    let server = Server::start(&[]);
    let c = &mut server.redis();
    let start = Instant::now();
    let waiter = spawn(&server, &["BZPOPMIN", "z1", "z2", "5"]);
    wait_blocked(c, 1);
    // The blocked client shows in CLIENT LIST with flag b.
    let list: String = q(c, &["CLIENT", "LIST"]);
    assert!(
        list.lines()
            .any(|l| l.contains("flags=b ") && l.contains("cmd=bzpopmin")),
        "{list}"
    );
    let info: String = q(c, &["INFO", "clients"]);
    assert!(info.contains("total_blocking_keys:2"), "{info}");
    // Writes to other keys or other types do not serve it.
    q::<i64>(c, &["ZADD", "other", "1", "x"]);
    q::<()>(c, &["SET", "z1", "string"]);
    thread::sleep(Duration::from_millis(50));
    assert_eq!(blocked_clients(c), 1);
    q::<i64>(c, &["DEL", "z1"]);
    q::<i64>(c, &["ZADD", "z2", "7", "m", "8", "n"]);
    assert_eq!(waiter.join().unwrap().unwrap(), triple("z2", "m", "7"));
    assert!(start.elapsed() < Duration::from_secs(5));
    // Blocked, woken for nothing twice (SET, DEL), served: one call.
    assert_eq!(calls(c, "bzpopmin"), 1);
    assert_eq!(q::<Vec<String>>(c, &["ZRANGE", "z2", "0", "-1"]), v(&["n"]));
    assert_eq!(blocked_clients(c), 0);
    let info: String = q(c, &["INFO", "clients"]);
    assert!(info.contains("total_blocking_keys:0"), "{info}");
    // BZPOPMAX likewise, woken by a write in a transaction.
    let waiter = spawn(&server, &["BZPOPMAX", "z3", "5"]);
    wait_blocked(c, 1);
    q::<()>(c, &["MULTI"]);
    q::<()>(c, &["ZADD", "z3", "1", "lo"]);
    q::<()>(c, &["ZADD", "z3", "9", "hi"]);
    q::<Value>(c, &["EXEC"]);
    assert_eq!(waiter.join().unwrap().unwrap(), triple("z3", "hi", "9"));
}

#[test]
fn timeout_answers_null() {
    let server = Server::start(&[]);
    let c = &mut server.redis();
    let start = Instant::now();
    assert_eq!(q::<Value>(c, &["BZPOPMIN", "z", "0.2"]), Value::Nil);
    let took = start.elapsed();
    assert!(took >= Duration::from_millis(190), "{took:?}");
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert_eq!(blocked_clients(c), 0);
    assert_eq!(calls(c, "bzpopmin"), 1);
    // The connection is usable afterwards.
    assert_eq!(q::<String>(c, &["PING"]), "PONG");
    // Raw shapes: RESP2 null array, RESP3 null; a served reply has a RESP3 double.
    let mut s = server.raw();
    roundtrip(
        &mut s,
        b"*3\r\n$8\r\nBZPOPMAX\r\n$1\r\nz\r\n$4\r\n0.05\r\n",
        b"*-1\r\n",
    );
    send(&mut s, b"HELLO 3\r\n");
    let mut hello = Vec::new();
    while !hello.ends_with(b"modules\r\n*0\r\n") {
        hello.extend(read_exact(&mut s, 1));
    }
    roundtrip(
        &mut s,
        b"*3\r\n$8\r\nBZPOPMIN\r\n$1\r\nz\r\n$4\r\n0.05\r\n",
        b"_\r\n",
    );
    roundtrip(&mut s, b"ZADD z 1.5 a\r\n", b":1\r\n");
    roundtrip(
        &mut s,
        b"BZPOPMIN z 0\r\n",
        b"*3\r\n$1\r\nz\r\n$1\r\na\r\n,1.5\r\n",
    );
}

#[test]
fn never_blocks_inside_multi() {
    let server = Server::start(&[]);
    let c = &mut server.redis();
    q::<()>(c, &["MULTI"]);
    q::<()>(c, &["BZPOPMIN", "z", "0"]);
    q::<()>(c, &["BZMPOP", "0", "1", "z", "MAX"]);
    q::<()>(c, &["ZADD", "z", "1", "a"]);
    q::<()>(c, &["BZPOPMAX", "z", "0"]);
    let replies: Vec<Value> = q(c, &["EXEC"]);
    assert_eq!(
        replies,
        vec![Value::Nil, Value::Nil, Value::Int(1), triple("z", "a", "1")]
    );
    assert_eq!(blocked_clients(c), 0);
}

#[test]
fn client_kill_and_disconnect_release_a_blocked_client() {
    let server = Server::start(&[]);
    let c = &mut server.redis();
    // CLIENT KILL: the blocked connection is closed, nothing is popped for it.
    let mut s = server.raw();
    roundtrip(&mut s, b"CLIENT ID\r\n", b":");
    let id = String::from_utf8(read_to_crlf(&mut s)).unwrap();
    send(&mut s, b"BZPOPMIN z 0\r\n");
    wait_blocked(c, 1);
    assert_eq!(q::<i64>(c, &["CLIENT", "KILL", "ID", &id]), 1);
    assert_eq!(read_to_close(&mut s), b"");
    wait_blocked(c, 0);
    q::<i64>(c, &["ZADD", "z", "1", "a"]);
    assert_eq!(q::<i64>(c, &["ZCARD", "z"]), 1);
    // A client that disconnects while blocked is forgotten too.
    let s = server.raw();
    let mut s2 = s.try_clone().unwrap();
    send(&mut s2, b"BZPOPMIN nokey 0\r\n");
    wait_blocked(c, 1);
    drop(s);
    drop(s2);
    wait_blocked(c, 0);
    // The next write finds nobody waiting on that key.
    q::<i64>(c, &["ZADD", "nokey", "1", "a"]);
    assert_eq!(q::<i64>(c, &["ZCARD", "nokey"]), 1);
}

fn read_to_crlf(s: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    while !out.ends_with(b"\r\n") {
        out.extend(read_exact(s, 1));
    }
    out.truncate(out.len() - 2);
    out
}

#[test]
fn clients_are_served_first_come_first_served() {
    let server = Server::start(&[]);
    let c = &mut server.redis();
    // One member at a time: the oldest waiter gets it, the other keeps waiting.
    let first = spawn(&server, &["BZPOPMIN", "z", "5"]);
    wait_blocked(c, 1);
    let second = spawn(&server, &["BZPOPMIN", "z", "5"]);
    wait_blocked(c, 2);
    q::<i64>(c, &["ZADD", "z", "1", "x"]);
    assert_eq!(first.join().unwrap().unwrap(), triple("z", "x", "1"));
    wait_blocked(c, 1);
    q::<i64>(c, &["ZADD", "z", "2", "y"]);
    assert_eq!(second.join().unwrap().unwrap(), triple("z", "y", "2"));
    // Two members at once serve both, oldest first, lowest member first.
    let mut waiters = Vec::new();
    for n in 1..=3 {
        waiters.push(spawn(&server, &["BZPOPMIN", "k", "other", "5"]));
        wait_blocked(c, n);
    }
    q::<i64>(c, &["ZADD", "k", "1", "a", "2", "b"]);
    let last = waiters.pop().unwrap();
    let got: Vec<Value> = waiters
        .into_iter()
        .map(|w| w.join().unwrap().unwrap())
        .collect();
    assert_eq!(got, vec![triple("k", "a", "1"), triple("k", "b", "2")]);
    wait_blocked(c, 1);
    assert_eq!(q::<i64>(c, &["EXISTS", "k"]), 0);
    q::<i64>(c, &["ZADD", "other", "3", "c"]);
    assert_eq!(last.join().unwrap().unwrap(), triple("other", "c", "3"));
}

#[test]
fn pipelined_commands_wait_for_the_blocked_one() {
    let server = Server::start(&[]);
    let c = &mut server.redis();
    let mut s = server.raw();
    // PING's reply is sent before blocking; GET runs after BZPOPMIN is served.
    send(&mut s, b"PING\r\nBZPOPMIN z 5\r\nGET after\r\n");
    assert_eq!(read_exact(&mut s, 7), b"+PONG\r\n");
    wait_blocked(c, 1);
    q::<()>(c, &["SET", "after", "v"]);
    q::<i64>(c, &["ZADD", "z", "4", "m"]);
    assert_eq!(
        read_exact(&mut s, 32),
        b"*3\r\n$1\r\nz\r\n$1\r\nm\r\n$1\r\n4\r\n$1\r\nv\r\n"
    );
}

#[test]
fn select_and_flush_wake_but_do_not_serve() {
    let server = Server::start(&[]);
    let c = &mut server.redis();
    // A client blocked in db 1 is served by a write in db 1 only.
    let mut s = server.raw();
    roundtrip(&mut s, b"SELECT 1\r\n", b"+OK\r\n");
    send(&mut s, b"BZPOPMIN z 5\r\n");
    wait_blocked(c, 1);
    q::<i64>(c, &["ZADD", "z", "1", "db0"]);
    q::<()>(c, &["FLUSHALL"]);
    thread::sleep(Duration::from_millis(50));
    assert_eq!(blocked_clients(c), 1);
    q::<()>(c, &["SELECT", "1"]);
    q::<i64>(c, &["ZADD", "z", "2", "db1"]);
    assert_eq!(
        read_exact(&mut s, 27),
        b"*3\r\n$1\r\nz\r\n$3\r\ndb1\r\n$1\r\n2\r\n"
    );
}
