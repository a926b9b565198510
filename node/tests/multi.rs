//! Transactions (MULTI EXEC DISCARD WATCH UNWATCH) against the real binary, with
//! redis-rs and raw RESP where exact bytes matter.

mod common;

use std::time::{Duration, Instant};

use common::{roundtrip, send, Server, TIMEOUT};
use redis::{cmd, Commands, Value};

fn err_text(e: redis::RedisError) -> String {
    e.to_string()
}

#[test]
fn queue_and_exec() {
    let server = Server::start(&[]);
    let mut s = server.raw();
    roundtrip(
        &mut s,
        b"*1\r\n$5\r\nMULTI\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n*2\r\n$4\r\nINCR\r\n$1\r\nk\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*1\r\n$4\r\nEXEC\r\n",
        b"+OK\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n*3\r\n+OK\r\n-ERR value is not an integer or out of range\r\n$1\r\nv\r\n",
    );
    // CLIENT LIST shows the queue length while in MULTI.
    roundtrip(
        &mut s,
        b"*1\r\n$5\r\nMULTI\r\n*2\r\n$4\r\nINCR\r\n$1\r\nn\r\n",
        b"+OK\r\n+QUEUED\r\n",
    );
    let list: String = cmd("CLIENT")
        .arg("LIST")
        .query(&mut server.redis())
        .unwrap();
    assert!(
        list.contains(" flags=x db=0 sub=0 psub=0 ssub=0 multi=1 "),
        "{list}"
    );
    roundtrip(&mut s, b"*1\r\n$7\r\nDISCARD\r\n", b"+OK\r\n");
    let list: String = cmd("CLIENT")
        .arg("LIST")
        .query(&mut server.redis())
        .unwrap();
    assert!(!list.contains("multi=1"), "{list}");
    // Empty transaction.
    roundtrip(
        &mut s,
        b"*1\r\n$5\r\nMULTI\r\n*1\r\n$4\r\nEXEC\r\n",
        b"+OK\r\n*0\r\n",
    );
    // redis-rs atomic pipeline.
    let mut c = server.redis();
    let (a, b): (i64, i64) = redis::pipe()
        .atomic()
        .cmd("INCRBY")
        .arg("n")
        .arg(5)
        .cmd("INCR")
        .arg("n")
        .query(&mut c)
        .unwrap();
    assert_eq!((a, b), (5, 6));
    // SELECT inside MULTI applies to the following queued commands and stays.
    let r: Value = redis::pipe()
        .atomic()
        .cmd("SELECT")
        .arg(3)
        .cmd("SET")
        .arg("in3")
        .arg("x")
        .query(&mut c)
        .unwrap();
    assert!(matches!(r, Value::Array(ref v) if v.len() == 2), "{r:?}");
    assert_eq!(
        c.get::<_, Option<String>>("in3").unwrap().as_deref(),
        Some("x")
    );
    cmd("SELECT").arg(0).exec(&mut c).unwrap();
    assert_eq!(c.get::<_, Option<String>>("in3").unwrap(), None);
}

#[test]
fn errors_match_redis() {
    let server = Server::start(&[]);
    let mut s = server.raw();
    roundtrip(
        &mut s,
        b"*1\r\n$4\r\nEXEC\r\n*1\r\n$7\r\nDISCARD\r\n",
        b"-ERR EXEC without MULTI\r\n-ERR DISCARD without MULTI\r\n",
    );
    // Nested MULTI and WATCH inside MULTI are errors that do not abort the transaction.
    roundtrip(
        &mut s,
        b"*1\r\n$5\r\nMULTI\r\n*1\r\n$5\r\nMULTI\r\n*2\r\n$5\r\nWATCH\r\n$1\r\nk\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\n2\r\n*1\r\n$4\r\nEXEC\r\n",
        b"+OK\r\n-ERR MULTI calls can not be nested\r\n-ERR WATCH inside MULTI is not allowed\r\n+QUEUED\r\n*1\r\n+OK\r\n",
    );
    // Queue-time errors (arity, unknown command, unknown subcommand) abort EXEC.
    roundtrip(
        &mut s,
        b"*1\r\n$5\r\nMULTI\r\n*2\r\n$3\r\nSET\r\n$1\r\nk\r\n*1\r\n$3\r\nFOO\r\n*2\r\n$6\r\nCLIENT\r\n$5\r\nBOGUS\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\n9\r\n*1\r\n$4\r\nEXEC\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n",
        b"+OK\r\n-ERR wrong number of arguments for 'set' command\r\n-ERR unknown command 'FOO', with args beginning with: \r\n-ERR unknown subcommand 'BOGUS'. Try CLIENT HELP.\r\n+QUEUED\r\n-EXECABORT Transaction discarded because of previous errors.\r\n$1\r\n2\r\n",
    );
    // no_multi commands are refused and abort the transaction.
    roundtrip(
        &mut s,
        b"*1\r\n$5\r\nMULTI\r\n*2\r\n$8\r\nSHUTDOWN\r\n$6\r\nNOSAVE\r\n*1\r\n$4\r\nEXEC\r\n",
        b"+OK\r\n-ERR Command not allowed inside a transaction\r\n-EXECABORT Transaction discarded because of previous errors.\r\n",
    );
    // EXEC with arguments: EXECABORT, and the transaction is gone.
    roundtrip(
        &mut s,
        b"*1\r\n$5\r\nMULTI\r\n*2\r\n$4\r\nEXEC\r\n$1\r\nx\r\n*1\r\n$4\r\nEXEC\r\n",
        b"+OK\r\n-EXECABORT Transaction discarded because of: wrong number of arguments for 'exec' command\r\n-ERR EXEC without MULTI\r\n",
    );
    // DISCARD drops the queue.
    roundtrip(
        &mut s,
        b"*1\r\n$5\r\nMULTI\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\n3\r\n*1\r\n$7\r\nDISCARD\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n",
        b"+OK\r\n+QUEUED\r\n+OK\r\n$1\r\n2\r\n",
    );
    // RESET leaves MULTI; QUIT inside MULTI closes without running anything.
    roundtrip(
        &mut s,
        b"*1\r\n$5\r\nMULTI\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\n4\r\n*1\r\n$5\r\nRESET\r\n*1\r\n$4\r\nEXEC\r\n",
        b"+OK\r\n+QUEUED\r\n+RESET\r\n-ERR EXEC without MULTI\r\n",
    );
    roundtrip(
        &mut s,
        b"*1\r\n$5\r\nMULTI\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\n5\r\n*1\r\n$4\r\nQUIT\r\n",
        b"+OK\r\n+QUEUED\r\n+OK\r\n",
    );
    assert!(common::read_to_close(&mut s).is_empty());
    let mut c = server.redis();
    assert_eq!(c.get::<_, String>("k").unwrap(), "2");
    // Arity errors of the transaction commands themselves.
    for (name, args) in [
        ("watch", vec![]),
        ("unwatch", vec!["x"]),
        ("multi", vec!["x"]),
    ] {
        let e = err_text(cmd(name).arg(&args).query::<Value>(&mut c).unwrap_err());
        assert!(
            e.contains(&format!("wrong number of arguments for '{name}' command")),
            "{e}"
        );
    }
}

#[test]
fn runtime_errors_do_not_stop_the_others_and_write_nothing() {
    let server = Server::start(&[]);
    let mut c = server.redis();
    c.set::<_, _, ()>("s", "abc").unwrap();
    let mut s = server.raw();
    roundtrip(
        &mut s,
        b"*1\r\n$5\r\nMULTI\r\n*2\r\n$4\r\nINCR\r\n$1\r\ns\r\n*3\r\n$3\r\nSET\r\n$1\r\nt\r\n$1\r\n1\r\n*3\r\n$11\r\nINCRBYFLOAT\r\n$1\r\ns\r\n$3\r\n1.5\r\n*3\r\n$6\r\nAPPEND\r\n$1\r\ns\r\n$1\r\nd\r\n*1\r\n$4\r\nEXEC\r\n",
        b"+OK\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n*4\r\n-ERR value is not an integer or out of range\r\n+OK\r\n-ERR value is not a valid float\r\n:4\r\n",
    );
    // redis-rs reports the failed elements of an atomic pipeline as an error.
    let e = redis::pipe()
        .atomic()
        .cmd("INCR")
        .arg("s")
        .cmd("SET")
        .arg("u")
        .arg("1")
        .query::<Value>(&mut c)
        .unwrap_err();
    assert!(err_text(e).contains("value is not an integer"));
    assert_eq!(c.get::<_, String>("u").unwrap(), "1");
    assert_eq!(c.get::<_, String>("s").unwrap(), "abcd");
    assert_eq!(c.get::<_, String>("t").unwrap(), "1");
}

/// Sends WATCH/MULTI/PING/EXEC and returns what EXEC answered (raw).
fn exec_after(s: &mut std::net::TcpStream) -> Vec<u8> {
    send(
        s,
        b"*1\r\n$5\r\nMULTI\r\n*1\r\n$4\r\nPING\r\n*1\r\n$4\r\nEXEC\r\n",
    );
    let head = common::read_exact(s, b"+OK\r\n+QUEUED\r\n".len());
    assert_eq!(head, b"+OK\r\n+QUEUED\r\n");
    let first = common::read_exact(s, 5);
    if first == b"*-1\r\n" {
        return first;
    }
    let mut rest = common::read_exact(s, RAN.len() - first.len());
    let mut out = first;
    out.append(&mut rest);
    out
}

const ABORTED: &[u8] = b"*-1\r\n";
const RAN: &[u8] = b"*1\r\n+PONG\r\n";

fn watch(s: &mut std::net::TcpStream, key: &str) {
    let req = format!("*2\r\n$5\r\nWATCH\r\n${}\r\n{key}\r\n", key.len());
    roundtrip(s, req.as_bytes(), b"+OK\r\n");
}

#[test]
fn watch_aborts_on_writes_flush_and_expiry() {
    let server = Server::start(&[]);
    let mut s = server.raw();
    let mut other = server.redis();

    // Untouched: runs.
    watch(&mut s, "k");
    assert_eq!(exec_after(&mut s), RAN);
    // Another client's write (even with the same value) aborts.
    other.set::<_, _, ()>("k", "1").unwrap();
    watch(&mut s, "k");
    other.set::<_, _, ()>("k", "1").unwrap();
    assert_eq!(exec_after(&mut s), ABORTED);
    // The EXEC released the watch: the next transaction runs.
    assert_eq!(exec_after(&mut s), RAN);
    // The watcher's own write aborts too.
    watch(&mut s, "own");
    roundtrip(
        &mut s,
        b"*3\r\n$3\r\nSET\r\n$3\r\nown\r\n$1\r\n1\r\n",
        b"+OK\r\n",
    );
    assert_eq!(exec_after(&mut s), ABORTED);
    // UNWATCH forgets.
    watch(&mut s, "k");
    roundtrip(&mut s, b"*1\r\n$7\r\nUNWATCH\r\n", b"+OK\r\n");
    other.set::<_, _, ()>("k", "2").unwrap();
    assert_eq!(exec_after(&mut s), RAN);
    // DISCARD forgets.
    watch(&mut s, "k");
    roundtrip(
        &mut s,
        b"*1\r\n$5\r\nMULTI\r\n*1\r\n$7\r\nDISCARD\r\n",
        b"+OK\r\n+OK\r\n",
    );
    other.set::<_, _, ()>("k", "3").unwrap();
    assert_eq!(exec_after(&mut s), RAN);
    // Writes to other keys or to the same name in another db do not abort.
    watch(&mut s, "k");
    other.set::<_, _, ()>("k2", "x").unwrap();
    cmd("SELECT").arg(1).exec(&mut other).unwrap();
    other.set::<_, _, ()>("k", "x").unwrap();
    cmd("SELECT").arg(0).exec(&mut other).unwrap();
    other.del::<_, ()>("nonexistent").unwrap();
    assert_eq!(exec_after(&mut s), RAN);
    // DEL, INCR, EXPIRE abort.
    for write in [
        cmd("DEL").arg("k").clone(),
        cmd("INCR").arg("k").clone(),
        cmd("EXPIRE").arg("k").arg(100).clone(),
    ] {
        watch(&mut s, "k");
        write.exec(&mut other).unwrap();
        assert_eq!(exec_after(&mut s), ABORTED, "{write:?}");
    }
    // FLUSHDB / FLUSHALL abort a watcher of an existing key.
    for flush in ["FLUSHDB", "FLUSHALL"] {
        other.set::<_, _, ()>("k", "1").unwrap();
        watch(&mut s, "k");
        cmd(flush).exec(&mut other).unwrap();
        assert_eq!(exec_after(&mut s), ABORTED, "{flush}");
    }
    // A key that expires between WATCH and EXEC aborts (lazy expiry writes nothing).
    roundtrip(
        &mut s,
        b"*5\r\n$3\r\nSET\r\n$1\r\ne\r\n$1\r\n1\r\n$2\r\nPX\r\n$2\r\n50\r\n",
        b"+OK\r\n",
    );
    watch(&mut s, "e");
    std::thread::sleep(Duration::from_millis(120));
    assert_eq!(exec_after(&mut s), ABORTED);
    // Several keys: one touched is enough.
    roundtrip(
        &mut s,
        b"*4\r\n$5\r\nWATCH\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n",
        b"+OK\r\n",
    );
    other.set::<_, _, ()>("c", "1").unwrap();
    assert_eq!(exec_after(&mut s), ABORTED);
    // An aborted EXEC wrote nothing.
    roundtrip(&mut s, b"*2\r\n$5\r\nWATCH\r\n$1\r\nw\r\n", b"+OK\r\n");
    other.set::<_, _, ()>("w", "theirs").unwrap();
    roundtrip(
        &mut s,
        b"*1\r\n$5\r\nMULTI\r\n*3\r\n$3\r\nSET\r\n$1\r\nw\r\n$4\r\nmine\r\n*1\r\n$4\r\nEXEC\r\n",
        b"+OK\r\n+QUEUED\r\n*-1\r\n",
    );
    assert_eq!(other.get::<_, String>("w").unwrap(), "theirs");
    // EXECABORT wins over a touched watch; both release the watch.
    watch(&mut s, "w");
    other.set::<_, _, ()>("w", "again").unwrap();
    roundtrip(
        &mut s,
        b"*1\r\n$5\r\nMULTI\r\n*1\r\n$3\r\nFOO\r\n*1\r\n$4\r\nEXEC\r\n",
        b"+OK\r\n-ERR unknown command 'FOO', with args beginning with: \r\n-EXECABORT Transaction discarded because of previous errors.\r\n",
    );
    assert_eq!(exec_after(&mut s), RAN);
}

#[test]
fn watch_abort_is_null_in_resp3() {
    let server = Server::start(&[]);
    let mut s = server.raw();
    send(&mut s, b"*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n");
    // Skip the HELLO map: read until the modules entry.
    let mut got = Vec::new();
    while !got.ends_with(b"modules\r\n*0\r\n") {
        got.extend(common::read_exact(&mut s, 1));
    }
    watch(&mut s, "k");
    server.redis().set::<_, _, ()>("k", "1").unwrap();
    roundtrip(
        &mut s,
        b"*1\r\n$5\r\nMULTI\r\n*1\r\n$4\r\nEXEC\r\n",
        b"+OK\r\n_\r\n",
    );
}

#[test]
fn redis_rs_transaction_retries_on_conflict() {
    let server = Server::start(&[]);
    let mut c = server.redis();
    let mut other = server.redis();
    c.set::<_, _, ()>("counter", 10).unwrap();
    let mut attempts = 0;
    let v: i64 = redis::transaction(&mut c, &["counter"], |con, pipe| {
        attempts += 1;
        let cur: i64 = con.get("counter")?;
        if attempts == 1 {
            // Someone else writes between our read and EXEC.
            other.incr::<_, _, ()>("counter", 100).unwrap();
        }
        assert!(attempts <= 3, "no convergence");
        pipe.set("counter", cur * 2)
            .ignore()
            .get("counter")
            .query::<Option<(i64,)>>(con)
            .map(|o| o.map(|(v,)| v))
    })
    .unwrap();
    assert_eq!(attempts, 2);
    assert_eq!(v, 220);
}

#[test]
fn exec_is_atomic_for_other_clients() {
    let server = Server::start(&[]);
    let deadline = Instant::now() + TIMEOUT;
    let writers: Vec<_> = (0..3)
        .map(|_| {
            let mut c = server.redis();
            std::thread::spawn(move || {
                for _ in 0..200 {
                    let _: Value = redis::pipe()
                        .atomic()
                        .incr("a", 1)
                        .incr("b", 1)
                        .set("last", "x")
                        .query(&mut c)
                        .unwrap();
                }
            })
        })
        .collect();
    let mut r = server.redis();
    let mut reads = 0;
    while writers.iter().any(|w| !w.is_finished()) && Instant::now() < deadline {
        let (a, b): (Option<i64>, Option<i64>) =
            redis::cmd("MGET").arg("a").arg("b").query(&mut r).unwrap();
        assert_eq!(a, b, "a transaction was seen half-applied");
        reads += 1;
    }
    for w in writers {
        w.join().unwrap();
    }
    assert!(reads > 0);
    let (a, b): (i64, i64) = redis::cmd("MGET").arg("a").arg("b").query(&mut r).unwrap();
    assert_eq!((a, b), (600, 600));
}

#[test]
fn watches_are_released_on_disconnect() {
    let server = Server::start(&[]);
    {
        let mut s = server.raw();
        watch(&mut s, "k");
    }
    // Nothing observable remains; a new watcher behaves normally.
    let mut s = server.raw();
    watch(&mut s, "k");
    assert_eq!(exec_after(&mut s), RAN);
    let mut c = server.redis();
    assert_eq!(cmd("PING").query::<String>(&mut c).unwrap(), "PONG");
}

#[test]
fn commands_inside_exec_see_the_held_store() {
    // Commands that lock the store (INFO keyspace, DBSIZE, FLUSHDB) must not deadlock
    // inside EXEC, which already holds it.
    let server = Server::start(&[]);
    let mut c = server.redis();
    c.set::<_, _, ()>("x", 1).unwrap();
    let (n, info, _, m): (i64, String, Value, i64) = redis::pipe()
        .atomic()
        .cmd("DBSIZE")
        .cmd("INFO")
        .arg("keyspace")
        .cmd("FLUSHDB")
        .cmd("DBSIZE")
        .query(&mut c)
        .unwrap();
    assert_eq!(n, 1);
    assert!(info.contains("db0:keys=1"), "{info}");
    assert_eq!(m, 0);
}
