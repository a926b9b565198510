//! List commands (node/src/cmd/list.rs) through redis-rs against the real binary,
//! including the blocking forms woken by other clients.

mod common;

use std::thread;
use std::time::{Duration, Instant};

use common::{assert_err, blocked_clients, bulk, q, spawn, wait_blocked, Server, WRONGTYPE};
use redis::{cmd, Connection, Value};

fn v(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn all(c: &mut Connection, key: &str) -> Vec<String> {
    q(c, &["LRANGE", key, "0", "-1"])
}

#[test]
fn push_pop_range_index() {
    let server = Server::start(&[]);
    let c = &mut server.redis();
    assert_eq!(q::<i64>(c, &["RPUSH", "l", "a", "b"]), 2);
    assert_eq!(q::<i64>(c, &["LPUSH", "l", "x", "y"]), 4);
    assert_eq!(all(c, "l"), v(&["y", "x", "a", "b"]));
    assert_eq!(q::<String>(c, &["TYPE", "l"]), "list");
    assert_eq!(q::<i64>(c, &["LLEN", "l"]), 4);
    assert_eq!(
        q::<Option<String>>(c, &["LINDEX", "l", "-1"]),
        Some("b".into())
    );
    assert_eq!(q::<Option<String>>(c, &["LINDEX", "l", "9"]), None);
    assert_eq!(
        q::<Vec<String>>(c, &["LRANGE", "l", "1", "-2"]),
        v(&["x", "a"])
    );
    assert_eq!(q::<Option<String>>(c, &["LPOP", "l"]), Some("y".into()));
    assert_eq!(q::<Vec<String>>(c, &["RPOP", "l", "2"]), v(&["b", "a"]));
    assert_eq!(q::<Option<String>>(c, &["RPOP", "l"]), Some("x".into()));
    // The last pop deleted the key.
    assert_eq!(q::<i64>(c, &["EXISTS", "l"]), 0);
    assert_eq!(q::<Option<String>>(c, &["LPOP", "l"]), None);
    assert_eq!(q::<i64>(c, &["LPUSHX", "l", "a"]), 0);
    assert_eq!(q::<i64>(c, &["EXISTS", "l"]), 0);
    // Binary-safe elements.
    let bin: &[u8] = b"\x00\xff\r\n";
    let _: i64 = cmd("RPUSH").arg("bin").arg(bin).query(c).unwrap();
    let got: Vec<Vec<u8>> = cmd("LRANGE").arg("bin").arg(0).arg(-1).query(c).unwrap();
    assert_eq!(got, vec![bin.to_vec()]);
    // Pushes keep the TTL.
    q::<i64>(c, &["RPUSH", "t", "a"]);
    q::<i64>(c, &["EXPIRE", "t", "100"]);
    q::<i64>(c, &["RPUSH", "t", "b"]);
    assert!(q::<i64>(c, &["TTL", "t"]) > 0);
    // A queue of many elements keeps FIFO order.
    for i in 0..500 {
        q::<i64>(c, &["LPUSH", "queue", &i.to_string()]);
    }
    for i in 0..500 {
        assert_eq!(
            q::<Option<String>>(c, &["RPOP", "queue"]),
            Some(i.to_string())
        );
    }
}

#[test]
fn set_insert_rem_trim_pos() {
    let server = Server::start(&[]);
    let c = &mut server.redis();
    q::<i64>(c, &["RPUSH", "l", "a", "b", "c", "b", "a"]);
    q::<()>(c, &["LSET", "l", "1", "B"]);
    assert_eq!(all(c, "l"), v(&["a", "B", "c", "b", "a"]));
    assert_eq!(q::<i64>(c, &["LINSERT", "l", "BEFORE", "c", "m"]), 6);
    assert_eq!(q::<i64>(c, &["LINSERT", "l", "AFTER", "c", "n"]), 7);
    assert_eq!(q::<i64>(c, &["LINSERT", "l", "AFTER", "zz", "n"]), -1);
    assert_eq!(all(c, "l"), v(&["a", "B", "m", "c", "n", "b", "a"]));
    assert_eq!(q::<i64>(c, &["LPOS", "l", "a", "RANK", "-1"]), 6);
    assert_eq!(
        q::<Vec<i64>>(c, &["LPOS", "l", "a", "COUNT", "0"]),
        vec![0, 6]
    );
    assert_eq!(q::<i64>(c, &["LREM", "l", "-1", "a"]), 1);
    assert_eq!(all(c, "l"), v(&["a", "B", "m", "c", "n", "b"]));
    q::<()>(c, &["LTRIM", "l", "1", "-2"]);
    assert_eq!(all(c, "l"), v(&["B", "m", "c", "n"]));
    // Many inserts at one place keep their order (positions get deeper, never collide).
    for i in 0..300 {
        q::<i64>(c, &["LINSERT", "l", "AFTER", "B", &format!("i{i}")]);
    }
    let got = all(c, "l");
    assert_eq!(got.len(), 304);
    assert_eq!(got[1], "i299");
    assert_eq!(got[300], "i0");
    q::<()>(c, &["LTRIM", "l", "5", "1"]);
    assert_eq!(q::<i64>(c, &["EXISTS", "l"]), 0);
}

#[test]
fn errors_write_nothing() {
    let server = Server::start(&[]);
    let c = &mut server.redis();
    q::<()>(c, &["SET", "s", "x"]);
    for args in [
        &["LPUSH", "s", "a"][..],
        &["RPOP", "s"],
        &["LLEN", "s"],
        &["LRANGE", "s", "0", "1"],
        &["BLPOP", "s", "0"],
        &["LMOVE", "s", "d", "LEFT", "LEFT"],
    ] {
        assert_err(c, args, WRONGTYPE);
    }
    q::<i64>(c, &["RPUSH", "l", "a"]);
    assert_err(c, &["LSET", "l", "5", "x"], "ERR index out of range");
    assert_err(c, &["LSET", "nokey", "0", "x"], "ERR no such key");
    assert_err(
        c,
        &["LINDEX", "l", "x"],
        "ERR value is not an integer or out of range",
    );
    assert_err(
        c,
        &["LPOP", "l", "-1"],
        "ERR value is out of range, must be positive",
    );
    assert_err(c, &["LINSERT", "l", "NEAR", "a", "b"], "ERR syntax error");
    assert_err(
        c,
        &["LMPOP", "0", "l", "LEFT"],
        "ERR numkeys should be greater than 0",
    );
    assert_err(c, &["BLPOP", "l", "-1"], "ERR timeout is negative");
    // A failed LMOVE into a wrong-type destination pops nothing.
    assert_err(c, &["LMOVE", "l", "s", "LEFT", "LEFT"], WRONGTYPE);
    assert_eq!(all(c, "l"), v(&["a"]));
    assert_eq!(q::<String>(c, &["GET", "s"]), "x");
}

#[test]
fn moves_are_atomic_and_same_key_rotates() {
    let server = Server::start(&[]);
    let c = &mut server.redis();
    q::<i64>(c, &["RPUSH", "src", "1", "2", "3"]);
    assert_eq!(
        q::<Option<String>>(c, &["LMOVE", "src", "dst", "RIGHT", "LEFT"]),
        Some("3".into())
    );
    assert_eq!(
        q::<Option<String>>(c, &["RPOPLPUSH", "src", "dst"]),
        Some("2".into())
    );
    assert_eq!(all(c, "dst"), v(&["2", "3"]));
    assert_eq!(
        q::<Option<String>>(c, &["RPOPLPUSH", "dst", "dst"]),
        Some("3".into())
    );
    assert_eq!(all(c, "dst"), v(&["3", "2"]));
    assert_eq!(
        q::<Option<String>>(c, &["LMOVE", "dst", "dst", "LEFT", "RIGHT"]),
        Some("3".into())
    );
    assert_eq!(all(c, "dst"), v(&["2", "3"]));
}

#[test]
fn blocking_pops_are_woken_by_pushes() {
    let server = Server::start(&[]);
    let c = &mut server.redis();
    let start = Instant::now();
    let waiter = spawn(&server, &["BLPOP", "q1", "q2", "5"]);
    wait_blocked(c, 1);
    // Another type on the key does not serve it.
    q::<()>(c, &["SET", "q1", "x"]);
    thread::sleep(Duration::from_millis(50));
    assert_eq!(blocked_clients(c), 1);
    // (Re-run with q1 still a string, BLPOP would answer WRONGTYPE, as Redis 7.2.)
    q::<i64>(c, &["DEL", "q1"]);
    q::<i64>(c, &["RPUSH", "q2", "job1", "job2"]);
    assert_eq!(
        waiter.join().unwrap().unwrap(),
        Value::Array(vec![bulk("q2"), bulk("job1")])
    );
    assert!(start.elapsed() < Duration::from_secs(5));
    assert_eq!(all(c, "q2"), v(&["job2"]));
    // BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP likewise; two waiters are served in order.
    let w1 = spawn(&server, &["BRPOP", "e", "5"]);
    wait_blocked(c, 1);
    let w2 = spawn(&server, &["BLMOVE", "e", "moved", "LEFT", "RIGHT", "5"]);
    wait_blocked(c, 2);
    q::<i64>(c, &["RPUSH", "e", "a", "b"]);
    assert_eq!(
        w1.join().unwrap().unwrap(),
        Value::Array(vec![bulk("e"), bulk("b")])
    );
    assert_eq!(w2.join().unwrap().unwrap(), bulk("a"));
    assert_eq!(all(c, "moved"), v(&["a"]));
    let w = spawn(
        &server,
        &["BLMPOP", "5", "2", "m1", "m2", "RIGHT", "COUNT", "3"],
    );
    wait_blocked(c, 1);
    q::<i64>(c, &["RPUSH", "m2", "1", "2"]);
    assert_eq!(
        w.join().unwrap().unwrap(),
        Value::Array(vec![bulk("m2"), Value::Array(vec![bulk("2"), bulk("1")])])
    );
    let w = spawn(&server, &["BRPOPLPUSH", "f", "g", "5"]);
    wait_blocked(c, 1);
    q::<i64>(c, &["LPUSH", "f", "z"]);
    assert_eq!(w.join().unwrap().unwrap(), bulk("z"));
    assert_eq!(all(c, "g"), v(&["z"]));
    // Timeouts answer a null array.
    let t = Instant::now();
    assert_eq!(q::<Value>(c, &["BLPOP", "none", "0.1"]), Value::Nil);
    assert_eq!(
        q::<Value>(c, &["BLMOVE", "none", "x", "LEFT", "LEFT", "0.1"]),
        Value::Nil
    );
    assert!(t.elapsed() >= Duration::from_millis(190));
    assert_eq!(blocked_clients(c), 0);
}

#[test]
fn copy_rename_and_expiry_of_lists() {
    let server = Server::start(&[]);
    let c = &mut server.redis();
    q::<i64>(c, &["RPUSH", "l", "a", "b", "c"]);
    assert_eq!(q::<i64>(c, &["COPY", "l", "l2"]), 1);
    q::<()>(c, &["RENAME", "l", "l3"]);
    assert_eq!(all(c, "l2"), v(&["a", "b", "c"]));
    assert_eq!(all(c, "l3"), v(&["a", "b", "c"]));
    assert_eq!(q::<i64>(c, &["EXISTS", "l"]), 0);
    // The copy is independent and still a working list.
    q::<i64>(c, &["LPUSH", "l2", "z"]);
    q::<()>(c, &["LSET", "l3", "1", "B"]);
    assert_eq!(all(c, "l2"), v(&["z", "a", "b", "c"]));
    assert_eq!(all(c, "l3"), v(&["a", "B", "c"]));
    // Expiry deletes a list; a push afterwards creates a fresh one.
    q::<i64>(c, &["PEXPIRE", "l3", "50"]);
    std::thread::sleep(Duration::from_millis(120));
    assert_eq!(q::<i64>(c, &["LLEN", "l3"]), 0);
    assert_eq!(q::<i64>(c, &["RPUSH", "l3", "n"]), 1);
    assert_eq!(q::<i64>(c, &["TTL", "l3"]), -1);
    // SET replaces a list; a list replaces nothing else (WRONGTYPE).
    q::<()>(c, &["SET", "l2", "s"]);
    assert_eq!(q::<String>(c, &["TYPE", "l2"]), "string");
}
